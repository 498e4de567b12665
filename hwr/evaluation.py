"""Stage: evaluation. A model + labelled samples → one row per image and corpus-level scores.

The library half of evaluation, shared by ``python -m hwr.evaluate`` (the thin command line in
``hwr/evaluate.py``), ``hwr.training`` (the final scoring of a run) and the app's Errors page.
Every row that does not reach the model is counted, by the loader's cleaning rules or, for an image
that is absent or unreadable, under ``UNREADABLE_RULE``, so nothing disappears silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hwr import atomic, config
from hwr.data import CleaningReport, DataError, Sample, csv_path, default_selections
from hwr.decode import DECODERS
from hwr.intervals import interval, to_dicts
from hwr.metrics import Scores, cer, per_character_errors, score
from hwr.preprocess import ImageError
from hwr.recognizer import Recognizer, metadata_path

log = logging.getLogger(__name__)

#: Where the CSV and JSON go when no path is given: inside the project, never the working directory.
REPORTS_DIR = config.ROOT / "reports" / "eval"
#: Columns of the per-image file that the Errors page reads.
COLUMNS = ["filename", "truth", "prediction", "confidence", "cer"]
#: The cleaning rule under which evaluation counts images it could not read.
UNREADABLE_RULE = "image unreadable"


class NoImagesError(DataError):
    """The selection left no image to evaluate."""


def _name(sample: Sample, index: int) -> str:
    """The file name of a real sample; a stable placeholder for an in-memory one."""
    if isinstance(sample.image, (str, Path)):
        return Path(sample.image).name
    return f"sample_{index:05d}"


def evaluate(recognizer: Recognizer, samples: Sequence[Sample], decoder: str = "greedy",
             batch_size: int = 64, progress: bool = True,
             report: CleaningReport | None = None,
             options: dict | None = None) -> tuple[pd.DataFrame, Scores]:
    """Read every sample and score it: (one row per image with ``COLUMNS``, corpus-level Scores).

    ``options`` override the model's decoder settings (``DecodeOptions`` fields, e.g. ``lm_weight``).

    Images that cannot be read (absent, corrupt) are skipped with a warning; when ``report`` is
    given they are also counted in it under ``UNREADABLE_RULE``.
    """
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {sorted(DECODERS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rows: list[dict] = []
    skipped = 0
    with tqdm(total=len(samples), desc=f"evaluating ({decoder})", unit="image",
              disable=None if progress else True) as bar:
        # batch by batch, so memory stays flat however large the split is
        for start in range(0, len(samples), batch_size):
            batch = list(enumerate(samples[start:start + batch_size], start=start))
            images, kept = [], []
            for index, sample in batch:
                try:
                    images.append(recognizer.preprocess(sample.image))
                    kept.append((index, sample))
                except ImageError as err:
                    skipped += 1
                    log.warning("skipped %s: %s", _name(sample, index), err)
            if images:
                predictions = recognizer.read_arrays(np.stack(images), decoder, batch_size, **(options or {}))
                for (index, sample), pred in zip(kept, predictions):
                    rows.append({"filename": _name(sample, index), "truth": sample.text,
                                 "prediction": pred.text, "confidence": pred.confidence,
                                 "cer": cer(sample.text, pred.text)})
            bar.update(len(batch))
    if report is not None:
        report.drop(UNREADABLE_RULE, skipped)
        report.kept -= skipped
    if skipped:
        log.warning("%d of %d images could not be read and were skipped", skipped, len(samples))
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table, score(table["truth"], table["prediction"])


def default_decoder(dev_cers: dict[str, float]) -> tuple[str, str]:
    """The decoder with the lowest development CER (the first of equals) and that choice in words,
    as ``train.py`` and ``scripts/tune_decoder.py`` record it in a model's ``selection``."""
    best = min(dev_cers, key=dev_cers.get)
    return best, f"{best}: lowest development CER of " + ", ".join(f"{d} {c:.4f}" for d, c in dev_cers.items())


def table_intervals(table: pd.DataFrame) -> dict[str, dict]:
    """The bootstrap intervals of word accuracy and CER over a table's images (``hwr.intervals``):
    how far the figures could move on another draw of images like these."""
    return to_dicts(interval(table["truth"].tolist(), table["prediction"].tolist()))


def default_outputs(split: str, decoder: str, out_dir: Path = REPORTS_DIR) -> tuple[Path, Path]:
    """(predictions CSV, metrics JSON) paths used when ``--csv`` / ``--json`` are not given."""
    stem = Path(out_dir) / f"eval_{split}_{decoder}"
    return stem.with_suffix(".csv"), stem.with_suffix(".json")


def resolve_selection(root: Path, split: str, rows: str | None) -> str:
    """The loader's selection for ``--split``/``--rows``; see the module docstring for the default."""
    if rows == "all":
        return split
    if rows:
        return f"{split}:{rows}"
    if split == "validation" and Path(root).is_dir() and not csv_path(root, "train").is_file():
        selection = default_selections(root)[1]
        log.info("no training CSV in %s (the sample layout): evaluating the held-out rows %s; "
                 "pass --rows all for the whole split", root, selection)
        return selection
    return split


def record(model: Path, decoder: str, selection: str, scores: Scores, table: pd.DataFrame) -> str:
    """Store ``scores`` as the model's figures for ``decoder`` and rewrite its report; returns the default decoder.

    A run under JAX or PyTorch scores only the fast decoders (``train.py --decoders greedy``); the others
    are scored later, under TensorFlow, and recorded here, on the selection the metadata names only.
    The default decoder is not changed here: it was chosen on the development set (the reported set
    never selects anything); its predictions are the ones the report and the Errors page show.
    """
    from hwr.report import write_report

    meta_file = metadata_path(model)
    meta = json.loads(meta_file.read_text())
    evaluated = meta.get("evaluation", {}).get("selection")
    if evaluated != selection:
        raise DataError(f"--record: {model.name}'s figures are on {evaluated}, not on {selection}")
    meta["metrics"][decoder] = scores.to_dict()
    meta.setdefault("intervals", {})[decoder] = table_intervals(table)
    stem = model.with_suffix("")
    if meta.setdefault("decoder_default", decoder) == decoder:
        meta["per_character"] = per_character_errors(table["truth"], table["prediction"])
        with atomic.atomic_path(f"{stem}_predictions.csv") as tmp:
            table.to_csv(tmp, index=False)
    atomic.write_json(meta_file, meta)
    history = Path(f"{stem}_history.csv")
    write_report(model, meta, pd.read_csv(history) if history.is_file() else pd.DataFrame())
    return meta["decoder_default"]
