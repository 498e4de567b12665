"""Stage: model file + metadata → preprocess → predict → decode. What the app and evaluation use.

A model is two files side by side: ``NAME.keras`` (standard Keras layers only, loads on any backend
without custom objects) and ``NAME.json`` (alphabet, input size, architecture, decoder defaults,
training data and command, metrics, version). ``load_recognizer`` returns both as one object.
"""

from __future__ import annotations

import functools
import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np

from hwr import __version__, config
from hwr.alphabet import Alphabet
from hwr.decode import DecodeOptions, Decoded, decode
from hwr.lexicon import load_lexicon
from hwr.model import ModelSpec
from hwr.preprocess import preprocess

log = logging.getLogger(__name__)


class ModelFileError(FileNotFoundError):
    """The model file or its metadata is missing or unreadable."""


def metadata_path(model_path: Path | str) -> Path:
    return Path(model_path).with_suffix(".json")


def save_model(model: keras.Model, path: Path | str, metadata: dict, overwrite: bool = False) -> Path:
    """Write ``path`` (.keras) and its JSON metadata; refuses to replace an existing model silently."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files end in .keras: {path}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (train.py --overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    meta = {"hwr_version": __version__, "keras_version": keras.__version__,
            "backend": keras.backend.backend(), **metadata}
    metadata_path(path).write_text(json.dumps(meta, indent=2, default=str))
    return path


def compiled_forward(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """The model as one compiled graph: a float32 batch (N, H, W, 1) → log-probabilities (N, T, C).

    On TensorFlow, one concrete function per batch shape, XLA-compiled where the model was compiled
    with ``jit_compile`` (a loaded recognizer: ~5 ms an image instead of ~20 on a 2-core CPU): 0.5 to
    1 ms a call less than ``predict_on_batch``, whose tf.function matches its inputs to a trace on
    every call. A plain call would run the layers eagerly (RNN steps in Python: seconds an image).
    Other backends use ``predict_on_batch`` (JAX compiles it anyway).
    """
    if keras.backend.backend() != "tensorflow":
        return lambda x: np.asarray(model.predict_on_batch(x))
    import tensorflow as tf

    run = tf.function(lambda x: model(x, training=False), jit_compile=bool(model.jit_compile))

    @functools.cache
    def for_shape(shape: tuple[int, ...]):
        return run.get_concrete_function(tf.TensorSpec(shape, tf.float32))

    return lambda x: for_shape(x.shape)(tf.constant(x)).numpy()


@dataclass
class Prediction:
    """One image's reading, with everything the app plots."""

    text: str
    confidence: float
    alternatives: list[tuple[str, float]]
    #: the preprocessed image the model saw, float32 (H, W), 1 = paper
    image: np.ndarray
    #: per-timestep probabilities (T, alphabet.size), column 0 is the CTC blank
    probs: np.ndarray


@dataclass
class Recognizer:
    model: keras.Model
    alphabet: Alphabet
    spec: ModelSpec
    metadata: dict
    path: Path | None = None
    lexicon: dict[str, int] | None = field(default=None, repr=False)
    #: the model as one compiled function (``compiled_forward``), set up once per reader
    forward: Callable[[np.ndarray], np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.forward = compiled_forward(self.model)

    @property
    def layers(self) -> list[dict]:
        """One row per layer (layer, type, output shape, parameters), for the Model page."""
        rows = []
        for layer in self.model.layers:
            try:
                shape = str(tuple(layer.output.shape))
            except (AttributeError, ValueError):
                shape = "?"
            rows.append({"layer": layer.name, "type": type(layer).__name__, "output shape": shape,
                         "parameters": layer.count_params()})
        return rows

    @property
    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, non-trainable) parameter counts."""
        def count(weights) -> int:
            return int(sum(np.prod(w.shape) for w in weights))
        return count(self.model.trainable_weights), count(self.model.non_trainable_weights)

    def preprocess(self, source) -> np.ndarray:
        """The shared preprocessing, at this model's input size."""
        return preprocess(source, self.spec.height, self.spec.width)

    def log_probs(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Images (N, H, W) as float in [0, 1] or uint8 → log-probabilities (N, T, C)."""
        x = np.asarray(images)
        x = (x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32))[..., None]
        outs = []
        for i in range(0, len(x), batch_size):
            chunk = x[i:i + batch_size]
            # pad to a power of two: the compiled model then meets a handful of shapes, not one per size
            size = 1 << (len(chunk) - 1).bit_length()
            padded = np.concatenate([chunk, np.ones((size - len(chunk), *chunk.shape[1:]), np.float32)])
            outs.append(self.forward(padded)[:len(chunk)])
        t, c = self.model.output_shape[1:]
        return np.concatenate(outs) if outs else np.zeros((0, t, c), np.float32)

    def decode_options(self, **overrides) -> DecodeOptions:
        opts = DecodeOptions(lexicon=self.lexicon, **self.metadata.get("decoder_options", {}))
        for k, v in overrides.items():
            setattr(opts, k, v)
        return opts

    def read_arrays(self, images: np.ndarray, decoder: str = "greedy", batch_size: int = 64,
                    **options) -> list[Prediction]:
        """Preprocessed images → predictions."""
        lp = self.log_probs(images, batch_size)
        decoded: list[Decoded] = []
        for i in range(0, len(lp), batch_size):
            decoded += decode(lp[i:i + batch_size], self.alphabet, decoder, self.decode_options(**options))
        return [Prediction(d.text, d.confidence, d.alternatives, img, np.exp(p))
                for d, img, p in zip(decoded, images, lp)]

    def read(self, sources: Sequence, decoder: str = "greedy", **options) -> list[Prediction]:
        """Paths, bytes or arrays → predictions (raises ImageError on an unreadable one)."""
        images = np.stack([self.preprocess(s) for s in sources]) if len(sources) else \
            np.zeros((0, self.spec.height, self.spec.width), np.float32)
        return self.read_arrays(images, decoder, **options)


def load_recognizer(path: Path | str = config.DEFAULT_MODEL, lexicon: Path | str | None = None) -> Recognizer:
    """Load a model and its metadata; the lexicon (for the lexicon decoder) defaults to the project's."""
    path = Path(path)
    meta_file = metadata_path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path} (train one with train.py)")
    if not meta_file.is_file():
        raise ModelFileError(f"model metadata not found: {meta_file}")
    try:
        metadata = json.loads(meta_file.read_text())
        alphabet = Alphabet(metadata["alphabet"])
        spec = ModelSpec.from_dict(metadata["spec"])
        model = keras.saving.load_model(path, compile=False)
        # XLA-compiled inference (compiled_forward): one image in ~5 ms instead of ~20 ms on a 2-core
        # CPU with TensorFlow; JAX always compiles, and "auto" leaves the other backends as they are
        model.compile(jit_compile=keras.backend.backend() == "tensorflow" or "auto")
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"cannot load model {path}: {err!r}") from err
    lex_path = Path(lexicon) if lexicon else config.default_lexicon()
    lex = load_lexicon(lex_path) if lex_path.is_file() else None
    if lex is None:
        log.warning("no lexicon at %s: the lexicon decoder is unavailable", lex_path)
    return Recognizer(model, alphabet, spec, metadata, path, lex)
