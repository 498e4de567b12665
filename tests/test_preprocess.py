"""The one preprocessing: Kaggle crops and canvas drawings end up as the same kind of model input."""

from __future__ import annotations

import io
import time

import cv2
import numpy as np
import pytest

from hwr import config
from hwr.preprocess import ImageError, has_ink, preprocess, to_uint8
from hwr.preprocess.image import read_image
from hwr.preprocess.lines import is_form_field
from hwr.preprocess.strokes import stroke_width
from photos import clean_scan, paper_photo, stored_sideways, with_orientation

SHAPE = (config.IMG_HEIGHT, config.IMG_WIDTH)


def canvas_drawing(text: str = "MARIE", thickness: int = 9) -> np.ndarray:
    """An RGBA drawing as the app's canvas returns it: transparent, a small black name top-left."""
    # thin Hershey letters widened with a round brush (putText caps the thickness it draws)
    alpha = np.zeros((200, 600), np.uint8)
    cv2.putText(alpha, text, (15, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 255, 1, cv2.LINE_AA)
    brush = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thickness, thickness))
    canvas = np.zeros((200, 600, 4), np.uint8)  # RGB black, alpha 0 = transparent
    canvas[:, :, 3] = cv2.dilate(alpha, brush)
    return canvas


def check_model_input(x: np.ndarray) -> None:
    assert x.shape == SHAPE
    assert x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert x[:, -8:].mean() > 0.98  # text is left-aligned: paper at the right edge
    assert has_ink(x)


def test_real_kaggle_crop(sample_image):
    x = preprocess(sample_image)
    check_model_input(x)
    assert x.min() < 0.1  # contrast is stretched: the darkest ink is near black


def test_canvas_drawing():
    x = preprocess(canvas_drawing())
    check_model_input(x)
    # cropped to the ink: the name fills the height instead of a corner of a 600×200 canvas
    ink_rows = np.flatnonzero((x < 0.5).any(axis=1))
    assert ink_rows[-1] - ink_rows[0] > 0.6 * config.IMG_HEIGHT


def test_dataset_and_app_paths_give_identical_arrays(sample_image):
    data = sample_image.read_bytes()
    from_bytes = preprocess(data)  # what the dataset pipeline and an upload pass
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(preprocess(sample_image), from_bytes)
    np.testing.assert_array_equal(preprocess(str(sample_image)), from_bytes)
    np.testing.assert_array_equal(preprocess(decoded), from_bytes)


def test_canvas_array_and_its_png_give_identical_arrays():
    drawing = canvas_drawing()
    ok, png = cv2.imencode(".png", drawing)
    assert ok
    np.testing.assert_array_equal(preprocess(drawing), preprocess(png.tobytes()))


def test_white_strokes_on_a_transparent_image_read_as_black_ones_do():
    """A dark-mode drawing app exports white ink on nothing; composited onto white paper it vanished."""
    black = canvas_drawing()
    white = black.copy()
    white[:, :, :3] = 255
    np.testing.assert_array_equal(preprocess(white), preprocess(black))
    check_model_input(preprocess(white))


def test_a_scan_with_a_transparent_margin_keeps_white_paper(sample_image):
    """Light opaque pixels are paper, not ink, when most of the image is opaque."""
    scan = cv2.cvtColor(cv2.imread(str(sample_image), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGRA)
    framed = np.zeros((scan.shape[0] + 20, scan.shape[1] + 20, 4), np.uint8)  # transparent black margin
    framed[10:-10, 10:-10] = scan
    paper = np.full_like(framed, 255)  # the same margin as opaque white paper
    paper[10:-10, 10:-10] = scan
    np.testing.assert_array_equal(preprocess(framed), preprocess(paper))


def test_inverted_image_reads_the_same(sample_image):
    image = cv2.imread(str(sample_image), cv2.IMREAD_UNCHANGED)
    original = preprocess(image)
    inverted = preprocess(255 - image)
    assert np.abs(original - inverted).mean() < 0.01


def test_empty_canvas_has_no_ink():
    x = preprocess(np.zeros((200, 600, 4), np.uint8))
    assert x.shape == SHAPE
    assert not has_ink(x)
    assert not has_ink(preprocess(np.full((200, 600), 255, np.uint8)))


@pytest.mark.parametrize("data", [b"", b"hello, this is not an image", b"\x89PNG\r\n\x1a\n garbage"])
def test_non_image_bytes_raise(data):
    with pytest.raises(ImageError):
        preprocess(data)


def test_corrupt_jpeg_raises(sample_image):
    data = sample_image.read_bytes()
    for cut in (len(data) // 3, len(data) - 100):
        with pytest.raises(ImageError):
            preprocess(data[:cut])


def test_missing_file_raises(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        preprocess(tmp_path / "nope.jpg")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_huge_image_is_handled_quickly():
    big = np.full((10_000, 10_000), 255, np.uint8)
    cv2.putText(big, "LEA", (300, 6000), cv2.FONT_HERSHEY_SIMPLEX, 60, 0, 150)
    ok, png = cv2.imencode(".png", big)
    assert ok
    start = time.perf_counter()
    try:
        x = preprocess(png.tobytes())
    except ImageError:
        x = None  # refusing it clearly is acceptable too
    assert time.perf_counter() - start < 15.0
    if x is not None:
        check_model_input(x)


def test_header_over_the_pixel_limit_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(config, "MAX_IMAGE_PIXELS", 100 * 100)
    ok, png = cv2.imencode(".png", np.full((200, 200), 255, np.uint8))
    with pytest.raises(ImageError, match="limit"):
        preprocess(png.tobytes())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_orientation_turns_the_image_as_pillow_does(fmt):
    from PIL import Image, ImageOps

    rgb = np.random.default_rng(1).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    for orientation in range(1, 9):
        data = with_orientation(rgb, fmt, orientation)
        ours = read_image(data)[:, :, ::-1].astype(int)  # BGR → RGB
        theirs = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data)).convert("RGB"))).astype(int)
        assert ours.shape == theirs.shape, (fmt, orientation)
        assert np.abs(ours - theirs).mean() < 2, (fmt, orientation)  # JPEG: two decoders' round-off


def test_a_12_megapixel_phone_photo_is_decoded_at_half_size_and_turned_upright():
    """A phone's 4032 × 3024 JPEG, stored sideways: libjpeg decodes its brightness at half the size
    (2016 px, not 4032 shrunk to the working size), and the EXIF turn still applies."""
    from PIL import Image, ImageOps

    photo = cv2.resize(paper_photo(), (4032, 3024), interpolation=cv2.INTER_CUBIC)  # 4:3, as phones
    data = stored_sideways(photo)
    gray = read_image(data)
    assert gray.shape == (1512, 2016)  # upright (landscape), half size, one channel
    theirs = ImageOps.exif_transpose(Image.open(io.BytesIO(data)).convert("L")).resize((2016, 1512), Image.BOX)
    assert np.abs(gray.astype(int) - np.asarray(theirs).astype(int)).mean() < 2
    small = preprocess(cv2.resize(photo, (1200, 900), interpolation=cv2.INTER_AREA))
    big = preprocess(data)
    check_model_input(big)
    cols = [np.flatnonzero((x < 0.5).any(axis=0)) for x in (small, big)]
    assert abs((cols[0][-1] - cols[0][0]) - (cols[1][-1] - cols[1][0])) <= 8  # the same crop of the name


@pytest.mark.parametrize("factor", [2000 / 2016, 0.8, 0.5, 0.3, 160 / 1512])
def test_shrink_is_opencvs_area_resize_to_within_half_a_grey_level(factor):
    """``shrink`` stands in for ``cv2.INTER_AREA`` (several times slower at such factors): at the
    factors a 12 Mpixel photo meets in ``preprocess`` (2016 → 2000, 2000 → 1600, → 160 px) and two
    between, the same size, within half a grey level on average, and exact at 1/2."""
    from hwr.preprocess.image import shrink

    photo = cv2.resize(paper_photo(), (2016, 1512), interpolation=cv2.INTER_CUBIC)
    size = (round(2016 * factor), round(1512 * factor))
    ours, theirs = shrink(photo, factor), cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() <= 0.5
    if factor == 0.5:
        np.testing.assert_array_equal(ours, theirs)
    assert shrink(photo, 1.0) is photo


def test_stroke_normalisation_thins_thick_drawings():
    drawing = canvas_drawing(thickness=14)
    thinned = preprocess(drawing)
    raw = preprocess(drawing, normalize_stroke=False)
    assert stroke_width(thinned) < 0.8 * stroke_width(raw)
    assert has_ink(thinned)


def test_to_uint8_inverts_the_scale(sample_image):
    x = preprocess(sample_image)
    assert np.abs(to_uint8(x) / 255.0 - x).max() <= 0.5 / 255 + 1e-6


def test_stroke_normalisation_never_erases_a_small_thin_crop():
    """A short name in a small scan (VALIDATION_1039, "LI") is enlarged, never eroded away."""
    from hwr.preprocess import preprocess

    path = config.BUNDLED_DATA / "validation_v2" / "validation" / "VALIDATION_1039.jpg"
    thinned, plain = preprocess(path), preprocess(path, normalize_stroke=False)
    assert (thinned < 0.5).sum() >= 0.9 * (plain < 0.5).sum() > 100


def test_photo_with_shadow_is_cropped_to_the_name_not_the_shadow():
    photo, scan = preprocess(paper_photo()), preprocess(clean_scan())
    check_model_input(photo)
    # the crop is the name, filling the input as the clean scan does ...
    ink_cols = np.flatnonzero((photo < 0.5).any(axis=0))
    scan_cols = np.flatnonzero((scan < 0.5).any(axis=0))
    assert abs(ink_cols[-1] - scan_cols[-1]) < 0.1 * scan_cols[-1]
    # ... and the shadow is gone: the two inputs agree pixel for pixel, up to blur and rotation
    assert np.abs(photo - scan).mean() < 0.12
    assert photo[:, ink_cols[-1] + 4:].min() > 0.9  # paper, not shadow, after the name


@pytest.mark.parametrize("paper", ["seyes", "squared"])
def test_a_name_written_across_school_ruling_is_cropped_to_the_name(paper):
    """Seyès ruling's lines cross every letter and join them into one component with the lines and
    the margin, which went as a ruled line: the crop was the whole photo, the name 3 px tall."""
    plain, ruled = preprocess(paper_photo()), preprocess(paper_photo(paper=paper))
    check_model_input(ruled)

    def ink_box(x: np.ndarray) -> tuple[int, int]:
        rows, cols = np.flatnonzero((x < 0.5).any(axis=1)), np.flatnonzero((x < 0.5).any(axis=0))
        return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1

    (plain_h, plain_w), (ruled_h, ruled_w) = ink_box(plain), ink_box(ruled)
    assert ruled_h >= 0.7 * config.IMG_HEIGHT and abs(ruled_w - plain_w) <= 0.05 * plain_w
    assert abs((ruled < 0.5).mean() - (plain < 0.5).mean()) < 0.01  # no rules left to speak of


def test_a_shadow_in_the_photos_corner_does_not_outweigh_a_name_in_lower_case():
    """A name in lower case is little ink; the core of a shadow over a corner (too small a share of
    the photo to go as a solid area) was more, and the crop was the corner: "Nine" read as A."""
    name = paper_photo(text="martin", scale=1.5, shadow=False)
    cornered = name.astype(np.float32)
    ys, xs = np.mgrid[0:name.shape[0], 0:name.shape[1]].astype(np.float32)
    cornered *= (0.15 + 0.85 / (1.0 + np.exp(-(np.hypot(xs, ys) - 140.0) / 12.0)))[:, :, None]
    cornered = cornered.astype(np.uint8)
    clean, shaded = preprocess(name), preprocess(cornered)
    check_model_input(shaded)
    clean_cols, shaded_cols = (np.flatnonzero((x < 0.5).any(axis=0)) for x in (clean, shaded))
    assert clean_cols[-1] - clean_cols[0] > 100  # the name, across the input
    # the same crop: the name as wide and as inked, not the corner (16 columns of black before)
    assert abs((shaded_cols[-1] - shaded_cols[0]) - (clean_cols[-1] - clean_cols[0])) <= 5
    assert abs((shaded < 0.5).mean() - (clean < 0.5).mean()) < 0.02


def test_a_name_written_small_in_a_photo_is_found():
    """Capitals 18 px tall in a 1200-px photo: a 5 mm name in a photo of a page. A line under 2% of
    the photo's long side used to be taken for dust, and the whole photo shrunk into the input."""
    small = preprocess(paper_photo(scale=0.8))
    ink_cols = np.flatnonzero((small < 0.5).any(axis=0))
    assert ink_cols.size and ink_cols[-1] - ink_cols[0] > 100  # the name fills the input's height


def test_photo_without_writing_has_no_ink():
    assert not has_ink(preprocess(paper_photo(text=None)))


def test_photo_of_a_page_reads_one_line():
    x = preprocess(paper_photo(lines=4))
    check_model_input(x)
    rows = (x < 0.5).any(axis=1)
    ink_rows = np.flatnonzero(rows)
    assert rows[ink_rows[0]:ink_rows[-1] + 1].all()  # one band of writing, no gap between lines


def test_too_dark_photo_is_refused_with_a_message():
    dark = (paper_photo().astype(np.float32) * 0.02).astype(np.uint8)
    with pytest.raises(ImageError, match="too dark"):
        preprocess(dark)


@pytest.mark.parametrize("gain", [0.25, 3.0])
def test_underexposed_or_overexposed_photo_still_finds_the_name(gain):
    photo = np.clip(paper_photo().astype(np.float32) * gain, 0, 255).astype(np.uint8)
    x = preprocess(photo)
    check_model_input(x)
    assert np.abs(x - preprocess(clean_scan())).mean() < 0.15


def test_clean_scan_is_unchanged_by_background_flattening():
    from hwr.preprocess.image import to_gray
    from hwr.preprocess.levels import flatten_background

    gray = to_gray(clean_scan())
    np.testing.assert_allclose(flatten_background(gray), gray, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (2, 60), (60, 2), (5, 5), (40, 300), (220, 880), (700, 1000)])
def test_any_pixels_give_a_model_input_or_a_clear_error(shape):
    """Noise, specks, single dots, slivers: never a traceback (the synthesizer and the app feed it all)."""
    rng = np.random.default_rng(sum(shape))
    images = [rng.integers(0, 256, shape, dtype=np.uint8),
              np.where(rng.random(shape) < 0.01, 0, 255).astype(np.uint8),
              np.full(shape, 255, np.uint8), np.full(shape, 128, np.uint8)]
    dot = np.full(shape, 255, np.uint8)
    dot[shape[0] // 2, shape[1] // 2] = 0
    images.append(dot)
    for image in images:
        try:
            x = preprocess(image)
        except ImageError:
            continue
        assert x.shape == SHAPE and x.dtype == np.float32


def test_a_photos_levels_read_on_a_sample_agree_with_all_its_pixels():
    """Paper and ink levels of a photo come from a quarter of its pixels (3 ms instead of 10)."""
    from hwr.preprocess.image import to_gray
    from hwr.preprocess.levels import _level_sample

    for seed in range(3):
        gray = to_gray(paper_photo(seed=seed))
        assert gray.size > 250_000 and _level_sample(gray).size < gray.size / 3
        full = np.percentile(gray, [1, 90])
        assert np.abs(np.percentile(_level_sample(gray), [1, 90]) - full).max() <= 1 / 255 + 1e-6  # one grey level
    crop = to_gray(cv2.imread(str(config.BUNDLED_DATA / "validation_v2" / "validation" / "VALIDATION_1001.jpg")))
    assert _level_sample(crop) is crop  # scan crops and canvases: every pixel


def test_rotating_only_the_crop_gives_the_pixels_of_rotating_the_whole_image():
    """What ``crop_to_text`` relies on to level a tilted photo's line without rotating all of it."""
    gray = np.random.default_rng(0).random((600, 900)).astype(np.float32)
    rotation = cv2.getRotationMatrix2D((450.0, 300.0), 4.0, 1.0)
    whole = cv2.warpAffine(gray, rotation, (900, 600), flags=cv2.INTER_LINEAR, borderValue=1.0)
    top, bottom, left, right = 210, 330, 140, 770
    shifted = rotation - np.array([[0.0, 0.0, left], [0.0, 0.0, top]])
    part = cv2.warpAffine(gray, shifted, (right - left, bottom - top), flags=cv2.INTER_LINEAR, borderValue=1.0)
    np.testing.assert_allclose(part, whole[top:bottom, left:right], atol=1e-4)  # OpenCV's fixed-point grid


def form_field(cut_rows: bool) -> np.ndarray:
    """A 48 px tall Kaggle-like field: a name in the middle and, with ``cut_rows``, the bottom half
    of a printed row above it and the top half of one below, as a scan cuts through its neighbours."""
    img = np.full((48, 300), 255, np.uint8)
    cv2.putText(img, "MARTIN", (20, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 1, cv2.LINE_AA)  # a pen line
    if cut_rows:
        cv2.putText(img, "CODE RNE / UAI", (10, 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 2, cv2.LINE_AA)
        cv2.putText(img, "DATE DE NAISSANCE", (10, 53), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 2, cv2.LINE_AA)
    return img


def test_rows_cut_off_by_a_form_fields_edges_are_left_out_of_the_crop():
    with_cuts, without = preprocess(form_field(True)), preprocess(form_field(False))
    check_model_input(with_cuts)
    # the slivers no longer shrink the name: the input is the one of the field without them
    np.testing.assert_allclose(with_cuts, without, atol=0.02)


def test_a_name_touching_a_fields_edge_is_not_taken_for_a_cut_row():
    field = form_field(False)
    ink_rows = np.flatnonzero((field < 128).any(axis=1))
    tight = field[ink_rows[0]:ink_rows[-1] + 1]  # the letters touch the top and bottom edges
    x = preprocess(tight)
    check_model_input(x)
    assert (x < 0.5).sum() > 0.9 * (preprocess(field) < 0.5).sum()  # every letter is kept


def stacked_field(label: bool, printed_row: bool, name: str = "BRISARD") -> np.ndarray:
    """A 64 px tall field of the PRENOM form: a small printed label above the name, a printed row
    (DATE DE NAISSANCE) under it."""
    img = np.full((64, 300), 255, np.uint8)
    cv2.putText(img, name, (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 0, 1, cv2.LINE_AA)
    if label:
        cv2.putText(img, "NOM", (12, 14), cv2.FONT_HERSHEY_PLAIN, 0.8, 0, 1, cv2.LINE_AA)
    if printed_row:
        cv2.putText(img, "DATE DE NAISSANCE   CLASSE", (12, 58), cv2.FONT_HERSHEY_PLAIN, 0.8, 0, 1,
                    cv2.LINE_AA)
    return img


def ink_bands(x: np.ndarray) -> int:
    """Separate horizontal bands of ink in a model input."""
    rows = (x < 0.5).any(axis=1).astype(np.int8)
    return int((np.diff(np.concatenate([[0], rows])) == 1).sum())


def test_a_printed_label_above_the_name_and_the_row_under_it_are_left_out():
    x = preprocess(stacked_field(label=True, printed_row=True))
    check_model_input(x)
    np.testing.assert_allclose(x, preprocess(stacked_field(label=False, printed_row=False)), atol=0.02)
    assert ink_bands(x) == 1


def test_a_short_name_above_a_printed_row_is_kept():
    # the label cut away: the name is the top line, narrow, but taller than the printed row
    x = preprocess(stacked_field(label=False, printed_row=True, name="LEA"))
    check_model_input(x)
    assert ink_bands(x) == 2


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_a_form_field_scanned_at_a_higher_resolution_is_read_as_the_field(scale):
    # 128–256 px tall: over the 100 px of a Kaggle crop, where a line search would keep the printed
    # row (it has the most ink) and lose the name
    field = stacked_field(label=True, printed_row=True)
    x = preprocess(cv2.resize(field, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC))
    check_model_input(x)
    assert ink_bands(x) == 1  # the name alone, filling the input as in the field without label and row
    name = preprocess(stacked_field(label=False, printed_row=False)) < 0.5
    for axis in (0, 1):
        ours, theirs = np.flatnonzero((x < 0.5).any(axis=axis)), np.flatnonzero(name.any(axis=axis))
        assert abs(len(ours) - len(theirs)) <= 0.15 * len(theirs)  # the 2 px least margin is relatively more at 1×


def test_form_fields_are_told_from_canvases_and_photos():
    canvas = np.zeros((220, 880, 4), np.uint8)  # the Draw page's: transparent where nothing is drawn
    canvas[100:120, 100:300] = (0, 0, 0, 255)
    opaque = canvas.copy()
    opaque[:, :, 3] = 255
    assert is_form_field(np.full((48, 300), 255, np.uint8))  # a Kaggle crop
    assert is_form_field(np.full((192, 900), 255, np.uint8))  # one scanned at 4×
    assert is_form_field(opaque)  # an opaque strip: a field, whatever drew it
    assert not is_form_field(canvas)
    assert not is_form_field(np.full((900, 1200, 3), 255, np.uint8))  # a photo


def code_row_field(code_row: bool) -> np.ndarray:
    """A 48 px field of the NOM form: the CODE RNE row above cut through the middle of its
    handwritten digits (however tall they are), the name below."""
    img = np.full((48, 300), 255, np.uint8)
    cv2.putText(img, "MARTIN", (60, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 0, 1, cv2.LINE_AA)
    if code_row:
        cv2.putText(img, "0 6 7 2 1 9 4 W", (60, 9), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 0, 1, cv2.LINE_AA)
    return img


def test_a_row_cut_through_above_the_name_is_left_out_however_tall():
    x = preprocess(code_row_field(True))
    check_model_input(x)
    np.testing.assert_allclose(x, preprocess(code_row_field(False)), atol=0.02)


def test_a_name_whose_descender_makes_a_line_of_its_own_is_kept_whole():
    # "Tony" as TRAIN_00328 has it: the y starts below the middle of T, o, n and hangs far below
    # them, so it groups as a line of its own, taller than theirs; T, o, n are narrow, but they
    # are the name's start, not a label stacked above it
    img = np.full((44, 324), 255, np.uint8)
    cv2.putText(img, "Ton", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1, cv2.LINE_AA)
    cv2.polylines(img, [np.array([[52, 26], [57, 34], [62, 26]]), np.array([[57, 34], [53, 43]])],
                  False, 0, 1, cv2.LINE_AA)
    x = preprocess(img)
    check_model_input(x)
    letters = cv2.connectedComponents((x < 0.5).astype(np.uint8))[0] - 1
    assert letters == 4


def test_a_name_drawn_downhill_keeps_the_letter_that_drifted():
    """A letter drawn more than half its height below the others started a line of its own, and
    the crop left it out: the X of GUILLOUX and the V and i of VICENTE went (read GUILLOU, CENTE)."""
    from hwr.preprocess.lines import text_line_box

    img = np.full((220, 880), 255, np.uint8)
    for i, letter in enumerate("GUILLOUX"):
        drop = 28 if letter == "X" else 0  # the cap height is ~43 px: X's middle half is below the rest's
        cv2.putText(img, letter, (40 + 60 * i, 110 + drop), cv2.FONT_HERSHEY_SIMPLEX, 2, 0, 6)
    ink = img < 128
    x_cols = np.flatnonzero(ink[:, 40 + 60 * 7:].any(axis=0)) + 40 + 60 * 7
    top, bottom, left, right = text_line_box(ink, field=False)
    assert right >= x_cols[-1] and bottom >= np.flatnonzero(ink.any(axis=1))[-1]
    # a second line under the name, clear of it, still stays out
    cv2.putText(img, "PARIS", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 1, 0, 3)
    assert text_line_box(img < 128, field=False)[1] < 170


def test_a_rules_end_at_the_photos_edge_does_not_stretch_the_crop_to_it():
    """The end of a ruled line at the photo's edge, in the name's band, joined its line (or came
    in as a mark over it): the crop ran across the paper to the edge and the name was a third of
    the input (ROLLAND read ROLLA)."""
    from hwr.preprocess.lines import text_line_box

    img = np.full((600, 1000), 255, np.uint8)
    cv2.putText(img, "MARTIN", (520, 320), cv2.FONT_HERSHEY_SIMPLEX, 2, 0, 6)
    cv2.line(img, (0, 300), (60, 300), 0, 3)  # a rule's end, cut by the photo's edge
    cv2.line(img, (0, 318), (25, 318), 0, 2)
    name_left = np.flatnonzero((img[:, 400:] < 128).any(axis=0))[0] + 400
    top, bottom, left, right = text_line_box(img < 128, field=False)
    assert left == name_left
