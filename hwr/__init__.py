"""hwr: handwritten-name recognition with a CRNN trained with CTC (Keras 3, any backend)."""

__version__ = "0.1.0"
