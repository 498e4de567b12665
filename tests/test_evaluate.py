"""The evaluation command, called as a function on the bundled sample and on layouts built in tmp."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwr import metrics
from hwr.data import CleaningReport, Sample, load_split
from hwr.evaluate import main
from hwr.evaluation import COLUMNS, UNREADABLE_RULE, default_outputs, evaluate, resolve_selection
from hwr.recognizer import load_recognizer

JSON_KEYS = {"scores", "decoder", "model", "data_dir", "split", "selection", "cleaning",
             "per_character", "predictions_csv", "hwr_version", "created"}


def run(args: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *words: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def recognizer(tiny_model_path):
    return load_recognizer(tiny_model_path)


def test_main_on_the_bundled_sample(bundled_data, tiny_model_path, tmp_path, capsys):
    csv_file, json_file = tmp_path / "out" / "p.csv", tmp_path / "out" / "m.json"
    code, out, err = run(["--data-dir", bundled_data, "--split", "validation", "--rows", "1001-1010",
                          "--model", tiny_model_path, "--csv", csv_file, "--json", json_file], capsys)
    assert code == 0, err

    table = pd.read_csv(csv_file, dtype={"prediction": str}, keep_default_na=False)
    assert list(table.columns) == COLUMNS
    # rows 1001–1010 minus VALIDATION_1008, whose label is blank
    assert len(table) == 9
    assert "VALIDATION_1008.jpg" not in set(table["filename"])
    labels = {Path(s.image).name: s.text for s in load_split(bundled_data, "validation:1001-1010")[0]}
    assert dict(zip(table["filename"], table["truth"])) == labels
    assert ((table["confidence"] > 0) & (table["confidence"] <= 1)).all()
    expected_cer = [metrics.cer(t, p) for t, p in zip(table["truth"], table["prediction"])]
    np.testing.assert_allclose(table["cer"], expected_cer)

    report = json.loads(json_file.read_text())
    assert JSON_KEYS <= set(report)
    assert report["decoder"] == "greedy"
    assert report["selection"] == "validation:1001-1010"
    assert report["model"] == str(tiny_model_path.resolve())
    assert report["scores"]["images"] == 9
    expected = metrics.score(table["truth"], table["prediction"]).to_dict()
    assert report["scores"] == pytest.approx(expected)
    for figure in ("word_accuracy", "cer"):  # with how far each could move on another draw of images
        bounds = report["intervals"][figure]
        assert bounds["estimate"] == pytest.approx(expected[figure])
        assert bounds["low"] <= bounds["estimate"] <= bounds["high"] and bounds["level"] == 0.95
    assert report["cleaning"]["rows"] == 10 and report["cleaning"]["kept"] == 9
    assert report["cleaning"]["dropped"]["blank label"] == 1
    assert sum(c["count"] for c in report["per_character"].values()) == table["truth"].str.len().sum()

    for figure in ["word accuracy", "CER", "WER", "char accuracy", "images:           9", "blank label: 1"]:
        assert figure in out
    assert "Traceback" not in err


def test_single_image_folder_with_default_rows_and_outputs(make_layout, tiny_model_path, tmp_path,
                                                           capsys, caplog):
    root = make_layout([("VALIDATION_1001.jpg", "BALTHAZAR")])
    caplog.set_level(logging.INFO, logger="hwr.evaluation")
    code, out, err = run(["--data-dir", root, "--model", tiny_model_path, "--decoder", "beam",
                          "--out-dir", tmp_path / "reports"], capsys)
    assert code == 0, err
    assert "held-out rows validation:1001-1500" in caplog.text  # no training CSV: the sample's split
    csv_file, json_file = default_outputs("validation", "beam", tmp_path / "reports")
    assert csv_file.name == "eval_validation_beam.csv"
    table = pd.read_csv(csv_file, keep_default_na=False)
    assert table[["filename", "truth"]].values.tolist() == [["VALIDATION_1001.jpg", "BALTHAZAR"]]
    assert json.loads(json_file.read_text())["scores"]["images"] == 1


def test_absent_and_unreadable_images_are_reported_and_skipped(make_layout, tiny_model_path, tmp_path,
                                                               capsys, caplog):
    root = make_layout(
        [("TEST_0001.jpg", "ANNA"), ("TEST_0002.jpg", "LEA"), ("TEST_0003.jpg", "MARC"),
         ("TEST_0004.jpg", "ZOE")],
        split="test", absent=("TEST_0002.jpg",), content={"TEST_0003.jpg": b"\xff\xd8 not a jpeg"})
    code, out, err = run(["--data-dir", root, "--split", "test", "--model", tiny_model_path,
                          "--csv", tmp_path / "p.csv", "--json", tmp_path / "m.json"], capsys)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert table["filename"].tolist() == ["TEST_0001.jpg", "TEST_0004.jpg"]
    cleaning = json.loads((tmp_path / "m.json").read_text())["cleaning"]
    assert cleaning["dropped"]["image file missing"] == 1
    assert cleaning["dropped"][UNREADABLE_RULE] == 1
    assert (cleaning["rows"], cleaning["kept"]) == (4, 2)
    assert "TEST_0002.jpg" in caplog.text and "TEST_0003.jpg" in caplog.text
    assert "image file missing: 1" in out and f"{UNREADABLE_RULE}: 1" in out


def test_no_usable_image_exits_2(make_layout, tiny_model_path, tmp_path, capsys):
    root = make_layout([("VALIDATION_0001.jpg", "ANNA")], absent=("VALIDATION_0001.jpg",))
    code, _, err = run(["--data-dir", root, "--rows", "all", "--model", tiny_model_path,
                        "--out-dir", tmp_path], capsys)
    assert code == 2
    assert_one_line_error(err, "no usable image", "image file missing: 1")

    # the rows exist but none is in the default held-out range
    code, _, err = run(["--data-dir", make_layout([("VALIDATION_0001.jpg", "ANNA")],
                                                  root=tmp_path / "other"),
                        "--model", tiny_model_path, "--out-dir", tmp_path], capsys)
    assert code == 2
    assert_one_line_error(err, "validation:1001-1500", "--rows all")

    # every listed image is present but unreadable
    root = make_layout([("VALIDATION_0001.jpg", "ANNA")], content={"VALIDATION_0001.jpg": b"junk"},
                       root=tmp_path / "junk")
    code, _, err = run(["--data-dir", root, "--rows", "all", "--model", tiny_model_path,
                        "--out-dir", tmp_path], capsys)
    assert code == 2
    assert_one_line_error(err, "could be read")
    assert not list(tmp_path.glob("eval_*"))


def test_missing_folder_csv_or_model_is_one_line(tmp_path, bundled_data, tiny_model_path, capsys):
    code, _, err = run(["--data-dir", tmp_path / "nowhere", "--model", tiny_model_path], capsys)
    assert code == 1
    assert_one_line_error(err, "data folder not found", "nowhere")

    code, _, err = run(["--data-dir", tmp_path, "--split", "test", "--model", tiny_model_path], capsys)
    assert code == 1
    assert_one_line_error(err, "written_name_test_v2.csv")

    code, _, err = run(["--data-dir", bundled_data, "--rows", "1001-1002",
                        "--model", tmp_path / "absent.keras"], capsys)
    assert code == 1
    assert_one_line_error(err, "model file not found", "absent.keras")

    code, _, err = run(["--data-dir", bundled_data, "--rows", "1001-1002", "--model", tiny_model_path,
                        "--decoder", "lexicon", "--lexicon", tmp_path / "names.tsv"], capsys)
    assert code == 1
    assert_one_line_error(err, "lexicon file not found")


@pytest.mark.parametrize("args", [["--rows", "10-1"], ["--rows", "abc"], ["--batch-size", "0"],
                                  ["--decoder", "viterbi"], ["--split", "train"]])
def test_bad_arguments_exit_with_usage(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ["--data-dir", "--split", "--rows", "--model", "--decoder", "--lexicon", "--json",
                   "--csv", "--out-dir", "--batch-size", "greedy", "beam", "lexicon"]:
        assert option in out


def test_resolve_selection(bundled_data, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hwr.evaluation")
    assert resolve_selection(bundled_data, "validation", None) == "validation:1001-1500"
    assert "--rows all" in caplog.text
    assert resolve_selection(bundled_data, "validation", "all") == "validation"
    assert resolve_selection(bundled_data, "validation", "5-9") == "validation:5-9"
    assert resolve_selection(bundled_data, "test", None) == "test"
    (tmp_path / "written_name_train_v2.csv").write_text("FILENAME,IDENTITY\n")
    assert resolve_selection(tmp_path, "validation", None) == "validation"  # the full data set


def test_evaluate_library_call(recognizer, bundled_data, sample_image, tmp_path, caplog):
    samples = [Sample(sample_image, "BALTHAZAR"),
               Sample(tmp_path / "gone.jpg", "ANNA"),
               Sample(np.full((40, 300), 255, np.uint8), "LEA")]
    report = CleaningReport("custom", rows=3, kept=3)
    for decoder in ["greedy", "lexicon"]:
        table, scores = evaluate(recognizer, samples, decoder, batch_size=2, progress=False,
                                 report=report if decoder == "greedy" else None)
        assert list(table.columns) == COLUMNS
        assert table["filename"].tolist() == ["VALIDATION_1001.jpg", "sample_00002"]
        assert scores.images == 2
        assert scores == metrics.score(table["truth"], table["prediction"])
    assert report.dropped == {UNREADABLE_RULE: 1} and report.kept == 2
    assert "gone.jpg" in caplog.text
    with pytest.raises(ValueError, match="unknown decoder"):
        evaluate(recognizer, samples, "viterbi")


def test_evaluate_with_nothing_to_read(recognizer):
    table, scores = evaluate(recognizer, [], progress=False)
    assert table.empty and list(table.columns) == COLUMNS
    assert scores.images == 0


def test_decoder_settings_and_runtime_from_the_command_line(bundled_data, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "m.json"
    code, stdout, _ = run(["--data-dir", bundled_data, "--rows", "1001-1004", "--model", tiny_model_path,
                           "--decoder", "beam", "--set", "beam_width=4", "--set", "lm_weight=0.3",
                           "--runtime", "keras", "--json", out, "--csv", tmp_path / "m.csv"], capsys)
    assert code == 0 and "runtime: keras" in stdout
    written = json.loads(out.read_text())
    assert written["runtime"] == "keras"
    assert written["decoder_options"]["beam_width"] == 4 and written["decoder_options"]["lm_weight"] == 0.3
    code, stdout, _ = run(["--data-dir", bundled_data, "--rows", "1001-1004", "--model", tiny_model_path,
                           "--json", out, "--csv", tmp_path / "m.csv"], capsys)
    assert code == 0 and json.loads(out.read_text())["runtime"] == "onnx"


@pytest.mark.parametrize("args, message", [(["--set", "beam=3"], "unknown decoder setting"),
                                           (["--set", "beam_width=wide"], "takes a number"),
                                           (["--set", "lm_weight=0", "--record"], "--record")])
def test_bad_decoder_settings_are_usage_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
