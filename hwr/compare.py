"""Command line: are two readings of the same images different, or within noise?

    python -m hwr.compare reports/unseen/names18/eval_greedy.csv reports/unseen/names18/eval_beam.csv

Takes two per-image CSVs as ``python -m hwr.evaluate`` (or ``scripts/measure_unseen.py``) writes them
(filename, truth, prediction): two models, decoders or settings on the same set. Prints each one's
word accuracy and CER with its bootstrap interval, and B minus A with the interval of a paired
bootstrap (``hwr.intervals.difference``): a difference whose interval holds 0 is within noise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hwr import atomic
from hwr.intervals import LEVEL, RESAMPLES, Interval, difference, interval, to_dicts, written

COLUMNS = ("filename", "truth", "prediction")


class CompareError(ValueError):
    """The two files cannot be compared (missing, not per-image readings, or not the same set)."""


def read_readings(path: Path) -> pd.DataFrame:
    """One file's per-image readings, indexed by file name; raises CompareError on bad input."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise CompareError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CompareError(f"{path}: not a CSV file ({' '.join(str(err).split())})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise CompareError(f"{path}: no column {', '.join(missing)}; expected the per-image CSV of "
                           f"python -m hwr.evaluate ({', '.join(COLUMNS)}, ...)")
    if frame["filename"].duplicated().any():
        raise CompareError(f"{path}: {frame['filename'].duplicated().sum()} file names appear twice")
    return frame.set_index("filename")[["truth", "prediction"]]


def paired(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The images both files read, with both readings; raises CompareError unless they are one set."""
    both = a.merge(b, how="inner", left_index=True, right_index=True, suffixes=("_a", "_b"))
    counts = {"both": len(both), "only_a": len(a) - len(both), "only_b": len(b) - len(both)}
    if both.empty:
        raise CompareError("the two files share no image: they read different sets")
    differ = both[both["truth_a"] != both["truth_b"]]
    if len(differ):
        name = differ.index[0]
        raise CompareError(f"the two files label {len(differ)} of the {len(both)} images they share differently "
                           f"(e.g. {name}: {differ.at[name, 'truth_a']!r} against {differ.at[name, 'truth_b']!r}): "
                           "they were scored against different labels")
    return both, counts


def compare(a: pd.DataFrame, b: pd.DataFrame, level: float = LEVEL, resamples: int = RESAMPLES,
            seed: int = 0) -> dict:
    """Each reading's figures and B minus A, with bootstrap intervals, on the images both hold."""
    both, counts = paired(a, b)
    truths, pa, pb = both["truth_a"].tolist(), both["prediction_a"].tolist(), both["prediction_b"].tolist()
    right_a, right_b = both["prediction_a"] == both["truth_a"], both["prediction_b"] == both["truth_a"]
    return {"images": counts, "level": level, "resamples": resamples, "seed": seed,
            "a": to_dicts(interval(truths, pa, level, resamples, seed)),
            "b": to_dicts(interval(truths, pb, level, resamples, seed)),
            "b_minus_a": to_dicts(difference(truths, pa, pb, level, resamples, seed)),
            "right_only_a": int((right_a & ~right_b).sum()), "right_only_b": int((right_b & ~right_a).sum())}


def _figures(part: dict, sign: bool = False) -> str:
    text = written(part, sign)
    return f"words {text['word_accuracy']}, CER {text['cer']}"


def verdict(result: dict) -> str:
    """One line: which figures differ by more than the noise."""
    said = []
    for key, name, better in (("word_accuracy", "words", 1), ("cer", "CER", -1)):
        d = Interval(**result["b_minus_a"][key])
        if d.excludes(0.0):
            said.append(f"{name}: B {'better' if better * d.estimate > 0 else 'worse'} than A, beyond the noise")
        else:
            said.append(f"{name}: {d.noise()}")
    return "; ".join(said)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hwr.compare",
        description="Compare two readings of the same images (per-image CSVs of python -m hwr.evaluate): "
                    "each one's word accuracy and CER with a bootstrap interval, and B minus A with the "
                    "interval of a paired bootstrap, which says whether the difference is more than noise.")
    parser.add_argument("a", type=Path, help="per-image CSV A (filename, truth, prediction, ...)")
    parser.add_argument("b", type=Path, help="per-image CSV B, read on the same images")
    parser.add_argument("--level", type=float, default=LEVEL, help="the intervals' coverage (default: %(default)s)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES,
                        help="bootstrap resamples (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="draws the resamples (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 done, 1 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 < args.level < 1:
        parser.error(f"--level must lie between 0 and 1, got {args.level}")
    if args.resamples < 100:
        parser.error(f"--resamples must be at least 100, got {args.resamples}")
    try:
        result = compare(read_readings(args.a), read_readings(args.b), args.level, args.resamples, args.seed)
    except CompareError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    result.update(a_file=str(args.a), b_file=str(args.b), verdict=verdict(result))
    n = result["images"]
    print(f"images:  {n['both']} read in both files"
          + (f" ({n['only_a']} only in A, {n['only_b']} only in B, left out)" if n["only_a"] or n["only_b"] else ""))
    print(f"A:       {_figures(result['a'])}   {args.a}")
    print(f"B:       {_figures(result['b'])}   {args.b}")
    print(f"B - A:   {_figures(result['b_minus_a'], sign=True)}   ({args.level:.0%} intervals, paired bootstrap)")
    print(f"right in one only: A {result['right_only_a']}, B {result['right_only_b']}")
    print(f"verdict: {result['verdict']}")
    if args.json:
        try:
            atomic.write_json(args.json, result)
        except OSError as err:
            print(f"error: cannot write {args.json}: {' '.join(str(err).split())}", file=sys.stderr)
            return 1
        print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
