"""Stage: image → model input. The one transform used by training, evaluation and the app.

Whatever door an image comes in by (a Kaggle scan crop, a phone photo, an RGBA canvas drawing, a
synthetic rendering), ``preprocess`` turns it into the same kind of array: float32 (IMG_HEIGHT,
IMG_WIDTH), 1.0 = paper and 0.0 = ink, text left-aligned and padded with paper on the right.

The steps, one module each, in the order they run:
- ``image``: the file decoded and turned upright by its EXIF orientation, huge images shrunk, alpha
  composited onto white, gray;
- ``levels``: polarity fixed from the border, uneven light divided out, contrast stretched between
  an ink and a paper percentile;
- ``lines``: the crop to the line of writing (a form field kept whole but for cut rows and
  labels), levelled if it is tilted;
- ``strokes``: thick strokes (a canvas pen) thinned towards a scanned pen's width;
- here, the resize that keeps the aspect ratio (no distortion) to the fixed height, shrinking further
  only when the result would be wider than the input; the rest is padded with paper.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hwr import config
from hwr.preprocess.image import ImageError, limit_size, read_image, to_gray
from hwr.preprocess.levels import fix_polarity, flatten_background, normalize_contrast
from hwr.preprocess.lines import crop_to_text, is_form_field
from hwr.preprocess.strokes import thin_strokes

__all__ = ["PREPROCESS_VERSION", "ImageError", "fit_to_input", "has_ink", "preprocess", "to_uint8"]


#: Bumped whenever the output of ``preprocess`` changes, so caches of preprocessed images are rebuilt.
#: (v7: files turned by their EXIF orientation; a line of writing may be 1% of a photo's long side,
#: down from 2%; a field scanned at up to 4× the Kaggle resolution is a field (``is_form_field``).
#: Every crop, canvas and photo in shared/ and data/ preprocesses as in v6. v8: light ink on a
#: transparent image composited onto black; letters written across ruled or squared paper kept when
#: its lines go. Of the crops, canvases and photos measured, one photo preprocesses differently.
#: v9: images are worked on at up to 2,000 px on the long side, not 4,000, and a JPEG twice that
#: size is decoded at a half, a quarter or an eighth; no image measured is that large. v10: every
#: shrink is ``shrink`` (within half a grey level of OpenCV's area resize, several times faster) and
#: the paper's level is read on the background estimate's small copy: Kaggle crops as in v9, and
#: every measured set reads as before but the held-out-font canvases, one name more right. v11: ink
#: touching the image's edge counts for a tenth when lines compete, so a shadow's corner or a page
#: edge no longer outweighs a name in lower case; form fields as in v10. v12: letters beside the line
#: that drifted off its band continue it (``lines._continued``), and short pieces at the image's
#: edge (a rule's end, a speck) and marks far from the line no longer widen the crop; form fields as
#: in v11.)
PREPROCESS_VERSION = 12


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
    image = limit_size(read_image(source))
    field = is_form_field(image)
    gray = fix_polarity(to_gray(image))
    gray = normalize_contrast(crop_to_text(flatten_background(gray), field))
    if normalize_stroke:
        gray = thin_strokes(gray, height)
    return fit_to_input(gray, height, width)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Model input → uint8 image for display or compact caching (the inverse of the /255 scale)."""
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def has_ink(x: np.ndarray, threshold: float = 0.5, min_pixels: int = 8) -> bool:
    """Whether a preprocessed input holds any writing (an empty canvas does not)."""
    return int((x < threshold).sum()) >= min_pixels
