"""train.py end to end on a tiny subset: outputs, report, resume, export, clear errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import train
from hwr import config

TINY = ["--max-train-images", "24", "--max-eval-images", "8", "--max-unlabelled", "8",
        "--epochs", "2", "--pseudo-rounds", "1", "--pseudo-epochs", "1", "--pseudo-threshold", "0",
        "--finetune-epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8",
        "--conv-filters", "8,16,16,16", "--rnn-units", "16", "--processes", "1", "-q"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    synthetic = "16" if config.SHARED_FONTS.is_dir() else "0"
    argv = ["--data-dir", str(config.BUNDLED_DATA), "--out-dir", str(out), "--synthetic", synthetic,
            "--lexicon", str(config.BUNDLED_LEXICON), "--export", str(out / "export" / "m.keras"), *TINY]
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
    predictions = pd.read_csv(out / "crnn_predictions.csv")
    assert len(predictions) == 8 and set(predictions.columns) >= {"filename", "truth", "prediction", "cer"}
    assert (out / "crnn_curves.png").stat().st_size > 1000
    assert "word accuracy" in (out / "crnn_report.md").read_text()
    for suffix in (".keras", ".json", "_report.md", "_history.csv", "_predictions.csv"):
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
