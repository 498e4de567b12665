"""train.py end to end on a tiny subset: outputs, report, resume, export, clear errors."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

import train
from hwr import config

TINY = ["--train-rows", "validation:1-30", "--dev-rows", "validation:31-40", "--dev-synthetic", "0",
        "--max-train-images", "24", "--max-eval-images", "8", "--max-unlabelled", "8",
        "--epochs", "2", "--pseudo-rounds", "1", "--pseudo-epochs", "1", "--pseudo-threshold", "0",
        "--finetune-epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8",
        "--conv-filters", "8,16,16,16", "--rnn-units", "16", "--processes", "1", "-q"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    synthetic = "16" if config.SHARED_FONTS.is_dir() else "0"
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(out), "--lexicon", str(config.BUNDLED_LEXICON),
            "--export", str(out / "export" / "m.keras"), *TINY, "--synthetic", synthetic, "--dev-synthetic", synthetic]
    assert train.main(argv) == 0
    return out, argv


def test_train_writes_model_metadata_history_and_report(tiny_run):
    out, _ = tiny_run
    meta = json.loads((out / "crnn.json").read_text())
    assert set(meta["metrics"]) == {"greedy", "beam", "lexicon"}
    assert meta["metrics"]["greedy"]["images"] == 8
    assert meta["training"]["data"]["real"]["kept"] == 24
    assert meta["training"]["seed"] == 42 and "train.py" in meta["training"]["command"]
    history = pd.read_csv(out / "history.csv")
    assert list(history["stage"]) == ["mixed", "mixed", "pseudo1", "finetune"]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert history["learning_rate"].tolist() == pytest.approx([1e-3, 1e-3, 1e-3, 3e-4])  # fine-tune: 0.3×
    predictions = pd.read_csv(out / "crnn_predictions.csv")
    assert len(predictions) == 8 and set(predictions.columns) >= {"filename", "truth", "prediction", "cer"}
    assert (out / "crnn_curves.png").stat().st_size > 1000
    assert "word accuracy" in (out / "crnn_report.md").read_text()
    for suffix in (".keras", ".json", ".onnx", "_report.md", "_history.csv", "_predictions.csv"):
        assert (out / "export" / f"m{suffix}").is_file()


def test_train_refuses_a_used_run_folder_then_resumes(tiny_run, capsys):
    out, argv = tiny_run
    argv = [a for a in argv if a != "--export"]
    argv = argv[:argv.index(str(out / "export" / "m.keras"))] + argv[argv.index(str(out / "export" / "m.keras")) + 1:]
    assert train.main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    more = [*argv[:argv.index("--finetune-epochs") + 1], "2", *argv[argv.index("--finetune-epochs") + 2:]]
    assert train.main([*more, "--resume"]) == 0
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 5 and list(history["stage"])[-2:] == ["finetune", "finetune"]


def test_train_reports_a_missing_data_folder(tmp_path, capsys):
    assert train.main(["--data-dir", str(tmp_path / "nowhere"), "--out-dir", str(tmp_path / "r"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err


def test_a_run_out_of_time_still_evaluates_saves_and_says_what_it_cut(tmp_path, capsys):
    from hwr import evaluate

    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *TINY, "--time-limit", "0.0001", "--decoders", "greedy"]
    assert train.main(argv) == 0
    meta = json.loads((tmp_path / "crnn.json").read_text())
    assert meta["training"]["stages_cut_by_time_limit"] == ["mixed", "pseudo1", "finetune"]
    assert list(meta["metrics"]) == ["greedy"] and meta["metrics"]["greedy"]["images"] == 8
    assert "cut short by `--time-limit`: mixed, pseudo1, finetune" in (tmp_path / "crnn_report.md").read_text()

    # the decoders left out are scored later and recorded in the metadata and report
    model = str(tmp_path / "crnn.keras")
    common = ["--data-dir", str(config.BUNDLED_DATA), "--split", "validation", "--model", model,
              "--out-dir", str(tmp_path / "eval"), "--record"]
    assert evaluate.main([*common, "--decoder", "beam"]) == 0
    meta = json.loads((tmp_path / "crnn.json").read_text())
    assert list(meta["metrics"]) == ["greedy", "beam"] and meta["metrics"]["beam"]["images"] == 495
    assert list(meta["intervals"]) == ["greedy", "beam"]  # the run's own figures, then the recorded one
    beam = meta["intervals"]["beam"]["word_accuracy"]
    assert beam["estimate"] == pytest.approx(meta["metrics"]["beam"]["word_accuracy"])
    report = (tmp_path / "crnn_report.md").read_text()
    assert f"| beam | {100 * beam['estimate']:.1f}% ({100 * beam['low']:.1f}–{100 * beam['high']:.1f}%) |" in report
    assert evaluate.main([*common, "--decoder", "beam", "--rows", "1-1000"]) == 1
    assert "figures are on validation:1001-1500" in capsys.readouterr().err


def test_stop_after_trains_in_chunks_that_resume_to_the_whole_schedule(tmp_path, capsys):
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *TINY, "--decoders", "greedy", "--stop-after", "0"]
    assert train.main(argv) == 0  # the first epoch, then a stop
    assert "stopped by --stop-after" in capsys.readouterr().out
    assert not (tmp_path / "crnn.keras").exists()
    assert list(pd.read_csv(tmp_path / "history.csv")["stage"]) == ["mixed"]
    calls = 1
    while not (tmp_path / "crnn.keras").exists() and calls < 6:
        assert train.main([*argv, "--resume"]) == 0  # one epoch a call
        calls += 1
    assert calls == 4  # the schedule's 4 epochs, none cut short
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["stage"]) == ["mixed", "mixed", "pseudo1", "finetune"]
    meta = json.loads((tmp_path / "crnn.json").read_text())
    assert meta["training"]["epochs"] == 4 and meta["training"]["stages_cut_by_time_limit"] == []
    assert meta["metrics"]["greedy"]["images"] == 8


def test_stop_after_on_a_cluster_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(SystemExit):
        train.parse_args(["--stop-after", "60"])
    assert "--stop-after is for a run in one process" in capsys.readouterr().err


def test_unknown_decoder_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--decoders", "greedy,fast"])
    assert "decoders are greedy, beam, lexicon" in capsys.readouterr().err


def test_fine_tuning_starts_from_the_given_model_and_keeps_its_architecture(tiny_run, tmp_path):
    out, _ = tiny_run
    start = tmp_path / "start" / "crnn.keras"  # the tiny model, with decoder settings tuned for it
    start.parent.mkdir()
    shutil.copyfile(out / "crnn.keras", start)
    options = {"lm_weight": 0.5, "length_bonus": 1.0}
    start.with_suffix(".json").write_text(json.dumps({**json.loads((out / "crnn.json").read_text()),
                                                      "decoder_options": options}))
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path / "run"), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *TINY, "--pseudo-rounds", "0", "--epochs", "1",
            "--rnn-units", "8", "--init-model", str(start)]
    assert train.main(argv) == 0
    tmp_path = tmp_path / "run"
    tuned = json.loads((tmp_path / "crnn.json").read_text())
    assert tuned["spec"] == json.loads((out / "crnn.json").read_text())["spec"]  # not --rnn-units 8
    assert tuned["decoder_options"] == options  # the settings it was scored with, until re-tuned
    first = pd.read_csv(tmp_path / "history.csv")["loss"].iloc[0]
    assert first < pd.read_csv(out / "history.csv")["loss"].iloc[0]  # trained weights, not random


def test_an_epoch_that_beats_its_starting_model_is_measured_against_it(tmp_path):
    """The committed model with noise in its classifier's weights: a few steps of training mend them."""
    import keras
    import numpy as np

    start = tmp_path / "start" / "crnn.keras"
    start.parent.mkdir()
    model = keras.saving.load_model(config.DEFAULT_MODEL, compile=False)
    kernel, bias = model.get_layer("log_probs").get_weights()
    noise = np.random.default_rng(0).normal(0, 4 * kernel.std(), kernel.shape).astype(kernel.dtype)
    model.get_layer("log_probs").set_weights([kernel + noise, bias])
    model.save(start)
    shutil.copyfile(config.DEFAULT_MODEL.with_suffix(".json"), start.with_suffix(".json"))
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path / "run"), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *TINY, "--pseudo-rounds", "0", "--epochs", "2",
            "--steps-per-epoch", "6", "--finetune-epochs", "0", "--learning-rate", "1e-3",
            "--init-model", str(start)]
    tmp_path = tmp_path / "run"
    assert train.main(argv) == 0
    selection = json.loads((tmp_path / "crnn.json").read_text())["selection"]
    assert selection["checkpoint"].startswith("best.keras: epoch ")
    versus = selection["checkpoint_vs_start"]  # the chosen epoch's development CER minus the start's
    assert versus["estimate"] < 0 and versus["low"] <= versus["estimate"] <= versus["high"]
    assert versus["text"].endswith("more than noise") == (versus["high"] < 0)
    assert f"against the starting model, development CER {versus['text']}" in (tmp_path / "crnn_report.md").read_text()


def test_a_fine_tune_that_only_makes_the_model_worse_returns_the_starting_model(tiny_run, tmp_path):
    import keras

    out, _ = tiny_run
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *TINY, "--pseudo-rounds", "0", "--epochs", "1",
            "--learning-rate", "50", "--init-model", str(out / "crnn.keras")]  # a rate that wrecks it
    assert train.main(argv) == 0
    meta = json.loads((tmp_path / "crnn.json").read_text())
    assert meta["selection"]["checkpoint"].startswith("best.keras: the starting model (no epoch of 2 ")
    assert meta["selection"]["checkpoint_vs_start"] is None  # nothing to measure against itself
    start, kept = (keras.saving.load_model(p, compile=False) for p in (out / "crnn.keras", tmp_path / "crnn.keras"))
    for a, b in zip(start.get_weights(), kept.get_weights(), strict=True):
        assert (a == b).all()


def test_warm_start_gives_a_new_architecture_the_trained_weights(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *TINY, "--pseudo-rounds", "0", "--epochs", "1",
            "--strided-blocks", "2", "--warm-start", str(out / "crnn.keras")]
    assert train.main(argv) == 0
    assert json.loads((tmp_path / "crnn.json").read_text())["spec"]["strided_blocks"] == 2
    first = pd.read_csv(tmp_path / "history.csv")["loss"].iloc[0]
    assert first < pd.read_csv(out / "history.csv")["loss"].iloc[0]  # trained weights, not random
    with pytest.raises(SystemExit):
        train.parse_args([*argv, "--init-model", str(out / "crnn.keras")])
    assert "pass one" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--init-model", "--warm-start"])
def test_starting_from_a_missing_model_is_one_line(tmp_path, capsys, option):
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), *TINY,
            option, str(tmp_path / "none.keras")]
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert "none.keras" in err and "Traceback" not in err


def test_a_run_records_which_set_selected_what_and_which_was_only_reported(tiny_run):
    out, _ = tiny_run
    meta = json.loads((out / "crnn.json").read_text())
    sel = meta["selection"]
    assert sel["development"]["selection"] == "validation:31-40" and sel["development"]["kept"] == 10
    assert meta["evaluation"]["selection"] == "validation:1001-1500"
    assert meta["training"]["data"]["real"]["selection"] == "validation:1-30"
    if config.SHARED_FONTS.is_dir():  # the development set's unseen hands
        assert sel["development"]["heldout_font_names"] == 16 and "SteveHand" in sel["development"]["heldout_fonts"]
    assert sel["checkpoint"].startswith("best.keras: epoch ") and "development CER" in sel["checkpoint"]
    assert sel["pseudo_threshold"]["pseudo1"] == {"value": 0.0, "chosen_on": "--pseudo-threshold"}
    assert sel["decoder_default"].startswith(meta["decoder_default"] + ": lowest development CER")
    assert "scored once, after training" in sel["reported"]
    history = pd.read_csv(out / "history.csv")  # per epoch: the development set only
    assert {"dev_real_cer", "val_cer"} <= set(history.columns) and not any("eval" in c for c in history.columns)
    report = (out / "crnn_report.md").read_text()
    assert "## What selected what" in report and "development set: validation:31-40" in report
    assert "reported figures: validation:1001-1500: scored once" in report


def _without_threshold(argv: list[str]) -> list[str]:
    i = argv.index("--pseudo-threshold")
    return argv[:i] + argv[i + 2:]


@pytest.mark.skipif(not config.SHARED_FONTS.is_dir(), reason="needs the shared fonts for held-out names")
def test_a_fine_tune_can_set_its_pseudo_label_threshold_on_the_held_out_fonts(tiny_run, tmp_path):
    """The starting model trained on the real development crops, so its confidence there says nothing."""
    out, _ = tiny_run
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), "--synthetic", "16",
            "--lexicon", str(config.BUNDLED_LEXICON), *_without_threshold(TINY), "--dev-synthetic", "16",
            "--epochs", "0", "--pseudo-threshold-on", "heldout_fonts", "--pseudo-precision", "0",
            "--init-model", str(out / "crnn.keras")]
    assert train.main(argv) == 0
    chosen = json.loads((tmp_path / "crnn.json").read_text())["selection"]["pseudo_threshold"]["pseudo1"]
    assert chosen["chosen_on"] == "16 development names in the held-out fonts"
    assert 0.0 <= chosen["value"] <= 1.0
    labels = pd.read_csv(tmp_path / "pseudo1.csv", keep_default_na=False)
    assert (labels["confidence"] >= chosen["value"]).all()


def test_a_missing_threshold_part_is_one_line(tmp_path, capsys):
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *_without_threshold(TINY), "--pseudo-threshold-on",
            "heldout_fonts"]
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip().split("\r")[-1].strip()
    assert "--pseudo-threshold-on heldout_fonts" in err and "real (10 images)" in err
    assert len(err.splitlines()) == 1


def test_training_rows_that_overlap_the_reported_set_are_refused_in_one_line(tmp_path, capsys):
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *TINY, "--train-rows", "validation:1001-1010"]
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip().split("\r")[-1].strip()
    assert err.startswith("train.py: the training and evaluation selections share") and len(err.splitlines()) == 1


def test_lr_patience_halves_the_rate_and_the_report_names_each_cut(tmp_path):
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(tmp_path), "--synthetic", "0",
            "--lexicon", str(config.BUNDLED_LEXICON), *TINY, "--epochs", "5", "--pseudo-rounds", "0",
            "--finetune-epochs", "0", "--lr-patience", "1", "--learning-rate", "0.1", "--decoders", "greedy"]
    assert train.main(argv) == 0
    history = pd.read_csv(tmp_path / "history.csv")
    rates, cers = history["learning_rate"].tolist(), history["val_cer"].tolist()
    # the rate an epoch trained at: halved after each epoch whose CER is not below the best before it
    # by Keras' min_delta (1e-4)
    expected, best = [0.1], None
    for cer in cers[:-1]:
        improved = best is None or cer < best - 1e-4
        best = cer if improved else best
        expected.append(expected[-1] * (1.0 if improved else 0.5))
    assert rates == pytest.approx(expected)
    cuts = [f"from mixed epoch {e}" for e, (a, b) in enumerate(zip(rates, rates[1:]), start=2) if b < a]
    assert cuts  # at this rate the tiny model stops improving within five epochs
    report = (tmp_path / "crnn_report.md").read_text()
    line = next(x for x in report.splitlines() if x.startswith("- learning rate:"))
    assert "halved after 1 epochs without a lower development CER" in line
    assert all(c in line for c in cuts) and line.count("from mixed epoch") == len(cuts)
