"""python -m hwr.compare: two readings of the same images, their figures and whether they differ beyond noise."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hwr import compare, config
from hwr.metrics import score

READINGS = config.ROOT / "reports" / "unseen" / "names18"


def run(args, capsys) -> tuple[int, str, str]:
    code = compare.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_beam_against_greedy_on_the_evaluation_set(tmp_path, capsys):
    a, b, out_json = READINGS / "eval_greedy.csv", READINGS / "eval_beam.csv", tmp_path / "c.json"
    code, out, err = run([a, b, "--json", out_json], capsys)
    assert code == 0, err
    result = json.loads(out_json.read_text())
    ta, tb = (pd.read_csv(f, dtype=str, keep_default_na=False) for f in (a, b))
    gain = score(tb.truth, tb.prediction).word_accuracy - score(ta.truth, ta.prediction).word_accuracy
    assert result["b_minus_a"]["word_accuracy"]["estimate"] == pytest.approx(gain)
    assert result["images"] == {"both": 495, "only_a": 0, "only_b": 0}
    assert result["right_only_b"] - result["right_only_a"] == round(gain * 495)
    assert "words: B better than A, beyond the noise" in out
    assert "B - A:   words +4.2 points" in out


def test_a_reading_against_itself_is_within_noise_and_a_subset_is_compared_on_what_both_hold(tmp_path, capsys):
    beam = READINGS / "eval_beam.csv"
    part = tmp_path / "part.csv"
    pd.read_csv(beam, dtype=str, keep_default_na=False).head(200).to_csv(part, index=False)
    code, out, _ = run([beam, part], capsys)
    assert code == 0
    assert "200 read in both files (295 only in A, 0 only in B, left out)" in out
    assert "words: within noise (the interval holds 0); CER: within noise" in out


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "absent.csv", "absent.csv: no such file"),
    (lambda d: (d / "x.csv").write_text("name,text\nA,B\n") and d / "x.csv", "no column filename, truth, prediction"),
    (lambda d: (d / "y.csv").write_bytes(b"\xff\xfe\x00garbage") and d / "y.csv", "not a CSV file"),
])
def test_bad_files_get_one_clear_line(tmp_path, capsys, make, message):
    code, out, err = run([make(tmp_path), READINGS / "eval_beam.csv"], capsys)
    assert code == 1 and message in err and "Traceback" not in err


def test_readings_of_other_sets_or_labels_are_refused(tmp_path, capsys):
    code, _, err = run([READINGS / "eval_beam.csv", READINGS / "canvas_beam.csv"], capsys)
    assert code == 1 and "share no image" in err
    relabelled = tmp_path / "relabelled.csv"
    table = pd.read_csv(READINGS / "eval_beam.csv", dtype=str, keep_default_na=False)
    table.loc[0, "truth"] = "SOMEONE ELSE"
    table.to_csv(relabelled, index=False)
    code, _, err = run([READINGS / "eval_beam.csv", relabelled], capsys)
    assert code == 1 and "label 1 of the 495 images they share differently" in err and "SOMEONE ELSE" in err


def test_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        compare.main(["--help"])
    assert exit_.value.code == 0 and "paired bootstrap" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        compare.main(["a.csv", "b.csv", "--level", "95"])
    assert exit_.value.code == 2 and "--level must lie between 0 and 1" in capsys.readouterr().err
