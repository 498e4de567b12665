"""Stage: devices. One ``--devices`` option picks where training runs, on whichever backend is active.

- TensorFlow: ``tf.distribute`` — ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names a cluster,
  ``MirroredStrategy`` over several local devices (GPUs, or logical CPUs with ``--devices cpu:N``),
  the default strategy on one device.
- JAX: ``keras.distribution.DataParallel`` over the local devices (any platform, more than one), and
  several processes or hosts through ``keras.distribution.initialize`` when the
  ``KERAS_DISTRIBUTION_*`` variables are set (each process then feeds its share of every batch).
- PyTorch: one device (Keras 3 has no data-parallel distribution for torch).

The batch (``--batch-size``) is the *global* batch: each of R replicas gets 1/R of it and the
gradients are averaged, so one step sees the same number of images whatever R is, and the learning
rate stays as given. ``start`` must run before anything else touches TensorFlow: collective ops and
logical devices can only be configured before the runtime initialises (train.py calls it first).
This module imports neither Keras nor a backend at import time for that reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from hwr.backend import INSTALL, BackendError, check_backend

log = logging.getLogger(__name__)

#: what --devices accepts: a kind, optionally with a count
DEVICES_HELP = "auto, cpu, gpu or all, optionally :N (e.g. gpu:4; cpu:2 splits the CPU in two logical devices)"
#: seconds a worker waits for the rest of its cluster before giving up (train.py --cluster-timeout)
CLUSTER_TIMEOUT = 120.0

_started: dict = {}  # devices → (strategy or None, scope factory); one per process and --devices


def parse_devices(text: str) -> tuple[str, int | None]:
    """'gpu:4' → ('gpu', 4), 'auto' → ('auto', None); raises BackendError on anything else."""
    match = re.fullmatch(r"(auto|cpu|gpu|all)(?::([1-9]\d*))?", str(text).strip())
    if not match:
        raise BackendError(f"--devices must be {DEVICES_HELP}; not {text!r}")
    return match.group(1), int(match.group(2)) if match.group(2) else None


def read_tf_config(text: str | None = None) -> dict | None:
    """The cluster ``TF_CONFIG`` describes ({'cluster': …, 'task': …}), None without one; checked in full.

    Raises BackendError with one line for malformed JSON, a missing task, an index outside the
    cluster or an address that is not HOST:PORT, so no worker starts collectives on a bad plan.
    """
    text = os.environ.get("TF_CONFIG") if text is None else text
    if not text or not text.strip():
        return None
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as err:
        raise BackendError(f"TF_CONFIG is not valid JSON ({err.msg} at character {err.pos})") from None
    if not isinstance(conf, dict) or not conf.get("cluster"):
        return None if isinstance(conf, dict) else _bad("it must be a JSON object")
    cluster, task = conf["cluster"], conf.get("task")
    if not isinstance(cluster, dict) or not all(isinstance(v, list) and v for v in cluster.values()):
        _bad('"cluster" must map job names to non-empty lists of "host:port"')
    for job, addresses in cluster.items():
        for address in addresses:
            if not re.fullmatch(r"[\w.\-]+:\d{1,5}", str(address)):
                _bad(f'{job} address {address!r} is not "host:port"')
    if not isinstance(task, dict) or task.get("type") not in cluster:
        _bad(f'"task" must name its "type" (one of {", ".join(cluster)}) and "index"')
    index = task.get("index")
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        _bad(f'task index {index!r} is outside the {len(cluster[task["type"]])} {task["type"]} address(es)')
    return conf


def _bad(why: str):
    raise BackendError(f"TF_CONFIG: {why}")


def process() -> tuple[int, int]:
    """(index, count) of this process among the JAX processes of a multi-process run; (0, 1) otherwise."""
    if not os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        return 0, 1
    return int(os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", 0)), int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", 1))


def several_processes() -> bool:
    """Whether this process is one of several training in step (a TF_CONFIG cluster, or JAX processes)."""
    conf = read_tf_config()
    return process()[1] > 1 or bool(conf and _workers(conf) > 1)


def _workers(conf: dict) -> int:
    """How many tasks (chief, workers) a TF_CONFIG cluster has."""
    return sum(len(a) for a in conf["cluster"].values())


def is_chief(conf: dict | None = None) -> bool:
    """Whether this process writes the run folder: the chief, or worker 0 of a cluster without one.

    On JAX with several processes, process 0.
    """
    if check_backend() == "jax":
        return process()[0] == 0
    conf = read_tf_config() if conf is None else conf
    if not conf:
        return True
    task = conf["task"]
    return task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0
                                       and "chief" not in conf["cluster"])


def write_dir(run_dir: Path) -> Path:
    """Where this process writes: the run folder on the chief, a temporary folder on other workers.

    All workers save (saving reads distributed variables), but only the chief's files are the run's,
    as in TensorFlow's multi-worker guide.
    """
    if is_chief():
        return run_dir
    index = process()[0] if check_backend() == "jax" else read_tf_config()["task"]["index"]
    return Path(tempfile.mkdtemp(prefix=f"hwr-worker{index}-"))


def _check_own_address(conf: dict) -> None:
    """This task's host resolves and its port is free: TensorFlow's own failure there is a C++ abort."""
    task = conf["task"]
    host, port = conf["cluster"][task["type"]][task["index"]].rsplit(":", 1)
    try:
        socket.getaddrinfo(host, int(port))
    except socket.gaierror as err:
        raise BackendError(f"TF_CONFIG: this task's host {host!r} does not resolve ({err.strerror})") from None
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", int(port)))
        except OSError as err:
            raise BackendError(f"TF_CONFIG: port {port} of this task ({task['type']} {task['index']}) "
                               f"is not free: {err.strerror}") from None


def _multi_worker(conf: dict, timeout: float):
    """MultiWorkerMirroredStrategy that waits at most ``timeout`` s for the cluster, patched for Keras 3."""
    import tensorflow as tf
    from tensorflow.python.distribute import collective_all_reduce_strategy as car

    class KerasMultiWorker(tf.distribute.MultiWorkerMirroredStrategy):
        """Keras 3.15's fit reduces a batch (a tuple) and per-replica scalars with ``axis=0`` through
        ``strategy.reduce``, which takes neither with one device per worker; this takes both."""

        def reduce(self, reduce_op, value, axis):
            if isinstance(value, (tuple, list, dict)):
                return tf.nest.map_structure(lambda v: self.reduce(reduce_op, v, axis), value)
            if axis is not None and all(getattr(t, "shape", None) is not None and t.shape.rank == 0
                                        for t in self.experimental_local_results(value)):
                axis = None
            return super().reduce(reduce_op, value, axis)

    _check_own_address(conf)
    # the strategy's first all-reduce waits for every worker; by default forever
    car.CollectiveAllReduceExtended._check_health_initial_timeout = int(timeout)
    task = conf["task"]
    peers = [a for job, addrs in conf["cluster"].items() for i, a in enumerate(addrs)
             if (job, i) != (task["type"], task["index"])]
    log.info("%s %d: waiting up to %.0f s for %s", task["type"], task["index"], timeout, ", ".join(peers))
    me = f"{task['type']} {task['index']}"
    watchdog = _watchdog(me, peers, timeout)
    try:
        strategy = KerasMultiWorker(communication_options=tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=timeout))
    except (RuntimeError, tf.errors.DeadlineExceededError, tf.errors.UnavailableError) as err:
        raise BackendError(_unreachable(me, peers, timeout) + f" ({str(err).splitlines()[0][:120]})") from None
    finally:
        watchdog.stdin.close()
        watchdog.wait()
    log.info("cluster ready: %d replicas in %d workers", strategy.num_replicas_in_sync,
             sum(len(a) for a in conf["cluster"].values()))
    return strategy


def _reachable(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def _unreachable(me: str, peers: list[str], timeout: float) -> str:
    missing = [p for p in peers if not _reachable(p)] or peers
    return (f"{me} could not reach {', '.join(missing)} within {timeout:.0f} s: start every worker with "
            f"the same TF_CONFIG cluster, or check the network and firewall")


def _watchdog(me: str, peers: list[str], timeout: float) -> subprocess.Popen:
    """A small process that ends this one with one line when the cluster has not formed in ``timeout`` s.

    TensorFlow's runtime waits for every worker in C++ (``context.ensure_initialized``) with no
    deadline and the GIL held, so no Python thread or signal handler of this process can step in;
    nothing of the run has been written yet. Closing the watchdog's stdin (done, or this process
    gone) dismisses it.
    """
    code = "import sys; from hwr.distribute import _watch; _watch(sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                                      os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-c", code, str(os.getpid()), str(timeout), me, ",".join(peers)],
                            stdin=subprocess.PIPE, env=env)


def _watch(argv: list[str]) -> None:
    """The watchdog's body: wait for stdin to close, or report the peers that are missing and stop the worker.

    The worker is killed outright: it has written nothing yet, so nothing is lost."""
    parent, timeout, me, peers = int(argv[0]), float(argv[1]), argv[2], argv[3].split(",")
    if select.select([sys.stdin], [], [], timeout)[0]:
        return
    sys.stderr.write(f"train.py: {_unreachable(me, peers, timeout)}\n")
    sys.stderr.flush()
    os.kill(parent, signal.SIGKILL)  # TensorFlow handles SIGTERM itself, and waits on


def _tensorflow(kind: str, count: int | None, timeout: float):
    import tensorflow as tf

    conf = read_tf_config()
    if conf:
        return _multi_worker(conf, timeout)
    if kind == "cpu" and (count or 1) > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:
            raise BackendError(f"--devices cpu:{count}: logical CPU devices must be made before "
                               f"TensorFlow starts (run train.py in a fresh process)") from None
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])
    if kind == "cpu":
        return None
    gpus = tf.config.list_logical_devices("GPU")
    _enough(kind, count, len(gpus), "tensorflow")
    gpus = gpus[:count] if count else gpus
    return tf.distribute.MirroredStrategy([g.name for g in gpus]) if len(gpus) > 1 else None


def _enough(kind: str, count: int | None, found: int, backend: str) -> None:
    """One line when --devices asks for accelerators that are not there."""
    if kind in ("gpu", "all") and not found:
        raise BackendError(f"--devices {kind} asked for GPUs but {backend} sees none; "
                           f"install a GPU build: {INSTALL[backend]}")
    if count and count > found and kind != "auto":
        raise BackendError(f"--devices {kind}:{count} asked for {count} devices but {backend} sees {found}")


def _jax(kind: str, count: int | None) -> None:
    import jax
    import keras

    index, count_processes = process()
    if count_processes > 1:  # several processes or hosts: every process's devices make one mesh
        keras.distribution.initialize()
        log.info("JAX process %d of %d", index, count_processes)
    if kind == "cpu" or (kind == "auto" and count_processes > 1 and jax.devices()[0].platform == "cpu"):
        devices = jax.devices("cpu")
        if count and count > len(devices):
            raise BackendError(f"--devices cpu:{count} asked for {count} devices but JAX sees "
                               f"{len(devices)}; start with XLA_FLAGS=--xla_force_host_platform_device_count={count}")
    else:
        devices = [d for d in jax.devices() if d.platform == "gpu"]
        _enough(kind, count, len(devices), "jax")
    devices = devices[:count] if count else devices
    if len(devices) > 1:
        # each process feeds its own share of every global batch (hwr.pipeline.Batches(shard=...))
        keras.distribution.set_distribution(keras.distribution.DataParallel(
            devices=devices, auto_shard_dataset=count_processes == 1))
        log.info("data parallel over %d JAX devices (%s) in %d process(es)", len(devices), devices[0].platform,
                 count_processes)


def start(devices: str = "auto", timeout: float = CLUSTER_TIMEOUT) -> None:
    """Configure where training runs; call it before any other TensorFlow call (train.py does, first)."""
    if devices in _started:
        return
    kind, count = parse_devices(devices)
    backend = check_backend()
    strategy = None
    if backend == "tensorflow":
        strategy = _tensorflow(kind, count, timeout)
    elif backend == "jax":
        _jax(kind, count)
    else:
        import torch
        _enough(kind, count if kind != "cpu" else None, torch.cuda.device_count(), "torch")
        if count and count > 1:
            raise BackendError("Keras has no data-parallel training for torch: use --devices gpu:1, "
                               "or KERAS_BACKEND=jax or tensorflow")
    _started.clear()  # one configuration at a time (tests call train.main with several)
    _started[devices] = strategy


def strategy() -> object | None:
    """The tf.distribute strategy ``start`` made (None: the default one)."""
    return next(iter(_started.values()), None)


def replicas() -> int:
    """How many copies of the model train in step: the global batch is split among them."""
    s = strategy()
    if s is not None:
        return int(s.num_replicas_in_sync)
    import keras

    dist = keras.distribution.distribution()
    return len(dist.device_mesh.devices.flatten()) if dist is not None else 1


def strategy_scope(devices: str = "auto"):
    """A context to build, load and compile the model in (``start`` first if it has not run)."""
    start(devices)
    s = strategy()
    if s is not None:
        return s.scope()
    if parse_devices(devices)[0] == "cpu" and check_backend() == "tensorflow":
        import tensorflow as tf
        return tf.device("/CPU:0")
    return contextlib.nullcontext()


def _gpu_names() -> list[str]:
    """The accelerators' model names, for reports ("NVIDIA H200"), whichever backend found them."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return [tf.config.experimental.get_device_details(g).get("device_name", "GPU")
                for g in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax
        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    import torch
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def _onednn_note() -> str:
    """Whether TensorFlow runs its oneDNN CPU kernels (hwr turns them on): CPU timings depend on it."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return ""
    try:  # TensorFlow has no public call for it; the private one has been stable since 2.5
        from tensorflow.python.util._pywrap_util_port import IsMklEnabled
    except ImportError:
        return ""
    return ", oneDNN on" if IsMklEnabled() else ", oneDNN off"


def describe_devices() -> str:
    """Where training runs, for the metadata and the report: backend, device names, replicas."""
    import keras

    names = _gpu_names()
    where = (f"{keras.backend.backend()} on {len(names)} GPU(s): {', '.join(sorted(set(names)))}" if names
             else f"{keras.backend.backend()} on CPU{_onednn_note()}")
    n = replicas()
    conf = read_tf_config() if keras.backend.backend() == "tensorflow" else None
    if conf:
        where += f"; {_workers(conf)} workers (MultiWorkerMirroredStrategy)"
    return where + (f"; {n} replicas" if n > 1 else "")
