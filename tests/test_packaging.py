"""pyproject.toml: a wheel with the package, train.py and the console scripts; a user's `from hwr import`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from hwr import config

ROOT = Path(__file__).resolve().parent.parent


def _requirements(name: str) -> list[str]:
    """A requirements file's packages, without comments and ``-r`` includes."""
    lines = (line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-r")]


def test_extras_are_the_requirement_files():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["train"] == _requirements("requirements.txt")
    assert project["optional-dependencies"]["dev"] == ["hwr[train]", *_requirements("requirements-dev.txt")]
    assert not any(r.startswith(("tensorflow", "keras")) for r in _requirements("requirements-app.txt"))


@pytest.mark.slow
def test_an_installed_copy_reads_from_a_users_own_code(tmp_path):
    """Build the wheel from a copy of the sources, install it apart from the repository, and read."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "hwr", src / "hwr", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements-app.txt", "train.py"):
        shutil.copyfile(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(src), "-w", str(tmp_path)],
                   check=True, timeout=300, capture_output=True)
    wheel = next(tmp_path.glob("hwr-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = next(z.read(n).decode() for n in names if n.endswith("entry_points.txt"))
        metadata = next(z.read(n).decode() for n in names if n.endswith("METADATA"))
    assert {"hwr/recognizer.py", "hwr/read.py", "train.py", "hwr/preprocess/__init__.py", "hwr/synth/__init__.py"} <= names
    for script in ("hwr-read = hwr.read:main", "hwr-evaluate = hwr.evaluate:main", "hwr-compare = hwr.compare:main",
                   "hwr-train = train:main"):
        assert script in entry_points
    assert "Requires-Dist: onnxruntime" in metadata
    assert "Requires-Dist: tensorflow-cpu==2.21.*; extra == \"train\"" in metadata
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True,
                   timeout=300, capture_output=True)
    assert (site / "bin" / "hwr-read").is_file()
    crop = config.BUNDLED_DATA / "validation_v2" / "validation" / "VALIDATION_1001.jpg"
    code = ("import sys; from hwr import load_recognizer; import hwr; "
            "r = load_recognizer(sys.argv[1]); print(hwr.__file__, r.runtime, r.read([sys.argv[2]])[0].text)")
    done = subprocess.run([sys.executable, "-c", code, str(config.DEFAULT_MODEL), str(crop)], cwd=tmp_path,
                          env={"PYTHONPATH": str(site), "PATH": ""}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    where, runtime, text = done.stdout.split()
    assert where.startswith(str(site)) and runtime == "onnx" and text == "DOTO"
