"""Command line: image files → each one's text and confidence, as ``kraken ocr`` or SimpleHTR's ``--img``.

    python -m hwr.read name1.jpg name2.png                 # FILE<TAB>TEXT<TAB>CONFIDENCE per line
    python -m hwr.read --decoder greedy --json scans/*.jpg  # one JSON object per file, in a list
    hwr-read --csv *.jpg > readings.csv                    # once installed (pip install .)

The app's serving path (``load_recognizer``: ONNX Runtime when the model's ONNX copy matches it, so
no TensorFlow). A file that cannot be read is one line on stderr, and the others are still read;
the exit status is then 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hwr import config
from hwr.decode import DECODERS
from hwr.lexicon import LexiconError
from hwr.preprocess import ImageError
from hwr.recognizer import RUNTIMES, ModelFileError, load_recognizer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hwr.read",
        description="Read handwritten names from image files: prints each file's text and the "
                    "model's probability of it (its confidence).")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="image files (JPEG, PNG, ...), one name each")
    parser.add_argument("--decoder", choices=sorted(DECODERS), default=None,
                        help="greedy: best path; beam: beam search with the character model of names; "
                             "lexicon: the beam, then a near lexicon name where the image supports it "
                             "(default: the model's own, from its metadata)")
    parser.add_argument("--model", type=Path, default=config.DEFAULT_MODEL,
                        help="the .keras model, with its .json (and .onnx) beside it (default: %(default)s)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto",
                        help="auto: ONNX Runtime when NAME.onnx matches the .keras file, else Keras "
                             "(default: %(default)s)")
    parser.add_argument("--lexicon", type=Path, default=None,
                        help=f"name<TAB>count file (default: {config.default_lexicon()})")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="a JSON list of {file, text, confidence}")
    form.add_argument("--csv", action="store_true", help="CSV with the columns file,text,confidence")
    return parser


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 all read, 1 some file or the model could not be)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.lexicon is not None and not args.lexicon.is_file():
            raise LexiconError(f"lexicon file not found: {args.lexicon}")
        recognizer = load_recognizer(args.model, args.lexicon, args.runtime)
    except (ModelFileError, LexiconError) as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 1
    decoder = args.decoder or recognizer.metadata.get("decoder_default", "greedy")
    if decoder == "lexicon" and not recognizer.lexicon:
        print("error: the lexicon decoder needs a lexicon file (--lexicon)", file=sys.stderr)
        return 1
    rows, failed = [], 0
    for path in args.images:
        try:
            prediction = recognizer.read([path], decoder)[0]
        except ImageError as err:
            failed += 1
            message = _one_line(err)
            print(f"error: {message if str(path) in message else f'{path}: {message}'}", file=sys.stderr)
            continue
        rows.append({"file": str(path), "text": prediction.text,
                     "confidence": round(prediction.confidence, 4)})
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, ["file", "text", "confidence"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            print(f"{row['file']}\t{row['text']}\t{row['confidence']:.4f}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
