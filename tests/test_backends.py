"""The same hwr code trains and saves under JAX (and PyTorch when installed); TensorFlow loads the file and ONNX Runtime its serving copy."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

SAVE = """
import numpy as np, keras
from hwr.alphabet import Alphabet
from hwr.model import build_model, compile_for_training
from hwr.recognizer import save_model
from hwr.model import ModelSpec
keras.utils.set_random_seed(0)
a = Alphabet()
m = compile_for_training(build_model())
x = np.random.default_rng(0).random((8, 32, 256, 1), dtype=np.float32)
y = a.encode_batch(["ANNA", "LEO", "MARIE", "PAUL", "EVE", "JEAN", "LUC", "ZOE"], 34)
m.fit(x, y, batch_size=4, epochs=1, verbose=0)
save_model(m, "{path}", {{"alphabet": a.chars, "spec": ModelSpec().to_dict()}}, overwrite=True)
np.save("{out}", keras.ops.convert_to_numpy(m(x, training=False)))
"""

LOAD = """
import numpy as np, keras
from hwr.recognizer import load_recognizer
r = load_recognizer("{path}", runtime="keras")
x = np.random.default_rng(0).random((8, 32, 256, 1), dtype=np.float32)
np.save("{out}", keras.ops.convert_to_numpy(r.model(x, training=False)))
print(keras.backend.backend())
"""


def _run(code: str, backend: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
           "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_model_saved_under_other_backend_loads_in_tensorflow(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (jax[cpu] is in requirements-dev.txt; torch is not, "
                    "its CPU wheel alone is larger than the rest of the test environment)")
    path, saved, loaded = tmp_path / "m.keras", tmp_path / "saved.npy", tmp_path / "loaded.npy"
    _run(SAVE.format(path=path, out=saved), backend)
    assert _run(LOAD.format(path=path, out=loaded), "tensorflow").strip().endswith("tensorflow")
    np.testing.assert_allclose(np.load(loaded), np.load(saved), atol=1e-4)
    # the serving copy is written under that backend too (hwr.onnx_graph needs only the weights)
    from hwr.recognizer import load_recognizer

    served = load_recognizer(path, runtime="onnx")
    x = np.random.default_rng(0).random((8, 32, 256, 1), dtype=np.float32)
    np.testing.assert_allclose(served.forward(x), np.load(saved), atol=1e-4)


@pytest.mark.parametrize("backend,message", [("nonsense", "unknown KERAS_BACKEND"),
                                             ("torch", "pip install torch")])
def test_bad_backend_is_one_line(backend, message):
    if backend == "torch" and importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, str(ROOT / "train.py")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("setting, state", [(None, "oneDNN on"), ("0", "oneDNN off")])
def test_hwr_turns_tensorflow_onednn_on_unless_told_not_to(setting, state):
    """TensorFlow leaves its faster oneDNN CPU kernels off on CPUs without AVX-512 VNNI/AMX."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env |= {"PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"} | (
        {"TF_ENABLE_ONEDNN_OPTS": setting} if setting else {})
    code = "import hwr; from hwr.distribute import describe_devices; print(describe_devices())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"tensorflow on CPU, {state}"
