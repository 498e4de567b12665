"""Stage: the CRNN's architecture as data. Every choice that rebuilds a model, saved in its metadata.

Apart from ``hwr.model`` (which builds the Keras layers) so that a reader can know the model's
input size and timesteps without importing Keras: serving runs on ONNX Runtime alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hwr import config


@dataclass(frozen=True)
class ModelSpec:
    """Every architecture choice, saved in the model's metadata so it can be rebuilt."""

    height: int = config.IMG_HEIGHT
    width: int = config.IMG_WIDTH
    # sized for a laptop CPU: about 2× the training throughput of (32, 64, 128, 128)/GRU 128
    conv_filters: tuple[int, ...] = (16, 32, 64, 96)
    #: (pool height, pool width) after each conv block; width pools set the number of timesteps
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 1), (2, 1))
    #: the first N blocks' convs move by their pool size instead of being max-pooled afterwards, so
    #: their batch norm and ReLU run on a quarter of the pixels (CPU training speed, README "Speed")
    strided_blocks: int = 0
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
        d["strided_blocks"] = int(d.pop("strided_first_block", d.get("strided_blocks", 0)))  # older metadata
        return cls(**d)


#: The classic Kaggle CRNN (256×64, Conv 32-64-128, 2× BiLSTM 256), the benchmark's reference.
CLASSIC = ModelSpec(height=64, width=256, conv_filters=(32, 64, 128),
                    pools=((2, 2), (2, 2), (2, 1)), dense_units=64, rnn="lstm",
                    rnn_units=(256, 256), dropout=0.3)
#: A leaner variant for CPU training speed (``train.py --strided-blocks 1 --conv-filters 16,32,48,64``).
LEAN = ModelSpec(conv_filters=(16, 32, 48, 64), strided_blocks=1)
#: The larger model for the GPU path (``scripts/gpu_train.sh``): 1.66× the parameters (633k), a
#: wider last conv block, projection and recurrent layers. On the 2-core CPU it trains at 0.95× the
#: default's speed and adds 1–1.5 ms to an image (README "Speed"); trained from scratch, it
#: needs a GPU (where a minute trains as much as hours here) to catch up with the committed weights.
WIDE = ModelSpec(conv_filters=(16, 32, 64, 128), dense_units=128, rnn_units=(128, 128))
