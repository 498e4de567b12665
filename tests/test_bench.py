"""The benchmark: one tiny run of the command line end to end, checked for shape, never for speed."""

from __future__ import annotations

import json

import pytest

from hwr import bench

TINY = ["--train-steps", "1", "--warmup-steps", "1", "--images", "1", "--batch-size", "4",
        "--infer-batch", "2", "--repeats", "1", "--loads", "1", "--in-process"]


@pytest.mark.slow
def test_tiny_run_reports_both_designs(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main([*TINY, "--model", str(tmp_path / "absent.keras"), "--json", str(out)])
    report = json.loads(out.read_text())
    for key in ("date", "command", "machine", "backend", "loadavg_start", "loadavg_end", "settings"):
        assert key in report
    assert report["command"].endswith(f"--json {out}")
    assert report["machine"]["cpu_count"] > 0 and report["backend"]["keras"]
    assert set(report["designs"]) == {"ours", "classic"}
    for name, d in report["designs"].items():
        assert "untrained" in d["note"], name
        for key in ("train_img_s", "latency_ms", "latency_p90_ms", "batch_img_s", "batch_model_img_s",
                    "load_s", "peak_rss_mb", "params"):
            assert d[key] > 0, (name, key)
        assert all(v > 0 for v in [*d["stages_ms"].values(), *d["model_ms"].values()]), name
        assert set(d["latency_by_decoder_ms"]) == {"greedy", "beam", "lexicon"}  # the bundled lexicon
        assert min(d["latency_by_decoder_ms"].values()) > 0, name
    assert d["spec"]["rnn"] == "lstm" and d["spec"]["height"] == 64  # classic's own input size
    assert all(v > 0 for v in report["ratios"]["ours"].values())
    table = capsys.readouterr().out
    assert "ours/classic" in table and "training (img/s)" in table


def test_options_are_checked():
    assert bench.parse_args(["--designs", "ours, classic-gru"]).designs == ["ours", "classic-gru"]
    with pytest.raises(SystemExit):
        bench.parse_args(["--designs", "ours,huge"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--images", "0"])


def test_training_can_be_timed_with_keras_ctc_as_it_is(tiny_spec):
    from hwr.model import CTC, build_model

    model = build_model(tiny_spec)
    result = bench.measure_training(model, 4, 1, 1, ctc="keras")
    assert result["ctc"] == "keras" and result["train_img_s"] > 0
    assert isinstance(model.loss, CTC) and model.loss.sparse_labels is False
    assert bench.parse_args(["--ctc", "keras"]).ctc == "keras"
