"""Devices and clusters: TF_CONFIG checked in one line, two real workers, two logical CPUs, JAX data parallel."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import train
from hwr import config
from hwr.backend import BackendError
from hwr.distribute import parse_devices, read_tf_config

#: a run of seconds: 2 + 1 epochs of 2 steps on 16 real crops, greedy decoding only
TINY = ["--data-dir", str(config.BUNDLED_DATA), "--lexicon", str(config.BUNDLED_LEXICON),
        "--train-rows", "validation:1-30", "--dev-rows", "validation:31-40", "--dev-synthetic", "0",
        "--synthetic", "0", "--steps-per-epoch", "2", "--max-train-images", "16", "--max-eval-images", "8",
        "--batch-size", "8", "--conv-filters", "8,16,32,32", "--rnn", "lstm", "--rnn-units", "32",
        "--epochs", "2", "--pseudo-rounds", "0", "--finetune-epochs", "1", "--decoders", "greedy",
        "--processes", "1", "-q"]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _train(out: Path, *extra: str, env: dict | None = None, args: list[str] = TINY) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(config.ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.Popen([sys.executable, str(config.ROOT / "train.py"), *args, "--out-dir", str(out), *extra],
                            cwd=config.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(*procs: subprocess.Popen) -> list[str]:
    """Each process's log, once all have exited 0 without a traceback."""
    errs = [p.communicate(timeout=300)[1] for p in procs]
    for p, err in zip(procs, errs):
        assert p.returncode == 0 and "Traceback" not in err, err
    return errs


def _cluster(backend: str, ports: list[int], index: int) -> dict:
    """The environment of process ``index`` of a local cluster: TF_CONFIG, or Keras' JAX distribution."""
    if backend == "tensorflow":
        return {"TF_CONFIG": _tf_config(ports, index)}
    return {"KERAS_BACKEND": "jax", "KERAS_DISTRIBUTION_JOB_ADDRESSES": ",".join(f"localhost:{p}" for p in ports),
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}


def test_devices_option_is_checked():
    assert parse_devices("gpu:4") == ("gpu", 4) and parse_devices("auto") == ("auto", None)
    for bad in ("tpu", "gpu:0", "cpu:x", ""):
        with pytest.raises(BackendError, match="--devices must be"):
            parse_devices(bad)
    with pytest.raises(SystemExit):
        train.parse_args(["--devices", "gpus"])


@pytest.mark.parametrize("text, says", [
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "is not \"host:port\""),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}', "outside the 1 worker"),
    ('{"cluster": {"worker": ["localhost:1"]}}', '"task" must name'),
])
def test_a_malformed_tf_config_is_one_line(text, says, monkeypatch, capsys):
    with pytest.raises(BackendError, match=says):
        read_tf_config(text)
    monkeypatch.setenv("TF_CONFIG", text)
    assert train.main([*TINY, "--out-dir", "unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train.py: TF_CONFIG") and says in err and len(err.splitlines()) == 1, err


def test_no_cluster_means_no_tf_config():
    assert read_tf_config("") is None and read_tf_config('{"task": {}}') is None


def test_devices_that_are_absent_are_one_line(tmp_path, capsys):
    assert train.main([*TINY, "--out-dir", str(tmp_path), "--devices", "gpu:2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "asked for GPUs" in err and len(err.splitlines()) == 1 and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_two_local_workers_train_together_and_the_chief_writes_the_model(tmp_path):
    ports = _free_ports(2)
    out = tmp_path / "run"
    _finished(*(_train(out, env=_cluster("tensorflow", ports, i)) for i in range(2)))
    meta = json.loads((out / "crnn.json").read_text())
    assert meta["training"]["replicas"] == 2 and "2 workers (MultiWorkerMirroredStrategy)" in meta["training"]["hardware"]
    assert meta["training"]["epochs"] == 3 and meta["metrics"]["greedy"]["images"] == 8
    from hwr.recognizer import load_recognizer

    image = config.BUNDLED_DATA / "validation_v2" / "validation" / "VALIDATION_1001.jpg"
    assert isinstance(load_recognizer(out / "crnn.keras").read([image])[0].text, str)
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("hwr-worker1-*/crnn.keras"))  # removed


@pytest.mark.slow
def test_a_worker_whose_peer_never_comes_gives_up_in_bounded_time(tmp_path):
    ports = _free_ports(2)
    start = time.monotonic()
    alone = _train(tmp_path / "run", "--cluster-timeout", "5", env={"TF_CONFIG": _tf_config(ports, 0)})
    _, err = alone.communicate(timeout=120)
    assert alone.returncode != 0 and time.monotonic() - start < 60
    line = err.strip().splitlines()[-1]
    assert line.startswith("train.py: worker 0 could not reach") and f"localhost:{ports[1]} within 5 s" in line, err
    assert "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_cpu_devices_train_data_parallel(tmp_path, backend):
    """TensorFlow: MirroredStrategy over two logical CPUs; JAX: DataParallel over two host devices."""
    env = {"KERAS_BACKEND": backend, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = _train(tmp_path / "run", "--devices", "cpu:2", env=env)
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0 and "Traceback" not in err, err
    meta = json.loads((tmp_path / "run" / "crnn.json").read_text())
    assert meta["training"]["replicas"] == 2 and meta["backend"] == backend
    assert meta["training"]["epochs"] == 3


@pytest.mark.slow
def test_two_jax_processes_train_as_one_through_keras_distribution_initialize(tmp_path):
    ports = _free_ports(2)
    out = tmp_path / "run"
    procs = [_train(out, env=_cluster("jax", ports, i)) for i in range(2)]
    results = [p.communicate(timeout=400) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0 and "Traceback" not in err, err
    meta = json.loads((out / "crnn.json").read_text())
    assert meta["training"]["replicas"] == 2 and meta["backend"] == "jax" and meta["training"]["epochs"] == 3
    losses = [[line.split("loss: ")[1].split(" ")[0] for line in log.splitlines() if "loss: " in line]
              for log, _ in results]  # Keras prints the epochs on stdout
    assert len(losses[0]) == 3 and losses[0] == losses[1]  # one model: both processes see the same loss


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_resumed_workers_train_a_pseudo_stage_on_the_labels_the_run_saved(tmp_path, backend, plant_pseudo_labels):
    """Every process, not only the chief, reads the run folder's pseudo-labels and ``best.keras`` on a
    resume. A worker that read the crops again with the restored model trained on other labels than its
    peers (both backends); one that reported its last model while the chief loaded ``best.keras`` broke
    JAX's collective save. The run begins in one process and goes on in a cluster of two (a cluster
    cannot pause by the clock); at learning rate 0 no resumed epoch beats the saved ``best.keras``."""
    ports, out, scratch = _free_ports(2), tmp_path / "run", tmp_path / "tmp"
    scratch.mkdir()
    args = [a for a in TINY if a != "-q"] + ["--epochs", "1", "--pseudo-rounds", "1", "--pseudo-epochs", "1",
                                            "--pseudo-threshold", "0", "--finetune-epochs", "0"]
    env = {"KERAS_BACKEND": backend}
    (err,) = _finished(_train(out, "--stop-after", "0", args=args, env=env))  # mixed's epoch, a pause before pseudo1
    assert "stopped by --stop-after" in err and "pseudo-labels" not in err, err
    plant_pseudo_labels(out / "pseudo1.csv")  # saved as the stage's own: each worker must train on exactly these
    workers = [_train(out, "--resume", "--learning-rate", "0", args=args,
                      env={**env, "TMPDIR": str(scratch), **_cluster(backend, ports, i)}) for i in range(2)]
    for err in _finished(*workers):
        assert "resumed after epoch 1" in err and "pseudo-labels: kept 3 of 20 unlabelled crops" in err, err
        assert "does not load" not in err, err
    meta = json.loads((out / "crnn.json").read_text())
    assert meta["training"]["replicas"] == 2 and meta["backend"] == backend and not list(scratch.iterdir())


@pytest.mark.slow
def test_workers_stop_on_an_error_in_one_line_and_leave_no_scratch_folder(tmp_path):
    """Every worker stops on an error the chief meets (not one waiting for its peer), and its scratch
    folder, which holds its caches (gigabytes on the full data), goes however it ends."""
    ports, out, scratch = _free_ports(2), tmp_path / "run", tmp_path / "tmp"
    scratch.mkdir()
    _finished(_train(out, "--stop-after", "0"))
    for extra, says in ((["--resume", "--seed", "7"], "made with other seed"), ([], "holds a previous run")):
        workers = [_train(out, *extra, "--cluster-timeout", "60",
                          env={"TMPDIR": str(scratch), **_cluster("tensorflow", ports, i)}) for i in range(2)]
        for w in workers:
            err = w.communicate(timeout=300)[1]
            assert w.returncode == 2 and "Traceback" not in err and says in err, err
        assert not list(scratch.iterdir())
