"""Stage: evaluation. A Kaggle-layout folder + a model → per-image predictions CSV + metrics JSON.

    python -m hwr.evaluate --split validation                  # the held-out rows of the sample
    python -m hwr.evaluate --data-dir DIR --split test --rows all --decoder lexicon

``evaluate`` is the library call (the app's Errors page uses it too); ``main`` is the thin command
line: parse → load data and model → evaluate → write the two files → print the figures. Every row
that does not reach the model is counted, by the loader's cleaning rules or, for an image that is
absent or unreadable, under ``image unreadable`` here, so nothing disappears silently.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hwr import __version__, config
from hwr.data import CleaningReport, DataError, Sample, csv_path, default_selections, load_split
from hwr.decode import DECODERS
from hwr.lexicon import LexiconError
from hwr.metrics import Scores, cer, per_character_errors, score
from hwr.preprocess import ImageError
from hwr.recognizer import ModelFileError, Recognizer, load_recognizer, metadata_path

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
             report: CleaningReport | None = None) -> tuple[pd.DataFrame, Scores]:
    """Read every sample and score it: (one row per image with ``COLUMNS``, corpus-level Scores).

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
                predictions = recognizer.read_arrays(np.stack(images), decoder, batch_size)
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


def _rows(value: str) -> str:
    """argparse type of ``--rows``: 'all' or FIRST-LAST with FIRST ≤ LAST."""
    if value.strip().lower() == "all":
        return "all"
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
    if not match or int(match.group(1)) > int(match.group(2)):
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST (e.g. 1001-1500) or 'all', got {value!r}")
    return f"{int(match.group(1))}-{int(match.group(2))}"


def _positive(value: str) -> int:
    """argparse type of ``--batch-size``."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def record(model: Path, decoder: str, selection: str, scores: Scores, table: pd.DataFrame) -> str:
    """Store ``scores`` as the model's figures for ``decoder`` and rewrite its report; returns the default decoder.

    A run under JAX or PyTorch scores only the fast decoders (``train.py --decoders greedy``); the others
    are scored later, under TensorFlow, and recorded here, on the selection the metadata names only.
    """
    from hwr.report import write_report

    meta_file = metadata_path(model)
    meta = json.loads(meta_file.read_text())
    evaluated = meta.get("evaluation", {}).get("selection")
    if evaluated != selection:
        raise DataError(f"--record: {model.name}'s figures are on {evaluated}, not on {selection}")
    meta["metrics"][decoder] = scores.to_dict()
    best = min(meta["metrics"], key=lambda d: meta["metrics"][d]["cer"])
    stem = model.with_suffix("")
    if best == decoder:  # the default decoder's predictions are the ones the report and Errors page show
        meta["decoder_default"] = decoder
        meta["per_character"] = per_character_errors(table["truth"], table["prediction"])
        table.to_csv(f"{stem}_predictions.csv", index=False)
    meta_file.write_text(json.dumps(meta, indent=2))
    history = Path(f"{stem}_history.csv")
    write_report(model, meta, pd.read_csv(history) if history.is_file() else pd.DataFrame())
    return meta["decoder_default"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hwr.evaluate",
        description="Evaluate a trained recognizer on a folder in the Kaggle 'Handwriting "
                    "Recognition' layout: writes one row per image (CSV) and the scores (JSON), "
                    "and prints word accuracy, CER, WER and position-wise character accuracy.")
    parser.add_argument("--data-dir", type=Path, default=config.default_data_dir(),
                        help="folder holding written_name_{split}_v2.csv and {split}_v2/{split}/ "
                             "(default: %(default)s)")
    parser.add_argument("--split", choices=("validation", "test"), default="validation",
                        help="which split to read (default: %(default)s)")
    parser.add_argument("--rows", type=_rows, default=None, metavar="FIRST-LAST|all",
                        help="rows by the number in the file name, e.g. 1001-1500, or 'all'. "
                             "Default: the whole split, except that a validation split in a folder "
                             "without a training CSV (the shared sample) uses its held-out rows "
                             f"{config.SAMPLE_EVAL_RANGE[0]}-{config.SAMPLE_EVAL_RANGE[1]}")
    parser.add_argument("--model", type=Path, default=config.DEFAULT_MODEL,
                        help="the .keras model; its .json metadata must sit beside it "
                             "(default: %(default)s)")
    parser.add_argument("--decoder", choices=sorted(DECODERS), default="greedy",
                        help="greedy: best path; beam: beam search; lexicon: beam search, then a "
                             "near name from the lexicon where the image supports it "
                             "(default: %(default)s)")
    parser.add_argument("--lexicon", type=Path, default=None,
                        help="name<TAB>count file for the lexicon decoder "
                             f"(default: {config.default_lexicon()})")
    parser.add_argument("--batch-size", type=_positive, default=64,
                        help="images per model call (default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=REPORTS_DIR,
                        help="where the CSV and JSON go when --csv/--json are not given; files are "
                             "named eval_{split}_{decoder}.csv/.json (default: %(default)s)")
    parser.add_argument("--csv", type=Path, default=None,
                        help="per-image predictions: filename,truth,prediction,confidence,cer")
    parser.add_argument("--json", type=Path, default=None,
                        help="scores, decoder, model, data folder, selection, cleaning report and "
                             "per-character errors")
    parser.add_argument("--record", action="store_true",
                        help="also store the scores in the model's metadata and rewrite its report "
                             "(for decoders that train.py --decoders left out)")
    return parser


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 done, 1 bad input, 2 no usable image)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.lexicon is not None and not args.lexicon.is_file():
            raise LexiconError(f"lexicon file not found: {args.lexicon}")
        selection = resolve_selection(args.data_dir, args.split, args.rows)
        samples, report = load_split(args.data_dir, selection)
        if not samples:
            raise NoImagesError(f"no usable image in {args.data_dir} for {selection} "
                                f"({report.summary()}); try --rows all")
        recognizer = load_recognizer(args.model, args.lexicon)
        if args.decoder == "lexicon" and not recognizer.lexicon:
            raise LexiconError("the lexicon decoder needs a lexicon file (--lexicon)")
        table, scores = evaluate(recognizer, samples, args.decoder, args.batch_size, report=report)
        if table.empty:
            raise NoImagesError(f"none of the {len(samples)} images of {selection} in "
                                f"{args.data_dir} could be read ({report.summary()})")
        default = record(args.model, args.decoder, selection, scores, table) if args.record else None
    except NoImagesError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except (DataError, ModelFileError, ImageError, LexiconError) as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 1

    default_csv, default_json = default_outputs(args.split, args.decoder, args.out_dir)
    csv_file, json_file = args.csv or default_csv, args.json or default_json
    metrics = {
        "scores": scores.to_dict(),
        "decoder": args.decoder,
        "model": str(args.model.resolve()),
        "data_dir": str(args.data_dir.resolve()),
        "split": args.split,
        "selection": selection,
        "cleaning": {"summary": report.summary(), "rows": report.rows, "kept": report.kept,
                     "dropped": report.dropped},
        "per_character": per_character_errors(table["truth"], table["prediction"]),
        "predictions_csv": str(csv_file.resolve()),
        "hwr_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        for path in (csv_file, json_file):
            path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(csv_file, index=False)
        json_file.write_text(json.dumps(metrics, indent=2))
    except OSError as err:
        print(f"error: cannot write the results: {_one_line(err)}", file=sys.stderr)
        return 1

    print(f"model:            {args.model}  (decoder: {args.decoder})")
    print(f"data:             {args.data_dir}  ({selection})")
    print(f"rows:             {report.summary()}")
    print(f"images:           {scores.images}")
    print(f"word accuracy:    {scores.word_accuracy:.2%}")
    print(f"CER:              {scores.cer:.2%}")
    print(f"WER:              {scores.wer:.2%}")
    print(f"char accuracy:    {scores.char_accuracy_positional:.2%}  (position-wise)")
    print(f"predictions:      {csv_file}")
    print(f"metrics:          {json_file}")
    if default:
        print(f"recorded in:      {metadata_path(args.model)} (default decoder: {default})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
