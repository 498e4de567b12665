"""Preprocessing, first step: a file, bytes or an array → an upright image, then gray on white paper.

A file is turned by its EXIF orientation: a phone held upright stores its photo sideways and says so
in that tag, which every browser obeys and OpenCV's alpha-keeping decode ignores. Alpha is
composited onto white, since a canvas drawing is transparent where nothing was drawn. Huge images
are shrunk first (``shrink``, which every later step shares), so that the rest is cheap.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from hwr import config


class ImageError(ValueError):
    """The input is not a readable image (wrong format, corrupt, empty or absurdly large)."""


def read_image(source: str | Path | bytes | np.ndarray) -> np.ndarray:
    """Decode a file path, encoded bytes or an array into uint8 gray or BGR(A); raises ImageError."""
    if isinstance(source, np.ndarray):
        image = source
    else:
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise ImageError(f"image file not found: {path}")
            data = path.read_bytes()
            name = str(path)
        else:
            data = bytes(source)
            name = "uploaded data"
        if not data:
            raise ImageError(f"{name} is empty")
        orientation, (width, height), kind = _read_header(data, name)
        # IMREAD_UNCHANGED keeps alpha and 16 bits, and with them ignores the EXIF orientation
        image = cv2.imdecode(np.frombuffer(data, np.uint8), _decode_flags(kind, max(width, height)))
        if image is None:
            raise ImageError(f"{name} is not an image OpenCV can read (PNG, JPEG, BMP, TIFF, WebP)")
        image = upright(image, orientation)
    if image.size == 0 or image.ndim not in (2, 3):
        raise ImageError(f"image has an unusable shape {image.shape}")
    return image


def _read_header(data: bytes, name: str) -> tuple[int, tuple[int, int], str]:
    """The EXIF orientation (1: as stored), the size and the format (Pillow's name; "" when Pillow
    cannot tell); refuses decompression bombs first. Pillow reads only the header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError):
        return 1, (0, 0), ""  # let OpenCV try, and fail with the common message
    except Image.DecompressionBombError as err:
        raise ImageError(f"{name} is too large to process: {err}") from err
    if width * height > config.MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{name} is {width} × {height} pixels; the limit is {config.MAX_IMAGE_PIXELS:,} pixels"
        )
    if img.format == "TIFF":
        orientation = 1  # OpenCV's TIFF decoder turns the image itself, even with IMREAD_UNCHANGED
    return (orientation if orientation in _UPRIGHT else 1), (width, height), img.format or ""


#: JPEG decoding at a half, a quarter or an eighth of the size (libjpeg scales while decoding)
_REDUCED_GRAY = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def _decode_flags(kind: str, long_side: int) -> int:
    """How to decode: unchanged, or, for a JPEG at least twice ``MAX_SIDE`` long (a phone's 12
    Mpixel photo), its brightness only, at the smallest scale that keeps ``MAX_SIDE``.

    A phone photo is decoded whole only to be shrunk and turned gray: decoding the brightness
    channel (which is JPEG's own luma, the gray ``to_gray`` computes) at half the size does both in
    a third of the time. The EXIF orientation is applied afterwards, as for every image.
    """
    factor = max([1] + [f for f in _REDUCED_GRAY if long_side >= f * config.MAX_SIDE])
    if kind != "JPEG" or factor == 1:
        return cv2.IMREAD_UNCHANGED
    return _REDUCED_GRAY[factor] | cv2.IMREAD_IGNORE_ORIENTATION


_EXIF_ORIENTATION = 0x0112
#: EXIF orientation → what turns the stored pixels the way the camera's user saw them (and every
#: browser shows them): a phone held upright stores its photo sideways with orientation 6.
#: Pillow's ``ImageOps.exif_transpose`` does the same on its own images (a test holds them equal).
_UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored
    3: lambda a: a[::-1, ::-1],  # upside down
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),  # stored a quarter turn anticlockwise: turn it clockwise
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The decoded ``image`` as its EXIF ``orientation`` (1–8) says it is meant to be seen."""
    return np.ascontiguousarray(_UPRIGHT[orientation](image))


#: an image at least this share transparent whose opaque pixels are light holds light ink on nothing
_TRANSPARENT_SHARE = 0.5


def _light_ink_on_nothing(gray: np.ndarray, alpha: np.ndarray) -> bool:
    """Whether a mostly transparent image draws in light ink (white strokes from a dark-mode drawing
    app), which composited onto white paper would vanish."""
    opaque = alpha > 0.5
    return (bool(opaque.any()) and 1.0 - float(opaque.mean()) >= _TRANSPARENT_SHARE
            and float(np.median(gray[opaque])) > 0.5)


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8/float gray, BGR or BGRA → float32 gray in [0, 1], alpha composited onto paper.

    The paper is white, but black under light ink on a transparent image (``_light_ink_on_nothing``):
    ``fix_polarity`` then turns it dark on light, exactly as the same strokes drawn in black read.
    """
    img = image.astype(np.float32)
    if image.dtype == np.uint8:
        img /= 255.0
    elif image.dtype == np.uint16:
        img /= 65535.0
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.clip(img, 0.0, 1.0)
    alpha = img[:, :, 3:4] if img.shape[2] == 4 else None
    gray = img[:, :, :3] @ np.array([0.114, 0.587, 0.299], np.float32)  # BGR order (OpenCV)
    if alpha is not None:
        a = alpha[:, :, 0]
        paper = 0.0 if _light_ink_on_nothing(gray, a) else 1.0
        gray = gray * a + paper * (1.0 - a)
    return np.clip(gray, 0.0, 1.0)


def shrink(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` scaled by ``factor`` (at most 1), as OpenCV's area resize would, at a fraction of its cost.

    ``cv2.INTER_AREA`` (each pixel the mean of those it covers) is fast only for a whole-number
    factor; 2,016 → 2,000 or 2,000 → 1,600 px, a phone photo's way through ``preprocess``, took it
    5–8 ms each. So the image is first shrunk by the largest whole factor (area, fast), and what
    is left, less than 2×, is bilinear: at such a factor a bilinear pixel already averages the
    input pixels around it. Within half a grey level of ``INTER_AREA`` on average on a photo
    (``tests/test_preprocess.py``).
    """
    if factor >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    whole = int(1.0 / factor)
    if whole >= 2:
        image = cv2.resize(image, None, fx=1.0 / whole, fy=1.0 / whole, interpolation=cv2.INTER_AREA)
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def limit_size(image: np.ndarray) -> np.ndarray:
    """Shrink huge images first, still in their own dtype, so every later step is cheap."""
    return shrink(image, config.MAX_SIDE / max(image.shape[:2]))
