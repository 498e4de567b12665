"""The scale benchmark as a smoke test: a 2,000-row linked layout, two train.py runs, the report's keys."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwr import config


@pytest.mark.slow
def test_a_small_scale_run_reports_caching_first_step_memory_and_reuse(tmp_path):
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, str(config.ROOT / "scripts" / "bench_scale.py"), "--rows", "2000",
                           "--json", str(out), "--workdir", str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    for key in ("date", "command", "machine", "rows", "layout_s", "caching_img_s", "first_step_s",
                "peak_rss_mb", "second_run_first_step_s", "runs"):
        assert key in report, key
    first, second = report["runs"]["first"], report["runs"]["second"]
    assert report["rows"] == 2000 and first["images_preprocessed"] > 1900 and report["caching_img_s"] > 0
    assert second["images_preprocessed"] == 0 and second["epochs"] == 2  # the cache was reused, the run went on
    assert 0 < report["first_step_s"] < first["wall_s"] and report["peak_rss_mb"]["trainer"] > 0
    assert "2,000 rows: caching" in proc.stdout
    assert not list(tmp_path.glob("hwr-scale-*"))  # the linked layout is removed
