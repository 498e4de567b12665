"""hwr: handwritten-name recognition with a CRNN trained with CTC (Keras 3, any backend)."""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter hides the messages that matter; users can still raise it.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
