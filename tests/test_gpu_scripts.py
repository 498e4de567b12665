"""The GPU path's script trains the design the project names (hwr.spec.WIDE), parsed as train.py parses it."""

from __future__ import annotations

import re
import shlex

import train
from hwr import config
from hwr.spec import WIDE, ModelSpec


def _design_flags() -> list[str]:
    script = (config.ROOT / "scripts" / "gpu_train.sh").read_text()
    found = re.search(r"^DESIGN=\((.*)\)$", script, re.MULTILINE)
    assert found, "scripts/gpu_train.sh names its design in one DESIGN=(...) line"
    return shlex.split(found.group(1))


def test_the_gpu_script_trains_the_wide_design():
    assert train.model_spec(train.parse_args(_design_flags())) == WIDE != ModelSpec()


def test_arguments_after_the_design_win():
    default = ["--conv-filters", "16,32,64,96", "--dense-units", "96", "--rnn-units", "96,96"]
    assert train.model_spec(train.parse_args([*_design_flags(), *default])) == ModelSpec()
