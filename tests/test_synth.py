"""Synthetic names: which fonts are used, what the two looks produce, and reproducibility."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from hwr import config, synth
from hwr.alphabet import Alphabet
from hwr.config import MAX_LABEL_LEN, SHARED_FONTS
from hwr.synth.canvas import render_canvas, stick_lines
from hwr.synth.case import CASES, in_case, plain, written
from hwr.synth.fonts import draws, mask_stroke_width
from hwr.synth.hand import SKELETON_INK, handwriting, thin

NAMES = ["MARTIN", "JEAN-PIERRE", "D'ALMEIDA", "MARIE CLAIRE", "QUENTIN", "WXYZ"]


@pytest.fixture(scope="module")
def fonts() -> list[Path]:
    if not SHARED_FONTS.is_dir():
        pytest.skip(f"shared fonts not available at {SHARED_FONTS}")
    return synth.usable_fonts(SHARED_FONTS)


def _stroke_per_height(image: np.ndarray) -> float:
    """Stroke width over the height of the text band (rows holding ≥30% of the busiest row's ink)."""
    ink = image < 128
    rows = ink.sum(axis=1)
    band = int((rows >= 0.3 * rows.max()).sum())
    return mask_stroke_width(ink.astype(np.uint8) * 255) / band


def test_usable_fonts_keeps_most_and_drops_the_broken(fonts):
    candidates = [p for p in SHARED_FONTS.iterdir() if p.suffix.lower() in synth.FONT_SUFFIXES]
    assert len(fonts) > 30
    assert fonts == sorted(fonts)
    assert all(synth.font_problem(p) is None for p in fonts)
    heldout = synth.usable_fonts(SHARED_FONTS, heldout=True)
    assert heldout and all(p.stem in config.HELDOUT_FONTS for p in heldout)
    assert not {p.name for p in heldout} & {p.name for p in fonts}  # unseen hands stay unseen
    excluded = {p.name for p in candidates} - {p.name for p in fonts} - {p.name for p in heldout}
    excluded -= {p.name for p in candidates if p.stem in config.HELDOUT_FONTS}
    assert all(synth.font_problem(SHARED_FONTS / name) for name in excluded)
    # known failures: no hyphen glyph, blank letters, ruled lines drawn for a space
    assert {"Balker.ttf", "setofont-ex.ttf"} <= excluded
    assert synth.font_problem(SHARED_FONTS / "Ecolier-lignes-court.ttf")
    assert "SOURCES.tsv" not in {p.name for p in fonts}


def test_usable_fonts_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        synth.usable_fonts(tmp_path / "nope")


@pytest.mark.parametrize("style", ["form", "canvas"])
def test_render_name_is_dark_ink_on_light_paper(fonts, style):
    for i, text in enumerate(NAMES[:3]):
        rng = np.random.default_rng(i)
        image = synth.render_name(text, fonts[i * 7 % len(fonts)], rng, style)
        assert image.ndim == 2 and image.dtype == np.uint8
        assert np.median(image) > 180
        assert (image < 100).sum() > 20


def test_photos_are_unevenly_lit_yet_preprocess_to_the_name_alone(fonts):
    from hwr.preprocess import has_ink, preprocess

    for i in range(6):
        rng = np.random.default_rng(i)
        photo = synth.render_name("MARTIN", fonts[i * 7 % len(fonts)], rng, "photo")
        assert photo.ndim == 2 and photo.dtype == np.uint8
        # a photo, not a scan: the paper's brightness varies across the sheet
        h, w = photo.shape
        tiles = [np.percentile(photo[r:r + h // 3, c:c + w // 3], 90)
                 for r in range(0, h - h // 3 + 1, h // 3) for c in range(0, w - w // 3 + 1, w // 3)]
        assert max(tiles) - min(tiles) > 10
        x = preprocess(photo)
        assert has_ink(x)
        # cropped to the name: paper on the right, the name wide, the paper light and flat around it
        ink_cols = np.flatnonzero((x < 0.5).any(axis=0))
        assert ink_cols[-1] - ink_cols[0] > 60
        assert np.median(x[x > 0.5]) > 0.85


def test_synthesize_mixes_the_three_looks(fonts):
    images, _ = synth.synthesize(60, ["ANNA"], None, fonts[:4], seed=5, canvas_fraction=0.3,
                                 processes=1)
    canvas = sum(set(np.unique(im)) <= {0, 255} for im in images)
    form = sum(im.shape[1] in (284, 324, 388) and im.shape[0] <= 72 for im in images)
    photo = len(images) - canvas - form
    assert canvas >= 8 and form >= 15 and photo >= 4


def test_form_crops_have_kaggle_sizes(fonts):
    for i in range(8):
        image = synth.render_name("MARTIN", fonts[i], np.random.default_rng(i), "form")
        assert image.shape[1] in (284, 324, 388)
        assert 14 <= image.shape[0] <= 72


def test_canvas_is_pure_black_on_white_with_thicker_strokes(fonts):
    form, canvas = [], []
    for i in range(10):
        font = fonts[i * 5 % len(fonts)]
        written = synth.render_name("MARTIN", font, np.random.default_rng(i), "form")
        form.append(_stroke_per_height(written))
        drawn = synth.render_name("MARTIN", font, np.random.default_rng(i), "canvas")
        assert set(np.unique(drawn)) <= {0, 255}
        canvas.append(_stroke_per_height(drawn))
    assert np.median(canvas) > 1.2 * np.median(form)


def test_centre_lines_keep_the_hairlines_of_a_high_contrast_font(fonts):
    # Ecolier (a held-out font, French school capitals) joins its strokes with hairlines under a
    # pixel wide; when they were dropped, its canvas drawings were dots and ticks (27–45 pieces
    # for these 14 letters over these seeds, where the pen lifts about once a letter).
    font = str(SHARED_FONTS / "Ecolier-court.ttf")
    pen = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))  # the canvas' thinnest pen
    for seed in range(8):
        lines = synth.centre_lines("GUIRAUD BAILLET", font, np.random.default_rng(seed), cap=60)
        pieces = cv2.connectedComponents(cv2.dilate(lines, pen))[0] - 1
        assert pieces <= 17, (seed, pieces)


def test_thin_is_scikit_images_guo_hall_thinning(fonts):
    from skimage.morphology import thin as reference

    rng = np.random.default_rng(0)
    masks = [rng.random((40, 60)) > p for p in (0.3, 0.5, 0.7)]
    for i, font in enumerate(fonts[:6]):  # letters, bold and thin, as the canvas look thins them
        layer = handwriting("MARTIN", str(font), np.random.default_rng(i), cap=48, spacing=0.2,
                            slant=0.1, angle=0.0, jitter=1.0)
        masks.append(layer.ink > SKELETON_INK)
    for mask in masks:
        assert np.array_equal(thin(mask), reference(mask))


def test_render_name_rejects_bad_input(fonts):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        synth.render_name("MARTIN", fonts[0], rng, style="oil")
    with pytest.raises(ValueError):
        synth.render_name("  ", fonts[0], rng)


def test_sample_names_are_encodable_and_short():
    lexicon = {"THOMAS": 400, "LEA": 300, "JEAN-CLAUDE": 5, "D'ORSO": 2, "X" * 40: 1000, "ÉLODIE": 50}
    names = synth.sample_names(lexicon, 2000, np.random.default_rng(0))
    alphabet = Alphabet()
    assert len(names) == 2000
    for name in names:
        alphabet.encode(name)  # raises on any character outside the alphabet
        assert 0 < len(name) <= MAX_LABEL_LEN and name == name.strip()
    assert "X" * 40 not in names and "ÉLODIE" not in names
    assert set("".join(names)) == set(alphabet.chars)  # random strings reach every character
    assert names.count("THOMAS") > names.count("D'ORSO")
    assert any("-" in n and n != "JEAN-CLAUDE" for n in names)  # compounds


def test_peoples_names_are_lexicon_names_and_compounds_without_random_strings():
    """The development set's names (``random_share=0``): what people write, not the training device."""
    lexicon = {"THOMAS": 400, "LEA": 300, "JEAN-CLAUDE": 5, "D'ORSO": 2}
    names = synth.sample_names(lexicon, 2000, np.random.default_rng(0), random_share=0.0)
    parts = [part for name in names for part in name.replace(" ", "-").split("-")]
    assert set(parts) <= {"THOMAS", "LEA", "JEAN", "CLAUDE", "D'ORSO"}  # no random letters
    compounds = sum(name not in lexicon for name in names)
    assert 150 <= compounds <= 250  # about a tenth, as in training
    trained = synth.sample_names(lexicon, 2000, np.random.default_rng(0))
    assert sum(name not in lexicon and not set(name.replace(" ", "-").split("-")) <= set(parts)
               for name in trained) > 100  # random strings, about a tenth


def test_sample_names_without_lexicon_gives_random_strings():
    names = synth.sample_names({}, 50, np.random.default_rng(1))
    assert len(names) == 50 and all(2 <= len(n) <= 14 for n in names)


def test_synthesize_is_deterministic_whatever_the_processes(fonts):
    lexicon = {"THOMAS": 4, "LEA": 9, "EMMA": 1}
    kwargs = dict(names=None, lexicon=lexicon, fonts=fonts[:6], seed=3, canvas_fraction=0.25)
    one_images, one_texts = synth.synthesize(16, processes=1, **kwargs)
    two_images, two_texts = synth.synthesize(16, processes=2, **kwargs)
    again_images, _ = synth.synthesize(16, processes=1, **kwargs)
    other_images, _ = synth.synthesize(16, **{**kwargs, "seed": 4}, processes=1)
    assert len(one_images) == 16 and one_texts == two_texts
    assert all(np.array_equal(a, b) for a, b in zip(one_images, two_images))
    assert all(np.array_equal(a, b) for a, b in zip(one_images, again_images))
    same = [a.shape == b.shape and np.array_equal(a, b) for a, b in zip(one_images, other_images)]
    assert not all(same)


def test_synthesize_applies_the_transform_in_the_workers_and_cycles_names(fonts):
    # np.transpose stands for the shared preprocessing: any picklable module-level function
    images, texts = synth.synthesize(
        5, ["ANNA", "LOU"], None, fonts[:3], seed=0, transform=np.transpose, processes=2
    )
    assert texts == ["ANNA", "LOU", "ANNA", "LOU", "ANNA"]
    plain, _ = synth.synthesize(5, ["ANNA", "LOU"], None, fonts[:3], seed=0, processes=1)
    assert all(np.array_equal(a, b.T) for a, b in zip(images, plain))


def test_synthesize_needs_names_or_a_lexicon(fonts):
    with pytest.raises(ValueError):
        synth.synthesize(3, None, None, fonts, seed=0)
    with pytest.raises(ValueError):
        synth.synthesize(3, ["A"], None, [], seed=0)


def test_stick_letters_write_every_character_as_a_mouse_would():
    assert set(Alphabet().chars) - {" "} <= set(synth.STICK_LETTERS)
    rng = np.random.default_rng(0)
    short, long = stick_lines("LEO", rng, 100), stick_lines("MARIE-CLAIRE", rng, 100)
    assert set(np.unique(short)) <= {0, 255} and 80 <= short.shape[0] <= 180
    assert long.shape[1] > 2.5 * short.shape[1]


def test_a_hand_writes_the_label_in_other_cases_with_accents_but_never_other_letters(fonts):
    rng = np.random.default_rng(0)
    texts = []
    for i in range(600):
        label, font = NAMES[i % len(NAMES)], str(fonts[i % len(fonts)])
        text = written(label, font, rng)
        assert plain(text) == label
        assert all(c == label[k] or draws(font, c) for k, c in enumerate(text))  # never a box
        texts.append(text)
    capitals = sum(t in NAMES for t in texts) / len(texts)
    assert 0.55 <= capitals <= 0.8  # capitals (60%), and dotted i's or accents that did not happen
    assert any(t != t.upper() and t == t.lower() for t in texts)  # lower case
    assert any(t[0].isupper() and t[1:] == t[1:].lower() and t != t.upper() for t in texts)  # title case
    assert any(c in t for t in texts for c in "ÉÈéè")  # accents, mostly on E


def test_in_case_writes_words_as_people_do_and_falls_back_to_what_the_font_draws(fonts):
    font = next(str(f) for f in fonts if all(draws(str(f), c) for c in "abcdefghijklmnopqrstuvwxyz"))
    assert in_case("JEAN-PIERRE", "title", font) == "Jean-Pierre"
    assert in_case("D'ALMEIDA", "title", font) == "D'Almeida"
    assert in_case("MARIE CLAIRE", "lower", font) == "marie claire"
    assert in_case("MARIE", "capitals", font, np.random.default_rng(0)) == "MARIE"
    with pytest.raises(ValueError, match="unknown case"):
        in_case("MARIE", "upper", font)
    # a font without accents writes the bare letter, never its missing-glyph box
    bare = [str(f) for f in fonts if not draws(str(f), "é")]
    assert bare, "every shared font has accents: pick another check"
    rng = np.random.default_rng(1)
    for _ in range(200):
        text = in_case("HELENE", "lower", bare[0], rng)
        assert set(text) <= set("helne"), text


def test_a_mouse_draws_capitals_whatever_case_the_name_is_written_in(fonts):
    """Half the canvas names are stick letters, which exist for capitals only: "Marie" drawn that way
    is MARIE, the same strokes as the capitals, not the M alone with the rest taken for spaces."""
    font = str(fonts[0])
    same = [np.array_equal(render_canvas("Marie-Ève", font, np.random.default_rng(s)),
                           render_canvas("MARIE-EVE", font, np.random.default_rng(s))) for s in range(12)]
    assert 2 <= sum(same) <= 10  # the stick letters equal; the font's centre lines differ
    assert set(CASES) == {"capitals", "marked", "title", "lower"}
