"""Stage: devices. One ``--devices`` option picks where training runs, on whichever backend is active.

- TensorFlow: ``tf.distribute`` — MirroredStrategy over the local GPUs, MultiWorkerMirroredStrategy
  when ``TF_CONFIG`` describes a cluster, the default strategy on one device.
- JAX: ``keras.distribution.DataParallel`` over the local devices (multi-host capable).
- PyTorch: one device (Keras 3 has no data-parallel distribution for torch).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os

import keras

from hwr.backend import INSTALL, BackendError, check_backend

log = logging.getLogger(__name__)


def _gpus() -> list:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.config.list_logical_devices("GPU")
    if backend == "jax":
        import jax
        return [d for d in jax.devices() if d.platform == "gpu"]
    import torch
    return list(range(torch.cuda.device_count()))


def _gpu_names() -> list[str]:
    """The accelerators' model names, for reports ("NVIDIA H200"), whichever backend found them."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return [tf.config.experimental.get_device_details(g).get("device_name", "GPU")
                for g in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        return [d.device_kind for d in _gpus()]
    import torch
    return [torch.cuda.get_device_name(i) for i in _gpus()]


def _onednn_note() -> str:
    """Whether TensorFlow runs its oneDNN CPU kernels (hwr turns them on): CPU timings depend on it."""
    if keras.backend.backend() != "tensorflow":
        return ""
    try:  # TensorFlow has no public call for it; the private one has been stable since 2.5
        from tensorflow.python.util._pywrap_util_port import IsMklEnabled
    except ImportError:
        return ""
    return ", oneDNN on" if IsMklEnabled() else ", oneDNN off"


def describe_devices() -> str:
    """Where training runs, for the metadata and the report: backend and device names."""
    names = _gpu_names()
    if not names:
        return f"{keras.backend.backend()} on CPU{_onednn_note()}"
    return f"{keras.backend.backend()} on {len(names)} GPU(s): {', '.join(sorted(set(names)))}"


def strategy_scope(devices: str = "auto"):
    """A context to build and compile the model in; ``devices`` is auto, cpu, gpu or all."""
    if devices not in ("auto", "cpu", "gpu", "all"):
        raise BackendError(f"--devices must be auto, cpu, gpu or all, not {devices!r}")
    backend = check_backend()
    gpus = _gpus() if devices != "cpu" else []
    if devices in ("gpu", "all") and not gpus:
        raise BackendError(f"--devices {devices} asked for GPUs but {backend} sees none; "
                           f"install a GPU build: {INSTALL[backend]}")
    if backend == "tensorflow":
        import tensorflow as tf
        if "TF_CONFIG" in os.environ and json.loads(os.environ["TF_CONFIG"]).get("cluster"):
            return tf.distribute.MultiWorkerMirroredStrategy().scope()
        if devices == "cpu":
            return tf.device("/CPU:0")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy().scope()
        return contextlib.nullcontext()
    if backend == "jax" and len(gpus) > 1:
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        log.info("data parallel over %d JAX devices", len(gpus))
    return contextlib.nullcontext()
