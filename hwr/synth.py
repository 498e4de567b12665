"""Stage: synthetic training data. Names in handwriting fonts, distorted to look like the real crops.

The real set has only 1,000 labelled images, so the recognizer learns mostly from names drawn here in
two looks:

* ``"form"``: a Kaggle crop — pen capitals (thin strokes, uneven spacing, jittered letters) on a white
  scanned form, often beside a printed ``NOM :`` / ``PRENOM :``, with cut-off rows of the form above and
  below, lines and box edges, blur, a downscale to a Kaggle height and a JPEG round trip;
* ``"canvas"``: a name drawn with a mouse or a finger on the app's canvas — thick uniform strokes, pure
  black on pure white, nothing else — so the model also reads what people draw in the app.

Letters are rendered one by one with Pillow (cached per font, size and character), then placed with
OpenCV affine warps; everything random comes from the ``np.random.Generator`` passed in, so a sample
depends only on its seed.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm.auto import tqdm

from hwr.alphabet import DEFAULT_CHARS, Alphabet
from hwr import config
from hwr.config import MAX_LABEL_LEN

logger = logging.getLogger(__name__)

#: Bumped when the renderer changes, so caches of rendered names are rebuilt.
SYNTH_VERSION = 3

#: Share of the non-canvas names rendered as phone photos (the rest look like Kaggle form crops).
#: A default here rather than a training option: the photo look exists so that uploads from a
#: phone read as well as scans, and the real crops still dominate the form look's share.
PHOTO_FRACTION = 0.25

FONT_SUFFIXES = frozenset({".ttf", ".otf", ".woff", ".woff2"})
STYLES = ("form", "canvas", "photo")

#: Fonts that pass the automatic checks but draw letters no pen draws (checked by eye on a contact
#: sheet): swashes that swallow the neighbours, blackletter capitals, outlined and dotted letters,
#: letters cut into separate bars (N and M become "III" at Kaggle size).
DECORATIVE_FONTS = frozenset(
    {"Joscelyn-Regular", "Isabella", "femkeklaver", "Wargames", "It_wasn_t_me"}
)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

#: Glyphs are rendered once at this cap height (px) per font and then scaled by the per-letter warp,
#: so the glyph cache holds one size per font.
_BASE_CAP = 48
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


# ----------------------------------------------------------------------------------------------
# Fonts: loading, glyph cache, and which fonts can write every character
# ----------------------------------------------------------------------------------------------


class _Glyph(NamedTuple):
    """One character's bitmap (ink = 255) and where it sits relative to the pen on the baseline."""

    mask: np.ndarray
    left: int
    top: int
    advance: float


class _FontMetrics(NamedTuple):
    """Per-font numbers that make all fonts render at the same cap height and a chosen stroke width."""

    size_per_cap: float  # font size (px) that gives a cap height of 1 px
    stroke_per_cap: float  # stroke width / cap height
    space_per_cap: float  # advance of a space / cap height
    has_digits: bool


@lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """Load a font once per (path, size): workers render thousands of names with the same fonts."""
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=8192)
def _glyph(path: str, size: int, ch: str) -> _Glyph:
    """Render one character; cached since names reuse the same 29 characters over and over."""
    font = _font(path, size)
    left, top, right, bottom = font.getbbox(ch, anchor="ls")
    width, height = max(right - left, 1), max(bottom - top, 1)
    img = Image.new("L", (width, height), 0)
    ImageDraw.Draw(img).text((-left, -top), ch, font=font, fill=255, anchor="ls")
    mask = np.asarray(img)
    # Pillow's box spans the font's ascent and descent; keep only the ink, so the warps stay small
    # and ``top`` says where the ink starts.
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(rows):
        mask = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        left, top = left + int(cols[0]), top + int(rows[0])
    mask = np.ascontiguousarray(mask)
    mask.setflags(write=False)
    return _Glyph(mask, left, top, font.getlength(ch))


def _trimmed(mask: np.ndarray) -> np.ndarray:
    """The bitmap cut to its ink, so equal shapes compare equal whatever their padding."""
    ys, xs = np.nonzero(mask > 32)
    if len(ys) == 0:
        return mask[:0, :0]
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _notdef(path: str, size: int) -> np.ndarray:
    """What the font draws for a code point it lacks (.notdef, often a box)."""
    return _trimmed(_glyph(path, size, "\U0010fffd").mask)


@lru_cache(maxsize=512)
def _font_problem(path: str) -> str | None:
    probe = 64
    try:
        _font(path, probe)
    except OSError as err:
        return f"cannot be loaded ({err})"
    # A letter drawn exactly like the missing-glyph box is missing, not drawn.
    notdef = _notdef(path, probe)
    seen: dict[bytes, str] = {}
    for ch in DEFAULT_CHARS:
        if ch == " ":
            continue
        g = _glyph(path, probe, ch)
        ink = _trimmed(g.mask)
        if ink.size == 0:
            return f"renders {ch!r} empty"
        key = ink.tobytes() + bytes(str(ink.shape), "ascii")
        if _same(ink, notdef):
            return f"has no glyph for {ch!r} (draws the missing-glyph box)"
        if key in seen:
            return f"renders {seen[key]!r} and {ch!r} identically"
        seen[key] = ch
    space = _glyph(path, probe, " ")
    if _trimmed(space.mask).size:
        return "draws ink for a space (ruled or decorated background)"
    if space.advance <= 0:
        return "gives a space no width"
    hyphen = _trimmed(_glyph(path, probe, "-").mask)
    if hyphen.shape[1] <= hyphen.shape[0]:
        return "draws the hyphen taller than wide"
    apos = _glyph(path, probe, "'")
    cap = -_glyph(path, probe, "H").top
    if apos.top + apos.mask.shape[0] > -0.3 * cap:
        return "draws the apostrophe down at the baseline, like a comma"
    if Path(path).stem in DECORATIVE_FONTS:
        return "decorative letters (checked by eye)"
    return None


def font_problem(path: Path | str) -> str | None:
    """Why a font cannot write every name (a missing, empty or duplicate glyph...), or None if it can."""
    return _font_problem(str(path))


def usable_fonts(font_dir: Path | str, heldout: bool = False) -> list[Path]:
    """Fonts of ``font_dir`` that render every character of ``DEFAULT_CHARS`` distinctly; sorted.

    A font that silently draws a box or nothing for ``-`` would teach the model wrong labels.
    ``heldout=False`` gives the training fonts (``config.HELDOUT_FONTS`` left out), ``True`` only
    the held-out ones: the development set for unseen handwriting.
    """
    font_dir = Path(font_dir)
    if not font_dir.is_dir():
        raise FileNotFoundError(f"font folder not found: {font_dir}")
    candidates = sorted(p for p in font_dir.iterdir() if p.suffix.lower() in FONT_SUFFIXES
                        and (p.stem in config.HELDOUT_FONTS) == heldout)
    usable = []
    for path in candidates:
        problem = font_problem(path)
        if problem:
            logger.info("font %s excluded: %s", path.name, problem)
        else:
            usable.append(path)
    logger.info("%d of %d fonts in %s are usable", len(usable), len(candidates), font_dir)
    return usable


@lru_cache(maxsize=512)
def _metrics(path: str) -> _FontMetrics:
    """Measured once per font on its capitals: median cap height and stroke width, space, digits."""
    probe = 64
    heights, strokes = [], []
    for ch in LETTERS:
        mask = _trimmed(_glyph(path, probe, ch).mask)
        heights.append(mask.shape[0])
        strokes.append(_stroke_width(mask))
    cap = float(np.median(heights))
    font = _font(path, probe)
    digits = [_trimmed(_glyph(path, probe, d).mask) for d in DIGITS]
    notdef = _notdef(path, probe)
    has_digits = all(d.size and not _same(d, notdef) for d in digits)
    return _FontMetrics(
        size_per_cap=probe / cap,
        stroke_per_cap=float(np.median(strokes)) / cap,
        space_per_cap=font.getlength(" ") / cap,
        has_digits=has_digits,
    )


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of the ink (> 50%): twice its area over its outline length.

    Exact for long thin strokes, whatever their shape, and cheap (no skeleton).
    """
    binary = (mask > 127).astype(np.uint8)
    area = float(binary.sum())
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * area / max(perimeter, 1.0)


# ----------------------------------------------------------------------------------------------
# Names to render
# ----------------------------------------------------------------------------------------------


def _fits(name: str, alphabet: Alphabet) -> bool:
    return 0 < len(name) <= MAX_LABEL_LEN and not alphabet.unknown(name) and name.strip() == name


def _random_string(rng: np.random.Generator) -> str:
    """Uniform letters (the rare Q, W, X, Z, K, J as often as E), sometimes with a separator."""
    length = int(rng.integers(2, 15))
    chars = list(rng.choice(list(LETTERS), size=length))
    if length >= 4 and rng.random() < 0.25:
        # never at an end and never doubled, as in real names
        chars[int(rng.integers(1, length - 1))] = str(rng.choice([" ", "-", "'"]))
    return "".join(chars)


def sample_names(lexicon: dict[str, int], n: int, rng: np.random.Generator) -> list[str]:
    """``n`` names: lexicon names weighted by sqrt(count), ~10% compounds and ~10% random letters.

    The square root keeps THOMAS frequent without drowning the long tail; compounds give the model
    hyphens and spaces; random strings make sure every letter is seen. All are encodable and at most
    ``MAX_LABEL_LEN`` long.
    """
    alphabet = Alphabet()
    names = [name for name in lexicon if _fits(name, alphabet)]
    if names:
        weights = np.sqrt(np.array([max(lexicon[name], 1) for name in names], dtype=np.float64))
        weights /= weights.sum()
    out: list[str] = []
    kinds = rng.random(n)
    for kind in kinds:
        if not names or kind < 0.1:
            name = _random_string(rng)
        elif kind < 0.2:
            first, second = rng.choice(len(names), size=2, p=weights)
            name = f"{names[first]}{rng.choice(['-', '-', ' '])}{names[second]}"
            if not _fits(name, alphabet):
                name = names[first]
        else:
            name = names[int(rng.choice(len(names), p=weights))]
        out.append(name)
    return out


# ----------------------------------------------------------------------------------------------
# Handwriting: one name as an ink layer (uint8, 255 = ink)
# ----------------------------------------------------------------------------------------------


class _Layer(NamedTuple):
    ink: np.ndarray  # uint8, 255 = ink
    baseline_y: float  # where the pen started, in layer pixels
    cap: float  # cap height in layer pixels


def _handwriting(
    text: str,
    path: str,
    rng: np.random.Generator,
    cap: float,
    spacing: float,
    slant: float,
    angle: float,
    jitter: float,
    drift: float = 0.0,
) -> _Layer:
    """Place each letter with its own size, rotation and baseline jitter on a shared slant and angle.

    ``spacing`` is the gap added after each letter, in cap heights (forms have letter boxes, so often
    a lot); ``jitter`` scales all per-letter randomness; ``drift`` (in cap heights) is a slow wave
    of the baseline along the name, as a hand writing without a line lets it wander.
    """
    metrics = _metrics(path)
    size = max(int(round(metrics.size_per_cap * _BASE_CAP)), 4)
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
        scale = cap / _BASE_CAP * math.exp(d_size)
        gap = max(spacing + d_gap, -0.05) * cap
        if ch == " ":
            step = max(metrics.space_per_cap, 0.45) * cap * space_stretch[i] + gap
            pen_x, pen_y = pen_x + dir_x * step, pen_y + dir_y * step
            continue
        g = _glyph(path, size, ch)
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
        return _Layer(np.zeros((max(int(cap), 1), max(int(cap), 1)), np.uint8), cap, cap)
    left = min(x for x, _, _ in pieces)
    top = min(y for _, y, _ in pieces)
    right = max(x + p.shape[1] for x, _, p in pieces)
    bottom = max(y + p.shape[0] for _, y, p in pieces)
    ink = np.zeros((bottom - top, right - left), np.uint8)
    for x, y, p in pieces:
        view = ink[y - top : y - top + p.shape[0], x - left : x - left + p.shape[1]]
        np.maximum(view, p, out=view)
    return _Layer(ink, -top, cap)


def _ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _set_stroke(ink: np.ndarray, current: float, target: float) -> np.ndarray:
    """Thicken or thin strokes from about ``current`` to ``target`` px.

    Dilating/eroding by k px changes the width by k; thinning stops at a third of the width so the
    joints of bold letters and the hairlines of high-contrast fonts survive.
    """
    delta = target - current
    if delta >= 0.7:
        return cv2.dilate(ink, _ellipse(int(round(delta)) + 1))
    cut = min(int(round(-delta)), int(current / 3))
    if cut >= 1:
        return cv2.erode(ink, _ellipse(cut + 1))
    return ink


def _skeleton(ink: np.ndarray) -> np.ndarray:
    """One-pixel centre lines of the ink (Lantuejoul's morphological skeleton), 255 on 0."""
    img = np.where(ink > 127, 255, 0).astype(np.uint8)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    skeleton = np.zeros_like(img)
    while cv2.countNonZero(img):
        eroded = cv2.erode(img, cross)
        skeleton |= cv2.subtract(img, cv2.dilate(eroded, cross))
        img = eroded
    return skeleton


def _wobble(ink: np.ndarray, rng: np.random.Generator, amplitude: float, period: float) -> np.ndarray:
    """Smooth random displacement: shaky strokes no font has (a hand, a mouse)."""
    h, w = ink.shape
    gh, gw = int(h / period) + 2, int(w / period) + 2
    coarse = rng.normal(0, amplitude, (2, gh, gw)).astype(np.float32)
    dx, dy = (cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(ink, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _pad(ink: np.ndarray, margin: int) -> np.ndarray:
    return cv2.copyMakeBorder(ink, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=0)


def _name_width(text: str, path: str, spacing: float) -> float:
    """Expected width of ``text`` in cap heights before jitter, to fit a name in the crop."""
    metrics = _metrics(path)
    size = max(int(round(metrics.size_per_cap * _BASE_CAP)), 4)
    width = 0.0
    for ch in text:
        if ch == " ":
            width += max(metrics.space_per_cap, 0.45) * 1.15 + spacing
        else:
            width += _glyph(path, size, ch).advance / _BASE_CAP + spacing
    return width


def _pen_name(text: str, path: str, rng: np.random.Generator, spacing: float) -> _Layer:
    """The name written with a ballpoint at cap height ``_BASE_CAP``: thin strokes, uneven letters."""
    layer = _handwriting(
        text, path, rng, cap=_BASE_CAP, spacing=spacing, slant=rng.normal(0.0, 0.15),
        angle=rng.normal(0.0, 0.015), jitter=rng.uniform(0.4, 1.5),
        drift=rng.uniform(0.0, 0.12) if rng.random() < 0.5 else 0.0,
    )
    margin = 4
    ink = _pad(layer.ink, margin)
    if rng.random() < 0.65:  # elastic: each letter bent a little differently
        ink = _wobble(ink, rng, amplitude=rng.uniform(0.5, 2.0), period=rng.uniform(12, 30))
    current = _metrics(path).stroke_per_cap * _BASE_CAP
    ink = _set_stroke(ink, current, _BASE_CAP * rng.uniform(0.05, 0.13))
    return _Layer(ink, layer.baseline_y + margin, layer.cap)


# ----------------------------------------------------------------------------------------------
# Printed form text
# ----------------------------------------------------------------------------------------------


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


def _resized(ink: np.ndarray, factor: float) -> np.ndarray:
    h, w = ink.shape
    size = (max(int(round(w * factor)), 1), max(int(round(h * factor)), 1))
    return cv2.resize(ink, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------------------------
# The two looks
# ----------------------------------------------------------------------------------------------


def _render_form(text: str, path: str, rng: np.random.Generator) -> np.ndarray:
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
    needed = _name_width(text, path, spacing) * cap * s
    if needed > room:
        # narrower gaps first (people squeeze letters), then smaller letters
        spacing = max(spacing - (needed - room) / (cap * s * len(text)), 0.0)
        cap = max(min(cap, room / (_name_width(text, path, spacing) * s)), 6.0)
    name = _pen_name(text, path, rng, spacing)
    factor = cap * s / name.cap
    ink = _resized(name.ink, factor)
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
    font_digits = _metrics(path).has_digits
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
        scribble = _pen_name(other, path, rng, rng.uniform(0.3, 1.2))
        f = tall / scribble.cap * rng.uniform(0.8, 1.2)
        row_y = int(row_baseline - scribble.baseline_y * f)
        _paste(hand, _resized(scribble.ink, f), int(start), row_y)

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


def _stick_lines(text: str, rng: np.random.Generator, cap: float) -> np.ndarray:
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


def centre_lines(text: str, path: str, rng: np.random.Generator, cap: float,
                 extra_spacing: float = 0.0) -> np.ndarray:
    """``text`` in the font as 1-px centre lines (255 on 0), ``cap`` px tall: what a pen retraces.

    Letters get their own size, rotation and baseline, and most names a smooth wobble, so the
    strokes shake the way a mouse or a finger makes them.
    """
    layer = _handwriting(
        text, path, rng, cap=_BASE_CAP, spacing=rng.uniform(0.0, 0.6) + extra_spacing,
        slant=rng.normal(0.0, 0.18), angle=rng.normal(0.0, 0.05), jitter=rng.uniform(0.6, 1.8),
        drift=rng.uniform(0.0, 0.15) if rng.random() < 0.5 else 0.0,
    )
    ink = _pad(layer.ink, 4)
    if rng.random() < 0.7:
        ink = _wobble(ink, rng, amplitude=rng.uniform(0.5, 1.5), period=rng.uniform(20, 48))
    zoom = cap / _BASE_CAP
    lines = cv2.resize(_skeleton(ink), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
    return np.where(lines > 0, 255, 0).astype(np.uint8)


def pen_ink(text: str, path: str, rng: np.random.Generator, cap: float) -> np.ndarray:
    """``text`` written with a ballpoint in the font, ``cap`` px tall: an ink layer, 255 = ink."""
    layer = _pen_name(text, path, rng, spacing=rng.uniform(0.05, 0.8))
    return _resized(layer.ink, cap / layer.cap)


def _render_canvas(text: str, path: str, rng: np.random.Generator) -> np.ndarray:
    """A name drawn on a web canvas: big, even strokes, black on white, generous margins.

    Half the names are a font's letters reduced to their centre lines, half the straight strokes and
    rough arcs a mouse makes (``STICK_LETTERS``); both are redrawn with a round brush, thin (the
    app's default pen on big letters) to thick (a finger on small ones).
    """
    brush_per_cap = rng.uniform(0.05, 0.2)
    cap = rng.uniform(90, 200)
    if rng.random() < 0.5:
        lines = _stick_lines(text, rng, cap)
    else:
        # the brush widens every letter, so the gaps grow with it
        lines = centre_lines(text, path, rng, cap, extra_spacing=1.3 * brush_per_cap)
    brush = max(int(round(cap * brush_per_cap)), 3)
    ink = cv2.dilate(_pad(lines, brush), _ellipse(brush))
    top, bottom, left, right = (int(cap * rng.uniform(0.2, 1.2)) for _ in range(4))
    ink = cv2.copyMakeBorder(ink, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
    return np.where(ink > 127, 0, 255).astype(np.uint8)


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-scale noise varying over ``cells`` cells across: paper grain, uneven light."""
    coarse = rng.normal(0.0, 1.0, (max(2, cells * h // max(w, 1) + 1), cells)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _render_photo(text: str, path: str, rng: np.random.Generator) -> np.ndarray:
    """A phone photo of the name written on a sheet, in gray: what the Upload page gets from a phone.

    The name (ballpoint or felt pen, black or blue: dark gray here) sits somewhere on textured paper,
    sometimes ruled, with specks and a page edge on a dark table; then the photo: a slight
    rotation, light falling off across the sheet, a soft-edged shadow, blur, sensor noise, JPEG.
    Smaller than a real photo (the preprocessing sees only relative sizes) so it renders fast.
    """
    cap = rng.uniform(20, 56)
    ink = _resized(_pen_name(text, path, rng, spacing=rng.uniform(0.05, 0.9)).ink, cap / _BASE_CAP)
    if rng.random() < 0.3:  # a felt pen
        ink = cv2.dilate(ink, _ellipse(int(rng.integers(2, 4))))
    h, w = ink.shape
    W = int(w / rng.uniform(0.35, 0.9)) + 8
    H = max(int(W * rng.uniform(0.45, 0.85)), 3 * h)
    img = np.full((H, W), rng.uniform(200, 250), np.float32)
    img += rng.uniform(1, 5) * _smooth_field(rng, H, W, int(rng.integers(40, 160)))
    if rng.random() < 0.25:  # ruled paper, faint
        gap = rng.uniform(1.3, 2.2) * cap
        for ly in np.arange(rng.uniform(0, gap), H, gap):
            img[int(ly) : int(ly) + max(1, int(cap / 25))] *= rng.uniform(0.8, 0.93)
    x, y = int(rng.uniform(2, W - w - 2)), int(rng.uniform(0.1 * H, max(0.1 * H + 1, H - h - 0.1 * H)))
    alpha = ink.astype(np.float32) / 255.0 * rng.uniform(0.75, 1.0)
    region = img[y : y + h, x : x + w]
    region += alpha * (rng.uniform(15, 90) - region)
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 8))):
            cv2.circle(img, (int(rng.uniform(0, W)), int(rng.uniform(0, H))),
                       int(rng.integers(1, 3)), float(rng.uniform(40, 150)), -1)
    if rng.random() < 0.2:  # the page edge, the table beyond it
        band = int(rng.uniform(0.03, 0.15) * W)
        table = rng.uniform(20, 110) + 4 * _smooth_field(rng, H, band, 8)
        if rng.random() < 0.5:
            img[:, :band] = table
        else:
            img[:, W - band :] = table
    rot = cv2.getRotationMatrix2D((W / 2, H / 2), rng.uniform(-5, 5), 1.0)
    img = cv2.warpAffine(img, rot, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    along = (xs * math.cos(theta) + ys * math.sin(theta)) / math.hypot(W, H)
    light = 1.0 - rng.uniform(0.0, 0.5) * (along - along.min()) + 0.04 * _smooth_field(rng, H, W, 4)
    # the shadow: everything beyond a line across the sheet, with a blurred edge
    phi, offset = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.9)
    side = (xs / W - 0.5) * math.cos(phi) + (ys / H - 0.5) * math.sin(phi) - (offset - 0.5)
    edge = rng.uniform(0.02, 0.12)
    shadow = 1.0 / (1.0 + np.exp(-side / edge))
    if rng.random() < 0.8:
        light *= 1.0 - rng.uniform(0.2, 0.65) * shadow
    img *= light * rng.uniform(0.5, 1.05)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    img += rng.normal(0, rng.uniform(1, 6), img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 93))])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else img


def render_name(
    text: str, font_path: Path | str, rng: np.random.Generator, style: str = "form"
) -> np.ndarray:
    """``text`` handwritten in ``font_path``: a uint8 grayscale image, dark ink on light paper.

    ``style="form"`` imitates a Kaggle crop (see the module docstring); ``style="canvas"`` a name drawn
    in the app. Every random choice comes from ``rng``.
    """
    if not text.strip():
        raise ValueError("cannot render an empty name")
    if style == "form":
        return _render_form(text, str(font_path), rng)
    if style == "canvas":
        return _render_canvas(text, str(font_path), rng)
    if style == "photo":
        return _render_photo(text, str(font_path), rng)
    raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")


# ----------------------------------------------------------------------------------------------
# Many samples, in parallel, reproducibly
# ----------------------------------------------------------------------------------------------


class _Job(NamedTuple):
    fonts: tuple[str, ...]
    seed: int
    canvas_fraction: float
    transform: Callable[[np.ndarray], np.ndarray] | None


#: Set once per worker process by the pool initializer, so tasks carry only (index, name).
_worker_job: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _worker_job
    _worker_job = job


def _make_sample(job: _Job, index: int, text: str) -> np.ndarray:
    """Sample ``index``: its own generator, so it comes out the same in any process and any order."""
    rng = np.random.default_rng([job.seed, index])
    draw = rng.random()
    if draw < job.canvas_fraction:
        style = "canvas"
    elif draw < job.canvas_fraction + (1.0 - job.canvas_fraction) * PHOTO_FRACTION:
        style = "photo"
    else:
        style = "form"
    font = job.fonts[int(rng.integers(len(job.fonts)))]
    image = render_name(text, font, rng, style)
    return job.transform(image) if job.transform is not None else image


def _worker_sample(task: tuple[int, str]) -> np.ndarray:
    if _worker_job is None:
        raise RuntimeError("synthesis worker started without _init_worker")
    return _make_sample(_worker_job, *task)


def synthesize(
    n: int,
    names: Sequence[str] | None,
    lexicon: dict[str, int] | None,
    fonts: Sequence[Path | str],
    seed: int,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    canvas_fraction: float = 0.1,
    processes: int | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """``n`` rendered names and their texts; the same for a seed whatever the number of processes.

    ``names`` are used in turn (cycled) if given, else names are sampled from ``lexicon``.
    ``transform`` (a picklable module-level function, e.g. the shared preprocessing) runs inside the
    workers so only the small arrays travel back.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not fonts:
        raise ValueError("no fonts to render with (see usable_fonts)")
    if not 0.0 <= canvas_fraction <= 1.0:
        raise ValueError(f"canvas_fraction must be in [0, 1], got {canvas_fraction}")
    if names is not None:
        if not names:
            raise ValueError("names is empty")
        texts = [names[i % len(names)] for i in range(n)]
    elif lexicon is not None:
        # A stream of its own (spawn_key), apart from the per-sample generators [seed, i].
        names_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
        texts = sample_names(lexicon, n, names_rng)
    else:
        raise ValueError("give names or a lexicon to sample them from")

    job = _Job(tuple(str(f) for f in fonts), seed, canvas_fraction, transform)
    if processes is None:
        processes = os.cpu_count() or 1
    processes = max(1, min(processes, n))
    bar = tqdm(total=n, desc="synthesizing", unit="img", leave=False)
    images: list[np.ndarray] = []
    try:
        if processes == 1:
            for i, text in enumerate(texts):
                images.append(_make_sample(job, i, text))
                bar.update()
        else:
            # forkserver: forking a parent that already runs TensorFlow's threads can deadlock.
            # Its server imports this module once, so each worker starts without re-importing.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            chunksize = max(1, min(64, n // (processes * 8)))
            with context.Pool(processes, initializer=_init_worker, initargs=(job,)) as pool:
                for image in pool.imap(_worker_sample, enumerate(texts), chunksize=chunksize):
                    images.append(image)
                    bar.update()
    finally:
        bar.close()
    return images, texts
