"""Every set × decoder for one model: the real evaluation crops, the dev crops and the unseen sets.

    python scripts/measure_unseen.py --model models/crnn.keras --tag after

Runs ``python -m hwr.evaluate`` (as a function, one process) on each set with each decoder, keeps
its per-image CSV and metrics JSON under ``reports/unseen/TAG/``, and writes the table of word
accuracy and CER, each with its bootstrap interval, to ``reports/unseen/TAG.json`` and prints it as
Markdown. A set whose folder is
absent (the photo sets are generated, not committed: see README "Unseen images") is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwr import atomic, config  # noqa: E402
from hwr import evaluate  # noqa: E402
from hwr.intervals import written  # noqa: E402

UNSEEN = config.ROOT / "data" / "unseen"
#: slug → (what it is, data folder, split, rows)
SETS = {
    "eval": ("real crops VALIDATION_1001-1500 (the evaluation set)", config.SHARED_DATA, "validation", "1001-1500"),
    # the development folder of scripts/make_unseen.py --dev-mix runs/dev17: its first 106 images are
    # the TRAIN-side crops read by eye (data/dev/train_side_labels.csv)
    "dev": ("real TRAIN_* crops read by eye (development)", config.ROOT / "runs" / "dev17", "test", "1-106"),
    "canvas": ("canvas drawings, held-out fonts", UNSEEN / "canvas", "test", "all"),
    "photo": ("phone photos, held-out fonts", UNSEEN / "photo", "test", "all"),
    # the canvas set again, larger (another seed): 150 drawings cannot tell 88.7% from 90%
    "canvas-1000": ("canvas drawings, held-out fonts, 1,000", UNSEEN / "canvas-1000" / "canvas", "test", "all"),
    "npm-canvas": ("canvas drawings, fonts not in shared/", UNSEEN / "npm" / "canvas", "test", "all"),
    "npm-photo": ("phone photos, fonts not in shared/", UNSEEN / "npm" / "photo", "test", "all"),
    # the same names, fonts, pens and places written in title case ("Marie"; make_unseen.py --case title)
    "title-canvas": ("canvas drawings in title case, held-out fonts", UNSEEN / "title" / "canvas", "test", "all"),
    "title-photo": ("phone photos in title case, held-out fonts", UNSEEN / "title" / "photo", "test", "all"),
    "npm-title-canvas": ("canvas drawings in title case, fonts not in shared/", UNSEEN / "npm-title" / "canvas",
                         "test", "all"),
    "npm-title-photo": ("phone photos in title case, fonts not in shared/", UNSEEN / "npm-title" / "photo",
                        "test", "all"),
}
DECODERS = ("greedy", "beam", "lexicon")


def _cell(intervals: dict) -> str:
    """'86.3% (83.2–89.1%) / 4.18% (2.88–5.75%)': words and CER, each with its interval."""
    text = written(intervals)
    return f"{text['word_accuracy']} / {text['cer']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=config.DEFAULT_MODEL)
    parser.add_argument("--tag", required=True, help="name of this measurement (e.g. before, after)")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated, of: " + ", ".join(SETS))
    args = parser.parse_args(argv)
    out = config.ROOT / "reports" / "unseen" / args.tag
    table: dict[str, dict] = {}
    for slug in (s.strip() for s in args.sets.split(",")):
        if slug not in SETS:
            print(f"error: unknown set {slug!r}; expected one of {', '.join(SETS)}", file=sys.stderr)
            return 1
        name, folder, split, rows = SETS[slug]
        if not folder.is_dir():
            print(f"skipped {slug}: {folder} not found", file=sys.stderr)
            continue
        for decoder in DECODERS:
            stem = out / f"{slug}_{decoder}"
            with contextlib.redirect_stdout(io.StringIO()):
                status = evaluate.main(["--model", str(args.model), "--data-dir", str(folder),
                                        "--split", split, "--rows", rows, "--decoder", decoder,
                                        "--csv", f"{stem}.csv", "--json", f"{stem}.json"])
            if status != 0:
                return status
            found = json.loads(Path(f"{stem}.json").read_text())
            table.setdefault(slug, {"set": name})[decoder] = {
                **{k: found["scores"][k] for k in ("images", "word_accuracy", "cer")}, "intervals": found["intervals"]}
    result = {"model": str(args.model), "tag": args.tag, "sets": table}
    atomic.write_json(out.parent / f"{args.tag}.json", result)
    print(f"| set ({args.tag}) | images | " + " | ".join(f"{d} words / CER" for d in DECODERS) + " |")
    print("|---|---|" + "---|" * len(DECODERS))
    for row in table.values():
        cells = " | ".join(_cell(row[d]["intervals"]) for d in DECODERS)
        print(f"| {row['set']} | {row['greedy']['images']} | {cells} |")
    print("In brackets: 95% bootstrap intervals over each set's images (hwr/intervals.py).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
