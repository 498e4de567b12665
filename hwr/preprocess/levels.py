"""Preprocessing, second step: gray levels → dark ink on flat, white paper.

Polarity is fixed from the border (light text on a dark background is inverted, so the model only
ever sees dark ink on light paper); uneven light and soft shadows are divided out; contrast is
stretched between an ink and a paper percentile, so faint pencil, grey scans and pure black canvas
strokes all span the same range.
"""

from __future__ import annotations

import cv2
import numpy as np

from hwr.preprocess.image import ImageError, shrink


def fix_polarity(gray: np.ndarray) -> np.ndarray:
    """Dark ink on light paper: an image whose writing is lighter than its surroundings is inverted.

    Only an image with a dark border is a candidate, and there the strokes decide, not the levels:
    pixels that differ from the median of their neighbourhood are the writing, and their sign says
    its polarity. So a shadow or a dark table at the edge of a photo (smooth) does not count and an
    underexposed photo (dark paper, darker ink) is not mistaken for chalk on a blackboard. Raises ImageError for an image so dark that no
    writing can be told from the paper.
    """
    if float(gray.max()) < _MIN_PAPER:
        raise ImageError("the image is almost black: too dark to find any writing; "
                         "take the photo in more light")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) >= 0.5:
        return gray  # light paper all round (a scan, a canvas, most photos)
    small = _shrunk(gray, _BACKGROUND_SIDE)
    k = max(5, min(small.shape) // 8) | 1
    small8 = np.rint(small * 255).astype(np.uint8)
    diff = small8.astype(np.int16) - cv2.medianBlur(small8, min(k, 255)).astype(np.int16)
    if int((diff > 25).sum()) > int((diff < -25).sum()):
        gray = 1.0 - gray
    return gray


def _shrunk(gray: np.ndarray, short_side: int) -> np.ndarray:
    """A copy whose short side is at most ``short_side`` pixels (the image itself if smaller)."""
    return shrink(gray, short_side / min(gray.shape))


#: Brightest paper (0–1) an image needs for its writing to be told apart (below: "too dark").
_MIN_PAPER = 0.04
#: The background is estimated on a copy whose short side is this many pixels: light and shadows
#: vary slowly, so this keeps the estimate cheap on a 12-megapixel photo.
_BACKGROUND_SIDE = 160


#: Above this many pixels (a photo, a page), paper and ink levels are read on every other row and
#: column: a percentile of a million pixels is a 10 ms sort, of a quarter of them 3 ms, and the levels
#: agree to within a grey level. Scan crops and canvas drawings stay below it, read exactly.
_SAMPLED_LEVELS_PIXELS = 250_000


def _level_sample(gray: np.ndarray) -> np.ndarray:
    """The pixels whose percentiles stand for the image's (all of them in a small image)."""
    return gray[::2, ::2] if gray.size > _SAMPLED_LEVELS_PIXELS else gray


def flatten_background(gray: np.ndarray) -> np.ndarray:
    """Divide by an estimate of the paper's brightness: uneven light and soft shadows → flat paper.

    The estimate is a morphological closing (which removes anything darker and narrower than its
    kernel: the strokes) of a small copy, smoothed. Division only ever brightens, and the estimate
    is held at or above 30% of the paper's level, so a solid blob of ink wider than the kernel stays
    ink and a clean scan or canvas (flat white paper) comes out unchanged.
    """
    h, w = gray.shape
    small = _shrunk(gray, _BACKGROUND_SIDE)
    k = max(3, min(small.shape) // 8) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    background = cv2.GaussianBlur(background, (0, 0), k / 3)
    # the paper's level from the small copy (3 ms less on a photo); it only sets the floor below
    paper = float(np.percentile(background, 90))
    if small is not gray:
        background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    # in place, in the estimate's own array: three passes over a photo's pixels, not three copies
    np.maximum(background, max(0.3 * paper, 1e-3), out=background)
    np.divide(gray, background, out=background)
    return np.minimum(background, 1.0, out=background)


def normalize_contrast(gray: np.ndarray) -> np.ndarray:
    """Stretched so paper → 1 and ink → 0 (after ``fix_polarity`` and ``flatten_background``).

    The ink level is the 1st percentile, but at least 0.25 below the paper's (the 90th), so a blank
    image is not stretched into noise.
    """
    # both in one partial sort (~0.2 ms a drawing); float32 quantiles keep the arithmetic in float32
    dark, paper = np.percentile(_level_sample(gray), np.array([1, 90], np.float32))
    ink = min(dark, paper - 0.25)
    out = gray - ink
    out /= max(paper - ink, 1e-3)
    return np.clip(out, 0.0, 1.0, out=out)
