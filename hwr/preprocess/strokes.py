"""Preprocessing, fourth step: stroke width normalised.

A canvas stroke is several times thicker, relative to letter height, than a pen stroke on a scanned
form; thick strokes are thinned with an erosion so the two domains meet.
"""

from __future__ import annotations

import cv2
import numpy as np


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
