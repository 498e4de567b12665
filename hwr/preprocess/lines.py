"""Preprocessing, third step: find the line of writing and crop to it, levelled if it is tilted.

A name drawn small in the corner of a big canvas then fills the input the way a tight Kaggle crop
does, and a photo's shadows, page edges, ruled lines and specks stay out of it. A field cut from a
form is kept whole but for the rows its edges cut through and a printed label above the name.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hwr.preprocess.image import shrink
from hwr.preprocess.levels import normalize_contrast


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
    the most ink wins, ink touching the image's edge counting for a tenth (``_EDGE_WEIGHT``), and
    groups beside it that continue it join it (``_continued``: a name whose baseline drifts); marks
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
        top, bottom, left, right = _box(kept, x, y, w, h)
        return int(top), int(bottom), int(left), int(right)
    # ink at the image's edge counts for a tenth: what is left of a shadow's core in a corner or of
    # the table below the page, where the writing is inside the picture
    edge = _at_edge(x, y, w, h, (H, W))
    weight = np.where(edge, _EDGE_WEIGHT, 1.0)
    best = max(groups, key=lambda g: (area[g] * weight[g]).sum())
    top, bottom, _, _ = _box(best, x, y, w, h)
    if bottom - top < max(4.0, 0.01 * max(H, W)):
        # only dust: no writing. 1% of the long side: capitals 5 mm tall in a photo of an A4 page
        # are 1.5% of it (at 2% such a name was dust, and the whole photo went into the input)
        return None
    best = _continued(best, groups, x, y, w, h, edge)
    top, bottom, _, _ = _box(best, x, y, w, h)
    # a short piece at the image's edge within the line's band is the end of a rule or a speck, not a
    # letter (a letter cut by the edge is taller): it stretched the crop across the photo to the edge
    ends = edge[best] & (h[best] < 0.5 * (bottom - top))
    best = best[~ends] if not ends.all() else best
    top, bottom, left, right = _box(best, x, y, w, h)
    reach = _CONTINUE_GAP * (bottom - top)
    # marks beside the line or over it (an apostrophe, a dot): not a speck or a rule's end at the
    # image's edge, and not across the photo, which would widen the crop to it
    marks = idx[(centroids[idx + 1, 1] >= top) & (centroids[idx + 1, 1] <= bottom) & ~edge[idx]
                & (x[idx] + w[idx] >= left - reach) & (x[idx] <= right + reach)]
    top, bottom, left, right = _box(np.union1d(marks, best), x, y, w, h)
    return int(top), int(bottom), int(left), int(right)


def _box(g: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray,
         h: np.ndarray) -> tuple[float, float, float, float]:
    """(top, bottom, left, right) of the components ``g`` together (boxes' left ``x``, top ``y``,
    width ``w``, height ``h``)."""
    return y[g].min(), (y[g] + h[g]).max(), x[g].min(), (x[g] + w[g]).max()


#: A line of writing drifting up or down (a name drawn uphill, or letter by letter with the mouse) is
#: continued by a group of letters beside it: at most ``_CONTINUE_GAP`` times the line's height away
#: from its ends (letters drawn apart are up to about one height apart), with at least
#: ``_CONTINUE_OVERLAP`` of the group's own height within the line's band, and at most
#: ``_CONTINUE_HEIGHT`` times as tall as the line.
_CONTINUE_GAP = 1.0
_CONTINUE_OVERLAP = 0.25
_CONTINUE_HEIGHT = 1.5


def _continued(best: np.ndarray, groups: list[np.ndarray], x: np.ndarray, y: np.ndarray,
               w: np.ndarray, h: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """The line ``best`` with the groups that continue it (``_CONTINUE_GAP`` and the rest), added
    one at a time as the line grows, so a name whose baseline drifts is read whole.

    Lines are grouped by their letters' middle halves overlapping (``_line_groups``), which keeps
    the rows of a page apart; a letter that drifted by more than half its height started a line of
    its own and was left out of the crop (the X of GUILLOUX drawn downhill, the V and i of Vicente
    drawn uphill). Groups with a component at the image's edge (a shadow, the table) never join.
    """
    line = best
    rest = [g for g in groups if g is not best and not edge[g].any()]
    while rest:
        top, bottom, left, right = _box(line, x, y, w, h)
        height = bottom - top

        def continues(g: np.ndarray) -> bool:
            g_top, g_bottom, g_left, g_right = _box(g, x, y, w, h)
            gap = max(g_left - right, left - g_right)
            inside = min(g_bottom, bottom) - max(g_top, top)
            return (gap <= _CONTINUE_GAP * height and inside >= _CONTINUE_OVERLAP * (g_bottom - g_top)
                    and g_bottom - g_top <= _CONTINUE_HEIGHT * height)

        joins = [continues(g) for g in rest]
        if not any(joins):
            break
        line = np.concatenate([line, *(g for g, j in zip(rest, joins) if j)])
        rest = [g for g, j in zip(rest, joins) if not j]
    return line


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
    spans = [_box(g, x, y, w, h) for g in groups]
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
