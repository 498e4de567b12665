"""Models on the development set, each against the first: their CERs and the difference, with how sure it is.

    python scripts/dev_compare.py --data-dir runs/dev17 --dev-rows test runs/ft36/crnn.keras models/crnn.keras

The development set is the one ``train.py`` chooses checkpoints on with the same options (the rows
given, preprocessed, and ``--dev-synthetic`` names rendered in the held-out fonts with ``--seed`` + 1,
drawn canvas-style at ``--canvas-fraction``), read as it reads them: greedy decoding, one reading an
image. Its figure is the mean of the parts' CERs; each model after the first is measured against the
first with a paired bootstrap that resamples each part's images on its own
(``hwr.intervals.mean_difference``), as ``train.py`` measures a fine-tune's chosen epoch against its
starting model. Written to ``reports/dev_compare.json`` (``--json``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwr import atomic, config  # noqa: E402
from hwr.data import DataError  # noqa: E402
from hwr.recognizer import ModelFileError, load_recognizer  # noqa: E402
from hwr.training import TrainConfig, development_set  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="the .keras models; the first is the baseline")
    parser.add_argument("--data-dir", type=Path, default=config.default_data_dir())
    parser.add_argument("--dev-rows", default=None, help="the development selection, as train.py --dev-rows")
    parser.add_argument("--dev-synthetic", type=int, default=TrainConfig.dev_synthetic,
                        help="names rendered in the held-out fonts (default: %(default)s)")
    parser.add_argument("--canvas-fraction", type=float, default=0.35,
                        help="share of those names drawn canvas-style (default: the fine-tunes' %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="as train.py --seed (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=config.ROOT / "runs" / "tune-cache")
    parser.add_argument("--json", type=Path, default=config.ROOT / "reports" / "dev_compare.json")
    args = parser.parse_args(argv)
    try:
        # one reading an image, as the development set is read in training
        readers = [replace(load_recognizer(m, runtime="keras"), variants=()) for m in args.models]
        cfg = TrainConfig(data_dir=args.data_dir, dev_selection=args.dev_rows, dev_synthetic=args.dev_synthetic,
                          canvas_fraction=args.canvas_fraction, seed=args.seed, spec=readers[0].spec)
        dev = development_set(cfg, args.cache)
    except (ModelFileError, DataError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    print(f"development set: {dev.describe()}")
    texts = [dev.readings(reader) for reader in readers]  # each model read once
    base = dev.scored(texts[0])["val_cer"]
    result = {"development": dev.describe(), "seed": args.seed, "baseline": str(args.models[0]),
              "models": [{"model": str(args.models[0]), "val_cer": base}]}
    print(f"{args.models[0]}: development CER {base:.2%} (the baseline)")
    for path, read in zip(args.models[1:], texts[1:]):
        cer = dev.scored(read)["val_cer"]
        found = dev.difference(texts[0], read)
        result["models"].append({"model": str(path), "val_cer": cer, "minus_baseline": found.to_dict(),
                                 "verdict": found.noise()})
        print(f"{path}: development CER {cer:.2%}; minus the baseline {found.percent(2, sign=True)}, {found.noise()}")
    atomic.write_json(args.json, result)
    print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
