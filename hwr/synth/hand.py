"""Stage: synthetic data, the hand. One name written in a font as an ink layer (uint8, 255 = ink).

Every look starts here: letters placed one by one with their own size, rotation, slant and baseline
(``handwriting``), a pen's stroke (``pen_name``) or a pen's centre lines (``centre_lines``), smooth
elastic wobble, and the morphology that sets the stroke width.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from hwr.synth.fonts import BASE_CAP, font_metrics, glyph


class Layer(NamedTuple):
    ink: np.ndarray  # uint8, 255 = ink
    baseline_y: float  # where the pen started, in layer pixels
    cap: float  # cap height in layer pixels


def handwriting(
    text: str,
    path: str,
    rng: np.random.Generator,
    cap: float,
    spacing: float,
    slant: float,
    angle: float,
    jitter: float,
    drift: float = 0.0,
) -> Layer:
    """Place each letter with its own size, rotation and baseline jitter on a shared slant and angle.

    ``spacing`` is the gap added after each letter, in cap heights (forms have letter boxes, so often
    a lot); ``jitter`` scales all per-letter randomness; ``drift`` (in cap heights) is a slow wave
    of the baseline along the name, as a hand writing without a line lets it wander.
    """
    metrics = font_metrics(path)
    size = max(int(round(metrics.size_per_cap * BASE_CAP)), 4)
    # All per-letter randomness in one draw: size, gap, rotation, slant, baseline offset, advance.
    wiggle = rng.normal(0.0, jitter, (len(text), 5)) * (0.09, 0.12, 0.06, 0.07, 0.06)
    wave = drift * np.sin(2 * np.pi * np.arange(len(text)) / rng.uniform(4, 12) + rng.uniform(0, 2 * np.pi))
    wiggle[:, 4] += wave
    stretch = rng.uniform(0.92, 1.08, len(text))
    space_stretch = rng.uniform(0.8, 1.5, len(text))
    dir_x, dir_y = math.cos(angle), math.sin(angle)
    pen_x = pen_y = 0.0
    pieces = []
    for i, ch in enumerate(text):
        d_size, d_gap, d_theta, d_shear, d_base = wiggle[i]
        scale = cap / BASE_CAP * math.exp(d_size)
        gap = max(spacing + d_gap, -0.05) * cap
        if ch == " ":
            step = max(metrics.space_per_cap, 0.45) * cap * space_stretch[i] + gap
            pen_x, pen_y = pen_x + dir_x * step, pen_y + dir_y * step
            continue
        g = glyph(path, size, ch)
        # A = scale * rotation(theta) @ shear: x' = x - shear * y leans the tops right (y grows down).
        theta, shear = angle + d_theta, slant + d_shear
        c, sn = scale * math.cos(theta), scale * math.sin(theta)
        a11, a12, a21, a22 = c, -c * shear - sn, sn, -sn * shear + c
        ox, oy = pen_x - dir_y * d_base * cap, pen_y + dir_x * d_base * cap
        h, w = g.mask.shape
        xs = [a11 * u + a12 * v for u in (g.left, g.left + w) for v in (g.top, g.top + h)]
        ys = [a21 * u + a22 * v for u in (g.left, g.left + w) for v in (g.top, g.top + h)]
        x0, y0 = math.floor(min(xs) + ox), math.floor(min(ys) + oy)
        x1, y1 = math.ceil(max(xs) + ox), math.ceil(max(ys) + oy)
        m = np.array([
            [a11, a12, a11 * g.left + a12 * g.top + ox - x0],
            [a21, a22, a21 * g.left + a22 * g.top + oy - y0],
        ])
        patch = cv2.warpAffine(g.mask, m, (x1 - x0 + 1, y1 - y0 + 1), flags=cv2.INTER_LINEAR)
        pieces.append((x0, y0, patch))
        step = g.advance * scale * stretch[i] + gap
        pen_x, pen_y = pen_x + dir_x * step, pen_y + dir_y * step
    if not pieces:
        return Layer(np.zeros((max(int(cap), 1), max(int(cap), 1)), np.uint8), cap, cap)
    left = min(x for x, _, _ in pieces)
    top = min(y for _, y, _ in pieces)
    right = max(x + p.shape[1] for x, _, p in pieces)
    bottom = max(y + p.shape[0] for _, y, p in pieces)
    ink = np.zeros((bottom - top, right - left), np.uint8)
    for x, y, p in pieces:
        view = ink[y - top : y - top + p.shape[0], x - left : x - left + p.shape[1]]
        np.maximum(view, p, out=view)
    return Layer(ink, -top, cap)


def ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def set_stroke(ink: np.ndarray, current: float, target: float) -> np.ndarray:
    """Thicken or thin strokes from about ``current`` to ``target`` px.

    Dilating/eroding by k px changes the width by k; thinning stops at a third of the width so the
    joints of bold letters and the hairlines of high-contrast fonts survive.
    """
    delta = target - current
    if delta >= 0.7:
        return cv2.dilate(ink, ellipse(int(round(delta)) + 1))
    cut = min(int(round(-delta)), int(current / 3))
    if cut >= 1:
        return cv2.erode(ink, ellipse(cut + 1))
    return ink


#: Coverage above which a pixel is ink for :func:`skeleton`: an eighth, not a half, because the
#: hairlines of high-contrast fonts (Ecolier's joins and serifs) are under a pixel wide at
#: ``BASE_CAP``, so antialiasing and :func:`wobble` leave them at a third of full ink or less; at a
#: half their centre lines fell apart into dots and ticks no one could read.
SKELETON_INK = 32


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """Guo and Hall's deletion tests (Comm. ACM 32(3), 1989) for each of the 256 neighbourhoods.

    Bit ``i`` of a neighbourhood is its ``i``-th neighbour counter-clockwise from the east (E, NE,
    N, NW, W, SW, S, SE). A pixel may go when it is a simple border point that removing neither
    splits nor shortens a stroke (G1, G2); each sub-iteration peels one side (G3, then G3').
    """
    first, second = np.zeros(256, bool), np.zeros(256, bool)
    for n in range(256):
        b = [bool(n >> i & 1) for i in range(8)]
        g1 = sum(not b[i] and (b[i + 1] or b[(i + 2) % 8]) for i in (0, 2, 4, 6)) == 1
        n1 = sum(b[k] or b[k - 1] for k in (1, 3, 5, 7))
        n2 = sum(b[k] or b[(k + 1) % 8] for k in (1, 3, 5, 7))
        g2 = min(n1, n2) in (2, 3)
        first[n] = g1 and g2 and not ((b[1] or b[2] or not b[7]) and b[0])
        second[n] = g1 and g2 and not ((b[5] or b[6] or not b[3]) and b[4])
    return first, second


_THIN_FIRST, _THIN_SECOND = _thinning_tables()
#: (row, column) offset of neighbour bit 0..7: E, NE, N, NW, W, SW, S, SE.
_NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def thin(mask: np.ndarray) -> np.ndarray:
    """Guo–Hall thinning of a boolean mask: one-pixel lines, every stroke kept in one piece.

    Ours, not scikit-image's ``thin`` (which ``tests/test_synth.py`` holds it equal to), because
    that library and SciPy under it are too large to carry to the GPU machine, where the synthetic
    names are rendered.
    """
    skel = np.pad(mask.astype(bool), 1)
    h, w = mask.shape
    while True:
        before = int(skel.sum())
        for table in (_THIN_FIRST, _THIN_SECOND):
            code = np.zeros((h, w), np.uint8)
            for bit, (dy, dx) in enumerate(_NEIGHBOURS):
                code |= skel[1 + dy:1 + dy + h, 1 + dx:1 + dx + w].view(np.uint8) << bit
            skel[1:-1, 1:-1] &= ~table[code]
        if int(skel.sum()) == before:
            return skel[1:-1, 1:-1]


def skeleton(ink: np.ndarray) -> np.ndarray:
    """One-pixel centre lines of the ink, 255 on 0: what a pen retraces.

    Thinning keeps every stroke in one piece and grows no spurs; the morphological skeleton used
    before broke strokes apart and grew whiskers on bold letters, which no pen draws.
    """
    return np.where(thin(ink > SKELETON_INK), 255, 0).astype(np.uint8)


def wobble(ink: np.ndarray, rng: np.random.Generator, amplitude: float, period: float) -> np.ndarray:
    """Smooth random displacement: shaky strokes no font has (a hand, a mouse)."""
    h, w = ink.shape
    gh, gw = int(h / period) + 2, int(w / period) + 2
    coarse = rng.normal(0, amplitude, (2, gh, gw)).astype(np.float32)
    dx, dy = (cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(ink, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def pad(ink: np.ndarray, margin: int) -> np.ndarray:
    return cv2.copyMakeBorder(ink, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=0)


def name_width(text: str, path: str, spacing: float) -> float:
    """Expected width of ``text`` in cap heights before jitter, to fit a name in the crop."""
    metrics = font_metrics(path)
    size = max(int(round(metrics.size_per_cap * BASE_CAP)), 4)
    width = 0.0
    for ch in text:
        if ch == " ":
            width += max(metrics.space_per_cap, 0.45) * 1.15 + spacing
        else:
            width += glyph(path, size, ch).advance / BASE_CAP + spacing
    return width


def pen_name(text: str, path: str, rng: np.random.Generator, spacing: float) -> Layer:
    """The name written with a ballpoint at cap height ``BASE_CAP``: thin strokes, uneven letters."""
    layer = handwriting(
        text, path, rng, cap=BASE_CAP, spacing=spacing, slant=rng.normal(0.0, 0.15),
        angle=rng.normal(0.0, 0.015), jitter=rng.uniform(0.4, 1.5),
        drift=rng.uniform(0.0, 0.12) if rng.random() < 0.5 else 0.0,
    )
    margin = 4
    ink = pad(layer.ink, margin)
    if rng.random() < 0.65:  # elastic: each letter bent a little differently
        ink = wobble(ink, rng, amplitude=rng.uniform(0.5, 2.0), period=rng.uniform(12, 30))
    current = font_metrics(path).stroke_per_cap * BASE_CAP
    ink = set_stroke(ink, current, BASE_CAP * rng.uniform(0.05, 0.13))
    return Layer(ink, layer.baseline_y + margin, layer.cap)


def resized(ink: np.ndarray, factor: float) -> np.ndarray:
    h, w = ink.shape
    size = (max(int(round(w * factor)), 1), max(int(round(h * factor)), 1))
    return cv2.resize(ink, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)



def centre_lines(text: str, path: str, rng: np.random.Generator, cap: float,
                 extra_spacing: float = 0.0) -> np.ndarray:
    """``text`` in the font as 1-px centre lines (255 on 0), ``cap`` px tall: what a pen retraces.

    Letters get their own size, rotation and baseline, and most names a smooth wobble, so the
    strokes shake the way a mouse or a finger makes them.
    """
    layer = handwriting(
        text, path, rng, cap=BASE_CAP, spacing=rng.uniform(0.0, 0.6) + extra_spacing,
        slant=rng.normal(0.0, 0.18), angle=rng.normal(0.0, 0.05), jitter=rng.uniform(0.6, 1.8),
        drift=rng.uniform(0.0, 0.15) if rng.random() < 0.5 else 0.0,
    )
    ink = pad(layer.ink, 4)
    if rng.random() < 0.7:
        ink = wobble(ink, rng, amplitude=rng.uniform(0.5, 1.5), period=rng.uniform(20, 48))
    zoom = cap / BASE_CAP
    lines = cv2.resize(skeleton(ink), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
    return np.where(lines > 0, 255, 0).astype(np.uint8)


def pen_ink(text: str, path: str, rng: np.random.Generator, cap: float) -> np.ndarray:
    """``text`` written with a ballpoint in the font, ``cap`` px tall: an ink layer, 255 = ink."""
    layer = pen_name(text, path, rng, spacing=rng.uniform(0.05, 0.8))
    return resized(layer.ink, cap / layer.cap)
