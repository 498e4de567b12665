"""Photo-like test images made here: a name on paper under a phone's light, and its clean scan."""

from __future__ import annotations

import cv2
import numpy as np


def _rule(img: np.ndarray, paper: str) -> None:
    """Print the rules of a French school sheet on ``img`` (BGR float, 1200 × 900, ~8 px a mm).

    "seyes": Seyès ruling, violet lines every 2 mm, bolder every 8 mm, and a red margin;
    "squared": a 5 mm grid. The name's capitals (66 px) span two of Seyès' bold intervals' worth
    of fine lines, which cross every letter.
    """
    h, w = img.shape[:2]
    if paper == "seyes":
        for k, y in enumerate(range(94, h, 16)):
            bold = k % 4 == 0
            cv2.line(img, (0, y), (w, y), (170, 110, 130) if bold else (205, 175, 185), 2 if bold else 1)
        for x in range(240, w, 64):
            cv2.line(img, (x, 0), (x, h), (205, 175, 185), 1)
        cv2.line(img, (150, 0), (150, h), (80, 80, 220), 2)
    elif paper == "squared":
        for y in range(10, h, 41):
            cv2.line(img, (0, y), (w, y), (190, 170, 150), 1)
        for x in range(10, w, 41):
            cv2.line(img, (x, 0), (x, h), (190, 170, 150), 1)


def paper_photo(text: str | None = "MARTIN", shadow: bool = True, seed: int = 0,
                lines: int = 1, scale: float = 3.0, paper: str = "plain") -> np.ndarray:
    """A phone-photo-like BGR image: textured paper, light falling off, a soft shadow over half the
    sheet, a slight rotation, blur and a JPEG; ``text`` in blue ink (``lines`` lines of it), its
    capitals ``scale`` × 22 px tall in the 1200 × 900 photo (3: 66 px; 0.8: 18 px, 1.5% of it);
    ``paper`` "plain", or ruled as French school sheets are ("seyes", "squared": ``_rule``)."""
    rng = np.random.default_rng(seed)
    h, w = 900, 1200
    ink = np.zeros((h, w), np.uint8)
    for k in range(lines if text else 0):
        cv2.putText(ink, text, (200, 430 + 120 * k - 60 * (lines - 1)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, 255, max(2, round(2 * scale)), cv2.LINE_AA)
    img = np.full((h, w, 3), (235, 240, 245), np.float32)
    _rule(img, paper)
    img += cv2.resize(rng.normal(0, 4, (90, 120)).astype(np.float32), (w, h))[:, :, None]
    alpha = ink.astype(np.float32)[:, :, None] / 255.0
    img += alpha * (np.array([160, 60, 20], np.float32) - img)
    img = cv2.warpAffine(img, cv2.getRotationMatrix2D((w / 2, h / 2), 3.0, 1.0), (w, h),
                         borderMode=cv2.BORDER_REPLICATE)
    light = np.linspace(1.0, 0.6, w, dtype=np.float32)[None, :].repeat(h, 0)
    if shadow:  # darker below a soft diagonal edge
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        light *= 1.0 - 0.5 / (1.0 + np.exp(-(ys - 0.4 * xs - 350) / 40.0))
    img = cv2.GaussianBlur(img * light[:, :, None], (0, 0), 1.2)
    ok, jpg = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return cv2.imdecode(jpg, cv2.IMREAD_COLOR)


def with_orientation(rgb: np.ndarray, fmt: str, orientation: int, quality: int = 100) -> bytes:
    """``rgb`` encoded as ``fmt`` with EXIF ``orientation`` (1–8), the tag a camera sets."""
    import io

    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb))
    exif = img.getexif()
    exif[0x0112] = orientation  # EXIF Orientation
    buf = io.BytesIO()
    img.save(buf, fmt, exif=exif, **{"JPEG": {"quality": quality}, "WEBP": {"lossless": True}}.get(fmt, {}))
    return buf.getvalue()


def stored_sideways(image: np.ndarray) -> bytes:
    """``image`` (BGR) as a phone held upright stores it: a JPEG turned a quarter anticlockwise,
    with EXIF orientation 6 ("turn clockwise to show"), which browsers obey."""
    return with_orientation(np.rot90(image[:, :, ::-1], 1), "JPEG", 6, quality=90)


def clean_scan(text: str = "MARTIN") -> np.ndarray:
    """The same name, equally rotated, as a clean scan: black on white, no light, no shadow."""
    img = np.full((900, 1200), 255, np.uint8)
    cv2.putText(img, text, (200, 430), cv2.FONT_HERSHEY_SIMPLEX, 3.0, 0, 6, cv2.LINE_AA)
    return cv2.warpAffine(img, cv2.getRotationMatrix2D((600, 450), 3.0, 1.0), (1200, 900),
                          borderValue=255)
