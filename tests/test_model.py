"""The CRNN: output shapes, a few real training steps, and the save → load round trip."""

from __future__ import annotations

import json
from dataclasses import replace

import keras
import numpy as np
import pytest

from hwr import config
from hwr.alphabet import Alphabet
from hwr.data import load_split
from hwr.model import CLASSIC, CTC, LEAN, WIDE, ModelSpec, build_model, compile_for_training, transfer_weights
from hwr.preprocess import preprocess
from hwr.recognizer import ModelFileError, Recognizer, load_recognizer, metadata_path, save_model


def _metadata(spec: ModelSpec) -> dict:
    return {"alphabet": Alphabet().chars, "spec": spec.to_dict()}


@pytest.mark.parametrize("spec", [ModelSpec(), WIDE, CLASSIC], ids=["default", "wide", "classic"])
def test_output_shape(spec):
    model = build_model(spec)
    assert model.input_shape == (None, spec.height, spec.width, 1)
    assert model.output_shape == (None, spec.timesteps, Alphabet().size)
    assert spec.timesteps >= config.MAX_LABEL_LEN  # CTC needs at least one step per character


def test_outputs_are_log_probabilities(tiny_spec):
    model = build_model(tiny_spec)
    x = np.random.default_rng(0).random((2, tiny_spec.height, tiny_spec.width, 1), np.float32)
    out = keras.ops.convert_to_numpy(model(x, training=False))
    assert out.shape == (2, tiny_spec.timesteps, Alphabet().size)
    np.testing.assert_allclose(np.exp(out).sum(-1), 1.0, atol=1e-5)


def test_spec_round_trips_through_a_dict():
    for spec in (ModelSpec(), CLASSIC):
        assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError, match="one entry per block"):
        build_model(ModelSpec(conv_filters=(8, 16)))


def test_strided_blocks_replace_their_pools_and_old_specs_keep_theirs():
    strided, pooled = build_model(replace(ModelSpec(), strided_blocks=2)), build_model(ModelSpec())
    names = {layer.name for layer in strided.layers}
    assert "pool1" not in names and "pool2" not in names and "pool3" in names
    assert strided.get_layer("conv2").output.shape == pooled.get_layer("pool2").output.shape
    assert strided.output_shape == pooled.output_shape == build_model(LEAN).output_shape
    before_the_field = {k: v for k, v in LEAN.to_dict().items() if k != "strided_blocks"}
    assert ModelSpec.from_dict(before_the_field) == replace(LEAN, strided_blocks=0)
    first_form = dict(before_the_field, strided_first_block=True)  # metadata of the LEAN GPU runs
    assert ModelSpec.from_dict(first_form) == LEAN


def test_warm_start_copies_every_layer_whose_shapes_match():
    trained = build_model(ModelSpec())
    strided = build_model(replace(ModelSpec(), strided_blocks=2))
    copied = transfer_weights(trained, strided)
    assert set(copied) == {layer.name for layer in strided.layers if layer.weights}
    np.testing.assert_array_equal(strided.get_layer("birnn1").get_weights()[0],
                                  trained.get_layer("birnn1").get_weights()[0])
    lean = build_model(LEAN)
    # LEAN's third and fourth blocks and the projection have other widths: those keep their own weights
    assert set(transfer_weights(trained, lean)) == {"conv1", "bn1", "conv2", "bn2", "birnn1", "birnn2",
                                                   "log_probs"}


def test_a_widened_model_reads_exactly_as_the_trained_one_and_its_new_units_learn(bundled_data):
    trained = load_recognizer(config.DEFAULT_MODEL, runtime="keras").model  # the committed model, 96 wide
    wide = build_model(WIDE)  # 128 filters in the last block, 128 projection and recurrent units
    assert transfer_weights(trained, wide) == [layer.name for layer in wide.layers if layer.weights]
    samples, _ = load_split(bundled_data, "validation:1001-1016")
    x = np.stack([preprocess(s.image, WIDE.height, WIDE.width) for s in samples])[..., None]
    np.testing.assert_allclose(wide.predict(x, verbose=0), trained.predict(x, verbose=0), atol=1e-3)

    # the new units send nothing at first, and the first training step gives them something to send
    new_rows = wide.get_layer("log_probs").get_weights()[0][np.r_[96:128, 224:256]]
    assert not new_rows.any()
    y = Alphabet().encode_batch([s.text for s in samples], config.MAX_LABEL_LEN)
    compile_for_training(wide, 1e-3).train_on_batch(x, y)
    assert wide.get_layer("log_probs").get_weights()[0][np.r_[96:128, 224:256]].any()


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_widening_keeps_the_function_of_either_recurrent_layer(rnn):
    small = ModelSpec(conv_filters=(8, 8, 12, 12), dense_units=16, rnn=rnn, rnn_units=(12, 12))
    big = replace(small, conv_filters=(8, 12, 16, 20), dense_units=24, rnn_units=(16, 20))
    source, target = build_model(small), build_model(big)
    rng = np.random.default_rng(0)
    for layer in source.layers:  # trained-looking weights: none left at its initial zeros or ones
        noise = [rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()]
        layer.set_weights([np.abs(n) + 0.5 if (w >= 0).all() else n  # variances, scales: positive
                           for n, w in zip(noise, layer.get_weights())])
    assert transfer_weights(source, target) == [layer.name for layer in target.layers if layer.weights]
    x = np.random.default_rng(1).random((2, small.height, small.width, 1), np.float32)
    np.testing.assert_allclose(target.predict(x, verbose=0), source.predict(x, verbose=0), atol=1e-4)


def test_a_few_training_steps_lower_the_loss(bundled_data, tiny_spec):
    keras.utils.set_random_seed(0)
    samples, _ = load_split(bundled_data, "validation:1-20")
    samples = samples[:8]
    x = np.stack([preprocess(s.image, tiny_spec.height, tiny_spec.width) for s in samples])[..., None]
    y = Alphabet().encode_batch([s.text for s in samples], config.MAX_LABEL_LEN)
    model = compile_for_training(build_model(tiny_spec), learning_rate=3e-3)
    losses = [float(model.train_on_batch(x, y)) for _ in range(16)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.7 * losses[0], losses


def test_ctc_with_sparse_labels_is_keras_ctc_in_loss_and_gradients():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    alphabet = Alphabet()
    texts = ["".join(rng.choice(list(alphabet.chars), rng.integers(1, 30))) for _ in range(16)] + ["LL", "A"]
    labels = tf.constant(alphabet.encode_batch(texts, config.MAX_LABEL_LEN))
    log_probs = tf.Variable(tf.nn.log_softmax(3 * tf.random.normal((len(texts), 64, alphabet.size), seed=1)))
    results = []
    for loss in (keras.losses.CTC(), CTC(sparse_labels=True), CTC(sparse_labels=False)):
        with tf.GradientTape() as tape:
            value = loss(labels, log_probs)
        results.append((float(value), tape.gradient(value, log_probs).numpy()))
    for value, grad in results[1:]:
        assert value == pytest.approx(results[0][0], rel=1e-5)
        np.testing.assert_allclose(grad, results[0][1], atol=5e-5)  # float32 round-off
    assert CTC.from_config(CTC(sparse_labels=False).get_config()).sparse_labels is False


def test_save_load_round_trip(tmp_path, tiny_spec, sample_image):
    keras.utils.set_random_seed(1)
    model = build_model(tiny_spec)
    path = save_model(model, tmp_path / "tiny.keras", _metadata(tiny_spec))
    recognizer = load_recognizer(path, runtime="keras")  # the ONNX copy: tests/test_onnx.py
    assert recognizer.alphabet == Alphabet()
    assert recognizer.spec == tiny_spec
    assert recognizer.path == path
    meta = json.loads(metadata_path(path).read_text())
    assert meta["keras_version"] == keras.__version__ and "hwr_version" in meta

    image = recognizer.preprocess(sample_image)
    x = np.stack([image, np.random.default_rng(1).random(image.shape, np.float32)])
    expected = keras.ops.convert_to_numpy(model(x[..., None], training=False))
    np.testing.assert_allclose(recognizer.log_probs(x), expected, atol=1e-6)


def test_a_reader_of_a_model_in_training_sees_its_new_weights(tiny_spec):
    """Training reads its own model each epoch through a Recognizer: the compiled function must not
    keep the weights it was traced with."""
    keras.utils.set_random_seed(2)
    model = build_model(tiny_spec)
    reader = Recognizer(model, Alphabet(), tiny_spec, {})
    x = np.random.default_rng(2).random((3, tiny_spec.height, tiny_spec.width), np.float32)
    before = reader.log_probs(x)
    rng = np.random.default_rng(3)
    layer = model.get_layer("log_probs")
    layer.set_weights([w + rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in layer.get_weights()])
    after = reader.log_probs(x)
    assert np.abs(after - before).max() > 1e-3
    expected = keras.ops.convert_to_numpy(model(x[..., None], training=False))
    np.testing.assert_allclose(after, expected, atol=1e-6)


def test_save_refuses_to_overwrite(tmp_path, tiny_spec):
    model = build_model(tiny_spec)
    path = save_model(model, tmp_path / "m.keras", _metadata(tiny_spec))
    before = path.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="overwrite"):
        save_model(model, path, _metadata(tiny_spec))
    assert path.stat().st_mtime_ns == before
    save_model(model, path, _metadata(tiny_spec), overwrite=True)
    with pytest.raises(ValueError, match=".keras"):
        save_model(model, tmp_path / "m.h5", _metadata(tiny_spec))


def test_missing_model_or_metadata(tmp_path, tiny_model_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_recognizer(tmp_path / "absent.keras")
    lonely = tmp_path / "lonely.keras"
    lonely.write_bytes(tiny_model_path.read_bytes())
    with pytest.raises(ModelFileError, match="metadata"):
        load_recognizer(lonely)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a keras file")
    metadata_path(garbage).write_text(metadata_path(tiny_model_path).read_text())
    with pytest.raises(ModelFileError, match="cannot load"):
        load_recognizer(garbage)
