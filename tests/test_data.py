"""The Kaggle-layout loader: selections, cleaning counts, and clear errors on a broken layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwr import config
from hwr.data import (DataError, Sample, default_selections, development_selection, file_number,
                      load_split, parse_selection, unlabelled_images)

# What the sample's validation CSV holds (../shared/README.md): 6 EMPTY and 1 UNREADABLE,
# 3 blank labels. Rows 1–1000: UNREADABLE 0006, EMPTY 0180 0591 0922, blank 0254.
# Rows 1001–1500: EMPTY 1050 1210 1448, blank 1008 1242.
EXPECTED = {
    "validation:1-1000": (1000, 995, 1, 4),
    "validation:1001-1500": (500, 495, 2, 3),
    "validation": (1500, 1490, 3, 7),
}


def _check(report, rows, kept, blank, no_name):
    assert (report.rows, report.kept) == (rows, kept)
    assert report.dropped["blank label"] == blank
    assert report.dropped["UNREADABLE/EMPTY"] == no_name
    assert report.dropped["characters outside the alphabet"] == 0
    assert report.dropped["image file missing"] == 0


@pytest.mark.parametrize("selection", list(EXPECTED))
def test_shared_sample_counts(shared_data, selection):
    samples, report = load_split(shared_data, selection)
    _check(report, *EXPECTED[selection])
    assert len(samples) == report.kept
    assert all(isinstance(s, Sample) and Path(s.image).is_file() for s in samples[:20])


def test_bundled_sample_counts(bundled_data):
    samples, report = load_split(bundled_data, "validation:1001-1500")
    _check(report, *EXPECTED["validation:1001-1500"])
    names = {Path(s.image).name for s in samples}
    assert "VALIDATION_1001.jpg" in names
    assert not names & {"VALIDATION_1008.jpg", "VALIDATION_1050.jpg", "VALIDATION_1242.jpg"}
    head, report = load_split(bundled_data, "validation:1-1000")  # the bundle has 0001–0040
    _check(report, 40, 39, 0, 1)
    assert "VALIDATION_0006.jpg" not in {Path(s.image).name for s in head}  # UNREADABLE


def test_labels_are_stripped_and_upper_cased(make_layout):
    root = make_layout([("VALIDATION_0001.jpg", "martin"), ("VALIDATION_0002.jpg", " Jean-Pierre "),
                        ("VALIDATION_0003.jpg", "d'almeida"), ("VALIDATION_0004.jpg", "unreadable")])
    samples, report = load_split(root, "validation")
    assert [s.text for s in samples] == ["MARTIN", "JEAN-PIERRE", "D'ALMEIDA"]
    assert report.dropped["UNREADABLE/EMPTY"] == 1  # matched after upper-casing


def test_labels_outside_the_alphabet_and_too_long_are_dropped_and_counted(make_layout):
    root = make_layout([("VALIDATION_0001.jpg", "JOSÉ"), ("VALIDATION_0002.jpg", "R2D2"),
                        ("VALIDATION_0003.jpg", "ANNA"), ("VALIDATION_0004.jpg", "A" * 35),
                        ("VALIDATION_0005.jpg", "LEA.")])
    samples, report = load_split(root, "validation")
    assert [s.text for s in samples] == ["ANNA"]
    assert report.dropped["characters outside the alphabet"] == 3
    assert report.dropped[f"longer than {config.MAX_LABEL_LEN}"] == 1
    assert (report.rows, report.kept) == (5, 1)
    assert "characters outside the alphabet: 3" in report.summary()


def test_row_whose_image_is_missing_is_dropped_and_counted(make_layout, caplog):
    root = make_layout([("VALIDATION_0001.jpg", "ANNA"), ("VALIDATION_0002.jpg", "LEA"),
                        ("VALIDATION_0003.jpg", "")], absent=("VALIDATION_0002.jpg", "VALIDATION_0003.jpg"))
    samples, report = load_split(root, "validation")
    assert [Path(s.image).name for s in samples] == ["VALIDATION_0001.jpg"]
    assert report.dropped["image file missing"] == 1  # the blank row is counted as blank only
    assert report.dropped["blank label"] == 1
    assert "VALIDATION_0002.jpg" in caplog.text


def test_selection_by_file_number(make_layout):
    root = make_layout([(f"VALIDATION_{i:04d}.jpg", "ANNA") for i in range(1, 8)])
    samples, report = load_split(root, "validation:3-5")
    assert [file_number(Path(s.image).name) for s in samples] == [3, 4, 5]
    assert report.rows == 3
    assert load_split(root, "validation:100-200")[1].kept == 0


def test_parse_selection_and_file_number():
    assert parse_selection("validation:1001-1500") == ("validation", (1001, 1500))
    assert parse_selection(" test ") == ("test", None)
    for bad in ["valid", "validation:1-", "validation:a-b", "train:1-2-3"]:
        with pytest.raises(DataError, match="bad selection"):
            parse_selection(bad)
    assert file_number("VALIDATION_0042.jpg") == 42
    assert file_number("TRAIN_10500.jpg") == 10500
    assert file_number("name.jpg") == -1


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="data folder not found") as err:
        load_split(tmp_path / "nowhere", "validation")
    assert "nowhere" in str(err.value)


def test_missing_csv(tmp_path):
    (tmp_path / "validation_v2" / "validation").mkdir(parents=True)
    with pytest.raises(DataError, match="written_name_validation_v2.csv"):
        load_split(tmp_path, "validation")


def test_csv_without_identity_column(tmp_path):
    (tmp_path / "validation_v2" / "validation").mkdir(parents=True)
    (tmp_path / "written_name_validation_v2.csv").write_text("FILENAME,NAME\nVALIDATION_0001.jpg,ANNA\n")
    with pytest.raises(DataError, match="IDENTITY") as err:
        load_split(tmp_path, "validation")
    assert "written_name_validation_v2.csv" in str(err.value)


def test_empty_csv_file(tmp_path):
    (tmp_path / "validation_v2" / "validation").mkdir(parents=True)
    (tmp_path / "written_name_validation_v2.csv").write_text("")
    with pytest.raises(DataError, match="written_name_validation_v2.csv"):
        load_split(tmp_path, "validation")


def test_image_folder_missing(tmp_path):
    (tmp_path / "written_name_test_v2.csv").write_text("FILENAME,IDENTITY\nTEST_0001.jpg,ANNA\n")
    with pytest.raises(DataError, match="image folder not found") as err:
        load_split(tmp_path, "test")
    assert str(Path("test_v2") / "test") in str(err.value)


def test_unlabelled_images(shared_data):
    images = unlabelled_images(shared_data)
    assert len(images) == 10_500
    assert images[0].name == "TRAIN_00001.jpg" and images[-1].name == "TRAIN_10500.jpg"
    assert len(unlabelled_images(shared_data, limit=7)) == 7
    assert unlabelled_images(shared_data, "validation") == []  # every validation image is labelled


def test_unlabelled_images_bundled(bundled_data, tmp_path):
    assert len(unlabelled_images(bundled_data)) == 20
    with pytest.raises(DataError, match="image folder not found"):
        unlabelled_images(tmp_path)


def _rows(root: Path, selection: str) -> set[str]:
    split, rows = parse_selection(selection)
    names = [p.name for p in (root / f"{split}_v2" / split).iterdir()]
    return {f"{split}/{n}" for n in names if rows is None or rows[0] <= file_number(n) <= rows[1]}


def test_default_selections_on_the_sample_keep_train_dev_and_evaluation_apart(shared_data):
    train, evaluation = default_selections(shared_data)
    dev = development_selection(shared_data)
    assert (train, dev, evaluation) == ("validation:1-900", "validation:901-1000", "validation:1001-1500")
    sets = [_rows(shared_data, s) for s in (train, dev, evaluation)]
    assert [len(s) for s in sets] == [900, 100, 500]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def test_default_selections_on_the_full_download_hold_out_the_end_of_train(make_layout, tmp_path):
    root = make_layout([(f"TRAIN_{i:05d}.jpg", "ANNA") for i in range(1, 201)], split="train")
    make_layout([("VALIDATION_0001.jpg", "LEA")], root=root)
    train, evaluation = default_selections(root)
    dev = development_selection(root)
    assert (train, dev, evaluation) == ("train:1-196", "train:197-200", "validation")  # the last 2%
    sets = [_rows(root, s) for s in (train, dev, evaluation)]
    assert [len(s) for s in sets] == [196, 4, 1]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert load_split(root, dev)[1].kept == 4
