"""Stage: the character set. One object owns the characters, the CTC blank and the output size.

Nothing else in the project computes ``len(chars) + 1`` or knows where the blank sits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: What the Kaggle names use: capitals, space, hyphen and apostrophe.
DEFAULT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ -'"


class UnknownCharacterError(ValueError):
    """A label holds a character the alphabet cannot encode."""


@dataclass(frozen=True)
class Alphabet:
    """Characters at indices 1..N; index 0 is the CTC blank (Keras' ``mask_index=0``)."""

    chars: str = DEFAULT_CHARS
    blank: int = 0

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError(f"alphabet has repeated characters: {self.chars!r}")
        if self.blank != 0:
            raise ValueError("the CTC blank must be index 0 (Keras' mask_index)")

    @property
    def size(self) -> int:
        """Number of model outputs: the characters plus the blank."""
        return len(self.chars) + 1

    def unknown(self, text: str) -> set[str]:
        """Characters of ``text`` this alphabet cannot encode."""
        return set(text) - set(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text → label indices (1-based); raises on characters outside the alphabet."""
        bad = self.unknown(text)
        if bad:
            raise UnknownCharacterError(
                f"{text!r} has characters outside the alphabet: {''.join(sorted(bad))!r}"
            )
        return [self.chars.index(c) + 1 for c in text]

    def encode_batch(self, texts: list[str], max_len: int) -> np.ndarray:
        """Texts → int32 array (len(texts), max_len), padded with the blank as Keras' CTC expects."""
        out = np.full((len(texts), max_len), self.blank, dtype=np.int32)
        for i, text in enumerate(texts):
            codes = self.encode(text)
            if len(codes) > max_len:
                raise ValueError(f"{text!r} is longer than {max_len} characters")
            out[i, : len(codes)] = codes
        return out

    def decode(self, indices) -> str:
        """Label indices → text; blanks (and anything out of range, e.g. -1 padding) are skipped."""
        return "".join(self.chars[i - 1] for i in indices if 0 < i <= len(self.chars))
