"""Stage: the serving copy of a model. ``NAME.keras`` → ``NAME.onnx``, tied to it by a hash.

The ``.keras`` file stays the training artifact and the reference; ONNX Runtime reads the ``.onnx``
copy without TensorFlow or Keras (imports in 0.25 s where TensorFlow takes 6-8 s). The copy is
written from the weights with ONNX's own recurrent operators (``hwr.onnx_graph``: under a quarter
of the time of tf2onnx's per-step loop for one image), under any Keras backend. It is written beside the
``.keras`` file by ``save_model`` (so ``train.py --export`` ships both), or for an existing model by

    python -m hwr.export models/crnn.keras

Both files record the SHA-256 of the ``.keras`` file (``keras_sha256``): in the ONNX file's own
metadata and in the ``onnx`` section of ``NAME.json``, beside what a reader without Keras still needs
to show the model (its layers, its parameter counts). ``load_recognizer`` reads the ONNX copy only
when the hashes agree, so a retrained ``.keras`` never silently serves its predecessor's weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hwr import config
from hwr.atomic import atomic_path

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

#: the key of the ONNX file's metadata (and of the JSON's ``onnx`` section) holding the hash
HASH_KEY = "keras_sha256"


class ExportError(RuntimeError):
    """The ONNX copy could not be written."""


def onnx_path(model_path: Path | str) -> Path:
    """Where the ONNX copy of ``NAME.keras`` lives: ``NAME.onnx`` beside it."""
    return Path(model_path).with_suffix(".onnx")


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file's bytes (4.7 MB: ~3 ms)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def layer_rows(model: keras.Model) -> list[dict]:
    """One row per layer (layer, type, output shape, parameters), for the Model page."""
    rows = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            shape = "?"
        rows.append({"layer": layer.name, "type": type(layer).__name__, "output shape": shape,
                     "parameters": layer.count_params()})
    return rows


def parameter_counts(model: keras.Model) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts."""
    import numpy as np

    def count(weights) -> int:
        return int(sum(np.prod(w.shape) for w in weights))
    return count(model.trainable_weights), count(model.non_trainable_weights)


def export_onnx(model: keras.Model, keras_file: Path | str) -> dict:
    """Write ``keras_file``'s ONNX copy beside it; returns the ``onnx`` section for its metadata.

    The graph is ``hwr.onnx_graph.crnn_graph``'s; the file is written to a temporary name and
    renamed, so a failed export leaves no half-written file. Raises ExportError (also when the
    ``onnx`` package is missing: the .keras file stays the model).
    """
    keras_file = Path(keras_file)
    target = onnx_path(keras_file)
    sha = file_sha256(keras_file)
    start = time.perf_counter()
    try:
        import onnx

        from hwr.onnx_graph import crnn_graph

        proto = crnn_graph(model)
        entry = proto.metadata_props.add()
        entry.key, entry.value = HASH_KEY, sha
        with atomic_path(target) as tmp:
            onnx.save(proto, tmp)
    except Exception as err:  # onnx's checker and the layers' checks raise many kinds
        raise ExportError(f"cannot export {keras_file} to ONNX: {type(err).__name__}: {err}") from err
    seconds = time.perf_counter() - start
    log.info("wrote %s in %.1f s", target, seconds)
    return {HASH_KEY: sha, "opset": int(proto.opset_import[0].version),
            "export_seconds": round(seconds, 1), "layers": layer_rows(model),
            "parameter_counts": list(parameter_counts(model))}


def export_existing(keras_file: Path | str) -> Path:
    """Export a saved model and record the copy in its metadata (``python -m hwr.export``)."""
    import keras

    from hwr.recognizer import metadata_path, write_metadata

    keras_file = Path(keras_file)
    meta_file = metadata_path(keras_file)
    if not keras_file.is_file() or not meta_file.is_file():
        raise ExportError(f"need {keras_file} and its metadata {meta_file}")
    try:
        metadata = json.loads(meta_file.read_text())
        model = keras.saving.load_model(keras_file, compile=False)
    except (ValueError, OSError) as err:
        raise ExportError(f"cannot load {keras_file}: {err}") from err
    metadata["onnx"] = export_onnx(model, keras_file)
    write_metadata(keras_file, metadata)
    return onnx_path(keras_file)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwr.export", description=(
        "Write NAME.onnx beside NAME.keras (ONNX Runtime reads it without TensorFlow) and tie the "
        "two by the .keras file's hash in NAME.json."))
    parser.add_argument("model", nargs="?", type=Path, default=config.DEFAULT_MODEL,
                        help="the .keras model (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        target = export_existing(args.model)
    except ExportError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    print(f"wrote {target} (tied to {args.model} in {args.model.with_suffix('.json')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
