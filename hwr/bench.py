"""Stage: speed. How fast a design trains, reads one image and reads a batch on this machine.

``python -m hwr.bench`` measures our design (the trained model file, or an untrained model of the
default ``ModelSpec`` when there is none) beside the classic Kaggle CRNN (``hwr.model.CLASSIC``,
random weights: only its speed matters here), each in its own subprocess so each has its own peak
memory, and writes a JSON report with the machine, the backend, the load average and the exact
command, so that a run made on a busy machine can be spotted and repeated.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hwr import atomic, config

log = logging.getLogger(__name__)

#: what --designs can name; every other design is compared with "classic"
DESIGNS = ("ours", "classic", "lean", "wide", "strided2", "ours-lstm", "classic-gru")
SAMPLE_DIR = config.BUNDLED_DATA / "validation_v2" / "validation"


def _timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call after ``warmup`` untimed calls (the first calls trace graphs, fill caches)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _ms(times: Sequence[float], q: float = 50) -> float:
    return float(np.percentile(times, q) * 1000)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process: TensorFlow allocates outside Python, so not tracemalloc."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1024 ** 2 if sys.platform == "darwin" else 1024)


def machine_info() -> dict:
    """What the numbers depend on: CPU, cores, Python and library versions (imports no Keras)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    versions = {}
    for dist in ("keras", "tensorflow", "tensorflow-cpu", "jax", "torch", "numpy", "opencv-python-headless"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu": names[0] if names else platform.processor(), "cpu_count": os.cpu_count(),
            "cpus_usable": usable, "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
            "versions": versions}


def _design_file(name: str, model_path: Path, workdir: Path) -> tuple[Path, str]:
    """The .keras file to measure for a design, and a note; untrained designs are saved to workdir."""
    from dataclasses import replace

    import keras

    from hwr.alphabet import Alphabet
    from hwr.model import CLASSIC, LEAN, WIDE, ModelSpec, build_model
    from hwr.recognizer import save_model

    if name == "ours" and model_path.is_file():
        return model_path, f"trained model {model_path}"
    spec = {"ours": ModelSpec(), "classic": CLASSIC, "lean": LEAN, "wide": WIDE,
            "strided2": replace(ModelSpec(), strided_blocks=2), "ours-lstm": replace(ModelSpec(), rnn="lstm"),
            "classic-gru": replace(CLASSIC, rnn="gru")}[name]
    keras.utils.set_random_seed(0)
    path = save_model(build_model(spec), workdir / f"{name}.keras", {"alphabet": Alphabet().chars,
                                                                     "spec": spec.to_dict()}, onnx=False)
    return path, f"untrained {name} design, random weights" + (
        f" (no model at {model_path})" if name == "ours" else "")


def measure_training(model, batch_size: int, warmup: int, steps: int, jit: str = "auto",
                     ctc: str = "hwr") -> dict:
    """Steady-state training images/s of ``model`` on random images and labels, after ``warmup`` steps.

    ``train_on_batch`` returns the loss as a number, so each timed step has really finished (JAX and
    GPUs dispatch asynchronously); taking a batch from ``Batches`` is left out, as ``fit`` overlaps it.
    """
    from hwr.alphabet import Alphabet
    from hwr.model import CTC, compile_for_training
    from hwr.pipeline import Batches

    rng = np.random.default_rng(0)
    alphabet = Alphabet()
    texts = ["".join(rng.choice(list(alphabet.chars[:26]), rng.integers(3, 15))) for _ in range(batch_size)]
    images = rng.integers(0, 256, (batch_size, *model.input_shape[1:3]), np.uint8)
    batches = Batches(images, texts, alphabet, batch_size, steps=warmup + steps)
    compile_for_training(model)
    if jit != "auto" or ctc == "keras":  # the same optimizer; XLA has no sparse-label CTC
        model.compile(optimizer=model.optimizer, loss=CTC(sparse_labels=False) if jit == "on" or ctc == "keras"
                      else model.loss, jit_compile="auto" if jit == "auto" else jit == "on")
    times = []
    for i in range(len(batches)):
        x, y = batches[i]
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    steady = times[warmup:]
    return {"train_img_s": batch_size * len(steady) / sum(steady), "train_step_s": float(np.median(steady)),
            "train_first_step_s": times[0], "jit_compile": bool(model.jit_compile), "ctc": ctc}


def measure_inference(rec, files: list[Path], warmup: int, infer_batch: int, repeats: int = 3,
                      eager: bool = False) -> dict:
    """One image file → text (``Recognizer.read``) with its stages, the model alone, and batch reads."""
    from hwr.decode import decode

    def each_file(fn: Callable[[Path], object], warm: int = 0) -> list[float]:
        cycle = iter(files * (warm + 1))
        return _timed(lambda: fn(next(cycle)), len(files), warm)

    e2e = each_file(lambda p: rec.read([p]), warmup)  # which also warms up the stages timed next
    x = rec.preprocess(files[0])[None]
    lp, opts = rec.log_probs(x), rec.decode_options()
    out = {"latency_ms": _ms(e2e), "latency_p90_ms": _ms(e2e, 90),
           "stages_ms": {"preprocess": _ms(each_file(rec.preprocess)),
                         "model": _ms(each_file(lambda _: rec.log_probs(x))),
                         "decode": _ms(each_file(lambda _: decode(lp, rec.alphabet, "greedy", opts)))}}
    # the same file → text with the other decoders (the app's default is the model's, often lexicon)
    others = ("beam", "lexicon") if rec.lexicon else ("beam",)
    by_decoder = {d: each_file(lambda p, d=d: rec.read([p], d), 1) for d in others}
    out["latency_by_decoder_ms"] = {"greedy": out["latency_ms"]} | {d: _ms(t) for d, t in by_decoder.items()}
    out["latency_p90_by_decoder_ms"] = {"greedy": out["latency_p90_ms"]} | {
        d: _ms(t, 90) for d, t in by_decoder.items()}
    # the reader's compiled function against Keras' predict_on_batch; a plain call runs the layers
    # eagerly (RNN steps in Python: seconds per image on TensorFlow), so it is timed only on request
    x4 = x[..., None].astype(np.float32)
    out["model_ms"] = {"forward": _ms(each_file(lambda _: rec.forward(x4)))}
    if rec.model is not None:  # a reader on ONNX Runtime has no Keras model
        out["model_ms"]["predict_on_batch"] = _ms(each_file(lambda _: rec.model.predict_on_batch(x4)))
    if eager and rec.model is not None:
        import keras

        out["model_ms"]["eager_call"] = _ms(_timed(
            lambda: keras.ops.convert_to_numpy(rec.model(x4, training=False)), min(3, len(files))))
    unique = np.stack([rec.preprocess(p) for p in files[:infer_batch]])
    batch = unique[np.arange(infer_batch) % len(unique)]
    full = _timed(lambda: rec.read_arrays(batch, batch_size=infer_batch), repeats)
    model_only = _timed(lambda: rec.log_probs(batch, batch_size=infer_batch), repeats)
    return out | {"batch_img_s": infer_batch / float(np.median(full)),
                  "batch_model_img_s": infer_batch / float(np.median(model_only))}


def measure_design(name: str, args: argparse.Namespace) -> dict:
    """Every figure for one design, in this process; peak memory is read before and after training."""
    import keras

    from hwr.distribute import describe_devices
    from hwr.recognizer import load_recognizer

    with tempfile.TemporaryDirectory(prefix="hwr-bench-") as tmp:
        path, note = _design_file(name, Path(args.model), Path(tmp))
        log.info("%s: %s; loading", name, note)
        recs: list = []
        # Keras: this bench also trains the loaded model (the ONNX reader: python -m hwr.bench_read)
        loads = _timed(lambda: recs.append(load_recognizer(path, runtime="keras")), args.loads, warmup=0)
    rec = recs[-1]
    files = sorted(SAMPLE_DIR.glob("*.jpg"))[:args.images]
    result = {"note": note, "spec": rec.spec.to_dict(), "params": int(rec.model.count_params()),
              "load_s": float(np.median(loads)), "load_all_s": loads}
    log.info("%s: inference", name)
    result |= measure_inference(rec, files, max(1, args.warmup_steps), args.infer_batch, args.repeats,
                                args.eager)
    result["peak_rss_inference_mb"] = _peak_rss_mb()
    log.info("%s: training", name)
    # the loaded model trains from its own weights: the speed is the architecture's either way
    result |= measure_training(rec.model, args.batch_size, args.warmup_steps, args.train_steps, args.jit,
                               args.ctc)
    backend = keras.backend.backend()
    return result | {"peak_rss_mb": _peak_rss_mb(), "backend": {
        "name": backend, "keras": keras.__version__, "devices": describe_devices(),
        "version": getattr(sys.modules.get(backend), "__version__", None)}}


def in_subprocess(module: str, name: str, argv: list[str], model: Path | str) -> dict:
    """``python -m module ... --worker name`` in a fresh interpreter, so its peak RSS and its imports
    are its own and nothing is shared; returns the JSON the worker wrote."""
    with tempfile.TemporaryDirectory(prefix="hwr-bench-") as tmp:
        out = Path(tmp) / "result.json"
        # the last occurrence of an option wins: the model path made absolute, the output redirected
        cmd = [sys.executable, "-m", module, *argv, "--model", str(Path(model).resolve()),
               "--worker", name, "--json", str(out)]
        path = os.pathsep.join(filter(None, [str(config.ROOT), os.environ.get("PYTHONPATH")]))
        subprocess.run(cmd, check=True, cwd=config.ROOT, env={**os.environ, "PYTHONPATH": path})
        return json.loads(out.read_text())


def names_from(parser: argparse.ArgumentParser, text: str, allowed: Sequence[str], what: str) -> list[str]:
    """A comma-separated option (``--designs``, ``--runtimes``) as a list; unknown names end the parse."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if unknown := set(names) - set(allowed):
        parser.error(f"unknown {what} {sorted(unknown)}; choose from {', '.join(allowed)}")
    return names


def report_header(command: str, args: argparse.Namespace) -> dict:
    """What every benchmark report starts with: when, the command, the machine, its load, the settings."""
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command,
            "cwd": os.getcwd(), "machine": machine_info(), "loadavg_start": os.getloadavg(),
            "settings": {k: v for k, v in vars(args).items() if k not in ("worker", "json")}}


def write_report(report: dict, path: Path | str, table: Callable[[dict], str]) -> dict:
    """Close a report (the load at its end), write it as JSON, print ``table(report)``."""
    report["loadavg_end"] = os.getloadavg()
    atomic.write_json(path, report)
    print(table(report))
    log.info("report written to %s", path)
    return report


def ratios(ours: dict, classic: dict) -> dict:
    """Times better than classic (> 1 is better): ours / classic for throughputs, classic / ours for costs."""
    more = ("train_img_s", "batch_img_s", "batch_model_img_s")
    less = ("latency_ms", "latency_p90_ms", "load_s", "peak_rss_mb", "params")
    return {**{k: ours[k] / classic[k] for k in more}, **{k: classic[k] / ours[k] for k in less}}


#: (label, key or (key, subkey), format; None: the stages joined by "/")
ROWS = [("training (img/s)", "train_img_s", "{:.1f}"),
        ("1 image, file → text, median (ms)", "latency_ms", "{:.1f}"),
        ("1 image, file → text, p90 (ms)", "latency_p90_ms", "{:.1f}"),
        ("  preprocess / model / decode (ms)", "stages_ms", None),
        ("  greedy / beam / lexicon decoder (ms)", "latency_by_decoder_ms", None),
        ("model only: compiled forward (ms)", ("model_ms", "forward"), "{:.1f}"),
        ("model only: predict_on_batch (ms)", ("model_ms", "predict_on_batch"), "{:.1f}"),
        ("model only: eager model(x) (ms)", ("model_ms", "eager_call"), "{:.0f}"),
        ("batch read, model + greedy (img/s)", "batch_img_s", "{:.1f}"),
        ("batch, model only (img/s)", "batch_model_img_s", "{:.1f}"),
        ("model load, median (s)", "load_s", "{:.2f}"),
        ("peak RSS (MB)", "peak_rss_mb", "{:.0f}"), ("parameters", "params", "{:,}")]


def format_table(report: dict) -> str:
    """The designs side by side, then each one's ratio to classic."""
    designs, m = report["designs"], report["machine"]
    where = report.get("backend", {}).get("devices", m["keras_backend"])
    lines = [f"{report['date']}  {m['cpu']} ({m['cpus_usable']} cores)  {where}  "
             f"load {report['loadavg_start'][0]:.2f} → {report['loadavg_end'][0]:.2f}",
             f"{'':36}" + "".join(f" {c:>15}" for c in [*designs, *(f"{d}/classic" for d in report["ratios"])])]
    for label, key, fmt in ROWS:
        cells = []
        for d in designs.values():
            v = d[key[0]].get(key[1]) if isinstance(key, tuple) else d[key]
            cells.append("-" if v is None else fmt.format(v) if fmt
                         else "/".join(f"{s:.1f}" for s in v.values()))
        cells += [f"{r[key]:.2f}×" if key in r else "" for r in report["ratios"].values()]
        lines.append(f"{label:36}" + "".join(f" {c:>15}" for c in cells))
    return "\n".join(lines + [f"{n}: {d['note']}" for n, d in designs.items()])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hwr.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=str(config.DEFAULT_MODEL),
                   help="our trained .keras file; if absent, an untrained model of the default ModelSpec")
    p.add_argument("--batch-size", type=int, default=128, help="training batch size")
    p.add_argument("--train-steps", type=int, default=20, help="timed training steps, after the warm-up")
    p.add_argument("--warmup-steps", type=int, default=3,
                   help="untimed training steps (graph tracing), also the untimed reads before each timing")
    p.add_argument("--images", type=int, default=50,
                   help="timed one-image reads, one per real JPEG of the bundled sample (at most 540)")
    p.add_argument("--infer-batch", type=int, default=256, help="images per batch read")
    p.add_argument("--repeats", type=int, default=3, help="timed batch reads (the median is reported)")
    p.add_argument("--loads", type=int, default=3, help="model loads, in the measuring process (median)")
    p.add_argument("--designs", default="ours,classic",
                   help=f"comma-separated, from {', '.join(DESIGNS)}; each is compared with classic")
    p.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                   help="jit_compile for training (auto: Keras' choice, off for TensorFlow on a CPU)")
    p.add_argument("--ctc", choices=("hwr", "keras"), default="hwr",
                   help="training loss: hwr.model.CTC (TensorFlow's C++ kernel on a CPU) or keras.losses.CTC "
                        "as it is, to measure what the first saves")
    p.add_argument("--eager", action="store_true",
                   help="also time a plain eager model(x) call on one image (slow: three calls)")
    p.add_argument("--in-process", action="store_true",
                   help="measure every design in this process: faster, but peak RSS accumulates")
    p.add_argument("--json", default=str(config.ROOT / "reports" / "bench.json"), help="JSON report path")
    p.add_argument("--worker", choices=DESIGNS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.designs = names_from(p, args.designs, DESIGNS, "designs")
    if min(args.batch_size, args.train_steps, args.images, args.infer_batch, args.repeats, args.loads) < 1:
        p.error("sizes and counts must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.worker:  # one design, for the parent process
        Path(args.json).write_text(json.dumps(measure_design(args.worker, args)))
        return {}
    backend = os.environ.get("KERAS_BACKEND")
    report = report_header((f"KERAS_BACKEND={backend} " if backend else "")
                           + shlex.join(["python", "-m", "hwr.bench", *argv]), args)
    report["peak_rss"] = "all designs in one process" if args.in_process else "one subprocess per design"
    report["designs"] = {d: measure_design(d, args) if args.in_process
                         else in_subprocess("hwr.bench", d, argv, args.model) for d in args.designs}
    report["backend"] = next(iter(report["designs"].values()))["backend"]
    report["ratios"] = {d: ratios(r, report["designs"]["classic"]) for d, r in report["designs"].items()
                        if d != "classic" and "classic" in report["designs"]}
    return write_report(report, args.json, format_table)


if __name__ == "__main__":
    main()
