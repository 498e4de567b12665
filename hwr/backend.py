"""Stage: which Keras backend runs. Checked before Keras is imported, so a wrong one is one clear line."""

from __future__ import annotations

import importlib.util
import os

BACKENDS = ("tensorflow", "jax", "torch")
#: what to install for each backend, for the message when it is missing
INSTALL = {"tensorflow": "pip install tensorflow-cpu (GPU: pip install 'tensorflow[and-cuda]')",
           "jax": "pip install 'jax[cpu]' (GPU: pip install 'jax[cuda12]')",
           "torch": "pip install torch"}


class BackendError(RuntimeError):
    """The requested backend or devices are not available."""


def check_backend() -> str:
    """The backend KERAS_BACKEND asks for; raises BackendError saying what to install. Imports no Keras."""
    wanted = os.environ.get("KERAS_BACKEND", "tensorflow")
    if wanted not in BACKENDS:
        raise BackendError(f"unknown KERAS_BACKEND={wanted!r}; use one of {', '.join(BACKENDS)}")
    if importlib.util.find_spec(wanted) is None:
        raise BackendError(f"KERAS_BACKEND={wanted} but {wanted} is not installed: {INSTALL[wanted]}")
    return wanted
