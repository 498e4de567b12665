"""Test-time variants: what each does to a real input, and a model that reads with them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwr.preprocess import preprocess
from hwr.recognizer import ModelFileError, load_recognizer
from hwr.variants import VARIANTS, check


@pytest.fixture(scope="module")
def crop(sample_image) -> np.ndarray:
    """A real Kaggle crop, preprocessed: a batch of one (1, H, W, 1), 1 = paper."""
    return preprocess(sample_image)[None, ..., None].astype(np.float32)


def _ink(x: np.ndarray) -> np.ndarray:
    return x[0, ..., 0] < 0.5


def test_each_variant_moves_or_thickens_the_same_writing(crop):
    rows, cols = np.nonzero(_ink(crop))
    down = np.nonzero(_ink(VARIANTS["down"](crop)))
    assert down[0].mean() == pytest.approx(rows[rows < crop.shape[1] - 1].mean() + 1, abs=0.05)
    narrow = np.nonzero(_ink(VARIANTS["narrow"](crop)))[1]
    assert narrow.max() == pytest.approx(0.9 * cols.max(), abs=2) and narrow.min() <= cols.min()
    bold = _ink(VARIANTS["bold"](crop))
    assert bold.sum() > _ink(crop).sum() and bold[_ink(crop)].all()  # more ink, none lost
    for variant in VARIANTS.values():
        out = variant(crop)
        assert out.shape == crop.shape and out.dtype == crop.dtype and out.min() >= 0 and out.max() <= 1


def test_unknown_variants_are_named():
    assert check(["down", "bold"]) == ("down", "bold")
    with pytest.raises(ValueError, match="sideways"):
        check(["down", "sideways"])


def _copy(model: Path, folder: Path, **metadata) -> Path:
    """The model's files in ``folder``, with ``metadata`` added to its JSON."""
    for suffix in (".keras", ".json", ".onnx"):
        shutil.copy(model.with_suffix(suffix), folder / f"m{suffix}")
    meta_file = folder / "m.json"
    meta_file.write_text(json.dumps({**json.loads(meta_file.read_text()), **metadata}))
    return folder / "m.keras"


@pytest.mark.parametrize("runtime", ["onnx", "keras"])
def test_a_model_reads_each_image_with_its_variants(tiny_model_path, sample_image, tmp_path, runtime):
    path = _copy(tiny_model_path, tmp_path, test_time_variants=["down", "bold"])
    plain, rec = load_recognizer(tiny_model_path, runtime=runtime), load_recognizer(path, runtime=runtime)
    assert plain.variants == () and rec.variants == ("down", "bold")
    x = np.stack([rec.preprocess(sample_image)] * 3)
    lp = rec.log_probs(x, batch_size=2)
    assert lp.shape == (3, 3, rec.spec.timesteps, rec.alphabet.size)
    np.testing.assert_allclose(lp[:, 0], plain.log_probs(x), atol=1e-4)
    np.testing.assert_allclose(lp[:, 1], plain.forward(VARIANTS["down"](x[..., None].astype(np.float32))),
                               atol=1e-4)
    for decoder in ("greedy", "beam", "lexicon"):
        pred = rec.read([sample_image], decoder)[0]
        assert pred.probs.shape == (rec.spec.timesteps, rec.alphabet.size)
        assert pred.log_probs.shape == (3, *pred.probs.shape)
        assert 0 < pred.confidence <= 1 and pred.text in dict(pred.alternatives)


def test_a_model_naming_an_unknown_variant_is_refused_by_name(tiny_model_path, tmp_path):
    path = _copy(tiny_model_path, tmp_path, test_time_variants=["sideways"])
    with pytest.raises(ModelFileError, match="sideways"):
        load_recognizer(path)
