"""Every decoder, with and without its priors, on the same evaluation images; names in and out of the lexicon.

The model is run once (``python -m hwr.evaluate`` per decoder gives the same figures, one decoder a
call); each variant's readings are scored on all images, and apart on the names the lexicon holds
and the ones it does not (a third of them), which only the character model can help.

    python scripts/compare_decoders.py            # writes reports/decoders.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hwr import atomic, config  # noqa: E402
from hwr.data import load_split  # noqa: E402
from hwr.decode import decode  # noqa: E402
from hwr.evaluation import resolve_selection  # noqa: E402
from hwr.metrics import score  # noqa: E402
from hwr.recognizer import load_recognizer  # noqa: E402

#: (label, decoder, settings over the model's own): the priors switched off one at a time
VARIANTS = [
    ("greedy", "greedy", {}),
    ("beam, no character model", "beam", {"lm_weight": 0.0, "length_bonus": 0.0}),
    ("beam", "beam", {}),
    ("lexicon, no priors (margin 2.3)", "lexicon",
     {"lm_weight": 0.0, "length_bonus": 0.0, "prior_weight": 0.0, "lexicon_margin": 2.3}),
    ("lexicon, no character model", "lexicon", {"lm_weight": 0.0, "length_bonus": 0.0}),
    ("lexicon", "lexicon", {}),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=config.DEFAULT_MODEL)
    p.add_argument("--data-dir", type=Path, default=config.default_data_dir())
    p.add_argument("--json", type=Path, default=config.ROOT / "reports" / "decoders.json")
    args = p.parse_args(argv)
    selection = resolve_selection(args.data_dir, "validation", None)
    samples, report = load_split(args.data_dir, selection)
    rec = load_recognizer(args.model)
    truths = [s.text for s in samples]
    in_lexicon = np.array([t in (rec.lexicon or {}) for t in truths])
    lp = rec.log_probs(np.stack([rec.preprocess(s.image) for s in samples]))
    rows = []
    for label, decoder, settings in VARIANTS:
        options = rec.decode_options(**settings)
        start = time.perf_counter()
        texts = [d.text for d in decode(lp, rec.alphabet, decoder, options)]
        seconds = time.perf_counter() - start
        split = {part: score([t for t, m in zip(truths, mask) if m], [x for x, m in zip(texts, mask) if m]).to_dict()
                 for part, mask in (("in_lexicon", in_lexicon), ("not_in_lexicon", ~in_lexicon))}
        rows.append({"variant": label, "decoder": decoder,
                     "settings": {k: getattr(options, k) for k in ("lm_weight", "length_bonus", "prior_weight",
                                                                   "lexicon_margin")},
                     "all": score(truths, texts).to_dict(), **split,
                     "decode_ms_per_image_in_batches": 1000 * seconds / len(samples)})
        r = rows[-1]
        print(f"{label:34} words {r['all']['word_accuracy']:.2%}  CER {r['all']['cer']:.2%}   "
              f"in lexicon {r['in_lexicon']['word_accuracy']:.2%} / {r['in_lexicon']['cer']:.2%}   "
              f"not {r['not_in_lexicon']['word_accuracy']:.2%} / {r['not_in_lexicon']['cer']:.2%}")
    out = {"model": str(args.model), "runtime": rec.runtime, "selection": selection,
           "cleaning": report.summary(), "images": len(samples), "in_lexicon": int(in_lexicon.sum()),
           "model_decoder_options": rec.metadata.get("decoder_options", {}),
           "command": " ".join(["python", "scripts/compare_decoders.py", *(argv or sys.argv[1:])]), "rows": rows}
    atomic.write_json(args.json, out)
    print(f"{int(in_lexicon.sum())} of {len(samples)} names in the lexicon; written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
