"""Stage: model file + metadata → preprocess → predict → decode. What the app and evaluation use.

A model is two files side by side: ``NAME.keras`` (standard Keras layers only, loads on any backend
without custom objects) and ``NAME.json`` (alphabet, input size, architecture, decoder defaults,
training data and command, metrics, version), and for serving a third, ``NAME.onnx`` (``hwr.export``),
which ONNX Runtime reads without TensorFlow or Keras. ``load_recognizer`` returns them as one object.

Importing this module imports neither Keras nor TensorFlow (a test holds it): Keras is imported only
to read with it (``runtime="keras"``), to save, or to export.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from hwr import __version__, atomic, config
from hwr.alphabet import Alphabet
from hwr.decode import DecodeOptions, Decoded, decode
from hwr.export import HASH_KEY, ExportError, export_onnx, file_sha256, layer_rows, onnx_path, parameter_counts
from hwr.lexicon import load_lexicon
from hwr.lm import CharLM
from hwr.preprocess import ImageError, has_ink, preprocess
from hwr.spec import ModelSpec
from hwr.variants import VARIANTS, check

if TYPE_CHECKING:
    import keras
    import onnxruntime

log = logging.getLogger(__name__)

#: what ``load_recognizer(runtime=...)`` accepts
RUNTIMES = ("auto", "onnx", "keras")


class ModelFileError(FileNotFoundError):
    """The model file or its metadata is missing or unreadable."""


def metadata_path(model_path: Path | str) -> Path:
    return Path(model_path).with_suffix(".json")


def write_metadata(model_path: Path | str, metadata: dict) -> Path:
    """Write a model's JSON metadata through a temporary file: a crash leaves the old file, never half a new one."""
    return atomic.write_json(metadata_path(model_path), metadata)


def save_model(model: keras.Model, path: Path | str, metadata: dict, overwrite: bool = False,
               onnx: bool = True) -> Path:
    """Write ``path`` (.keras), its ONNX copy and its JSON metadata; refuses to replace a model silently.

    The ONNX copy (``hwr.export``, written from the weights under any backend) needs the ``onnx``
    package; without it, or if the export fails, it is left out with a warning (``python -m
    hwr.export`` writes it later) and readers use Keras. ``onnx=False`` leaves it out: a file only
    Keras will read.
    """
    import keras

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files end in .keras: {path}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (train.py --overwrite) to replace it")
    with atomic.atomic_path(path) as tmp:  # a kill mid-save leaves the previous model whole
        model.save(tmp)
    meta = {"hwr_version": __version__, "keras_version": keras.__version__,
            "backend": keras.backend.backend(), **metadata}
    if onnx:
        try:
            meta["onnx"] = export_onnx(model, path)
        except ExportError as err:
            log.warning("%s; readers will use Keras (python -m hwr.export %s writes the copy later)", err, path)
    write_metadata(path, meta)
    return path


def compiled_forward(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """The model as one compiled graph: a float32 batch (N, H, W, 1) → log-probabilities (N, T, C).

    On TensorFlow, one concrete function per batch shape, XLA-compiled where the model was compiled
    with ``jit_compile`` (a loaded recognizer: ~5 ms an image instead of ~20 on a 2-core CPU): 0.5 to
    1 ms a call less than ``predict_on_batch``, whose tf.function matches its inputs to a trace on
    every call. A plain call would run the layers eagerly (RNN steps in Python: seconds an image).
    Other backends use ``predict_on_batch`` (JAX compiles it anyway). Batches are padded to a power
    of two, so the compiled model meets a handful of shapes, not one per size.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        run = lambda x: np.asarray(model.predict_on_batch(x))  # noqa: E731
    else:
        import tensorflow as tf

        graph = tf.function(lambda x: model(x, training=False), jit_compile=bool(model.jit_compile))

        @functools.cache
        def for_shape(shape: tuple[int, ...]):
            return graph.get_concrete_function(tf.TensorSpec(shape, tf.float32))

        run = lambda x: for_shape(x.shape)(tf.constant(x)).numpy()  # noqa: E731

    def padded(x: np.ndarray) -> np.ndarray:
        size = 1 << (len(x) - 1).bit_length()
        return run(np.concatenate([x, np.ones((size - len(x), *x.shape[1:]), np.float32)]))[:len(x)]
    return padded


def onnx_forward(session: onnxruntime.InferenceSession) -> Callable[[np.ndarray], np.ndarray]:
    """The ONNX copy as the same function: a float32 batch (N, H, W, 1) → log-probabilities (N, T, C).

    Any batch size runs as it is (the exported graph has a free batch dimension), so no padding.
    """
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


@dataclass
class Prediction:
    """One image's reading, with everything the app plots."""

    text: str
    confidence: float
    alternatives: list[tuple[str, float]]
    #: the preprocessed image the model saw, float32 (H, W), 1 = paper
    image: np.ndarray
    #: per-timestep probabilities (T, alphabet.size), column 0 is the CTC blank; with test-time variants,
    #: those of the image as preprocessed (each variant puts its peaks at its own steps)
    probs: np.ndarray
    #: what the decoders read: log-probabilities (T, C), or (R, T, C) for the image and its variants
    log_probs: np.ndarray


@dataclass
class Recognizer:
    """Everything a caller needs to read with a model: its weights as a function, alphabet, spec, metadata."""

    #: the Keras model (None when reading with ONNX Runtime)
    model: keras.Model | None
    alphabet: Alphabet
    spec: ModelSpec
    metadata: dict
    path: Path | None = None
    lexicon: dict[str, int] | None = field(default=None, repr=False)
    #: what computes the log-probabilities: "keras" or "onnx"
    runtime: str = "keras"
    #: a float32 batch (N, H, W, 1) → log-probabilities (N, T, C); by default ``compiled_forward(model)``
    forward: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    #: test-time variants (``hwr.variants``) read beside each image: ``log_probs`` then returns
    #: (N, 1 + len(variants), T, C), the image itself first
    variants: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.forward is None:
            if self.model is None:
                raise ValueError("a Recognizer needs a Keras model or a forward function")
            self.forward = compiled_forward(self.model)
        self.variants = check(self.variants)

    @property
    def layers(self) -> list[dict]:
        """One row per layer (layer, type, output shape, parameters), for the Model page."""
        return layer_rows(self.model) if self.model is not None else self.metadata["onnx"]["layers"]

    @property
    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, non-trainable) parameter counts."""
        if self.model is not None:
            return parameter_counts(self.model)
        trainable, fixed = self.metadata["onnx"]["parameter_counts"]
        return int(trainable), int(fixed)

    @functools.cached_property
    def char_lm(self) -> CharLM | None:
        """The character n-gram model of the lexicon's names (counted on first use, ~0.5 s)."""
        return CharLM(self.lexicon, self.alphabet) if self.lexicon else None

    def preprocess(self, source) -> np.ndarray:
        """The shared preprocessing, at this model's input size."""
        return preprocess(source, self.spec.height, self.spec.width)

    def prepare(self, source) -> np.ndarray:
        """A person's image as model input; ImageError when no writing is found in it.

        Blank paper, an overexposed photo or a photo of a bare table preprocess to an input without
        ink, and the model's reading of that is noise (a single letter at 0.1%). So the doors that
        read a person's image (``read``: ``python -m hwr.read``, the app's uploads and photos) say
        so instead; training and evaluation read their crops with ``preprocess``.
        """
        x = self.preprocess(source)
        if not has_ink(x):
            raise ImageError("no writing found in it: the image is blank, or its writing too faint "
                             "to tell from the paper")
        return x

    def log_probs(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Images (N, H, W) as float in [0, 1] or uint8 → log-probabilities (N, T, C).

        With test-time variants (N, R, T, C): the image and each variant, read in one call of the model.
        """
        x = np.asarray(images)
        x = (x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32))[..., None]
        readings = 1 + len(self.variants)

        def run(batch: np.ndarray) -> np.ndarray:
            if not self.variants:
                return self.forward(batch)
            out = self.forward(np.concatenate([batch, *(VARIANTS[v](batch) for v in self.variants)]))
            return out.reshape(readings, len(batch), *out.shape[1:]).swapaxes(0, 1)
        outs = [run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        shape = (readings,) if self.variants else ()
        return np.concatenate(outs) if outs else np.zeros((0, *shape, self.spec.timesteps, self.alphabet.size),
                                                          np.float32)

    def decode_options(self, **overrides) -> DecodeOptions:
        """The model's tuned decoder settings (metadata ``decoder_options``), then ``overrides``.

        The lexicon and, where the character model has a weight, the n-gram model of its names come
        with them."""
        settings = {"lexicon": self.lexicon, **self.metadata.get("decoder_options", {}), **overrides}
        unknown = set(settings) - set(DecodeOptions.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown decoder options {sorted(unknown)}; "
                             f"choose from {sorted(DecodeOptions.__dataclass_fields__)}")
        opts = DecodeOptions(**settings)
        if opts.lm_weight and opts.lm is None:
            opts.lm = self.char_lm
        return opts

    def read_arrays(self, images: np.ndarray, decoder: str = "greedy", batch_size: int = 64,
                    **options) -> list[Prediction]:
        """Preprocessed images → predictions."""
        lp = self.log_probs(images, batch_size)
        opts = self.decode_options(**options)
        decoded: list[Decoded] = []
        for i in range(0, len(lp), batch_size):
            decoded += decode(lp[i:i + batch_size], self.alphabet, decoder, opts)
        return [Prediction(d.text, d.confidence, d.alternatives, img, np.exp(p[0] if self.variants else p), p)
                for d, img, p in zip(decoded, images, lp)]

    def read(self, sources: Sequence, decoder: str = "greedy", **options) -> list[Prediction]:
        """Paths, bytes or arrays → predictions (raises ImageError on an unreadable or blank one)."""
        images = np.stack([self.prepare(s) for s in sources]) if len(sources) else \
            np.zeros((0, self.spec.height, self.spec.width), np.float32)
        return self.read_arrays(images, decoder, **options)


def _export_hint(path: Path) -> str:
    return f"run `python -m hwr.export {path}` (needs Keras: pip install -r requirements.txt)"


def session_options() -> onnxruntime.SessionOptions:
    """How every ONNX Runtime session here runs: all graph optimisations, one thread per usable core
    (at most 4), and no spinning: a server shares its cores, and waiting threads that spin take them
    from the work (one comparison on the busy 2-core machine: p90 of one image 9 ms without
    spinning, 22 ms with it)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initialisers are an exporter's noise
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                       else os.cpu_count() or 1)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _onnx_session(path: Path, metadata: dict) -> onnxruntime.InferenceSession:
    """ONNX Runtime's session for ``path``'s ONNX copy, if the copy is there and matches the .keras file.

    Raises ModelFileError naming both files when the copy is absent, unreadable or out of step.
    """
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as errors

    target = onnx_path(path)
    if not target.is_file():
        raise ModelFileError(f"no ONNX copy {target} beside {path}: {_export_hint(path)}")
    recorded = metadata.get("onnx", {}).get(HASH_KEY)
    if recorded is None:
        raise ModelFileError(f"{metadata_path(path)} records no ONNX copy, so {target} cannot be tied to "
                             f"{path}: {_export_hint(path)}")
    if path.is_file() and recorded != file_sha256(path):
        raise ModelFileError(f"{target} is out of step with {path} (the .keras file changed after the "
                             f"export): {_export_hint(path)}")
    options = session_options()
    # ONNX Runtime's own errors derive from Exception only
    unreadable = (errors.Fail, errors.InvalidProtobuf, errors.InvalidGraph, errors.InvalidArgument,
                  errors.NoSuchFile, errors.NotImplemented, errors.RuntimeException, RuntimeError, OSError)
    try:
        session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    except unreadable as err:
        raise ModelFileError(f"cannot read {target} ({' '.join(str(err).split())[:200]}): "
                             f"{_export_hint(path)}") from err
    stamped = session.get_modelmeta().custom_metadata_map.get(HASH_KEY)
    if stamped != recorded:
        raise ModelFileError(f"{target} was exported from another model than {path}: {_export_hint(path)}")
    return session


def _keras_model(path: Path) -> keras.Model:
    """The Keras model in ``path``, compiled for fast reading."""
    import keras

    model = keras.saving.load_model(path, compile=False)
    # XLA-compiled inference (compiled_forward): one image in ~5 ms instead of ~20 ms on a 2-core
    # CPU with TensorFlow; JAX always compiles, and "auto" leaves the other backends as they are
    model.compile(jit_compile=keras.backend.backend() == "tensorflow" or "auto")
    return model


def load_recognizer(path: Path | str = config.DEFAULT_MODEL, lexicon: Path | str | None = None,
                    runtime: str = "auto") -> Recognizer:
    """Load a model and its metadata; the lexicon (for the lexicon decoder) defaults to the project's.

    ``runtime="auto"`` reads with ONNX Runtime when ``NAME.onnx`` sits beside ``NAME.keras`` and
    matches it, else with Keras when Keras is installed (with a warning naming the reason), else
    raises ModelFileError saying what to run; ``"onnx"`` and ``"keras"`` force one.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    path = Path(path)
    path = path.with_suffix(".keras") if path.suffix == ".onnx" else path
    meta_file = metadata_path(path)
    if not path.is_file() and not (runtime != "keras" and onnx_path(path).is_file()):
        raise ModelFileError(f"model file not found: {path} (train one with train.py)")
    if not meta_file.is_file():
        raise ModelFileError(f"model metadata not found: {meta_file}")
    try:
        metadata = json.loads(meta_file.read_text())
        alphabet = Alphabet(metadata["alphabet"])
        spec = ModelSpec.from_dict(metadata["spec"])
        variants = check(metadata.get("test_time_variants", []))
    except (ValueError, KeyError, TypeError) as err:
        raise ModelFileError(f"cannot read model metadata {meta_file}: {err!r}") from err
    lex_path = Path(lexicon) if lexicon else config.default_lexicon()
    lex = load_lexicon(lex_path) if lex_path.is_file() else None
    if lex is None:
        log.warning("no lexicon at %s: the lexicon decoder is unavailable", lex_path)

    if runtime != "keras":
        try:
            session = _onnx_session(path, metadata)
            return Recognizer(None, alphabet, spec, metadata, path, lex, "onnx", onnx_forward(session), variants)
        except ModelFileError as err:
            if runtime == "onnx":
                raise
            if importlib.util.find_spec("keras") is None:
                raise ModelFileError(f"cannot read {path} without Keras, and {err}") from err
            log.warning("%s; reading with Keras instead", err)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path} (train one with train.py)")
    try:
        model = _keras_model(path)
    except (ImportError, ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"cannot load model {path}: {err!r}") from err
    return Recognizer(model, alphabet, spec, metadata, path, lex, "keras", variants=variants)
