"""Stage: the CRNN. Conv blocks read local strokes, recurrent layers read the sequence left to right.

One single-input Keras model from the image to per-timestep log-probabilities over the alphabet
plus the CTC blank. Built from standard ``keras.layers`` only, so the saved ``.keras`` file loads on
any backend (TensorFlow, JAX, PyTorch) without custom objects. The last layer is a log-softmax: its
output is a valid "logits" input to Keras' CTC loss (softmax of a log-softmax is itself) and gives
probabilities for plots and confidence with a plain ``exp``.
"""

from __future__ import annotations

import keras
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
    """Copy ``source``'s weights into each layer of ``target`` with the same name and weight shapes.

    A warm start for a changed architecture: a variant that only strides where the trained model
    pooled has the same weights and starts near its accuracy instead of from scratch. Returns the
    names of the layers copied.
    """
    copied = []
    for layer in target.layers:
        try:
            old = source.get_layer(layer.name).get_weights()
        except ValueError:  # no such layer in source
            continue
        new = layer.get_weights()
        if new and len(old) == len(new) and all(a.shape == b.shape for a, b in zip(old, new)):
            layer.set_weights(old)
            copied.append(layer.name)
    return copied


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
