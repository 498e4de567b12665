"""Tune the decoders' priors on the development split and store them in the model's metadata.

The test-time variants first (``hwr.variants``: which changed copies of each image are read beside
it, by the default decoder's CER with the settings the model has, each copy having to lower it by
``PASS_COST``), then α (``lm_weight``) and β
(``length_bonus``) of the beam search's character n-gram model, then γ (``prior_weight``, the
lexicon counts) and ``lexicon_margin`` of the lexicon decoder on top of the chosen α, β: each
setting by its CER on the development set (word accuracy breaks ties; the simpler setting, listed
first, wins a full tie). That set is the one ``train.py`` chooses checkpoints on: the rows given
(VALIDATION_0901–1000 by default, or a development folder of your own) and 1,000 names rendered
in the fonts held out from training, each setting scored by the mean of the two parts' CER (on
the 306 images of the development folder alone, a handful of names decided the grid). Never on
1001–1500, the reported evaluation set: the script refuses rows that overlap it. The model is run
once (with every variant); only decoding is repeated. It also prints the character model's
perplexity on the development names for each n-gram order.

    python scripts/tune_decoder.py                    # prints the grid, writes reports/tune_decoder.json
    python scripts/tune_decoder.py --write            # and stores the choice (and the default decoder) in models/crnn.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from hwr import atomic, config  # noqa: E402
from hwr.data import load_split  # noqa: E402
from hwr.decode import decode  # noqa: E402
from hwr.evaluation import default_decoder  # noqa: E402
from hwr.intervals import mean_difference  # noqa: E402
from hwr.lm import CharLM  # noqa: E402
from hwr.metrics import score  # noqa: E402
from hwr.recognizer import load_recognizer, write_metadata  # noqa: E402
from hwr.training import TrainConfig, rendered_names  # noqa: E402
from hwr.variants import VARIANTS  # noqa: E402

log = logging.getLogger("tune_decoder")

LM_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.3)
LENGTH_BONUSES = (0.0, 0.5, 1.0, 2.0)
PRIOR_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
MARGINS = (1.0, 2.3, 3.5, 5.0)
ORDERS = (3, 4, 5, 6)
#: the sets of test-time variants tried, cheapest first: each variant is one more pass of the model
VARIANT_SETS = ((), ("down",), ("bold",), ("narrow",), ("down", "bold"), ("down", "narrow"),
                ("down", "narrow", "bold"))
#: development CER each further pass of the model must buy. Without it, a second run of the tuning,
#: from the settings the first chose, took a third variant for 0.001 points (a fraction of a name)
PASS_COST = 0.0005


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=config.DEFAULT_MODEL)
    p.add_argument("--data-dir", type=Path, default=config.default_data_dir())
    p.add_argument("--rows", default="901-1000", help="development rows of the validation split")
    p.add_argument("--split", choices=("validation", "test"), default="validation",
                   help="'test' with --rows all tunes on a development folder of your own in the Kaggle "
                        "layout, e.g. the dev mix of scripts/make_unseen.py --dev-mix")
    p.add_argument("--json", type=Path, default=config.ROOT / "reports" / "tune_decoder.json")
    p.add_argument("--write", action="store_true", help="store the chosen settings in the model's metadata")
    p.add_argument("--heldout-names", type=int, default=TrainConfig.dev_synthetic,
                   help="names rendered in the held-out fonts as train.py's development set renders them "
                        "(with --seed + 1), scored beside the rows (0: the rows alone)")
    p.add_argument("--canvas-fraction", type=float, default=0.35,
                   help="share of those names drawn canvas-style (the fine-tunes' share)")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--cache", type=Path, default=config.ROOT / "runs" / "tune-cache",
                   help="where the rendered names are kept between runs")
    p.add_argument("--no-variants", action="store_true",
                   help="read each image once: tune the priors only, and store no test-time variants")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    selection = args.split if args.rows == "all" else f"{args.split}:{args.rows}"
    if args.split == "validation":
        first, last = (int(v) for v in args.rows.split("-")) if args.rows != "all" else (1, 10**9)
        if first <= config.SAMPLE_EVAL_RANGE[1] and last >= config.SAMPLE_EVAL_RANGE[0]:
            p.error(f"rows {args.rows} overlap the evaluation set {config.SAMPLE_EVAL_RANGE}: tune elsewhere")
    samples, report = load_split(args.data_dir, selection)
    rec = load_recognizer(args.model)
    trained_on = rec.metadata.get("training", {}).get("data", {}).get("real", {}).get("selection", "")
    if trained_on:
        log.warning("%s was trained on %s: if that holds rows %s, these settings are tuned on images "
                    "it has seen", args.model.name, trained_on, args.rows)
    truths = [s.text for s in samples]
    parts = {"rows": (np.stack([rec.preprocess(s.image) for s in samples]), truths)}
    if args.heldout_names > 0:
        cfg = TrainConfig(seed=args.seed, canvas_fraction=args.canvas_fraction, spec=rec.spec)
        names = rendered_names(cfg, args.cache, args.heldout_names, heldout=True)
        if names[1]:
            parts["heldout_fonts"] = names
    tried = ((),) if args.no_variants else VARIANT_SETS
    every = replace(rec, variants=tuple(VARIANTS))  # the model run once, with every variant beside each image
    lp_all = {name: every.log_probs(x) for name, (x, _) in parts.items()}
    heldout_names = len(parts["heldout_fonts"][1]) if "heldout_fonts" in parts else 0
    log.info("%d development images (%s) and %d held-out-font names, runtime %s", len(samples),
             report.summary(), heldout_names, rec.runtime)
    variants: tuple[str, ...] = ()
    beam_grid = [(a, b) for a, b in itertools.product(LM_WEIGHTS, LENGTH_BONUSES) if a or not b]
    lexicon_grid = list(itertools.product(PRIOR_WEIGHTS, MARGINS))
    # every setting scored, with an ETA (a quarter of an hour on the 2-core CPU for 1,306 images)
    bar = tqdm(total=len(tried) + 1 + len(beam_grid) + len(lexicon_grid), desc="settings scored",
               unit="setting", file=sys.stderr)

    def readings(decoder: str, reading_variants: tuple[str, ...], **settings) -> dict[str, list[str]]:
        """Each part's texts, read with these variants beside each image and these settings over the model's."""
        out = {}
        for name, lp in lp_all.items():
            lp = lp[:, [0, *(1 + every.variants.index(v) for v in reading_variants)]] if reading_variants else lp[:, 0]
            out[name] = [d.text for d in decode(lp, rec.alphabet, decoder, rec.decode_options(**settings))]
        return out

    def run(decoder: str, **settings) -> dict:
        """One setting's CER and word accuracy: the mean over the parts, and each part's."""
        start = time.perf_counter()
        each = {}
        for name, read in readings(decoder, variants, **settings).items():
            s = score(parts[name][1], read)
            each[name] = {"cer": s.cer, "word_accuracy": s.word_accuracy}
        row = {"decoder": decoder, **settings, "cer": float(np.mean([e["cer"] for e in each.values()])),
               "word_accuracy": float(np.mean([e["word_accuracy"] for e in each.values()])), "parts": each,
               "ms_per_image": 1000 * (time.perf_counter() - start) / sum(len(t) for _, t in parts.values())}
        bar.update()
        tqdm.write(json.dumps(row), file=sys.stdout)
        return row

    def best(rows: list[dict], pass_cost: float = 0.0) -> dict:
        """The row of lowest CER, each test-time variant it reads with counted as ``pass_cost`` more."""
        return min(rows, key=lambda r: (round(r["cer"] + pass_cost * len(r.get("test_time_variants", ())), 6),
                                        -r["word_accuracy"]))

    variant_rows = []
    default_decoder_now = rec.metadata.get("decoder_default", "greedy")
    for variants in tried:
        variant_rows.append({"test_time_variants": list(variants), **run(default_decoder_now)})
    variants = tuple(best(variant_rows, PASS_COST)["test_time_variants"])

    # the n-gram order (hwr.lm.DEFAULT_ORDER): per-symbol perplexity of the development names
    perplexity = {order: CharLM(rec.lexicon, rec.alphabet, order).perplexity(
        [t for t in truths if not rec.alphabet.unknown(t)]) for order in ORDERS}
    print(json.dumps({"perplexity_by_order": perplexity}))
    base = {"lm_weight": 0.0, "length_bonus": 0.0, "prior_weight": 0.0}
    greedy = run("greedy")
    beam_rows = [run("beam", **{**base, "lm_weight": a, "length_bonus": b}) for a, b in beam_grid]
    chosen_beam = best(beam_rows)
    lm = {k: chosen_beam[k] for k in ("lm_weight", "length_bonus")}
    lexicon_rows = [run("lexicon", **{**base, **lm, "prior_weight": g, "lexicon_margin": m})
                    for g, m in lexicon_grid]
    bar.close()
    chosen_lexicon = best(lexicon_rows)
    chosen = {**lm, "prior_weight": chosen_lexicon["prior_weight"],
              "lexicon_margin": chosen_lexicon["lexicon_margin"]}
    # the default decoder read with what the model had (settings, variants) and with what was chosen:
    # whether the change is more than the development set's noise (a paired bootstrap of each part)
    before = readings(default_decoder_now, tuple(rec.variants))
    after = readings(default_decoder_now, variants, **chosen)
    versus = mean_difference([(texts, before[name], after[name]) for name, (_, texts) in parts.items()])
    result = {"model": str(args.model), "runtime": rec.runtime, "selection": selection, "images": len(samples),
              "heldout_names": heldout_names,
              "command": " ".join(["python", "scripts/tune_decoder.py", *(argv or sys.argv[1:])]),
              "chosen": chosen, "test_time_variants": list(variants), "variants": variant_rows,
              "perplexity_by_order": perplexity, "greedy": greedy, "beam_without_lm": beam_rows[0], "beam": chosen_beam,
              "lexicon_without_priors": next(r for r in lexicon_rows if r["prior_weight"] == 0
                                             and r["lexicon_margin"] == 2.3),
              "lexicon": chosen_lexicon, "grid": beam_rows + lexicon_rows,
              "chosen_minus_stored": {"decoder": default_decoder_now, **versus.to_dict(),
                                      "more_than_noise": versus.excludes(0.0)}}
    atomic.write_json(args.json, result)
    print(f"chosen: {chosen}, test-time variants {list(variants) or 'none'}  "
          f"(beam CER {chosen_beam['cer']:.2%}, lexicon CER {chosen_lexicon['cer']:.2%}; "
          f"greedy {greedy['cer']:.2%}); grid in {args.json}")
    print(f"{default_decoder_now}, chosen minus the model's stored settings and variants: development CER "
          f"{versus.percent(2, sign=True)}, {versus.noise()}")
    if args.write:
        rec.metadata["decoder_options"] = {**rec.metadata.get("decoder_options", {}), **chosen}
        rec.metadata["test_time_variants"] = list(variants)
        # the default decoder too: the one reading these development images best with its settings
        default, why = default_decoder({"greedy": greedy["cer"], "beam": chosen_beam["cer"],
                                        "lexicon": chosen_lexicon["cer"]})
        rec.metadata["decoder_default"] = default
        rec.metadata.setdefault("selection", {})["decoder_default"] = (
            f"{why} on {args.data_dir.name}:{selection}"
            + (f" and {result['heldout_names']} held-out-font names" if result["heldout_names"] else "")
            + " (scripts/tune_decoder.py)")
        print(f"default decoder {default}; stored in {write_metadata(args.model, rec.metadata)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
