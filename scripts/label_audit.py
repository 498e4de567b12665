"""A model's evaluation figures against the data set's labels and against labels checked by eye.

    python scripts/label_audit.py --tag final18

Some Kaggle labels disagree with the writing (RAPHAELA where RAPHAEL is written, EMM for EMMA).
``data/audit/validation_1001-1500.csv`` lists what the crops of the evaluation set whose label was
checked by eye show (every miss of the model committed on 2026-12-01): ``WRITTEN`` is the name
written there, the label itself where it matches or where the writing could not be told better
(``NOTE`` says why), empty where nothing can be read (that row is left out of the second figure). The script
reads the per-image CSVs that ``scripts/measure_unseen.py --tag TAG`` wrote for the evaluation set
and prints both figures per decoder, each with its 95% bootstrap interval (``hwr.intervals``); the
first stays the reported one. Written to
``reports/unseen/TAG_label_audit.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwr import atomic, config  # noqa: E402
from hwr.intervals import interval, to_dicts, written  # noqa: E402
from hwr.metrics import score  # noqa: E402

AUDIT = config.ROOT / "data" / "audit" / "validation_1001-1500.csv"
REPORTS = config.ROOT / "reports" / "unseen"
DECODERS = ("greedy", "beam", "lexicon")


def audited(predictions: pd.DataFrame, audit: pd.DataFrame) -> pd.DataFrame:
    """The predictions with ``truth`` replaced by what is written, unreadable rows dropped."""
    written = dict(zip(audit["FILENAME"], audit["WRITTEN"].fillna("")))
    out = predictions.assign(truth=[written.get(f, t) for f, t in zip(predictions["filename"],
                                                                     predictions["truth"])])
    return out[out["truth"] != ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", required=True, help="the measure_unseen.py tag to read")
    parser.add_argument("--audit", type=Path, default=AUDIT, help="FILENAME,IDENTITY,WRITTEN,NOTE")
    parser.add_argument("--reports", type=Path, default=REPORTS, help="where measure_unseen.py wrote")
    args = parser.parse_args(argv)
    folder = args.reports / args.tag
    try:
        audit = pd.read_csv(args.audit, dtype=str, keep_default_na=False)
        tables = {d: pd.read_csv(folder / f"eval_{d}.csv", dtype={"truth": str, "prediction": str},
                                 keep_default_na=False) for d in DECODERS}
    except (OSError, pd.errors.ParserError) as err:
        print(f"error: {err} (run scripts/measure_unseen.py --tag {args.tag} first)", file=sys.stderr)
        return 1
    changed = audit[audit["WRITTEN"] != audit["IDENTITY"]]
    result: dict = {"tag": args.tag, "audit": str(args.audit), "rows_checked": len(audit),
                    "labels_changed": int((changed["WRITTEN"] != "").sum()),
                    "unreadable": int((changed["WRITTEN"] == "").sum()), "decoders": {}, "intervals": {}}
    print(f"{len(audit)} labels checked by eye: {result['labels_changed']} disagree with the writing, "
          f"{result['unreadable']} cannot be read")
    print("| decoder | data set's labels: words / CER (images) | labels checked by eye: words / CER (images) |")
    print("|---|---|---|")
    for decoder, table in tables.items():
        rows = {"labels": table, "audited": audited(table, audit)}
        figures = {k: score(t["truth"], t["prediction"]) for k, t in rows.items()}
        result["decoders"][decoder] = {k: {"images": len(rows[k]), "word_accuracy": s.word_accuracy,
                                           "cer": s.cer} for k, s in figures.items()}
        bounds = {k: interval(t["truth"].tolist(), t["prediction"].tolist()) for k, t in rows.items()}
        result["intervals"][decoder] = {k: to_dicts(b) for k, b in bounds.items()}
        cells = " | ".join(f"{w['word_accuracy']} / {w['cer']} ({len(rows[k])})"
                           for k, w in ((k, written(b)) for k, b in bounds.items()))
        print(f"| {decoder} | {cells} |")
    atomic.write_json(folder.parent / f"{args.tag}_label_audit.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
