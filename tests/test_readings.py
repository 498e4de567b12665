"""The committed model on images the project never trained on: what it reads, pinned.

Where a new model reads one of these differently, update the expectation here (and say why in the
commit): they are the end-to-end check that a photo or a drawing from a hand the model never saw
still reads, through the one preprocessing.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hwr import config
from hwr.preprocess import ImageError, has_ink
from photos import paper_photo, stored_sideways

pytestmark = pytest.mark.skipif(not config.DEFAULT_MODEL.is_file(), reason="no committed model")

#: Canvas drawings (880×220 RGBA) in fonts that are not in ../shared/fonts at all
#: (data/unseen/npm/canvas, see README "Unseen images"), and what the committed model reads.
UNSEEN_CANVAS = {
    "TEST_0001.png": "DESJARDINS", "TEST_0002.png": "MAGDA", "TEST_0003.png": "BARTHEL",
    "TEST_0004.png": "SWANN", "TEST_0005.png": "HEIDI", "TEST_0006.png": "AELA",
    "TEST_0007.png": "MAE", "TEST_0008.png": "KLERVIE",
}


@pytest.fixture(scope="module")
def recognizer():
    from hwr.recognizer import load_recognizer

    return load_recognizer(config.DEFAULT_MODEL)


@pytest.fixture(scope="module")
def decoder(recognizer) -> str:
    return recognizer.metadata.get("decoder_default", "greedy")


@pytest.mark.parametrize("text, seed", [("MARTIN", 0), ("LEA", 3), ("JEAN-PIERRE", 4)])
def test_reads_a_phone_photo_with_a_shadow(recognizer, decoder, text, seed):
    assert recognizer.read([paper_photo(text=text, seed=seed)], decoder)[0].text == text


def test_reads_a_12_megapixel_phone_photo_stored_sideways(recognizer, decoder):
    photo = cv2.resize(paper_photo(text="CAMILLE", seed=2), (4032, 3024), interpolation=cv2.INTER_CUBIC)
    assert recognizer.read([stored_sideways(photo)], decoder)[0].text == "CAMILLE"


def test_reads_a_phone_photo_stored_sideways_as_phones_do(recognizer, decoder):
    assert recognizer.read([stored_sideways(paper_photo(text="MARTIN"))], decoder)[0].text == "MARTIN"


@pytest.mark.parametrize("paper", ["seyes", "squared"])
def test_reads_a_name_written_on_french_school_paper(recognizer, decoder, paper):
    assert recognizer.read([paper_photo(text="LEA", paper=paper, seed=5)], decoder)[0].text == "LEA"


def test_reads_a_name_written_small_in_a_photo(recognizer, decoder):
    assert recognizer.read([paper_photo(scale=0.8)], decoder)[0].text == "MARTIN"


def test_reads_the_fullest_line_of_a_photographed_page(recognizer, decoder):
    assert recognizer.read([paper_photo(lines=4)], decoder)[0].text == "MARTIN"


def test_reads_canvas_drawings_in_hands_it_never_saw(recognizer, decoder):
    folder = config.ROOT / "data" / "unseen" / "npm" / "canvas" / "test_v2" / "test"
    readings = [p.text for p in recognizer.read([folder / f for f in UNSEEN_CANVAS], decoder)]
    assert readings == list(UNSEEN_CANVAS.values())


def test_reads_names_drawn_in_title_case_as_their_capitals(recognizer, decoder):
    """The same drawings written "Desjardins", "Magda", ... (data/unseen/npm-title/canvas, ``make_unseen.py
    --case title``): the model before ``hwr.synth.case`` read the first three as DEBATINE, MAOOQ, BOTIME."""
    folder = config.ROOT / "data" / "unseen" / "npm-title" / "canvas" / "test_v2" / "test"
    names = dict(list(UNSEEN_CANVAS.items())[:7])
    assert [p.text for p in recognizer.read([folder / f for f in names], decoder)] == list(names.values())


def test_a_photo_without_writing_is_said_to_hold_none(recognizer, decoder):
    blank = paper_photo(text=None)
    assert not has_ink(recognizer.preprocess(blank))
    with pytest.raises(ImageError, match="no writing found"):  # not a letter made up from paper grain
        recognizer.read([blank], decoder)


def test_a_photo_too_dark_to_read_is_a_clear_error(recognizer, decoder):
    dark = (paper_photo().astype(np.float32) * 0.02).astype(np.uint8)
    with pytest.raises(ImageError, match="too dark"):
        recognizer.read([dark], decoder)
