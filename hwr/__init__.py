"""hwr: handwritten-name recognition with a CRNN trained with CTC (Keras 3, any backend).

    from hwr import load_recognizer
    print(load_recognizer().read(["name.jpg"], "lexicon")[0].text)

``import hwr`` stays light: the reader's names are imported on first use (``__getattr__``).
"""

__version__ = "0.1.0"

#: what ``from hwr import ...`` offers without importing the submodule by name
_READER = ("load_recognizer", "Recognizer", "Prediction", "ModelFileError")

import os as _os

# TensorFlow's C++ start-up chatter hides the messages that matter; users can still raise it.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX, so
# most laptops run without them; with them our training step is ~1.5× faster on a 2-core AVX2 CPU
# (README "Speed"). Results differ from the plain kernels by float round-off only. Set
# TF_ENABLE_ONEDNN_OPTS=0 to turn them off. Read when TensorFlow is imported: hwr must come first.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def __getattr__(name: str):
    if name in _READER:
        from hwr import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module 'hwr' has no attribute {name!r}")
