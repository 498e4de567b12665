"""The larger design's scripts (GPU run, CPU chunks) train the design the project names (hwr.spec.WIDE),
parsed as train.py parses it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pandas as pd
import pytest

import train
from hwr import config
from hwr.spec import WIDE, ModelSpec
from test_crash import TINY

SCRIPTS = ["gpu_train.sh", "cpu_chunk.sh"]


def _design_flags(script: str) -> list[str]:
    text = (config.ROOT / "scripts" / script).read_text()
    found = re.search(r"^DESIGN=\((.*)\)$", text, re.MULTILINE)
    assert found, f"scripts/{script} names its design in one DESIGN=(...) line"
    return shlex.split(found.group(1))


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_trains_the_wide_design(script):
    assert train.model_spec(train.parse_args(_design_flags(script))) == WIDE != ModelSpec()


@pytest.mark.parametrize("script", SCRIPTS)
def test_arguments_after_the_design_win(script):
    default = ["--conv-filters", "16,32,64,96", "--dense-units", "96", "--rnn-units", "96,96"]
    assert train.model_spec(train.parse_args([*_design_flags(script), *default])) == ModelSpec()


@pytest.mark.slow
def test_cpu_chunks_resume_from_the_committed_checkpoint_in_a_new_checkout(tmp_path, plant_pseudo_labels):
    """A chunk keeps its checkpoint, and the pseudo-labels its stage trains on, outside the run folder;
    the next, with the run folder gone (a new session's checkout), puts them back and trains the
    following epoch on the same labels rather than on new readings by a later model."""
    env = {**os.environ, "RUN": str(tmp_path / "run"), "KEEP": str(tmp_path / "keep"),
           "DEV_MIX": str(config.BUNDLED_DATA), "PYTHON": sys.executable}
    stages = ["--epochs", "1", "--pseudo-rounds", "1", "--pseudo-epochs", "2", "--pseudo-threshold", "0"]
    keep = tmp_path / "keep"

    def chunk() -> str:
        done = subprocess.run(["bash", str(config.ROOT / "scripts" / "cpu_chunk.sh"), "0", *TINY, *stages],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    assert "kept ckpt-0001.keras" in chunk()
    assert sorted(p.name for p in keep.iterdir()) == [
        "best.keras", "ckpt-0001.json", "ckpt-0001.keras", "history.csv", "state.json"]
    shutil.rmtree(tmp_path / "run")
    out = chunk()
    assert "put back 1 checkpoint(s)" in out and "kept ckpt-0002.keras" in out
    assert sorted(p.name for p in keep.iterdir()) == [
        "best.keras", "ckpt-0002.json", "ckpt-0002.keras", "history.csv", "pseudo1.csv", "state.json"]
    shutil.rmtree(tmp_path / "run")
    labels = pd.read_csv(keep / "pseudo1.csv")
    assert list(labels.columns) == ["index", "file", "text", "confidence"] and len(labels) <= 20
    plant_pseudo_labels(keep / "pseudo1.csv")  # kept: the resumed stage must train on exactly these
    out = chunk()
    assert "pseudo-labels: kept 3 of 20 unlabelled crops" in out and "kept ckpt-0003.keras" in out
    history = pd.read_csv(keep / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3] and list(history["stage"]) == ["mixed", "pseudo1", "pseudo1"]
