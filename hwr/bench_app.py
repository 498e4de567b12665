"""Stage: the app's cold start, as a visitor meets it. ``python -m hwr.bench_app``.

Each run starts ``streamlit run app.py`` on a free port (a new process: nothing imported, nothing
cached), opens the Upload page in headless Chromium, uploads a real crop and times three moments
from the launch of the server: it answers its health check, the upload widget is visible, the
first reading is shown. The report (JSON, default ``reports/cold-start.json``) holds every run,
their medians, the machine (CPU, cores, load average before and after) and the command.

The server and browser helpers here are the ones ``tests/test_browser.py`` drives the app with.
Needs Playwright and a Chromium (Debian's ``/usr/bin/chromium``; nothing is downloaded).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import shlex
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from hwr import config
from hwr.bench import machine_info

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SAMPLE = config.BUNDLED_DATA / "validation_v2" / "validation" / "VALIDATION_1001.jpg"
REPORT = config.ROOT / "reports" / "cold-start.json"
#: Seconds allowed for the server to answer and for a page to show what it waits for.
STARTUP_S = 180
RESULT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``streamlit run app.py`` on a free port; ``started`` is when the process was launched."""

    def __init__(self, model: Path | None = None, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **(env or {})}
        if model is not None:
            env["HWR_MODEL"] = str(model)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--browser.gatherUsageStats", "false"],
            cwd=config.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def since_start(self) -> float:
        return time.perf_counter() - self.started

    def wait_healthy(self, timeout: float = STARTUP_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("streamlit did not answer its health check")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "AppServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_chromium(playwright, args: Sequence[str] = ()):
    """Headless Debian Chromium through Playwright (which then downloads no browser of its own)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=[*CHROMIUM_ARGS, *args])


def open_page(page, server: AppServer, path: str, ready: str) -> None:
    """Go to a page of the app and wait until ``ready`` (a text on it) shows."""
    page.goto(f"{server.url}/{path}")
    page.get_by_text(ready).first.wait_for(timeout=STARTUP_S * 1000)


def read_value(page) -> str:
    """The decoded text shown in the first metric ("Read")."""
    value = page.locator('[data-testid="stMetricValue"]').first
    value.wait_for(timeout=RESULT_S * 1000)
    return value.inner_text().strip()


def cold_start(browser, model: Path | None = None, image: Path = SAMPLE) -> dict:
    """One cold start: seconds from launching the server to health, upload widget and first reading."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    with AppServer(model) as server:
        try:
            server.wait_healthy()
            healthy = server.since_start()
            page = context.new_page()
            page.goto(f"{server.url}/Upload")
            upload = page.locator('input[type="file"]')
            # the input itself is hidden behind Streamlit's drop zone: wait for the zone
            page.locator('[data-testid="stFileUploaderDropzone"]').first.wait_for(timeout=STARTUP_S * 1000)
            widget = server.since_start()
            upload.set_input_files(str(image))
            text = read_value(page)
            reading = server.since_start()
        finally:
            context.close()
    return {"healthy_s": round(healthy, 2), "upload_widget_s": round(widget, 2),
            "first_reading_s": round(reading, 2), "reading": text}


def versions() -> dict:
    found = {}
    for dist in ("streamlit", "onnxruntime", "playwright"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m hwr.bench_app", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="cold starts to time (default 3)")
    ap.add_argument("--model", type=Path, default=config.DEFAULT_MODEL, help="model file (HWR_MODEL)")
    ap.add_argument("--image", type=Path, default=SAMPLE, help="the image uploaded (a real crop)")
    ap.add_argument("--json", type=Path, default=REPORT, help=f"report file (default {REPORT.relative_to(config.ROOT)})")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not CHROMIUM.is_file():
        sys.exit(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": shlex.join(["python", "-m", "hwr.bench_app", *(argv if argv is not None else sys.argv[1:])]),
              "machine": {**machine_info(), "versions_app": versions()},
              "model": args.model.name, "onnx_beside_model": args.model.with_suffix(".onnx").is_file(),
              "image": args.image.name, "loadavg_start": os.getloadavg(), "runs": []}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            for i in range(args.runs):
                run = cold_start(browser, args.model, args.image)
                report["runs"].append(run)
                log.info("run %d: healthy %.1f s, upload widget %.1f s, first reading %.1f s (%r)", i + 1,
                         run["healthy_s"], run["upload_widget_s"], run["first_reading_s"], run["reading"])
        finally:
            browser.close()
    report["loadavg_end"] = os.getloadavg()
    report["median"] = {k: statistics.median(r[k] for r in report["runs"])
                        for k in ("healthy_s", "upload_widget_s", "first_reading_s")}
    m = report["machine"]
    print(f"{report['date']}  {m['cpu']} ({m['cpus_usable']} cores)  load {report['loadavg_start'][0]:.2f}"
          f" → {report['loadavg_end'][0]:.2f}  onnx beside the model: {report['onnx_beside_model']}")
    print(f"cold start, median of {args.runs}: server healthy {report['median']['healthy_s']:.1f} s, "
          f"upload widget {report['median']['upload_widget_s']:.1f} s, "
          f"first reading {report['median']['first_reading_s']:.1f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(args.json)  # never a half-written report
    return report


if __name__ == "__main__":
    main()
