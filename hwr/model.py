"""Stage: the CRNN. Conv blocks read local strokes, recurrent layers read the sequence left to right.

One single-input Keras model from the image to per-timestep log-probabilities over the alphabet
plus the CTC blank. Built from standard ``keras.layers`` only, so the saved ``.keras`` file loads on
any backend (TensorFlow, JAX, PyTorch) without custom objects. The last layer is a log-softmax: its
output is a valid "logits" input to Keras' CTC loss (softmax of a log-softmax is itself) and gives
probabilities for plots and confidence with a plain ``exp``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from hwr.alphabet import Alphabet
from hwr.spec import CLASSIC, LEAN, WIDE, ModelSpec  # noqa: F401  (the designs, named here too)


def build_model(spec: ModelSpec = ModelSpec(), alphabet: Alphabet = Alphabet()) -> keras.Model:
    """The CRNN for ``spec``; input (height, width, 1) floats, output (timesteps, alphabet.size)."""
    if len(spec.conv_filters) != len(spec.pools):
        raise ValueError("conv_filters and pools need one entry per block")
    image = keras.Input((spec.height, spec.width, 1), name="image")
    x = image
    for i, (filters, pool) in enumerate(zip(spec.conv_filters, spec.pools), start=1):
        strided = i <= spec.strided_blocks
        x = layers.Conv2D(filters, 3, strides=pool if strided else 1, padding="same", use_bias=False,
                          name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if not strided:
            x = layers.MaxPooling2D(pool, name=f"pool{i}")(x)
    # time runs along the width: (h, w, c) → (w, h, c) → one feature vector per column
    x = layers.Permute((2, 1, 3), name="width_first")(x)
    _, steps, rows, channels = x.shape
    x = layers.Reshape((steps, rows * channels), name="columns")(x)
    x = layers.Dense(spec.dense_units, activation="relu", name="project")(x)
    x = layers.Dropout(spec.dropout, name="drop_features")(x)
    rnn_layer = {"gru": layers.GRU, "lstm": layers.LSTM}[spec.rnn]
    for i, units in enumerate(spec.rnn_units, start=1):
        x = layers.Bidirectional(rnn_layer(units, return_sequences=True), name=f"birnn{i}")(x)
        x = layers.Dropout(spec.dropout, name=f"drop_rnn{i}")(x)
    out = layers.Dense(alphabet.size, activation="log_softmax", name="log_probs")(x)
    return keras.Model(image, out, name="crnn")


def transfer_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copy ``source``'s weights into each layer of ``target`` with the same name, as far as they fit.

    A warm start for a changed architecture. A layer whose weights have the same shapes is copied
    as it is: a variant that only strides where the trained model pooled starts near its accuracy
    instead of from scratch. A *wider* layer (more filters, projection or recurrent units) gets the
    trained weights in its first units, and its new units read their inputs with their own initial
    weights but send nothing on: the weights from every new unit to a trained one are zero. So a
    model widened throughout computes exactly what ``source`` computed (a test holds the outputs
    equal) and training starts from its readings; the new units' outgoing weights get gradients
    from the first step. Returns the names of the layers copied or widened.
    """
    copied = []
    features = np.arange(source.input.shape[-1])  # where source's input features sit in target's
    for layer in target.layers:
        try:
            src = source.get_layer(layer.name)
        except ValueError:  # no such layer in source
            src = None
        if not layer.weights:
            features = _pass_features(layer, src, features)
            continue
        old, new = (src.get_weights() if src is not None else []), layer.get_weights()
        widened, features = _widen(layer, src, old, new, features)
        if widened is None and len(old) == len(new) and old and all(a.shape == b.shape for a, b in zip(old, new)):
            widened, features = old, np.arange(layer.output.shape[-1])  # same shapes, after a layer not mapped
        if widened is not None:
            layer.set_weights(widened)
            copied.append(layer.name)
    return copied


def _pass_features(layer, src, features: np.ndarray | None) -> np.ndarray | None:
    """Where the source's features sit after a layer without weights (only the flattening moves them)."""
    if features is None or not isinstance(layer, layers.Reshape):
        return features  # activations, pooling, dropout and the width-first permute keep channels last
    rows, channels = layer.input.shape[2], layer.input.shape[3]
    if src is None or src.input.shape[2] != rows:
        return None
    return np.concatenate([r * channels + features for r in range(rows)])  # (rows, channels) → one vector


def _widen(layer, src, old: list[np.ndarray], new: list[np.ndarray],
           features: np.ndarray | None) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """``layer``'s weights holding ``src``'s in its first units (None: they do not fit), and its output features."""
    if src is None or type(src) is not type(layer) or features is None or len(old) != len(new):
        return None, None
    if any(a.ndim != b.ndim or any(i > j for i, j in zip(a.shape, b.shape)) for a, b in zip(old, new)):
        return None, None
    out = [w.copy() for w in new]
    if isinstance(layer, layers.BatchNormalization):  # gamma, beta, moving mean and variance per channel
        for w, o in zip(out, old):
            w[features] = o
        return out, features
    if isinstance(layer, (layers.Conv2D, layers.Dense)):  # kernel (..., in, out), then the bias
        units = old[0].shape[-1]
        out[0][..., :units] = 0.0  # new inputs → trained units: nothing
        out[0][..., features, :units] = old[0]
        if len(out) > 1:
            out[1][:units] = old[1]
        return out, np.arange(units)
    if isinstance(layer, layers.Bidirectional):  # per direction: kernel, recurrent kernel, bias (gates side by side)
        if type(src.forward_layer) is not type(layer.forward_layer):
            return None, None
        small, big = src.forward_layer.units, layer.forward_layer.units
        gates = old[0].shape[-1] // small
        cols = np.concatenate([g * big + np.arange(small) for g in range(gates)])
        per_direction = len(old) // 2
        for k in range(len(old)):
            rows = features if k % per_direction == 0 else np.arange(small)
            if k % per_direction == 2:  # the bias: (gates·units,) or (2, gates·units)
                out[k][..., cols] = old[k]
                continue
            out[k][:, cols] = 0.0  # new inputs or new units → trained units' gates: nothing
            out[k][np.ix_(rows, cols)] = old[k]
        return out, np.concatenate([np.arange(small), big + np.arange(small)])  # forward, then backward
    return None, None


@keras.saving.register_keras_serializable(package="hwr")
class CTC(keras.losses.Loss):
    """Keras' CTC loss (labels padded with the blank, index 0), with TensorFlow's fast kernel on a CPU.

    ``keras.losses.CTC`` hands ``tf.nn.ctc_loss`` dense labels, which selects TensorFlow's CTC built
    from graph ops: 350 ms of a 1.5 s training step at batch 128 on the 2-core CPU. Sparse labels
    select its C++ kernel instead: the same loss and gradients in 18 ms (README "Speed"). That kernel
    has no XLA form, so ``sparse_labels=None`` uses it where TensorFlow sees no GPU (where Keras leaves
    XLA off); other backends (JAX on the GPU) run ``keras.losses.ctc`` as it is.
    """

    def __init__(self, sparse_labels: bool | None = None, reduction: str = "sum_over_batch_size",
                 name: str = "ctc", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.sparse_labels = sparse_labels

    def call(self, y_true, y_pred):
        if keras.backend.backend() != "tensorflow":
            return keras.losses.ctc(y_true, y_pred)
        import tensorflow as tf

        sparse = self.sparse_labels
        if sparse is None:
            sparse = not tf.config.list_logical_devices("GPU")
        if not sparse:
            return keras.losses.ctc(y_true, y_pred)
        labels = tf.sparse.from_dense(tf.cast(y_true, "int32"))  # leaves out the padding
        steps = tf.fill(tf.shape(y_pred)[:1], tf.shape(y_pred)[1])
        return tf.nn.ctc_loss(labels, y_pred, None, steps, logits_time_major=False, blank_index=0)

    def get_config(self) -> dict:
        return {**super().get_config(), "sparse_labels": self.sparse_labels}


def compile_for_training(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Adam + the CTC loss above."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, clipnorm=5.0), loss=CTC())
    return model
