"""Adopt a finished run's model as the committed one, keeping its selection and its evaluation apart.

    python scripts/adopt_run.py runs/ft16b --selected-on "runs/dev16 test: ..." --overwrite

``train.py`` scores its model on the selection that chose its checkpoints (``--eval-rows``). When that
is a development set, the model's metadata must not present those figures as the evaluation: this
moves them under ``"selection"``, names the previous committed model the run was fine-tuned from,
copies the model, history and curves into ``models/``, then scores every decoder on the evaluation
rows (``VALIDATION_1001-1500``) with ``python -m hwr.evaluate --record``, which rewrites the metrics,
the per-image predictions and the report. The default decoder stays the one the selection chose.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwr import config, evaluate  # noqa: E402
from hwr.data import load_split  # noqa: E402
from hwr.recognizer import metadata_path  # noqa: E402

DECODERS = ("greedy", "beam", "lexicon")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder holding crnn.keras and crnn.json")
    parser.add_argument("--selected-on", required=True, help="what the run's --eval-rows set was")
    parser.add_argument("--model", type=Path, default=config.DEFAULT_MODEL)
    parser.add_argument("--overwrite", action="store_true", help="replace the committed model")
    args = parser.parse_args(argv)
    source = args.run / "crnn.keras"
    if not source.is_file() or not metadata_path(source).is_file():
        print(f"error: {source} or its metadata is missing", file=sys.stderr)
        return 1
    if args.model.exists() and not args.overwrite:
        print(f"error: {args.model} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    meta = json.loads(metadata_path(source).read_text())
    previous = json.loads(metadata_path(args.model).read_text()) if metadata_path(args.model).is_file() else {}
    meta["selection"] = {"what": args.selected_on, "evaluation": meta["evaluation"],
                         "metrics": meta["metrics"], "decoder_default": meta["decoder_default"]}
    if previous.get("training"):
        meta["training"]["fine_tuned_from"] = {
            k: previous["training"].get(k) for k in ("command", "data", "seconds", "hardware")}
        meta["training"]["fine_tuned_from"]["metrics"] = previous.get("metrics")
    lo, hi = config.SAMPLE_EVAL_RANGE
    selection = f"validation:{lo}-{hi}"
    _, report = load_split(config.SHARED_DATA, selection)
    meta["evaluation"] = {"selection": selection, "data_dir": str(config.SHARED_DATA), "rows": report.rows,
                          "kept": report.kept, "dropped": report.dropped}
    meta["metrics"] = {}
    stem, run_stem = args.model.with_suffix(""), source.with_suffix("")
    shutil.copyfile(source, args.model)
    for suffix in ("_history.csv", "_curves.png"):
        if Path(f"{run_stem}{suffix}").is_file():
            shutil.copyfile(f"{run_stem}{suffix}", f"{stem}{suffix}")
    metadata_path(args.model).write_text(json.dumps(meta, indent=2))
    chosen = meta["selection"]["decoder_default"]
    for decoder in [d for d in DECODERS if d != chosen] + [chosen]:
        status = evaluate.main(["--model", str(args.model), "--data-dir", str(config.SHARED_DATA),
                                "--split", "validation", "--rows", f"{lo}-{hi}", "--decoder", decoder,
                                "--record"])
        if status != 0:
            return status
    meta = json.loads(metadata_path(args.model).read_text())
    if meta["decoder_default"] != chosen:  # the evaluation set does not choose the decoder either
        print(f"note: {meta['decoder_default']} scores best on the evaluation rows; "
              f"the default stays {chosen}, chosen on the selection", file=sys.stderr)
        meta["decoder_default"] = chosen
        metadata_path(args.model).write_text(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
