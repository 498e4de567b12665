"""Training step with keras.losses.CTC as it is, then with hwr.model.CTC, interleaved in one process.

Three rounds of each design and loss on the same machine minute, so a shared machine's slow phases
hit both losses alike (separate `python -m hwr.bench --ctc keras|hwr` runs minutes apart vary more
than the loss changes). Prints each measurement; writes reports/ctc-ab.json.
Run from the repository root: python scripts/bench_ctc_ab.py
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hwr  # noqa: E402,F401  (oneDNN on before TensorFlow loads)
from hwr.bench import machine_info, measure_training  # noqa: E402
from hwr.model import CLASSIC, ModelSpec, build_model  # noqa: E402

rows = []
for rnd in range(3):
    for name, spec, steps in (("ours", ModelSpec(), 8), ("classic", CLASSIC, 3)):
        for ctc in ("keras", "hwr"):
            r = measure_training(build_model(spec), 128, 2, steps, ctc=ctc)
            rows.append({"round": rnd, "design": name, "ctc": ctc, "median_step_s": r["train_step_s"],
                         "img_s": r["train_img_s"]})
            print(rows[-1], flush=True)
out = Path(__file__).resolve().parents[1] / "reports" / "ctc-ab.json"
out.write_text(json.dumps({"machine": machine_info(), "batch_size": 128, "rows": rows}, indent=1))
print(f"written to {out}")
