"""The serving copy: ONNX Runtime reads what Keras reads, without TensorFlow; a stale or broken copy is caught."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwr import config
from hwr.decode import DECODERS
from hwr.export import HASH_KEY, file_sha256, main as export_main, onnx_path
from hwr.recognizer import ModelFileError, load_recognizer, metadata_path, save_model
from hwr.spec import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
CROPS = sorted((config.BUNDLED_DATA / "validation_v2" / "validation").glob("VALIDATION_1*.jpg"))[:24]


def _copy(model: Path, folder: Path, parts=(".keras", ".json", ".onnx")) -> Path:
    """The model's files under ``folder`` (a fresh name, so each test has its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in parts:
        shutil.copyfile(model.with_suffix(suffix), (folder / "m").with_suffix(suffix))
    return folder / "m.keras"


def _both(path: Path):
    return load_recognizer(path, runtime="onnx"), load_recognizer(path, runtime="keras")


def _assert_same_outputs(onnx_reader, keras_reader) -> None:
    """ONNX Runtime's probabilities within 1e-4 of Keras', and the same readings with every decoder.

    Log-probabilities within 3e-4 plus 1e-4 of their size: Keras' own two paths (XLA-compiled and
    ``predict_on_batch``, both with oneDNN) differed by 2.5e-4 on an earlier model, and the two
    runtimes' float32 log-softmax by 3.7e-4 at a log-probability of -12 (3e-5 of it) on the
    committed one: far below anything a decoder can tell apart."""
    images = np.stack([onnx_reader.preprocess(p) for p in CROPS])
    a, b = onnx_reader.log_probs(images), keras_reader.log_probs(images)
    np.testing.assert_allclose(np.exp(a), np.exp(b), atol=1e-4)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=3e-4)
    for decoder in DECODERS:
        assert [p.text for p in onnx_reader.read_arrays(images, decoder)] == \
               [p.text for p in keras_reader.read_arrays(images, decoder)], decoder


def test_save_model_writes_an_onnx_copy_tied_to_the_keras_file(tiny_model_path):
    import onnx

    meta = json.loads(metadata_path(tiny_model_path).read_text())["onnx"]
    assert meta[HASH_KEY] == file_sha256(tiny_model_path)
    stamped = {p.key: p.value for p in onnx.load(onnx_path(tiny_model_path)).metadata_props}
    assert stamped[HASH_KEY] == meta[HASH_KEY]
    onnx_reader, keras_reader = _both(tiny_model_path)
    assert (onnx_reader.runtime, onnx_reader.model) == ("onnx", None)
    assert keras_reader.runtime == "keras" and keras_reader.model is not None
    # what the Model page shows comes from the metadata under ONNX
    assert onnx_reader.layers == keras_reader.layers
    assert onnx_reader.parameter_counts == keras_reader.parameter_counts


def test_onnx_reads_what_keras_reads_on_real_crops(tiny_model_path):
    assert load_recognizer(tiny_model_path).runtime == "onnx"  # "auto" takes the matching copy
    _assert_same_outputs(*_both(tiny_model_path))


def test_the_committed_model_has_a_matching_onnx_copy():
    """Fails when models/crnn.keras changed without a new export: run python -m hwr.export."""
    if not config.DEFAULT_MODEL.is_file():
        pytest.skip("no committed model")
    onnx_reader, keras_reader = _both(config.DEFAULT_MODEL)
    _assert_same_outputs(onnx_reader, keras_reader)


SPECS = {  # every layer kind the graph writer handles, with random weights and batch-norm statistics
    "gru, pooled": ModelSpec(conv_filters=(8, 16), pools=((2, 2), (2, 1)), rnn_units=(12, 10), dense_units=16),
    "lstm, strided": ModelSpec(conv_filters=(8, 16, 12), pools=((2, 2), (2, 2), (2, 1)), strided_blocks=2,
                               rnn="lstm", rnn_units=(12,), dense_units=16),
    "gru, width 100": ModelSpec(width=100, conv_filters=(8,), pools=((2, 2),), strided_blocks=1,
                                rnn_units=(7,), dense_units=9),
}


@pytest.mark.parametrize("name", SPECS)
def test_the_graph_computes_what_keras_and_tf2onnx_compute(name, tmp_path):
    """hwr.onnx_graph writes its own graph (native GRU/LSTM operators, a fifth of the time of
    tf2onnx's per-step Loop): its log-probabilities equal Keras' and tf2onnx's export of the same
    model, for GRU and LSTM, pooled and strided convolutions (padded after, as TensorFlow pads, where
    the padding is odd), and a width that is no power of two."""
    import keras
    import onnxruntime as ort

    from hwr.model import build_model
    from hwr.onnx_graph import crnn_graph

    spec, rng = SPECS[name], np.random.default_rng(3)
    model = build_model(spec)
    for layer in model.layers:
        layer.set_weights([rng.uniform(0.5, 2.0, w.shape) if "variance" in w.path else rng.normal(0, 0.5, w.shape)
                           for w in layer.weights])
    x = rng.random((5, spec.height, spec.width, 1), dtype=np.float32)
    graph = crnn_graph(model)
    assert "Loop" not in {n.op_type for n in graph.graph.node}
    ours = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    out = ours.run(None, {"image": x})[0]
    np.testing.assert_allclose(out, np.asarray(model.predict_on_batch(x)), atol=1e-4)
    if keras.backend.backend() == "tensorflow":  # tf2onnx, the library this replaces (requirements-dev.txt)
        pytest.importorskip("tf2onnx")
        model.export(str(tmp_path / "tf2onnx.onnx"), format="onnx", verbose=False)
        theirs = ort.InferenceSession(str(tmp_path / "tf2onnx.onnx"), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(out, theirs.run(None, {theirs.get_inputs()[0].name: x})[0], atol=1e-4)


def test_a_model_the_graph_cannot_write_is_one_clear_message(tmp_path, tiny_spec, caplog):
    import keras

    from hwr.export import ExportError, export_onnx

    inputs = keras.Input((tiny_spec.height, tiny_spec.width, 1), name="image")
    other = keras.Model(inputs, keras.layers.Dense(3, name="head")(inputs), name="other")
    path = tmp_path / "other.keras"
    other.save(path)
    with pytest.raises(ExportError, match="has no layer conv1: not a CRNN built by hwr.model.build_model"):
        export_onnx(other, path)
    assert not onnx_path(path).exists() and not list(tmp_path.glob("*.partial*"))


def test_a_stale_copy_falls_back_to_keras_and_forcing_it_says_what_to_run(tmp_path, tiny_spec, caplog):
    import keras

    from hwr.model import build_model

    keras.utils.set_random_seed(5)
    path = _copy(Path(save_model(build_model(tiny_spec), tmp_path / "new" / "m.keras",
                                 {"alphabet": "AB", "spec": tiny_spec.to_dict()}, onnx=False)),
                 tmp_path / "new", parts=())
    old = tmp_path / "old.keras"
    save_model(build_model(tiny_spec), old, {"alphabet": "AB", "spec": tiny_spec.to_dict()})
    shutil.copyfile(old.with_suffix(".onnx"), path.with_suffix(".onnx"))
    meta = json.loads(metadata_path(old).read_text())
    metadata_path(path).write_text(json.dumps(meta))  # the export's record: of the old weights
    with pytest.raises(ModelFileError) as err:
        load_recognizer(path, runtime="onnx")
    message = str(err.value)
    assert "out of step" in message and str(path) in message and str(onnx_path(path)) in message
    assert f"python -m hwr.export {path}" in message
    assert load_recognizer(path).runtime == "keras"
    assert "out of step" in caplog.text and "reading with Keras" in caplog.text


@pytest.mark.parametrize("damage, message", [
    ("missing", "no ONNX copy"),
    ("corrupt", "cannot read"),
    ("another", "exported from another model"),
    ("unrecorded", "records no ONNX copy"),
])
def test_a_missing_or_broken_copy_is_one_clear_message(tmp_path, tiny_model_path, damage, message):
    path = _copy(tiny_model_path, tmp_path / damage)
    target = onnx_path(path)
    if damage == "missing":
        target.unlink()
    elif damage == "corrupt":
        target.write_bytes(b"not an onnx file")
    elif damage == "another":
        import onnx

        proto = onnx.load(target)
        proto.metadata_props[0].value = "0" * 64
        onnx.save(proto, target)
    else:
        meta = json.loads(metadata_path(path).read_text())
        del meta["onnx"]
        metadata_path(path).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=message) as err:
        load_recognizer(path, runtime="onnx")
    assert "python -m hwr.export" in str(err.value) and "\n" not in str(err.value)
    assert load_recognizer(path).runtime == "keras"  # the app falls back to Keras where it is installed


NO_KERAS = """
import sys
sys.modules["keras"] = sys.modules["tensorflow"] = None  # as if neither were installed
from hwr.recognizer import ModelFileError, load_recognizer
try:
    reader = load_recognizer(sys.argv[1])
    print(reader.runtime, reader.read([sys.argv[2]], "lexicon")[0].text)
except ModelFileError as err:
    print("error:", err)
"""


def test_without_keras_the_copy_is_read_or_the_message_names_both_files(tmp_path, tiny_model_path):
    path = _copy(tiny_model_path, tmp_path / "served")

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", NO_KERAS, str(path), str(CROPS[0])], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": ""})
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert run().startswith("onnx ")
    onnx_path(path).unlink()
    out = run()
    assert out.startswith("error: cannot read") and "without Keras" in out
    assert str(path) in out and str(onnx_path(path)) in out and "python -m hwr.export" in out


LIGHT = """
import sys
import hwr.recognizer, hwr.decode, hwr.evaluation, hwr.read, hwr.plots, hwr.metrics, hwr.data, hwr.preprocess
from hwr import load_recognizer
reader = load_recognizer()
text = reader.read([sys.argv[1]], "lexicon")[0].text
print(reader.runtime, text, "keras" in sys.modules, "tensorflow" in sys.modules)
"""


def test_reading_imports_neither_keras_nor_tensorflow():
    if not onnx_path(config.DEFAULT_MODEL).is_file():
        pytest.skip("no committed ONNX copy")
    done = subprocess.run([sys.executable, "-c", LIGHT, str(CROPS[0])], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["onnx", "DOTO", "False", "False"]  # VALIDATION_1001's label


def test_export_command_writes_and_records_the_copy(tmp_path, tiny_model_path, capsys):
    path = _copy(tiny_model_path, tmp_path / "cli", parts=(".keras", ".json"))
    meta = json.loads(metadata_path(path).read_text())
    del meta["onnx"]
    metadata_path(path).write_text(json.dumps(meta))
    assert export_main([str(path)]) == 0
    assert load_recognizer(path).runtime == "onnx"
    assert "wrote" in capsys.readouterr().out
    assert export_main([str(tmp_path / "absent.keras")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: need") and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("**/*.partial*"))  # nothing half-written left behind
