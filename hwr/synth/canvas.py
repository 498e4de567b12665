"""Stage: synthetic data, the canvas look. A name drawn with a mouse or a finger on the app's canvas.

Thick uniform strokes, pure black on pure white, nothing else: either a font's letters reduced to
their centre lines, or the straight strokes and rough arcs a mouse makes (``STICK_LETTERS``), redrawn
with a round brush.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hwr.synth.case import plain
from hwr.synth.hand import centre_lines, ellipse, pad

#: Capitals as people draw them with a mouse or a finger: straight strokes and rough arcs, in a box
#: of the letter's width (x right) and the cap height (y down); each stroke is one pen-down polyline.
_ARC_O = [(0.5, 0), (0.15, 0.08), (0, 0.4), (0.05, 0.75), (0.35, 1), (0.7, 0.97), (0.97, 0.7),
          (1, 0.35), (0.8, 0.07), (0.5, 0)]
_ARC_C = [(1, 0.15), (0.7, 0), (0.3, 0), (0.05, 0.25), (0, 0.5), (0.05, 0.75), (0.3, 1), (0.7, 1), (1, 0.85)]
_BOWL = [(0, 0), (0.7, 0), (1, 0.15), (1, 0.38), (0.7, 0.52), (0, 0.52)]
STICK_LETTERS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.2, 0.6), (0.8, 0.6)]],
    "B": [[(0, 0), (0, 1)], [(0, 0), (0.7, 0), (0.9, 0.12), (0.9, 0.35), (0.7, 0.48), (0, 0.48)],
          [(0.7, 0.48), (1, 0.62), (1, 0.85), (0.75, 1), (0, 1)]],
    "C": [_ARC_C],
    "D": [[(0, 0), (0, 1)], [(0, 0), (0.5, 0), (0.9, 0.2), (1, 0.5), (0.9, 0.8), (0.5, 1), (0, 1)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.75, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.75, 0.5)]],
    "G": [_ARC_C[:-1] + [(1, 0.8), (1, 0.55), (0.55, 0.55)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "I": [[(0.5, 0), (0.5, 1)]],
    "J": [[(1, 0), (1, 0.75), (0.8, 0.97), (0.45, 1), (0.15, 0.9), (0, 0.7)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55)], [(0.3, 0.4), (1, 1)]],
    "L": [[(0, 0), (0, 1), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "O": [_ARC_O],
    "P": [[(0, 1)] + _BOWL],
    "Q": [_ARC_O, [(0.6, 0.7), (1, 1.05)]],
    "R": [[(0, 1)] + _BOWL, [(0.4, 0.52), (1, 1)]],
    "S": [[(1, 0.12), (0.7, 0), (0.3, 0), (0.03, 0.15), (0.05, 0.38), (0.5, 0.5), (0.95, 0.62), (1, 0.85),
           (0.7, 1), (0.3, 1), (0, 0.88)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "U": [[(0, 0), (0, 0.7), (0.2, 0.95), (0.5, 1), (0.8, 0.95), (1, 0.7), (1, 0)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "Z": [[(0, 0), (1, 0), (0, 1), (1, 1)]],
    "-": [[(0, 0.55), (1, 0.55)]],
    "'": [[(0.5, 0), (0.4, 0.25)]],
}
#: Letter widths in cap heights, where they differ from the usual 0.55–0.95.
_STICK_WIDTH = {"I": 0.12, "'": 0.15, "-": 0.5, "M": 1.1, "W": 1.2}


def stick_lines(text: str, rng: np.random.Generator, cap: float) -> np.ndarray:
    """``text`` in ``STICK_LETTERS`` as 1-px centre lines (255 on 0), ``cap`` px tall, shaky and uneven."""
    slant, angle = rng.normal(0.0, 0.12), rng.normal(0.0, 0.04)
    spacing = rng.uniform(0.1, 0.8)
    shake = rng.uniform(0.01, 0.05)
    strokes, pen_x = [], 0.0
    for ch in text:
        if ch not in STICK_LETTERS:  # a space (every other character has strokes)
            pen_x += rng.uniform(0.6, 1.4) * cap
            continue
        width = _STICK_WIDTH.get(ch, rng.uniform(0.55, 0.95)) * rng.uniform(0.9, 1.1)
        size = cap * math.exp(rng.normal(0.0, 0.08))
        base = rng.normal(0.0, 0.06) * cap
        for stroke in STICK_LETTERS[ch]:
            pts = np.array(stroke, np.float64) + rng.normal(0.0, shake, (len(stroke), 2))
            x = pen_x + (pts[:, 0] * width + slant * (1 - pts[:, 1])) * size
            y = cap + base - (1 - pts[:, 1]) * size
            strokes.append(np.stack([x, y + x * angle], axis=1))
        pen_x += (width + spacing + rng.normal(0.0, 0.08)) * size
    if not strokes:
        return np.zeros((int(cap), int(cap)), np.uint8)
    allpts = np.concatenate(strokes)
    lo = allpts.min(axis=0) - 2
    w, h = (np.ceil(allpts.max(axis=0) - lo) + 3).astype(int)
    lines = np.zeros((h, w), np.uint8)
    cv2.polylines(lines, [np.round(s - lo).astype(np.int32) for s in strokes], False, 255, 1, cv2.LINE_AA)
    return np.where(lines > 0, 255, 0).astype(np.uint8)


def render_canvas(text: str, path: str, rng: np.random.Generator) -> np.ndarray:
    """A name drawn on a web canvas: big, even strokes, black on white, generous margins.

    Half the names are a font's letters reduced to their centre lines, half the straight strokes and
    rough arcs a mouse makes (``STICK_LETTERS``); both are redrawn with a round brush, thin (the
    app's default pen on big letters) to thick (a finger on small ones).
    """
    brush_per_cap = rng.uniform(0.05, 0.2)
    cap = rng.uniform(90, 200)
    if rng.random() < 0.5:
        lines = stick_lines(plain(text), rng, cap)  # a mouse draws capitals
    else:
        # the brush widens every letter, so the gaps grow with it
        lines = centre_lines(text, path, rng, cap, extra_spacing=1.3 * brush_per_cap)
    brush = max(int(round(cap * brush_per_cap)), 3)
    ink = cv2.dilate(pad(lines, brush), ellipse(brush))
    top, bottom, left, right = (int(cap * rng.uniform(0.2, 1.2)) for _ in range(4))
    ink = cv2.copyMakeBorder(ink, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
    return np.where(ink > 127, 0, 255).astype(np.uint8)
