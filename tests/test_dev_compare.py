"""scripts/dev_compare.py: models on the development set a run chooses on, each against the first."""

from __future__ import annotations

import json

from hwr import config


def test_a_model_against_itself_and_against_an_untrained_one(load_script, tiny_model_path, tmp_path, capsys):
    dev_compare = load_script("dev_compare")
    out = tmp_path / "dev.json"
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--dev-rows", "validation:1-40", "--dev-synthetic", "0",
            "--cache", str(tmp_path / "cache"), "--json", str(out),
            str(config.DEFAULT_MODEL), str(config.DEFAULT_MODEL), str(tiny_model_path)]
    assert dev_compare.main(argv) == 0
    result = json.loads(out.read_text())
    same, untrained = result["models"][1], result["models"][2]
    assert result["development"] == "real (39 images)"
    assert same["val_cer"] == result["models"][0]["val_cer"] and same["verdict"].startswith("within noise")
    assert same["minus_baseline"]["low"] == same["minus_baseline"]["high"] == 0.0
    assert untrained["minus_baseline"]["low"] > 0 and untrained["verdict"] == "more than noise"
    assert "minus the baseline +0.00 points" in capsys.readouterr().out


def test_a_missing_model_is_one_line(load_script, tmp_path, capsys):
    dev_compare = load_script("dev_compare")
    assert dev_compare.main([str(tmp_path / "none.keras"), "--json", str(tmp_path / "x.json")]) == 1
    err = capsys.readouterr().err
    assert "none.keras" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
