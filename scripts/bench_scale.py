"""Scale benchmark: train.py on a full-size Kaggle layout, made of hard links to the sample's images.

``python scripts/bench_scale.py`` builds a layout with as many training rows as the full download
(330,961) by linking the sample's labelled crops over and over (no image is copied), then runs
``train.py`` twice in fresh processes: a 5-step epoch from nothing (the preprocessed cache is built
with every core) and a resumed run that reuses the cache. It prints and writes (JSON under
``reports/``) caching img/s, the time to the first training step, peak memory, and the second run's
time to its first step. ``--rows 2000`` is the smoke test the suite runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwr import atomic, config  # noqa: E402
from hwr.bench import machine_info  # noqa: E402
from hwr.data import csv_path, image_dir, read_labels  # noqa: E402

log = logging.getLogger("bench_scale")

#: training rows of the full Kaggle download
FULL_ROWS = 330_961


def make_layout(root: Path, rows: int, source: Path) -> float:
    """A Kaggle layout with ``rows`` training rows hard-linked to ``source``'s labelled validation crops."""
    t0 = time.perf_counter()
    labels = read_labels(source, "validation")
    src = image_dir(source, "validation")
    labels = labels[labels["FILENAME"].map(lambda f: (src / f).is_file())].reset_index(drop=True)
    train = image_dir(root, "train")
    train.mkdir(parents=True)
    files, texts = labels["FILENAME"].tolist(), labels["IDENTITY"].tolist()
    with open(csv_path(root, "train"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["FILENAME", "IDENTITY"])
        for i in range(rows):
            name = f"TRAIN_{i + 1:06d}.jpg"
            os.link(src / files[i % len(files)], train / name)
            w.writerow([name, texts[i % len(texts)]])
    val = image_dir(root, "validation")
    val.mkdir(parents=True)
    for name in labels["FILENAME"]:
        os.link(src / name, val / name)
    labels.to_csv(csv_path(root, "validation"), index=False)
    return time.perf_counter() - t0


def train_once(layout: Path, out: Path, extra: list[str]) -> dict:
    """One train.py process: its wall time, time to the first step and the figures it recorded."""
    cmd = [sys.executable, str(ROOT / "train.py"), "--data-dir", str(layout), "--out-dir", str(out),
           "--synthetic", "0", "--dev-synthetic", "0", "--pseudo-rounds", "0", "--finetune-epochs", "0",
           "--steps-per-epoch", "5", "--batch-size", "64", "--max-dev-images", "500",
           "--max-eval-images", "100", "--decoders", "greedy", "-q", *extra]
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    wall = time.time() - started
    if proc.returncode:
        raise SystemExit(f"bench_scale: train.py failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    t = json.loads((out / "crnn.json").read_text())["training"]
    s = t["startup"]
    return {"command": "python train.py " + shlex.join(cmd[2:]), "wall_s": round(wall, 1),
            "first_step_s": round(s["first_step_at"] - started, 1), "data_s": s["data_s"],
            "images_preprocessed": s["prepared"], "preprocess_s": s["prepare_s"],
            "caching_img_s": round(s["prepared"] / s["prepare_s"], 1) if s["prepared"] else None,
            "peak_rss_mb": t["peak_rss_mb"], "epochs": t["epochs"]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=FULL_ROWS, help="training rows of the layout")
    p.add_argument("--json", type=Path, help="report file (default: reports/scale-ROWS.json)")
    p.add_argument("--workdir", type=Path, help="where to build the layout (default: a temporary folder)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    source = config.SHARED_DATA if config.SHARED_DATA.is_dir() else config.BUNDLED_DATA
    report_file = args.json or ROOT / "reports" / f"scale-{args.rows}.json"
    with tempfile.TemporaryDirectory(prefix="hwr-scale-", dir=args.workdir) as tmp:
        layout, out = Path(tmp) / "kaggle", Path(tmp) / "run"
        log.info("linking %d training rows to %s", args.rows, source)
        link_s = make_layout(layout, args.rows, source)
        log.info("first run: cache built from nothing")
        first = train_once(layout, out, ["--epochs", "1"])
        log.info("second run: --resume, the cache reused")
        second = train_once(layout, out, ["--epochs", "2", "--resume"])
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": shlex.join(["python", "scripts/bench_scale.py", *(argv if argv is not None else sys.argv[1:])]),
              "machine": machine_info(), "loadavg": os.getloadavg(), "rows": args.rows, "source": str(source),
              "layout_s": round(link_s, 1), "caching_img_s": first["caching_img_s"],
              "first_step_s": first["first_step_s"], "peak_rss_mb": first["peak_rss_mb"],
              "second_run_first_step_s": second["first_step_s"], "runs": {"first": first, "second": second}}
    atomic.write_json(report_file, report)
    print(f"{args.rows:,} rows: caching {first['caching_img_s']} img/s ({first['images_preprocessed']:,} images "
          f"in {first['preprocess_s']:.0f} s), first step after {first['first_step_s']:.0f} s, peak RSS "
          f"{first['peak_rss_mb']['trainer']:,.0f} MB (largest cache worker "
          f"{first['peak_rss_mb']['largest_worker']:,.0f} MB); second run's first step after "
          f"{second['first_step_s']:.0f} s; report {report_file}")
    return report


if __name__ == "__main__":
    main()
