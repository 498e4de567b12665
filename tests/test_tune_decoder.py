"""scripts/tune_decoder.py: the decoder settings and the default decoder come from development rows."""

from __future__ import annotations

import json
import shutil

import pytest

from hwr import config
from hwr.decode import DECODERS

pytestmark = pytest.mark.skipif(not config.DEFAULT_MODEL.is_file(), reason="no committed model")


@pytest.fixture(scope="module")
def tune_decoder(load_script):
    return load_script("tune_decoder")


def test_write_stores_the_chosen_settings_and_default_decoder(tune_decoder, bundled_data, tmp_path):
    model = tmp_path / "crnn.keras"
    for suffix in (".keras", ".json", ".onnx"):
        shutil.copyfile(config.DEFAULT_MODEL.with_suffix(suffix), model.with_suffix(suffix))
    meta = json.loads(model.with_suffix(".json").read_text())
    meta.pop("decoder_options", None)
    meta["decoder_default"] = "greedy"  # as train.py --decoders greedy leaves it
    model.with_suffix(".json").write_text(json.dumps(meta))
    assert tune_decoder.main(["--model", str(model), "--data-dir", str(bundled_data), "--rows", "1-20",
                              "--heldout-names", "6", "--cache", str(tmp_path / "cache"),
                              "--json", str(tmp_path / "tune.json"), "--write"]) == 0
    tuned = json.loads(model.with_suffix(".json").read_text())
    result = json.loads((tmp_path / "tune.json").read_text())
    assert tuned["decoder_options"] == {**meta.get("decoder_options", {}), **result["chosen"]}
    # each setting is scored on both development parts where the held-out fonts are there to render
    # names in (the shared fonts), on the rows alone where they are not
    parts = {"rows", "heldout_fonts"} if result["heldout_names"] else {"rows"}
    assert result["heldout_names"] in (0, 6) and set(result["greedy"]["parts"]) == parts
    assert result["greedy"]["cer"] == pytest.approx(sum(p["cer"] for p in result["greedy"]["parts"].values())
                                                    / len(parts))
    cers = {"greedy": result["greedy"]["cer"], "beam": result["beam"]["cer"], "lexicon": result["lexicon"]["cer"]}
    assert tuned["decoder_default"] in DECODERS and cers[tuned["decoder_default"]] == min(cers.values())
    assert tuned["selection"]["decoder_default"].startswith(f"{tuned['decoder_default']}: lowest development CER")
    # the test-time variants: every set tried with the default decoder as it stood, the best one stored
    assert [r["test_time_variants"] for r in result["variants"]] == [list(v) for v in tune_decoder.VARIANT_SETS]
    assert {r["decoder"] for r in result["variants"]} == {"greedy"}
    cost = tune_decoder.PASS_COST
    best = min(result["variants"], key=lambda r: (round(r["cer"] + cost * len(r["test_time_variants"]), 6),
                                                  -r["word_accuracy"]))
    assert tuned["test_time_variants"] == result["test_time_variants"] == best["test_time_variants"]
    # the choice against what the model had, with how sure the difference is (greedy: the variants alone)
    versus, stored = result["chosen_minus_stored"], meta["test_time_variants"]
    had = next(r for r in result["variants"] if r["test_time_variants"] == stored)
    assert versus["decoder"] == "greedy" and versus["low"] <= versus["estimate"] <= versus["high"]
    assert versus["estimate"] == pytest.approx(best["cer"] - had["cer"])
    assert versus["more_than_noise"] == (versus["low"] > 0 or versus["high"] < 0)


def test_rows_of_the_evaluation_set_are_refused(tune_decoder, bundled_data, capsys):
    with pytest.raises(SystemExit):
        tune_decoder.main(["--data-dir", str(bundled_data), "--rows", "1001-1010"])
    assert "tune elsewhere" in capsys.readouterr().err
