"""Command line: evaluate a model on a Kaggle-layout folder → predictions CSV + metrics JSON.

    python -m hwr.evaluate --split validation                  # the held-out rows of the sample
    python -m hwr.evaluate --data-dir DIR --split test --rows all --decoder lexicon

Thin: parse → load data and model → ``hwr.evaluation.evaluate`` → write the two files → print the
figures. The scoring itself lives in ``hwr/evaluation.py``.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from hwr import __version__, atomic, config
from hwr.data import DataError, load_split
from hwr.decode import DECODERS, DecodeOptions
from hwr.evaluation import (REPORTS_DIR, NoImagesError, default_outputs, evaluate, record, resolve_selection,
                            table_intervals)
from hwr.intervals import Interval
from hwr.lexicon import LexiconError
from hwr.metrics import per_character_errors
from hwr.preprocess import ImageError
from hwr.recognizer import RUNTIMES, ModelFileError, load_recognizer, metadata_path


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


#: the decoder settings ``--set`` can change (the lexicon and the n-gram model come from files)
OPTION_NAMES = tuple(f for f in DecodeOptions.__dataclass_fields__ if f not in ("lexicon", "lm"))


def decoder_option(value: str) -> tuple[str, float | int]:
    """argparse type of ``--set``: NAME=NUMBER for a field of ``DecodeOptions``."""
    name, _, number = value.partition("=")
    name = name.strip()
    if name not in OPTION_NAMES:
        raise argparse.ArgumentTypeError(f"unknown decoder setting {name!r}; choose from {', '.join(OPTION_NAMES)}")
    kind = type(getattr(DecodeOptions(), name))
    try:
        return name, kind(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} takes a number ({kind.__name__}), got {number!r}") from None


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
    parser.add_argument("--set", dest="options", type=decoder_option, action="append", default=[],
                        metavar="NAME=VALUE",
                        help="override one of the model's decoder settings, e.g. --set lm_weight=0 "
                             f"(any of: {', '.join(OPTION_NAMES)}); repeat for more")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto",
                        help="auto: ONNX Runtime when NAME.onnx matches the .keras file, else Keras "
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.record and args.options:
        parser.error("--record stores the figures of the model's own decoder settings: leave out --set")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.lexicon is not None and not args.lexicon.is_file():
            raise LexiconError(f"lexicon file not found: {args.lexicon}")
        selection = resolve_selection(args.data_dir, args.split, args.rows)
        samples, report = load_split(args.data_dir, selection)
        if not samples:
            raise NoImagesError(f"no usable image in {args.data_dir} for {selection} "
                                f"({report.summary()}); try --rows all")
        recognizer = load_recognizer(args.model, args.lexicon, args.runtime)
        if args.decoder == "lexicon" and not recognizer.lexicon:
            raise LexiconError("the lexicon decoder needs a lexicon file (--lexicon)")
        options = dict(args.options)
        table, scores = evaluate(recognizer, samples, args.decoder, args.batch_size, report=report,
                                 options=options)
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
    # how far the two headline figures could move on another draw of images like these
    intervals = table_intervals(table)
    metrics = {
        "scores": scores.to_dict(),
        "intervals": intervals,
        "decoder": args.decoder,
        "decoder_options": {k: v for k, v in vars(recognizer.decode_options(**options)).items()
                            if k not in ("lexicon", "lm")},
        "runtime": recognizer.runtime,
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
        with atomic.atomic_path(csv_file) as tmp:  # makes the folder too
            table.to_csv(tmp, index=False)
        atomic.write_json(json_file, metrics)
    except OSError as err:
        print(f"error: cannot write the results: {_one_line(err)}", file=sys.stderr)
        return 1

    print(f"model:            {args.model}  (decoder: {args.decoder}, runtime: {recognizer.runtime})")
    print(f"data:             {args.data_dir}  ({selection})")
    print(f"rows:             {report.summary()}")
    print(f"images:           {scores.images}")
    words, cer = Interval(**intervals["word_accuracy"]), Interval(**intervals["cer"])
    print(f"word accuracy:    {words.percent(2)}  (in brackets: its {words.level:.0%} bootstrap interval "
          "over the images)")
    print(f"CER:              {cer.percent(2)}")
    print(f"WER:              {scores.wer:.2%}")
    print(f"char accuracy:    {scores.char_accuracy_positional:.2%}  (position-wise)")
    print(f"predictions:      {csv_file}")
    print(f"metrics:          {json_file}")
    if default:
        print(f"recorded in:      {metadata_path(args.model)} (default decoder: {default})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
