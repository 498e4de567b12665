"""Stage: reading speed. One image file → text with each runtime and each decoder, on this machine.

``python -m hwr.bench_read`` reads the bundled sample's real crops one at a time with the model on
ONNX Runtime and on Keras, each runtime in a fresh interpreter (so its import and load times, its
memory and what it imported are its own), and writes a JSON report with the machine, the load
average and the command (``reports/bench-read.json``). The training side of the speed figures is
``python -m hwr.bench``; this module shares its timers and its one-image measurement.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hwr import config
from hwr.bench import (SAMPLE_DIR, _peak_rss_mb, _timed, in_subprocess, measure_inference, names_from,
                       report_header, write_report)

log = logging.getLogger(__name__)

RUNTIME_CHOICES = ("onnx", "keras")


def measure_runtime(runtime: str, args: argparse.Namespace) -> dict:
    """Every reading figure for one runtime, in this process (which should have imported nothing yet)."""
    start = time.perf_counter()
    from hwr.recognizer import load_recognizer

    recs: list = [load_recognizer(args.model, runtime=runtime)]
    first = time.perf_counter() - start  # imports + the first load: what a fresh process pays
    loads = _timed(lambda: recs.append(load_recognizer(args.model, runtime=runtime)), args.loads, warmup=0)
    rec = recs[-1]
    files = sorted(SAMPLE_DIR.glob("*.jpg"))[:args.images]
    result = {"runtime": rec.runtime, "first_load_s": first, "load_s": float(np.median(loads)),
              "decoder_default": rec.metadata.get("decoder_default"),
              "decoder_options": rec.metadata.get("decoder_options", {})}
    result |= measure_inference(rec, files, args.warmup, args.infer_batch, args.repeats)
    return result | {"peak_rss_mb": _peak_rss_mb(),
                     "imported": {m: m in sys.modules for m in ("tensorflow", "keras", "onnxruntime")}}


def format_table(report: dict) -> str:
    """The runtimes side by side."""
    runs = report["runtimes"]
    lines = [f"{report['date']}  {report['machine']['cpu']} ({report['machine']['cpus_usable']} cores)  "
             f"load {report['loadavg_start'][0]:.2f} → {report['loadavg_end'][0]:.2f}",
             f"{'':44}" + "".join(f" {r:>12}" for r in runs)]

    def row(label: str, cell) -> None:
        lines.append(f"{label:44}" + "".join(f" {cell(r):>12}" for r in runs.values()))

    for decoder in next(iter(runs.values()))["latency_by_decoder_ms"]:
        row(f"1 image, file → text, {decoder}: median (ms)", lambda r, d=decoder: f"{r['latency_by_decoder_ms'][d]:.1f}")
        row(f"1 image, file → text, {decoder}: p90 (ms)", lambda r, d=decoder: f"{r['latency_p90_by_decoder_ms'][d]:.1f}")
    row("  preprocess / model / greedy decode (ms)", lambda r: "/".join(f"{v:.1f}" for v in r["stages_ms"].values()))
    row("batch read, model + greedy (img/s)", lambda r: f"{r['batch_img_s']:.0f}")
    row("imports + first load (s)", lambda r: f"{r['first_load_s']:.2f}")
    row("model load, median (s)", lambda r: f"{r['load_s']:.3f}")
    row("peak RSS (MB)", lambda r: f"{r['peak_rss_mb']:.0f}")
    row("TensorFlow imported", lambda r: "yes" if r["imported"]["tensorflow"] else "no")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hwr.bench_read", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=str(config.DEFAULT_MODEL), help="the .keras model (with its .onnx beside it)")
    p.add_argument("--runtimes", default=",".join(RUNTIME_CHOICES), help="comma-separated, from onnx, keras")
    p.add_argument("--images", type=int, default=100,
                   help="timed one-image reads per decoder, one per real JPEG of the bundled sample (at most 540)")
    p.add_argument("--warmup", type=int, default=3, help="untimed reads before the timings")
    p.add_argument("--infer-batch", type=int, default=256, help="images per batch read")
    p.add_argument("--repeats", type=int, default=3, help="timed batch reads (the median is reported)")
    p.add_argument("--loads", type=int, default=3, help="model loads after the first (median)")
    p.add_argument("--json", default=str(config.ROOT / "reports" / "bench-read.json"), help="JSON report path")
    p.add_argument("--worker", choices=RUNTIME_CHOICES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.runtimes = names_from(p, args.runtimes, RUNTIME_CHOICES, "runtimes")
    if min(args.images, args.warmup, args.infer_batch, args.repeats, args.loads) < 1:
        p.error("sizes and counts must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.worker:
        Path(args.json).write_text(json.dumps(measure_runtime(args.worker, args)))
        return {}
    report = report_header(shlex.join(["python", "-m", "hwr.bench_read", *argv]), args)
    report["runtimes"] = {r: in_subprocess("hwr.bench_read", r, argv, args.model) for r in args.runtimes}
    return write_report(report, args.json, format_table)


if __name__ == "__main__":
    main()
