"""Stage: image → model input. The one transform used by training, evaluation and the app.

Whatever door an image comes in by (a Kaggle scan crop, a phone photo, an RGBA canvas drawing, a
synthetic rendering), this module turns it into the same kind of array: float32 (IMG_HEIGHT,
IMG_WIDTH), 1.0 = paper and 0.0 = ink, text left-aligned and padded with paper on the right.

The choices, and why:
- A file is turned by its EXIF orientation: a phone held upright stores its photo sideways and
  says so in that tag, which every browser obeys and OpenCV's alpha-keeping decode ignores.
- Alpha is composited onto white: a canvas drawing is transparent where nothing was drawn.
- Polarity is fixed from the border: light text on a dark background is inverted, so the model only
  ever sees dark ink on light paper.
- Contrast is stretched between an ink and a paper percentile, so faint pencil, grey scans and
  pure black canvas strokes all span the same range.
- The image is cropped to its ink (rows/columns with enough dark pixels, so specks do not count):
  a name drawn small in the corner of a big canvas fills the input the way a tight Kaggle crop does.
- Stroke width is normalised: a canvas stroke is several times thicker, relative to letter height,
  than a pen stroke on a scanned form; thick strokes are thinned with an erosion so the two domains meet.
- Resize keeps the aspect ratio (no distortion) to the fixed height, shrinking further only when the
  result would be wider than the input; the rest is padded with paper.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import cv2
import numpy as np

from hwr import config


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
#: edge no longer outweighs a name in lower case; form fields as in v10.)
PREPROCESS_VERSION = 11


class ImageError(ValueError):
    """The input is not a readable image (wrong format, corrupt, empty or absurdly large)."""


def read_image(source: str | Path | bytes | np.ndarray) -> np.ndarray:
    """Decode a file path, encoded bytes or an array into uint8 gray or BGR(A); raises ImageError."""
    if isinstance(source, np.ndarray):
        image = source
    else:
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise ImageError(f"image file not found: {path}")
            data = path.read_bytes()
            name = str(path)
        else:
            data = bytes(source)
            name = "uploaded data"
        if not data:
            raise ImageError(f"{name} is empty")
        orientation, (width, height), kind = _read_header(data, name)
        # IMREAD_UNCHANGED keeps alpha and 16 bits, and with them ignores the EXIF orientation
        image = cv2.imdecode(np.frombuffer(data, np.uint8), _decode_flags(kind, max(width, height)))
        if image is None:
            raise ImageError(f"{name} is not an image OpenCV can read (PNG, JPEG, BMP, TIFF, WebP)")
        image = upright(image, orientation)
    if image.size == 0 or image.ndim not in (2, 3):
        raise ImageError(f"image has an unusable shape {image.shape}")
    return image


def _read_header(data: bytes, name: str) -> tuple[int, tuple[int, int], str]:
    """The EXIF orientation (1: as stored), the size and the format (Pillow's name; "" when Pillow
    cannot tell); refuses decompression bombs first. Pillow reads only the header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError):
        return 1, (0, 0), ""  # let OpenCV try, and fail with the common message
    except Image.DecompressionBombError as err:
        raise ImageError(f"{name} is too large to process: {err}") from err
    if width * height > config.MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{name} is {width} × {height} pixels; the limit is {config.MAX_IMAGE_PIXELS:,} pixels"
        )
    if img.format == "TIFF":
        orientation = 1  # OpenCV's TIFF decoder turns the image itself, even with IMREAD_UNCHANGED
    return (orientation if orientation in _UPRIGHT else 1), (width, height), img.format or ""


#: JPEG decoding at a half, a quarter or an eighth of the size (libjpeg scales while decoding)
_REDUCED_GRAY = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def _decode_flags(kind: str, long_side: int) -> int:
    """How to decode: unchanged, or, for a JPEG at least twice ``MAX_SIDE`` long (a phone's 12
    Mpixel photo), its brightness only, at the smallest scale that keeps ``MAX_SIDE``.

    A phone photo is decoded whole only to be shrunk and turned gray: decoding the brightness
    channel (which is JPEG's own luma, the gray ``to_gray`` computes) at half the size does both in
    a third of the time. The EXIF orientation is applied afterwards, as for every image.
    """
    factor = max([1] + [f for f in _REDUCED_GRAY if long_side >= f * config.MAX_SIDE])
    if kind != "JPEG" or factor == 1:
        return cv2.IMREAD_UNCHANGED
    return _REDUCED_GRAY[factor] | cv2.IMREAD_IGNORE_ORIENTATION


_EXIF_ORIENTATION = 0x0112
#: EXIF orientation → what turns the stored pixels the way the camera's user saw them (and every
#: browser shows them): a phone held upright stores its photo sideways with orientation 6.
#: Pillow's ``ImageOps.exif_transpose`` does the same on its own images (a test holds them equal).
_UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored
    3: lambda a: a[::-1, ::-1],  # upside down
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),  # stored a quarter turn anticlockwise: turn it clockwise
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The decoded ``image`` as its EXIF ``orientation`` (1–8) says it is meant to be seen."""
    return np.ascontiguousarray(_UPRIGHT[orientation](image))


#: an image at least this share transparent whose opaque pixels are light holds light ink on nothing
_TRANSPARENT_SHARE = 0.5


def _light_ink_on_nothing(gray: np.ndarray, alpha: np.ndarray) -> bool:
    """Whether a mostly transparent image draws in light ink (white strokes from a dark-mode drawing
    app), which composited onto white paper would vanish."""
    opaque = alpha > 0.5
    return (bool(opaque.any()) and 1.0 - float(opaque.mean()) >= _TRANSPARENT_SHARE
            and float(np.median(gray[opaque])) > 0.5)


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8/float gray, BGR or BGRA → float32 gray in [0, 1], alpha composited onto paper.

    The paper is white, but black under light ink on a transparent image (``_light_ink_on_nothing``):
    ``fix_polarity`` then turns it dark on light, exactly as the same strokes drawn in black read.
    """
    img = image.astype(np.float32)
    if image.dtype == np.uint8:
        img /= 255.0
    elif image.dtype == np.uint16:
        img /= 65535.0
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.clip(img, 0.0, 1.0)
    alpha = img[:, :, 3:4] if img.shape[2] == 4 else None
    gray = img[:, :, :3] @ np.array([0.114, 0.587, 0.299], np.float32)  # BGR order (OpenCV)
    if alpha is not None:
        a = alpha[:, :, 0]
        paper = 0.0 if _light_ink_on_nothing(gray, a) else 1.0
        gray = gray * a + paper * (1.0 - a)
    return np.clip(gray, 0.0, 1.0)


def shrink(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` scaled by ``factor`` (at most 1), as OpenCV's area resize would, at a fraction of its cost.

    ``cv2.INTER_AREA`` (each pixel the mean of those it covers) is fast only for a whole-number
    factor; 2,016 → 2,000 or 2,000 → 1,600 px, a phone photo's way through ``preprocess``, took it
    5–8 ms each. So the image is first shrunk by the largest whole factor (area, fast), and what
    is left, less than 2×, is bilinear: at such a factor a bilinear pixel already averages the
    input pixels around it. Within half a grey level of ``INTER_AREA`` on average on a photo
    (``tests/test_preprocess.py``).
    """
    if factor >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    whole = int(1.0 / factor)
    if whole >= 2:
        image = cv2.resize(image, None, fx=1.0 / whole, fy=1.0 / whole, interpolation=cv2.INTER_AREA)
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def _limit_size(image: np.ndarray) -> np.ndarray:
    """Shrink huge images first, still in their own dtype, so every later step is cheap."""
    return shrink(image, config.MAX_SIDE / max(image.shape[:2]))


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


#: Text-line search runs on a copy at most this many pixels on its long side (a photo's name is
#: still tens of pixels tall there).
_LINE_SIDE = 1600


#: Images at most this many pixels on their short side are taken as one field cut from a form
#: (Kaggle crops are 14–72 px tall); larger ones (photos, canvases, pages) get a line search.
_FIELD_SIDE = 100
#: ... and so are opaque strips at least 3× as wide as tall, up to this tall: the same field scanned
#: at up to 4× the Kaggle resolution, where a line search keeps the printed row with the most ink.
#: A canvas drawing is transparent, a photo is not a strip.
_SCANNED_FIELD_SIDE = 300


def is_form_field(image: np.ndarray) -> bool:
    """Whether a decoded image (before ``to_gray``) is one field cut from a form (``_field_lines``)."""
    h, w = image.shape[:2]
    if min(h, w) <= _FIELD_SIDE:
        return True
    opaque = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
    transparent = image.ndim == 3 and image.shape[2] == 4 and bool(image[:, :, 3].min() < opaque)
    return not transparent and h <= _SCANNED_FIELD_SIDE and w >= 3 * h


#: What the ink of a component touching the image's edge counts for when lines compete (photos,
#: pages, drawings; a form field keeps its lines): too small to be ``solid`` but more ink than a
#: name written in lower case, a shadow's corner or a page edge outweighed the name before.
_EDGE_WEIGHT = 0.1


def text_line_box(ink: np.ndarray, field: bool) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the line of writing in a boolean ink mask, or None if none.

    Connected components are sorted out first: solid dark areas at the border (a page edge, a
    table, a shadow's core), long thin lines (ruled paper, box edges, underlines) and specks (dust,
    noise, JPEG blocks: under 2% of the largest component). The rest are grouped into lines by
    their middle halves overlapping vertically, so letters of a slightly rotated or bouncing name
    chain into one line and the cut-off rows of a form above and below stay apart. The line with
    the most ink wins, ink touching the image's edge counting for a tenth (``_EDGE_WEIGHT``); marks
    whose centre lies within its height (an apostrophe) join it. In a form field (``field``:
    ``is_form_field`` of the image) every line is kept instead, except the slivers of cut-off rows
    and a printed label above the name (``_field_lines``). Elsewhere a long line is first thinned
    away rather than set aside (``_strip_ruling``), since letters written across ruled paper join
    its lines.
    """
    H, W = ink.shape
    found = _components(ink)
    if found is None:
        return None
    labels, stats, centroids, solid, lines = found
    # long lines across the image, not solid areas at the border (a table goes whole)
    rules = np.flatnonzero(lines & ~solid & (stats[1:, cv2.CC_STAT_WIDTH] > 0.3 * W)) + 1
    stripped = None if field or not rules.size else _strip_ruling(ink, labels, stats, rules)
    if stripped is not None:
        # letters written across ruled or squared paper join its lines in one component, which
        # would go with them: its rules are stripped, and the components found again
        found = _components(stripped)
        if found is None:
            return None
        labels, stats, centroids, solid, lines = found
    x, y, w, h, area = (stats[1:, i].astype(np.float64) for i in range(5))
    keep = ~solid & ~lines
    if not keep.any():
        return None
    keep &= area >= max(3.0, 0.02 * area[keep].max())
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return None  # only specks
    groups = _line_groups(idx, y, h)
    if field:
        # a scanned form field: the crop is the field, printed words beside the name and whole
        # neighbouring rows included, as the model learnt it (choosing one line there picks the
        # wrong one too often); only lines that cannot be the name and shrank it go
        kept = np.concatenate(_field_lines(groups, x, y, w, h, area, (H, W)))
        left, right = x[kept].min(), (x[kept] + w[kept]).max()
        return int(y[kept].min()), int((y[kept] + h[kept]).max()), int(left), int(right)
    # ink at the image's edge counts for a tenth: what is left of a shadow's core in a corner or of
    # the table below the page, where the writing is inside the picture
    weight = np.where(_at_edge(x, y, w, h, (H, W)), _EDGE_WEIGHT, 1.0)
    best = max(groups, key=lambda g: (area[g] * weight[g]).sum())
    top, bottom = y[best].min(), (y[best] + h[best]).max()
    if bottom - top < max(4.0, 0.01 * max(H, W)):
        # only dust: no writing. 1% of the long side: capitals 5 mm tall in a photo of an A4 page
        # are 1.5% of it (at 2% such a name was dust, and the whole photo went into the input)
        return None
    members = idx[(centroids[idx + 1, 1] >= top) & (centroids[idx + 1, 1] <= bottom)]
    members = np.union1d(members, best)
    top, bottom = y[members].min(), (y[members] + h[members]).max()
    left, right = x[members].min(), (x[members] + w[members]).max()
    return int(top), int(bottom), int(left), int(right)


def _at_edge(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray,
             shape: tuple[int, int]) -> np.ndarray:
    """Which component boxes (left ``x``, top ``y``, width ``w``, height ``h``) touch the image's edge."""
    H, W = shape
    return (x == 0) | (y == 0) | (x + w == W) | (y + h == H)


def _components(ink: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """The ink's connected components (labels, stats, centroids as OpenCV gives them) and which of
    them are solid areas at the border and which long thin lines, or None for a mask without ink."""
    H, W = ink.shape
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    x, y, w, h, area = (stats[1:, i].astype(np.float64) for i in range(5))
    solid = _at_edge(x, y, w, h, (H, W)) & (area > 0.3 * w * h) & (area > 0.02 * H * W)
    thickness = area / np.maximum(w, 1)
    lines = (w > 0.3 * W) & ((w > 15 * h) | (thickness < 0.12 * h))
    lines |= (y == 0) & (y + h == H) & (w < 0.1 * h)  # a box edge from the top to the bottom
    return labels, stats, centroids, solid, lines


def _vertical_runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the vertical runs of True in a boolean mask, column by column."""
    padded = np.pad(mask, ((1, 1), (0, 0))).T.astype(np.int8)  # one column a row
    edges = np.flatnonzero(np.diff(padded, axis=1).ravel())  # starts and ends alternate
    return edges[1::2] - edges[::2]


#: ``_strip_ruling`` reads the rules' thickness on every this many columns ...
_RUN_STEP = 8
#: ... and takes lines up to this share of the image's long side thick for rules (8 px of 1600)
_MAX_RULE = 0.005


def _strip_ruling(ink: np.ndarray, labels: np.ndarray, stats: np.ndarray,
                  line_labels: np.ndarray) -> np.ndarray | None:
    """The ink less the rules of ruled or squared paper (the line components ``line_labels`` and
    the pieces of them that are too short to count as lines): what was written across them stays.

    A ruled line is thinner than a pen stroke. Its thickness is the median vertical run of the
    line components' pixels; what a bar of twice that thickness (and one more pixel) fits in, once
    upright and once lying (morphological openings), is thicker than a rule. The line components
    keep only that, so horizontal and vertical rules and a margin go, and letters, thicker, stay
    where they cross them; other components go only when nothing of them is thicker than a rule
    and they lie flat (at least 4× as wide as tall: a rule between the page's edge and the margin).
    A written stroke as thin as the rules goes with them, as the whole component went before.
    None where the lines are too thick to be rules (over ``_MAX_RULE`` of the long side: a band of
    shadow, a dark edge), which go whole.
    """
    is_line = np.zeros(len(stats), bool)
    is_line[line_labels] = True
    runs = _vertical_runs(is_line[labels[:, ::_RUN_STEP]])  # a few columns tell a rule's thickness
    thickness = int(np.median(runs)) if runs.size else 1
    if thickness > _MAX_RULE * max(ink.shape):
        return None
    side = 2 * thickness + 1
    m = ink.astype(np.uint8)
    upright = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((side, 1), np.uint8))
    lying = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((1, side), np.uint8))
    thick = (upright & lying).astype(bool)
    has_thick = np.bincount(labels[thick], minlength=len(stats)) > 0
    flat_rule = ~has_thick & (stats[:, cv2.CC_STAT_WIDTH] >= 4 * stats[:, cv2.CC_STAT_HEIGHT])
    flat_rule[0] = False  # the paper
    fate = np.where(is_line, 1, np.where(flat_rule, 2, 0)).astype(np.uint8)[labels]  # 0: keep whole
    return np.where(fate == 0, ink, (fate == 1) & thick)


def _line_groups(idx: np.ndarray, y: np.ndarray, h: np.ndarray) -> list[np.ndarray]:
    """Components ``idx`` (boxes' tops ``y``, heights ``h``) grouped into lines, top line first.

    A component starts a new line when the middle half of its height lies below the middle halves
    of every line so far, so a bouncing or slightly rotated name still chains into one line.
    """
    mid_top, mid_bottom = y[idx] + 0.25 * h[idx], y[idx] + 0.75 * h[idx]
    groups: list[list[int]] = []
    reach = -np.inf
    for j in np.argsort(mid_top, kind="stable"):
        if mid_top[j] > reach:  # starts below every middle band so far: a new line
            groups.append([])
            reach = mid_bottom[j]
        reach = max(reach, mid_bottom[j])
        groups[-1].append(int(idx[j]))
    return [np.array(g) for g in groups]


#: A line touching a form field's top or bottom edge is a row the scan cut through when it is at most
#: this share as tall as the field's tallest line (a sliver), or when at least this share of its
#: ink touches that edge (letters cut in half, however tall) and it lies clear of the other lines.
_CUT_ROW_HEIGHT = 0.5
_CUT_ROW_INK = 0.5
#: A form's printed label stacked above the writing (``NOM``, ``PRENOM``) spans at most this share
#: of the field's width (about 0.10 and 0.19 on the Kaggle crops); a printed row (``DATE DE
#: NAISSANCE``) at least ``_PRINTED_ROW_WIDTH``.
_LABEL_WIDTH = 0.25
_PRINTED_ROW_WIDTH = 0.4


def _field_lines(groups: list[np.ndarray], x: np.ndarray, y: np.ndarray, w: np.ndarray,
                 h: np.ndarray, area: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """The lines of a form field that can hold the writing: ``groups`` (top first) less the rows
    its top or bottom edge cut through and a printed label stacked above the writing.

    Both only shrank the name in the model's input: many Kaggle crops have the label above the
    name, or a row of the form (``CODE RNE / UAI``) cut through above it, which left the name half
    the input's height or less. A cut row goes only while a full line that is not cut remains (a
    name cut by a tight crop stays). The label is told from the name by being narrow
    (``_LABEL_WIDTH``), wholly above a line that is not a printed row (wide and lower than it), so
    the top of a name whose descenders form a line of their own stays, and so does a short name
    whose label was cut away, above ``DATE DE NAISSANCE``; full rows under the name and lower than
    it (printed) go with the label.
    """
    height, width = shape
    spans = [(y[g].min(), (y[g] + h[g]).max(), x[g].min(), (x[g] + w[g]).max()) for g in groups]
    tallest = max(b - t for t, b, _, _ in spans)

    def full(span: tuple) -> bool:
        return span[1] - span[0] >= _CUT_ROW_HEIGHT * tallest

    def sliver(span: tuple) -> bool:
        return (span[0] == 0 or span[1] == height) and not full(span)

    def apart(span: tuple) -> bool:
        """Above or below every other full line, not beside it (a name's own top or descender)."""
        return all(span[1] <= other[0] + 1 or span[0] >= other[1] - 1
                   for other in spans if other is not span and full(other))

    def cut(g: np.ndarray, span: tuple) -> bool:
        at_top, at_bottom = area[g][y[g] == 0].sum(), area[g][y[g] + h[g] == height].sum()
        return sliver(span) or (max(at_top, at_bottom) >= _CUT_ROW_INK * area[g].sum() and apart(span))

    kept = [(g, s) for g, s in zip(groups, spans) if not cut(g, s)]
    if not any(full(s) for _, s in kept):  # every full line is cut: keep them, drop the slivers
        kept = [(g, s) for g, s in zip(groups, spans) if not sliver(s)]
    lines = [s for _, s in kept if full(s)]
    if len(lines) >= 2:
        (top, bottom, left, right), below = lines[0], lines[1]
        printed_row = below[1] - below[0] < bottom - top and below[3] - below[2] >= _PRINTED_ROW_WIDTH * width
        if right - left <= _LABEL_WIDTH * width and bottom <= below[0] and not printed_row:
            # the label and anything beside it go, and so do printed rows under the name (lower
            # than it: PRENOM's form has DATE DE NAISSANCE there)
            kept = [(g, s) for g, s in kept if s[1] > bottom and not (
                s[0] >= below[1] and full(s) and s[1] - s[0] < below[1] - below[0])]
    return [g for g, _ in kept]


def line_tilt(ink: np.ndarray) -> float:
    """Tilt in degrees of a line of writing (a boolean mask), from the principal axis of its ink.

    Positive when the line runs down to the right. Letter slant hardly moves the axis of a line
    several times wider than tall, which is where the tilt is used.
    """
    ys, xs = np.nonzero(ink)
    if xs.size < 20:
        return 0.0
    xs, ys = xs - xs.mean(), ys - ys.mean()
    return 0.5 * math.degrees(math.atan2(2.0 * float((xs * ys).mean()),
                                         float((xs * xs).mean() - (ys * ys).mean())))


#: Lines tilted by at least _MIN_TILT and at most _MAX_TILT degrees (a photo taken askew, a name
#: drawn uphill) are levelled; form fields are left as scanned.
_MIN_TILT, _MAX_TILT = 1.0, 10.0


def _line_box(gray: np.ndarray, threshold: float,
              field: bool) -> tuple[tuple[float, ...] | None, np.ndarray, float]:
    """``text_line_box`` on a copy at most ``_LINE_SIDE`` long: the box in ``gray``'s pixels, the
    copy's ink mask and its scale."""
    factor = min(1.0, _LINE_SIDE / max(gray.shape))
    small = shrink(gray, factor)
    mask = normalize_contrast(small) < threshold
    box = text_line_box(mask, field)
    return (None if box is None else tuple(v / factor for v in box)), mask, factor


def crop_to_text(gray: np.ndarray, field: bool, threshold: float = 0.5,
                 margin: float = 0.06) -> np.ndarray:
    """Crop to the line of writing (``text_line_box``), levelled if it is tilted; an image without
    writing is returned whole.

    The ink is found at ``threshold`` after a contrast stretch of the whole image; the crop itself is
    returned unstretched, so that the caller stretches it on its own ink: in a photo the name is a
    tiny part of the picture, and a stretch over all of it would take paper grain for ink.
    ``margin`` is a fraction of the line's height, kept as paper around the ink. ``field``: the
    image is one field of a form (``is_form_field``), kept whole but for cut rows and labels.
    """
    h, w = gray.shape
    box, mask, factor = _line_box(gray, threshold, field)
    if box is None:
        return gray
    top, bottom, left, right = box
    rotation = None
    if not field and right - left >= 3 * (bottom - top):
        t, b, l, r = (int(round(v * factor)) for v in box)
        line = mask[t:b, l:r]
        tilt = line_tilt(line)
        if _MIN_TILT <= abs(tilt) <= _MAX_TILT and line.any():
            rotation = cv2.getRotationMatrix2D(((left + right) / 2, (top + bottom) / 2), tilt, 1.0)
            top, bottom, left, right = _levelled_box(line, (l, t), factor, rotation)
    pad = max(2.0, margin * (bottom - top))
    top, left = max(int(top - pad), 0), max(int(left - pad), 0)
    bottom, right = min(int(np.ceil(bottom + pad)), h), min(int(np.ceil(right + pad)), w)
    if rotation is None:
        return gray[top:bottom, left:right]
    # only the crop is rotated: the pixels of rotating the whole photo and cutting it out (to 1e-4)
    shifted = rotation - np.array([[0.0, 0.0, left], [0.0, 0.0, top]])
    return cv2.warpAffine(gray, shifted, (max(1, right - left), max(1, bottom - top)),
                          flags=cv2.INTER_LINEAR, borderValue=1.0)


def _levelled_box(line: np.ndarray, origin: tuple[int, int], factor: float,
                  rotation: np.ndarray) -> tuple[float, float, float, float]:
    """(top, bottom, left, right) of a line's ink once levelled by ``rotation``, in full-size pixels.

    ``line`` is the line's ink mask on the search copy (scaled by ``factor``), ``origin`` its corner
    there; its pixel centres are rotated instead of the image, so no second search is needed.
    """
    ys, xs = np.nonzero(line)
    centres = np.stack([(xs + origin[0] + 0.5) / factor, (ys + origin[1] + 0.5) / factor], axis=1)
    moved = centres @ rotation[:, :2].T + rotation[:, 2]
    half = 0.5 / factor
    (left, top), (right, bottom) = moved.min(axis=0) - half, moved.max(axis=0) + half
    return float(top), float(bottom), float(left), float(right)


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
    image = _limit_size(read_image(source))
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
