"""Stage: synthetic data, the fonts. Loading, a glyph cache, and which fonts can write every name.

A handwriting font is only useful if it draws every character of the alphabet, each differently and
none as the missing-glyph box: ``usable_fonts`` checks that once per font, and ``font_metrics`` measures
each font's cap height and stroke so that every font renders at the same size and pen width.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hwr import config
from hwr.alphabet import DEFAULT_CHARS

logger = logging.getLogger(__name__)

FONT_SUFFIXES = frozenset({".ttf", ".otf", ".woff", ".woff2"})

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
BASE_CAP = 48


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
def glyph(path: str, size: int, ch: str) -> _Glyph:
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
    return _trimmed(glyph(path, size, "\U0010fffd").mask)


#: The size glyphs are checked at (``draws``, ``font_problem``): large enough to tell boxes apart.
_PROBE = 64


def _missing(path: str, ch: str) -> str | None:
    """How the font fails to draw ``ch`` ("empty", or its missing-glyph box), or None if it draws it."""
    ink = _trimmed(glyph(path, _PROBE, ch).mask)
    if ink.size == 0:
        return f"renders {ch!r} empty"
    # A letter drawn exactly like the missing-glyph box is missing, not drawn.
    if _same(ink, _notdef(path, _PROBE)):
        return f"has no glyph for {ch!r} (draws the missing-glyph box)"
    return None


@lru_cache(maxsize=8192)
def draws(path: str, ch: str) -> bool:
    """Whether the font draws ``ch`` with ink of its own: not empty, not its missing-glyph box.

    ``usable_fonts`` holds every label character to this (and more); the hand (``hwr.synth.case``)
    asks it of a lower-case or accented letter before writing one: ten of the shared training fonts
    draw no accented letter.
    """
    return _missing(path, ch) is None


@lru_cache(maxsize=512)
def _font_problem(path: str) -> str | None:
    try:
        _font(path, _PROBE)
    except OSError as err:
        return f"cannot be loaded ({err})"
    seen: dict[bytes, str] = {}
    for ch in DEFAULT_CHARS:
        if ch == " ":
            continue
        if problem := _missing(path, ch):
            return problem
        ink = _trimmed(glyph(path, _PROBE, ch).mask)
        key = ink.tobytes() + bytes(str(ink.shape), "ascii")
        if key in seen:
            return f"renders {seen[key]!r} and {ch!r} identically"
        seen[key] = ch
    space = glyph(path, _PROBE, " ")
    if _trimmed(space.mask).size:
        return "draws ink for a space (ruled or decorated background)"
    if space.advance <= 0:
        return "gives a space no width"
    hyphen = _trimmed(glyph(path, _PROBE, "-").mask)
    if hyphen.shape[1] <= hyphen.shape[0]:
        return "draws the hyphen taller than wide"
    apos = glyph(path, _PROBE, "'")
    cap = -glyph(path, _PROBE, "H").top
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
def font_metrics(path: str) -> _FontMetrics:
    """Measured once per font on its capitals: median cap height and stroke width, space, digits."""
    probe = 64
    heights, strokes = [], []
    for ch in LETTERS:
        mask = _trimmed(glyph(path, probe, ch).mask)
        heights.append(mask.shape[0])
        strokes.append(mask_stroke_width(mask))
    cap = float(np.median(heights))
    font = _font(path, probe)
    digits = [_trimmed(glyph(path, probe, d).mask) for d in DIGITS]
    notdef = _notdef(path, probe)
    has_digits = all(d.size and not _same(d, notdef) for d in digits)
    return _FontMetrics(
        size_per_cap=probe / cap,
        stroke_per_cap=float(np.median(strokes)) / cap,
        space_per_cap=font.getlength(" ") / cap,
        has_digits=has_digits,
    )


def mask_stroke_width(mask: np.ndarray) -> float:
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
