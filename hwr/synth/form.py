"""Stage: synthetic data, the form look. A name as a Kaggle crop of a French school form.

Pen capitals (thin strokes, uneven spacing, jittered letters) on a white scanned form, often beside a
printed ``NOM :`` / ``PRENOM :``, with cut-off rows of the form above and below, lines and box edges,
blur, a downscale to a Kaggle height and a JPEG round trip.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hwr.synth.fonts import DIGITS, LETTERS, font_metrics
from hwr.synth.hand import name_width, pen_name, resized

#: Kaggle crops come in three widths; heights range 14–72 px (median ~36).
_KAGGLE_WIDTHS = (284, 324, 388)

#: Printed words of the French school forms the Kaggle crops come from.
_INLINE_PREFIXES = (
    "NOM :", "NOM :", "NOM :", "PRENOM :", "PRENOM :", "PRENOM :", "NOM:", "PRENOM:",
    "NOM DE NAISSANCE :", "NOM D'USAGE :", "PRENOMS :", "NOM DE FAMILLE :",
)
_STACKED_PREFIXES = ("NOM", "NOM", "PRENOM", "PRENOM", "NOM DE NAISSANCE", "PRENOMS")
_FORM_LINES = (
    "DATE DE NAISSANCE   CLASSE", "DATE DE NAISSANCE", "CLASSE", "NE(E) LE :", "CODE RNE / UAI :",
    "NOM :", "PRENOM :", "SEXE :   F   M",
)


@lru_cache(maxsize=64)
def _printed_font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow's bundled sans (Aileron): present wherever Pillow is, close to the forms' Helvetica.
    return ImageFont.load_default(size)


@lru_cache(maxsize=1024)
def _printed(text: str, cap: int, bold: bool) -> tuple[np.ndarray, int]:
    """A printed form word as an ink mask, and the baseline's row in it."""
    font = _printed_font(max(int(round(cap / 0.7)), 6))
    stroke = 1 if bold else 0
    left, top, right, bottom = font.getbbox(text, anchor="ls", stroke_width=stroke)
    img = Image.new("L", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(img).text(
        (-left, -top), text, font=font, fill=255, anchor="ls", stroke_width=stroke, stroke_fill=255
    )
    mask = np.asarray(img)
    mask.setflags(write=False)
    return mask, -top


def _paste(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    """Max-composite ``src`` into ``dst`` at (x, y), clipping whatever falls outside."""
    h, w = src.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    view = dst[y0:y1, x0:x1]
    np.maximum(view, src[y0 - y : y1 - y, x0 - x : x1 - x], out=view)


def render_form(text: str, path: str, rng: np.random.Generator) -> np.ndarray:
    """A Kaggle-like crop, composed at twice the final size so printed text and blur look scanned."""
    width = int(rng.choice(_KAGGLE_WIDTHS))
    layout = rng.choice(["inline", "plain", "stacked"], p=[0.4, 0.38, 0.22])
    if layout == "stacked":
        height = int(rng.integers(44, 73))
    else:
        height = int(np.clip(rng.normal(33, 9), 15, 72))
    cap = float(np.clip(rng.normal(14.0, 2.5), 9.0, 20.0))
    cap = min(cap, 0.8 * height)
    s = 2  # composition scale
    W, H = width * s, height * s
    hand = np.zeros((H, W), np.uint8)
    printed = np.zeros((H, W), np.uint8)
    printed_cap = int(round(rng.uniform(7.0, 10.0) * s))
    bold = bool(rng.random() < 0.7)

    # Across: the name starts after the printed prefix ("inline") or at a margin.
    prefix_text = str(rng.choice(_STACKED_PREFIXES if layout == "stacked" else _INLINE_PREFIXES))
    prefix, prefix_base = _printed(prefix_text, printed_cap, bold)
    prefix_x = int(rng.uniform(-3, 12) * s) if layout == "inline" else int(rng.uniform(5, 50) * s)
    if layout == "inline":
        x = prefix_x + prefix.shape[1] + rng.uniform(8, 60) * s
    else:
        x = rng.uniform(2, 60) * s
    x = min(x, 0.55 * W)

    # Letter spacing: forms have letter boxes, so most people leave wide gaps; fit the name in.
    spacing = rng.uniform(0.3, 1.2) if rng.random() < 0.7 else rng.uniform(-0.02, 0.3)
    room = W - x - rng.uniform(2, 20) * s
    needed = name_width(text, path, spacing) * cap * s
    if needed > room:
        # narrower gaps first (people squeeze letters), then smaller letters
        spacing = max(spacing - (needed - room) / (cap * s * len(text)), 0.0)
        cap = max(min(cap, room / (name_width(text, path, spacing) * s)), 6.0)
    name = pen_name(text, path, rng, spacing)
    factor = cap * s / name.cap
    ink = resized(name.ink, factor)
    tall = cap * s

    # Down: anywhere the name fits; stacked forms keep room for the printed word above it.
    if layout == "stacked":
        baseline = max(rng.uniform(0.55, 0.78) * H, tall + printed_cap + 4 * s)
    else:
        baseline = tall + max(H - tall, 0) * rng.uniform(0.15, 0.85)
    # Slight cut-offs: a few pixels of the tops, the bottoms or the last letter may leave the crop.
    if rng.random() < 0.1:
        baseline += float(rng.choice([-1, 1])) * rng.uniform(0, 0.12) * tall
    baseline = min(max(baseline, 0.9 * tall), H + 0.1 * tall)
    if rng.random() < 0.06:
        if x + ink.shape[1] > 0.8 * W:
            x = max(x, W - ink.shape[1] + rng.uniform(0, 0.2) * tall)
        elif layout == "plain":
            x = -rng.uniform(0, 0.15) * tall
    _paste(hand, ink, int(x), int(baseline - name.baseline_y * factor))

    if layout == "inline":
        _paste(printed, prefix, prefix_x, int(baseline + rng.uniform(-3, 2) * s) - prefix_base)
    elif layout == "stacked":
        _paste(printed, prefix, prefix_x, int(baseline - tall - rng.uniform(3, 10) * s) - prefix_base)
        below_text = str(rng.choice(_FORM_LINES))
        below, below_base = _printed(below_text, printed_cap, bool(rng.random() < 0.3))
        below_y = int(baseline + rng.uniform(5, 12) * s + printed_cap) - below_base
        _paste(printed, below, int(rng.uniform(5, 50) * s), below_y)

    # Rows of the form above and below, cut by the crop.
    font_digits = font_metrics(path).has_digits
    name_top, name_bottom = baseline - tall, baseline
    for row in ("above", "below") if layout != "stacked" else ():
        if rng.random() >= 0.4:
            continue
        visible = rng.uniform(0.15, 0.6) * tall
        clear = 0.25 * tall + 2 * s
        if row == "above" and visible > name_top - clear:
            continue  # no room: the row would run into the name
        if row == "below" and H - visible < name_bottom + clear:
            continue
        row_baseline = visible if row == "above" else H - visible + tall
        if rng.random() < 0.5:
            word, wb = _printed(str(rng.choice(_FORM_LINES)), printed_cap, bold)
            word_x = int(rng.uniform(0, 20) * s)
            _paste(printed, word, word_x, int(row_baseline) - wb)
            start = word_x + word.shape[1] + rng.uniform(5, 40) * s
        else:
            start = rng.uniform(0.05, 0.4) * W
        pool = DIGITS if font_digits and rng.random() < 0.6 else LETTERS
        other = "".join(rng.choice(list(pool), size=int(rng.integers(3, 9))))
        scribble = pen_name(other, path, rng, rng.uniform(0.3, 1.2))
        f = tall / scribble.cap * rng.uniform(0.8, 1.2)
        row_y = int(row_baseline - scribble.baseline_y * f)
        _paste(hand, resized(scribble.ink, f), int(start), row_y)

    # Lines of the form: a box edge at the left, an underline, a rotated time stamp at the edge.
    line_ink = np.zeros_like(printed)
    if rng.random() < 0.15:
        lx = int(rng.uniform(0, 6) * s)
        line_ink[:, lx : lx + int(rng.integers(1, 4))] = 255
    if rng.random() < 0.12:
        ly = int(min(baseline + rng.uniform(2, 6) * s, H - 2))
        lx = int(rng.uniform(0, 0.3) * W)
        line_ink[ly : ly + int(rng.integers(1, 3)), lx:] = int(rng.integers(120, 256))
    if rng.random() < 0.04:
        by0, by1 = int(rng.uniform(0, 0.15) * H), int(rng.uniform(0.85, 1.0) * H)
        bx0, bx1 = int(x - rng.uniform(3, 10) * s), int(rng.uniform(0.9, 1.0) * W)
        cv2.rectangle(line_ink, (bx0, by0), (bx1, by1 - 1), 255, int(rng.integers(1, 3)))
    if rng.random() < 0.1:
        stamp = f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}"
        mask, _ = _printed(stamp, printed_cap, True)
        stamp_xy = int(rng.uniform(-8, 0) * s), int(rng.uniform(-0.5, 0.3) * H)
        _paste(printed, np.ascontiguousarray(np.rot90(mask)), *stamp_xy)
    np.maximum(printed, line_ink, out=printed)

    # Ink on paper: ballpoint blue/black scanned to gray, printed text black, scanner levels.
    paper = 255.0 if rng.random() < 0.9 else rng.uniform(225, 255)
    pen_level = rng.uniform(0, 50) if rng.random() < 0.93 else rng.uniform(50, 100)
    img = np.full((H, W), paper, np.float32)
    for layer, level in ((printed, rng.uniform(0, 40)), (hand, pen_level)):
        alpha = layer.astype(np.float32) / 255.0
        img += alpha * (level - img)
    if rng.random() < 0.8:
        sigma = rng.uniform(0.3, 0.9)
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.8:
        # scanners clip the paper to white and darken the ink
        lo, hi = rng.uniform(0, 40), rng.uniform(190, 245)
        img = (img - lo) * (255.0 / (hi - lo))
    noise = rng.uniform(0, 4)
    if noise > 0.5:
        img += rng.normal(0, noise, img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else img
