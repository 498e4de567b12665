"""scripts/label_audit.py: the evaluation figures against the labels checked by eye, beside the data set's."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hwr import config


@pytest.fixture(scope="module")
def label_audit(load_script):
    return load_script("label_audit")


def test_wrong_labels_are_replaced_and_unreadable_rows_left_out(label_audit, tmp_path, capsys):
    tag = tmp_path / "t"
    tag.mkdir()
    predictions = pd.DataFrame({"filename": ["A.jpg", "B.jpg", "C.jpg", "D.jpg"],
                                "truth": ["RAPHAELA", "NOM", "PAUL", "MARIE"],
                                "prediction": ["RAPHAEL", "LARINE", "TONI", "MARIE"],
                                "confidence": 0.5, "cer": 0.0})
    for decoder in label_audit.DECODERS:
        predictions.to_csv(tag / f"eval_{decoder}.csv", index=False)
    audit = tmp_path / "audit.csv"
    pd.DataFrame({"FILENAME": ["A.jpg", "B.jpg", "C.jpg"], "IDENTITY": ["RAPHAELA", "NOM", "PAUL"],
                  "WRITTEN": ["RAPHAEL", "", "PAUL"], "NOTE": ["", "too faint", ""]}).to_csv(audit, index=False)
    assert label_audit.main(["--tag", "t", "--audit", str(audit), "--reports", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "t_label_audit.json").read_text())
    assert (result["rows_checked"], result["labels_changed"], result["unreadable"]) == (3, 1, 1)
    lexicon = result["decoders"]["lexicon"]
    assert lexicon["labels"] == {"images": 4, "word_accuracy": 0.25, "cer": pytest.approx(11 / 20)}
    # RAPHAEL now counts as read; NOM is left out; PAUL → TONI stays a miss
    assert lexicon["audited"]["images"] == 3 and lexicon["audited"]["word_accuracy"] == pytest.approx(2 / 3)
    bounds = result["intervals"]["lexicon"]["audited"]["word_accuracy"]  # with its bootstrap interval
    assert bounds["estimate"] == pytest.approx(2 / 3) and bounds["low"] <= 2 / 3 <= bounds["high"]
    assert "1 disagree with the writing, 1 cannot be read" in capsys.readouterr().out


def test_a_missing_measurement_is_a_one_line_error(label_audit, tmp_path, capsys):
    assert label_audit.main(["--tag", "absent", "--reports", str(tmp_path)]) == 1
    assert "run scripts/measure_unseen.py --tag absent first" in capsys.readouterr().err


def test_the_committed_audit_lists_each_crop_once_with_a_label_it_checked():
    audit = pd.read_csv(config.ROOT / "data" / "audit" / "validation_1001-1500.csv", dtype=str,
                        keep_default_na=False)
    assert list(audit.columns) == ["FILENAME", "IDENTITY", "WRITTEN", "NOTE"]
    assert audit["FILENAME"].is_unique
    assert audit["FILENAME"].str.fullmatch(r"VALIDATION_1\d{3}\.jpg").all()
    labels = pd.read_csv(config.SHARED_DATA / "written_name_validation_v2.csv", dtype=str) \
        if config.SHARED_DATA.is_dir() else None
    if labels is not None:  # the IDENTITY column is the data set's own label
        truth = dict(zip(labels["FILENAME"], labels["IDENTITY"].str.upper()))
        assert all(truth[f] == i for f, i in zip(audit["FILENAME"], audit["IDENTITY"]))
