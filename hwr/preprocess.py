"""Stage: image → model input. The one transform used by training, evaluation and the app.

Whatever door an image comes in by (a Kaggle scan crop, a phone photo, an RGBA canvas drawing, a
synthetic rendering), this module turns it into the same kind of array: float32 (IMG_HEIGHT,
IMG_WIDTH), 1.0 = paper and 0.0 = ink, text left-aligned and padded with paper on the right.

The choices, and why:
- Alpha is composited onto white: a canvas drawing is transparent where nothing was drawn.
- Polarity is fixed from the border: light text on a dark background is inverted, so the model only
  ever sees dark ink on light paper.
- Contrast is stretched between an ink and a paper percentile, so faint pencil, grey scans and
  pure black canvas strokes all span the same range.
- The image is cropped to its ink (rows/columns with enough dark pixels, so specks do not count):
  a name drawn small in the corner of a big canvas fills the input the way a tight Kaggle crop does.
- Stroke width is normalised: a canvas stroke is several times thicker, relative to letter height,
  than a pen stroke on a scanned form; thick strokes are thinned with an erosion so the two domains meet.
- Resize keeps the aspect ratio (no distortion) to the fixed height, shrinking further only when the
  result would be wider than the input; the rest is padded with paper.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from hwr import config


#: Bumped whenever the output of ``preprocess`` changes, so caches of preprocessed images are rebuilt.
PREPROCESS_VERSION = 2


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
        _check_header_size(data, name)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ImageError(f"{name} is not an image OpenCV can read (PNG, JPEG, BMP, TIFF, WebP)")
    if image.size == 0 or image.ndim not in (2, 3):
        raise ImageError(f"image has an unusable shape {image.shape}")
    return image


def _check_header_size(data: bytes, name: str) -> None:
    """Refuse decompression bombs before decoding, using Pillow's lazy header read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError):
        return  # let OpenCV try, and fail with the common message
    except Image.DecompressionBombError as err:
        raise ImageError(f"{name} is too large to process: {err}") from err
    if width * height > config.MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{name} is {width} × {height} pixels; the limit is {config.MAX_IMAGE_PIXELS:,} pixels"
        )


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8/float gray, BGR or BGRA → float32 gray in [0, 1], alpha composited onto white paper."""
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
        gray = gray * alpha[:, :, 0] + (1.0 - alpha[:, :, 0])
    return np.clip(gray, 0.0, 1.0)


def _limit_size(image: np.ndarray) -> np.ndarray:
    """Shrink huge images first, still in their own dtype, so every later step is cheap."""
    h, w = image.shape[:2]
    scale = config.MAX_SIDE / max(h, w)
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
    return image


def normalize_contrast(gray: np.ndarray) -> np.ndarray:
    """Dark ink on light paper, stretched so paper → 1 and ink → 0."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) < 0.5:  # light text on a dark background
        gray = 1.0 - gray
    # both in one partial sort (~0.2 ms a drawing); float32 quantiles keep the arithmetic in float32
    dark, paper = np.percentile(gray, np.array([1, 90], np.float32))
    ink = min(dark, paper - 0.25)
    return np.clip((gray - ink) / max(paper - ink, 1e-3), 0.0, 1.0)


def crop_to_ink(gray: np.ndarray, threshold: float = 0.5, margin: int = 2) -> np.ndarray:
    """Crop to the rows and columns that hold ink; an inkless image is returned as it is."""
    ink = gray < threshold
    if not ink.any():
        return gray
    # a row or column counts when it has more than a speck of ink, relative to the image
    rows = np.flatnonzero(ink.sum(axis=1) > max(1, 0.01 * gray.shape[1]))
    cols = np.flatnonzero(ink.sum(axis=0) > max(0, 0.002 * gray.shape[0]))
    if rows.size == 0 or cols.size == 0:
        return gray
    top, bottom = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, gray.shape[0])
    left, right = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, gray.shape[1])
    return gray[top:bottom, left:right]


def stroke_width(gray: np.ndarray, threshold: float = 0.5) -> float:
    """Mean stroke width in pixels: twice the ink area over its outline length."""
    ink = (gray < threshold).astype(np.uint8)
    area = float(ink.sum())
    if area == 0:
        return 0.0
    edges = ink - cv2.erode(ink, np.ones((3, 3), np.uint8))
    return 2.0 * area / max(float(edges.sum()), 1.0)


#: Typical pen stroke, in model pixels, once a Kaggle crop is scaled to IMG_HEIGHT (about 2.0–2.7
#: on the shared sample); strokes clearly above it are thinned.
TARGET_STROKE = 2.0
#: Strokes are measured and thinned at this multiple of the model's height: fine enough to thin by
#: half a model pixel per step, small enough to be cheap on a huge canvas.
_WORK_SCALE = 4


def thin_strokes(gray: np.ndarray, height: int) -> np.ndarray:
    """Shrink to ``_WORK_SCALE × height`` and erode ink until strokes are near TARGET_STROKE.

    Only whole 3×3 steps that keep the stroke at or above the target are taken, so a thin pen
    stroke in a small crop (which the resize will enlarge) is never eroded away.
    """
    work_h = _WORK_SCALE * height
    if gray.shape[0] > work_h:
        new_w = max(1, round(gray.shape[1] * work_h / gray.shape[0]))
        gray = cv2.resize(gray, (new_w, work_h), interpolation=cv2.INTER_AREA)
    scale = height / gray.shape[0]  # model pixels per working pixel
    width = stroke_width(gray)  # working pixels
    if width * scale > 1.6 * TARGET_STROKE:
        # each 3×3 dilation of the (bright) paper removes one working pixel from each side of a stroke
        steps = int((width - TARGET_STROKE / scale) / 2)
        if steps >= 1:
            gray = cv2.dilate(gray, np.ones((3, 3), np.uint8), iterations=steps)
    return gray


def fit_to_input(gray: np.ndarray, height: int, width: int) -> np.ndarray:
    """Aspect-preserving resize to ``height`` (or less if too wide), left-aligned, padded with paper."""
    h, w = gray.shape
    scale = min(height / h, width / w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(gray, (new_w, new_h), interpolation=interp)
    out = np.ones((height, width), np.float32)
    top = (height - new_h) // 2
    out[top:top + new_h, :new_w] = np.clip(resized, 0.0, 1.0)  # interpolation can overshoot by an ulp
    return out


def preprocess(source: str | Path | bytes | np.ndarray, height: int = config.IMG_HEIGHT,
               width: int = config.IMG_WIDTH, normalize_stroke: bool = True) -> np.ndarray:
    """Any image → float32 (height, width) model input; raises ImageError on unreadable input."""
    gray = to_gray(_limit_size(read_image(source)))
    gray = crop_to_ink(normalize_contrast(gray))
    if normalize_stroke:
        gray = thin_strokes(gray, height)
    return fit_to_input(gray, height, width)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Model input → uint8 image for display or compact caching (the inverse of the /255 scale)."""
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def has_ink(x: np.ndarray, threshold: float = 0.5, min_pixels: int = 8) -> bool:
    """Whether a preprocessed input holds any writing (an empty canvas does not)."""
    return int((x < threshold).sum()) >= min_pixels
