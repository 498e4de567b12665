"""Shared fixtures: the bundled and shared data folders, a throwaway model, Kaggle-layout builders."""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

# before anything imports TensorFlow: keep its C++ start-up chatter out of the test output
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from hwr import config  # noqa: E402

Layout = Callable[..., Path]


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """``scripts/NAME.py`` imported as a module: the scripts are programs, not a package."""
    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, config.ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(scope="session")
def bundled_data() -> Path:
    """The sample committed with the repo (VALIDATION_0001–0040, 1001–1500, TRAIN_00001–00020)."""
    assert config.BUNDLED_DATA.is_dir(), f"the bundled sample is missing: {config.BUNDLED_DATA}"
    return config.BUNDLED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared 12,000-image sample beside the project; tests that need it skip without it."""
    if not config.SHARED_DATA.is_dir():
        pytest.skip(f"shared data not available at {config.SHARED_DATA}")
    return config.SHARED_DATA


@pytest.fixture(scope="session")
def plant_pseudo_labels(bundled_data: Path) -> Callable[[Path], None]:
    """Writes a pseudo-label stage's saved labels (``pseudoN.csv``) that no model here would read: the
    first three bundled ``TRAIN_*`` crops as ANNA, LOUIS, MARIE. A resumed stage that trains on exactly
    these logs "pseudo-labels: kept 3 of 20 unlabelled crops"."""
    def plant(csv_path: Path) -> None:
        import pandas as pd

        files = sorted(p.name for p in (bundled_data / "train_v2" / "train").iterdir())
        pd.DataFrame({"index": [0, 1, 2], "file": files[:3], "text": ["ANNA", "LOUIS", "MARIE"],
                      "confidence": [0.9] * 3}).to_csv(csv_path, index=False)
    return plant


@pytest.fixture(scope="session")
def sample_image(bundled_data: Path) -> Path:
    """One real Kaggle crop."""
    return bundled_data / "validation_v2" / "validation" / "VALIDATION_1001.jpg"


@pytest.fixture(scope="session")
def tiny_spec():
    """A CRNN small enough to run and train for a few steps in seconds on a shared 2-core CPU.

    One LSTM layer: eager Keras RNNs pay Python overhead per timestep, and this keeps a model call
    under a second while the input size (and so the preprocessing) stays the project's own.
    """
    from hwr.model import ModelSpec

    return ModelSpec(conv_filters=(8, 16, 32, 32), dense_units=32, rnn="lstm", rnn_units=(32,),
                     dropout=0.0)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, tiny_spec) -> Path:
    """An untrained tiny CRNN saved with its metadata (for shapes, round trips and the CLI)."""
    import keras

    from hwr.alphabet import Alphabet
    from hwr.model import build_model
    from hwr.recognizer import save_model

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("model") / "m.keras"
    return save_model(build_model(tiny_spec), path,
                      {"alphabet": Alphabet().chars, "spec": tiny_spec.to_dict()}, overwrite=True)


@pytest.fixture
def make_layout(tmp_path: Path, bundled_data: Path) -> Layout:
    """Build a Kaggle-layout folder in tmp_path from (filename, label) rows.

    Images are copied from the bundled sample when it has a file of that name, otherwise a real crop
    is copied under the new name; names in ``absent`` are listed in the CSV but get no file, and
    ``content`` maps a name to the bytes to write instead (e.g. a corrupt image).
    """
    source = bundled_data / "validation_v2" / "validation"

    def build(rows: list[tuple[str, str]], split: str = "validation", absent: tuple[str, ...] = (),
              content: dict[str, bytes] | None = None, root: Path | None = None) -> Path:
        root = root or tmp_path / "kaggle"
        folder = root / f"{split}_v2" / split
        folder.mkdir(parents=True, exist_ok=True)
        with open(root / f"written_name_{split}_v2.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["FILENAME", "IDENTITY"])
            writer.writerows(rows)
        for name, _ in rows:
            if name in absent:
                continue
            if content and name in content:
                (folder / name).write_bytes(content[name])
            else:
                real = source / name
                shutil.copy(real if real.is_file() else source / "VALIDATION_1001.jpg", folder / name)
        return root

    return build
