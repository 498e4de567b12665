"""Stage: the CRNN. Conv blocks read local strokes, recurrent layers read the sequence left to right.

One single-input Keras model from the image to per-timestep log-probabilities over the alphabet
plus the CTC blank. Built from standard ``keras.layers`` only, so the saved ``.keras`` file loads on
any backend (TensorFlow, JAX, PyTorch) without custom objects. The last layer is a log-softmax: its
output is a valid "logits" input to Keras' CTC loss (softmax of a log-softmax is itself) and gives
probabilities for plots and confidence with a plain ``exp``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers

from hwr import config
from hwr.alphabet import Alphabet


@dataclass(frozen=True)
class ModelSpec:
    """Every architecture choice, saved in the model's metadata so it can be rebuilt."""

    height: int = config.IMG_HEIGHT
    width: int = config.IMG_WIDTH
    # sized for a laptop CPU: about 2× the training throughput of (32, 64, 128, 128)/GRU 128
    conv_filters: tuple[int, ...] = (16, 32, 64, 96)
    #: (pool height, pool width) after each conv block; width pools set the number of timesteps
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 1), (2, 1))
    #: the first block's conv moves by its pool size instead of being max-pooled afterwards, so its
    #: batch norm and ReLU run on a quarter of the pixels: with LEAN's filters 1.15–1.27× the CPU
    #: training speed, but its GPU-trained model read less well (README "Speed"), so off by default
    strided_first_block: bool = False
    dense_units: int = 96
    rnn: str = "gru"  # "gru" or "lstm"
    rnn_units: tuple[int, ...] = (96, 96)
    dropout: float = 0.25

    @property
    def timesteps(self) -> int:
        steps = self.width
        for _, pw in self.pools:
            steps //= pw
        return steps

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        d = dict(d)
        d["conv_filters"] = tuple(d["conv_filters"])
        d["pools"] = tuple(tuple(p) for p in d["pools"])
        d["rnn_units"] = tuple(d["rnn_units"])
        d.setdefault("strided_first_block", False)  # models saved before the field existed
        return cls(**d)


#: The classic Kaggle CRNN (256×64, Conv 32-64-128, 2× BiLSTM 256), the benchmark's reference.
CLASSIC = ModelSpec(height=64, width=256, conv_filters=(32, 64, 128),
                    pools=((2, 2), (2, 2), (2, 1)), dense_units=64, rnn="lstm",
                    rnn_units=(256, 256), dropout=0.3)
#: A leaner variant for CPU training speed (``train.py --strided-first-block --conv-filters 16,32,48,64``).
LEAN = ModelSpec(conv_filters=(16, 32, 48, 64), strided_first_block=True)


def build_model(spec: ModelSpec = ModelSpec(), alphabet: Alphabet = Alphabet()) -> keras.Model:
    """The CRNN for ``spec``; input (height, width, 1) floats, output (timesteps, alphabet.size)."""
    if len(spec.conv_filters) != len(spec.pools):
        raise ValueError("conv_filters and pools need one entry per block")
    image = keras.Input((spec.height, spec.width, 1), name="image")
    x = image
    for i, (filters, pool) in enumerate(zip(spec.conv_filters, spec.pools), start=1):
        strided = i == 1 and spec.strided_first_block
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


def compile_for_training(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Adam + Keras' CTC loss (labels padded with the blank, index 0)."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, clipnorm=5.0),
                  loss=keras.losses.CTC())
    return model
