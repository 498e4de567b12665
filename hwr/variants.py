"""Stage: test-time variants. The model input read again a little changed, and the readings combined.

A CTC model's reading of a name can hinge on a pixel: where a stroke falls between two rows of the
32-pixel input, or how thick a faint pencil stroke is. Reading the same input a pixel lower or with
bolder strokes, and scoring every reading's texts under all of them (``hwr.decode``: the geometric
mean of P(text | image)), smooths that out. Which variants a model reads with is chosen on the
development set (``scripts/tune_decoder.py``) and kept in its metadata (``test_time_variants``);
each one costs another pass of the model.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np


def _down(x: np.ndarray) -> np.ndarray:
    """A pixel lower; the top row paper."""
    out = np.ones_like(x)
    out[:, 1:] = x[:, :-1]
    return out


def _narrow(x: np.ndarray) -> np.ndarray:
    """Squeezed to 90% of the width, paper on the right: the letters fall on other steps."""
    out = np.ones_like(x)
    width = int(x.shape[2] * 0.9)
    for i, image in enumerate(x[..., 0]):
        out[i, :, :width, 0] = cv2.resize(image, (width, x.shape[1]), interpolation=cv2.INTER_AREA)
    return out


def _bold(x: np.ndarray) -> np.ndarray:
    """Strokes a pixel bolder (the darkest of each 2 × 2 neighbourhood; ink is dark)."""
    kernel = np.ones((2, 2), np.uint8)
    return np.stack([cv2.erode(image, kernel) for image in x[..., 0]])[..., None]


#: name → a float32 batch (N, H, W, 1) of model inputs (1 = paper) → the same batch changed
VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"down": _down, "narrow": _narrow, "bold": _bold}


def check(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The names, if every one is a known variant; ValueError naming the unknown ones otherwise."""
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown test-time variants {unknown}; choose from {sorted(VARIANTS)}")
    return tuple(names)
