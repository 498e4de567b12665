"""Crash safety: a run killed at any moment (SIGKILL, during saves too) resumes and finishes as if whole."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import train
from hwr import atomic, config

#: 3 epochs of the mixed stage + 1 of fine-tuning, 2 steps each, on 16 real crops: a run of seconds
TINY = ["--data-dir", str(config.BUNDLED_DATA), "--lexicon", str(config.BUNDLED_LEXICON),
        "--train-rows", "validation:1-30", "--dev-rows", "validation:31-40", "--dev-synthetic", "0",
        "--synthetic", "0", "--steps-per-epoch", "2", "--max-train-images", "16", "--max-eval-images", "8",
        "--batch-size", "8", "--conv-filters", "8,16,32,32", "--rnn", "lstm", "--rnn-units", "32",
        "--epochs", "3", "--pseudo-rounds", "0", "--finetune-epochs", "1", "--decoders", "greedy",
        "--processes", "1"]
STAGES = ["mixed", "mixed", "mixed", "finetune"]


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = atomic.write_text(tmp_path / "state.json", "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def _start(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(config.ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, str(config.ROOT / "train.py"), *TINY, "--out-dir", str(out),
                             "--resume"], cwd=config.ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kill_during_a_save(proc: subprocess.Popen, out: Path, skip: int) -> bool:
    """SIGKILL the moment the ``skip``-th temporary file appears in the run folder (a save under way)."""
    seen: set[str] = set()
    while proc.poll() is None:
        names = {p.name for p in out.glob(f"{atomic.TMP_PREFIX}*")} if out.is_dir() else set()
        if names - seen:
            if len(seen) >= skip:
                proc.send_signal(signal.SIGKILL)
                return True
            seen |= names
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_runs_killed_at_many_moments_resume_to_the_same_end(tmp_path):
    rng = random.Random(15)
    out = tmp_path / "run"
    errors, kills = [], []
    for attempt in range(7):
        proc = _start(out)
        if attempt % 2:  # odd attempts: during a save (model, state, history, best model, cache)
            skip = rng.randrange(5)  # an epoch writes 4-5 files: kills land in every one of them
            killed = _kill_during_a_save(proc, out, skip)
            kills.append(f"save #{skip}")
        else:  # even attempts: at a seeded moment of start-up (imports, data, model, first steps)
            delay = rng.uniform(1.0, 8.0)
            try:
                proc.wait(delay)
                killed = False
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                killed = True
            kills.append(f"{delay:.1f} s")
        _, err = proc.communicate()
        errors.append(err)
        kills[-1] += "" if killed else " (finished first)"
        if not killed:
            assert proc.returncode == 0, err
            break
    assert sum("finished" not in k for k in kills) >= 6, kills  # the kills really landed
    final = _start(out)
    _, err = final.communicate(timeout=300)
    errors.append(err)
    assert final.returncode == 0, err
    for err in errors:
        assert "Traceback" not in err, (kills, err)
    history = pd.read_csv(out / "history.csv")
    assert list(history["stage"]) == STAGES and list(history["epoch"]) == [1, 2, 3, 4], kills
    print("kills:", kills)
    meta = json.loads((out / "crnn.json").read_text())
    assert meta["training"]["epochs"] == 4
    assert not list(out.glob(f"{atomic.TMP_PREFIX}*"))
    from hwr.recognizer import load_recognizer

    reader = load_recognizer(out / "crnn.keras")
    assert isinstance(reader.read([config.BUNDLED_DATA / "validation_v2" / "validation" / "VALIDATION_1001.jpg"])[0].text, str)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert train.main([*TINY, "--out-dir", str(out), "-q"]) == 0
    return out


def test_a_damaged_checkpoint_falls_back_to_the_one_before_in_one_line(finished_run, tmp_path, capsys, caplog):
    out = tmp_path / "run"
    out.mkdir()
    for f in finished_run.glob("ckpt-*"):
        (out / f.name).write_bytes(f.read_bytes())
    (out / "state.json").write_text("{ half a state")  # damaged too: the checkpoints' own states serve
    newest = sorted(out.glob("ckpt-*.keras"))[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # a truncated zip, as a kill during a copy leaves
    more = [*TINY[:TINY.index("--finetune-epochs") + 1], "2", *TINY[TINY.index("--finetune-epochs") + 2:]]
    assert train.main([*more, "--out-dir", str(out), "--resume"]) == 0
    said = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(said) == 1 and len(said[0].splitlines()) == 1, said
    assert f"checkpoint {newest.name} is damaged" in said[0] and "falling back to ckpt-0003.keras" in said[0]
    assert "Traceback" not in capsys.readouterr().err
    history = pd.read_csv(out / "history.csv")
    assert list(history["stage"]) == [*STAGES, "finetune"]  # epoch 4 done again, then the 5th


@pytest.mark.parametrize("change, named", [(["--rnn-units", "16"], "spec"),
                                           (["--train-rows", "validation:1-20"], "selections")])
def test_resume_refuses_another_architecture_or_other_data(finished_run, capsys, change, named):
    before = (finished_run / "state.json").read_text()
    assert train.main([*TINY, *change, "--out-dir", str(finished_run), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"was made with other {named}" in err, err
    assert (finished_run / "state.json").read_text() == before

