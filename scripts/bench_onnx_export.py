"""The ONNX serving copy written two ways, timed on ONNX Runtime: ``hwr.onnx_graph`` against tf2onnx.

    python scripts/bench_onnx_export.py                # the committed model → reports/onnx-export.json

Writes the model's ONNX copy with ``hwr.onnx_graph.crnn_graph`` (native GRU/LSTM operators, what
``python -m hwr.export`` writes) and with Keras' own ``model.export(format="onnx")`` (tf2onnx, what
it wrote before: the recurrent layers become ``Loop`` nodes), both into a temporary folder, and
times one ``run`` of each on ONNX Runtime with the serving session's settings at each batch size:
1 (an image read once), 3 (an image and its two test-time variants: the app's reading) and the
batch reader's 256, the two sessions taking turns so that the machine's load falls on both alike.
Prints the medians and 90th percentiles and how far each copy's log-probabilities are from Keras'
on the bundled real crops, and writes them with the machine and its load. Needs the development
packages (tf2onnx: ``requirements-dev.txt``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwr import config  # noqa: E402
from hwr.bench import SAMPLE_DIR, _ms, report_header, write_report  # noqa: E402
from hwr.preprocess import preprocess  # noqa: E402

EXPORTS = ("hwr.onnx_graph", "tf2onnx")


def _table(report: dict) -> str:
    lines = [f"{report['date']}  {report['machine']['cpu']} ({report['machine']['cpus_usable']} cores)  "
             f"load {report['loadavg_start'][0]:.2f} → {report['loadavg_end'][0]:.2f}",
             f"{'batch':>6}" + "".join(f" {name + ' median / p90 ms':>34}" for name in EXPORTS) + f" {'ratio':>7}"]
    for batch, row in report["batches"].items():
        cells = "".join(f" {row[n]['median_ms']:>20.2f} / {row[n]['p90_ms']:>11.2f}" for n in EXPORTS)
        lines.append(f"{batch:>6}{cells} {row['tf2onnx']['median_ms'] / row['hwr.onnx_graph']['median_ms']:>6.1f}×")
    for name in EXPORTS:
        e = report["exports"][name]
        lines.append(f"{name}: {e['nodes']} nodes ({', '.join(e['recurrent_ops'])}), written in {e['export_s']:.2f} s, "
                     f"{e['bytes'] / 1e6:.2f} MB, max |log p − Keras| {e['max_abs_diff_vs_keras']:.1e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=config.DEFAULT_MODEL)
    parser.add_argument("--batches", default="1,3,256", help="batch sizes timed (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=200, help="timed runs per batch of 1 (fewer for larger "
                                                                 "batches, at least 10; default: %(default)s)")
    parser.add_argument("--json", type=Path, default=config.ROOT / "reports" / "onnx-export.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import keras
    import onnx
    import onnxruntime as ort

    from hwr.onnx_graph import crnn_graph
    from hwr.recognizer import session_options

    model = keras.saving.load_model(args.model, compile=False)
    files = sorted(SAMPLE_DIR.glob("*.jpg"))
    crops = np.stack([preprocess(f, *model.input_shape[1:3]) for f in files])[..., None]
    keras_out = np.asarray(model.predict_on_batch(crops[:64]))
    report = report_header(" ".join(["python", "scripts/bench_onnx_export.py", *(argv or sys.argv[1:])]), args)
    sessions, report["exports"] = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in EXPORTS:
            path = Path(tmp) / f"{name}.onnx"
            start = time.perf_counter()
            if name == "tf2onnx":
                model.export(str(path), format="onnx", verbose=False)
            else:
                onnx.save(crnn_graph(model), path)
            seconds = time.perf_counter() - start
            graph = onnx.load(path).graph
            session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
            sessions[name] = (session, session.get_inputs()[0].name)
            out = session.run(None, {sessions[name][1]: crops[:64]})[0]
            report["exports"][name] = {
                "export_s": seconds, "bytes": path.stat().st_size, "nodes": len(graph.node),
                "recurrent_ops": sorted({n.op_type for n in graph.node} & {"Loop", "Scan", "GRU", "LSTM"}),
                "max_abs_diff_vs_keras": float(np.abs(out - keras_out).max())}
    report["batches"] = {}
    for batch in (int(b) for b in args.batches.split(",")):
        x = crops[np.arange(batch) % len(crops)]
        repeats = max(10, args.repeats // batch)
        times: dict[str, list[float]] = {name: [] for name in EXPORTS}
        for i in range(repeats + 3):  # the sessions take turns; three warm-up rounds
            for name, (session, input_name) in sessions.items():
                start = time.perf_counter()
                session.run(None, {input_name: x})
                if i >= 3:
                    times[name].append(time.perf_counter() - start)
        report["batches"][str(batch)] = {name: {"median_ms": _ms(t), "p90_ms": _ms(t, 90), "runs": len(t)}
                                         for name, t in times.items()}
    return write_report(report, args.json, _table)


if __name__ == "__main__":
    main()
