"""The unseen-style test sets: Kaggle layout, the promised looks, the same images for a seed."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from hwr import config, synth
from hwr.data import load_split
from hwr.preprocess import has_ink, preprocess


@pytest.fixture(scope="module")
def make_unseen(load_script):
    if not config.SHARED_FONTS.is_dir():
        pytest.skip(f"shared fonts not available at {config.SHARED_FONTS}")
    return load_script("make_unseen")


def test_sets_are_in_the_kaggle_layout_with_the_promised_looks(make_unseen, tmp_path):
    assert make_unseen.main(["--out", str(tmp_path), "-n", "2", "--seed", "5"]) == 0
    canvas, _ = load_split(tmp_path / "canvas", "test")
    photos, _ = load_split(tmp_path / "photo", "test")
    assert len(canvas) == len(photos) == 2
    heldout = {p.name for p in synth.usable_fonts(config.SHARED_FONTS, heldout=True)}
    for look in ("canvas", "photo"):
        fonts = (tmp_path / look / "fonts.csv").read_text().split()[1:]
        assert {row.split(",")[1] for row in fonts} <= heldout  # hands the model never trains on
    for sample in canvas:
        image = cv2.imread(str(sample.image), cv2.IMREAD_UNCHANGED)
        assert image.shape == (220, 880, 4)
        assert image[0, 0, 3] == 0 and image[:, :, 3].max() == 255  # transparent, with strokes
    for sample in photos:
        image = cv2.imread(str(sample.image), cv2.IMREAD_UNCHANGED)
        assert image.ndim == 3 and 1000 <= image.shape[1] <= 1400
        # a photo: the light varies across the sheet by more than a scan's paper does
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        assert np.percentile(gray, 95) - np.percentile(gray, 20) > 15
        assert has_ink(preprocess(sample.image))


def test_the_same_seed_gives_the_same_images(make_unseen, tmp_path):
    for out in ("a", "b"):
        assert make_unseen.main(["--out", str(tmp_path / out), "-n", "1", "--seed", "9"]) == 0
    for look in ("canvas", "photo"):
        first = sorted((tmp_path / "a" / look / "test_v2" / "test").iterdir())
        again = sorted((tmp_path / "b" / look / "test_v2" / "test").iterdir())
        assert first and [p.read_bytes() for p in first] == [p.read_bytes() for p in again]


def test_title_case_sets_write_the_same_names_in_the_same_places_labelled_in_capitals(make_unseen, tmp_path):
    for case in ("capitals", "title"):
        assert make_unseen.main(["--out", str(tmp_path / case), "-n", "4", "--seed", "9", "--looks", "canvas",
                                 "--case", case]) == 0
    caps, title = (tmp_path / "capitals" / "canvas", tmp_path / "title" / "canvas")
    for table in ("written_name_test_v2.csv", "fonts.csv"):
        assert (caps / table).read_text() == (title / table).read_text()
    labels = [s.text for s in load_split(title, "test")[0]]
    assert labels == [t.upper() for t in labels]
    images = [[cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((d / "test_v2" / "test").iterdir())]
              for d in (caps, title)]
    assert sum(not np.array_equal(a, b) for a, b in zip(*images)) >= 2  # fonts with lower case write it


def test_dev_mix_links_the_real_splits_and_adds_both_looks(make_unseen, tmp_path, bundled_data):
    fonts = synth.usable_fonts(config.SHARED_FONTS, heldout=True)
    make_unseen.make_dev_mix(tmp_path, bundled_data, (1, 4), 2, fonts, ["LEA", "JEAN-LUC"], seed=1)
    mix, _ = load_split(tmp_path, "test")
    assert len(mix) == 4 + 2 + 2
    assert [s.image.suffix for s in mix] == [".jpg"] * 4 + [".png"] * 2 + [".jpg"] * 2
    real, _ = load_split(tmp_path, "validation:1-4")  # the training rows, through the link
    assert [s.text for s in real] == [s.text for s in mix[:4]]


def test_dev_mix_with_train_side_labels_keeps_those_crops_out_of_the_unlabelled_ones(make_unseen, tmp_path,
                                                                                     bundled_data):
    labels = tmp_path / "labels.csv"
    labels.write_text("FILENAME,IDENTITY,NOTE\nTRAIN_00002.jpg,MARTIN,\nTRAIN_00005.jpg,,not labelled: unsure\n")
    fonts = synth.usable_fonts(config.SHARED_FONTS, heldout=True)
    out = tmp_path / "dev"
    make_unseen.make_dev_mix(out, bundled_data, labels, 1, fonts, ["LEA"], seed=1)
    mix, _ = load_split(out, "test")
    assert [s.text for s in mix] == ["MARTIN", "LEA", "LEA"]  # the labelled crop, a drawing, a photo
    assert (mix[0].image.read_bytes() ==
            (bundled_data / "train_v2" / "train" / "TRAIN_00002.jpg").read_bytes())
    unlabelled = {p.name for p in (out / "train_v2" / "train").iterdir()}
    assert len(unlabelled) == 18 and not unlabelled & {"TRAIN_00002.jpg", "TRAIN_00005.jpg"}
    assert len(load_split(out, "validation:1-4")[0]) == 4  # the training rows, through the link


def test_the_committed_train_side_labels_name_real_crops(make_unseen):
    import pandas as pd

    labels = pd.read_csv(make_unseen.TRAIN_SIDE_LABELS, dtype=str, keep_default_na=False)
    assert len(labels) == 120 and labels["FILENAME"].str.fullmatch(r"TRAIN_\d{5}\.jpg").all()
    named = labels[labels["IDENTITY"] != ""]
    assert len(named) == 106 and named["IDENTITY"].str.fullmatch(r"[A-Z' -]+").all()
    assert (labels.loc[labels["IDENTITY"] == "", "NOTE"] != "").all()  # each left-out crop says why


def test_unknown_look_is_a_one_line_error(make_unseen, tmp_path, capsys):
    assert make_unseen.main(["--out", str(tmp_path), "--looks", "oil"]) == 1
    assert "unknown look" in capsys.readouterr().err
