"""Stage: a character n-gram model of names, the prior the beam search adds per appended character.

Built from the lexicon, each name weighted by its count, with a begin-of-name context and an
end-of-name symbol, so it knows how names start and end as well as which letters follow which.
It helps the names the lexicon lacks (a third of those people write): "MARTINEAU" is not a name
of the lexicon, but every four letters of it are common in names.

Interpolated Witten-Bell smoothing: each order backs off to the one below with the weight of the
number of distinct symbols seen after the context, so a context seen rarely, or followed by many
different letters, leans on the shorter one. It needs no count-of-counts (Kneser-Ney's discounts
do), so weighted counts are fine. Built in well under a second for the 35,000 names; the
distribution after a context is computed when first asked for and kept.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import defaultdict

import numpy as np

from hwr.alphabet import Alphabet

log = logging.getLogger(__name__)

#: pads the context at the start of a name (not a character of the alphabet)
BEGIN = "\x02"
#: order 6 lowers the perplexity of the development names by 1% over 5 (6.48 against 6.53; printed by
#: scripts/tune_decoder.py) and has more contexts to count and keep; 4 is 13% worse (7.39)
DEFAULT_ORDER = 5


class CharLM:
    """P(next symbol | the last ``order - 1`` characters), over the alphabet's indices.

    The distributions are vectors indexed like the model's outputs: index ``alphabet.blank`` (0)
    holds the end of the name, which a name's text never holds; 1..N the characters. So a beam
    search adds ``log_probs(context)`` to its per-character scores without re-indexing. The counts
    are taken on first use, so a reader that never runs the beam search never pays for them.
    """

    def __init__(self, names: dict[str, int], alphabet: Alphabet = Alphabet(),
                 order: int = DEFAULT_ORDER) -> None:
        if order < 1:
            raise ValueError(f"the n-gram order must be at least 1, got {order}")
        self.names, self.alphabet, self.order = names, alphabet, order
        self._cache: dict[str, np.ndarray] = {}

    @functools.cached_property
    def _table(self) -> dict[str, tuple[float, int, dict[int, float]]]:
        """context → (total count, number of distinct followers, {symbol index: count}).

        Every symbol has a full context (names are padded with ``BEGIN``), so only the longest
        n-grams are counted from the names; each shorter order sums the one above it (0.6 s instead
        of 1.0 s counting every order from the names, on the busy 2-core machine).
        """
        start = time.perf_counter()
        index = {c: i for i, c in enumerate(self.alphabet.chars, start=1)}
        pad, width = BEGIN * (self.order - 1), self.order - 1
        level: dict[tuple[str, int], float] = defaultdict(float)
        for name, count in self.names.items():
            if self.alphabet.unknown(name):
                continue
            text = pad + name
            for i, code in enumerate([index[c] for c in name] + [self.alphabet.blank]):
                level[text[i:i + width], code] += count
        counts: dict[str, dict[int, float]] = defaultdict(dict)
        for k in range(self.order):
            for (ctx, code), weight in level.items():
                counts[ctx][code] = weight
            if k < self.order - 1:  # the next shorter context: drop the first character
                shorter: dict[tuple[str, int], float] = defaultdict(float)
                for (ctx, code), weight in level.items():
                    shorter[ctx[1:], code] += weight
                level = shorter
        log.info("character %d-gram model of %d names built in %.2f s", self.order, len(self.names),
                 time.perf_counter() - start)
        return {ctx: (sum(c.values()), len(c), c) for ctx, c in counts.items()}

    def context(self, prefix: str) -> str:
        """The context the next symbol depends on: the last ``order - 1`` characters, padded."""
        return (BEGIN * (self.order - 1) + prefix)[-(self.order - 1):] if self.order > 1 else ""

    def log_probs(self, prefix: str) -> np.ndarray:
        """log P(symbol | prefix) for every symbol index (0: end of name), float64 (alphabet.size,)."""
        ctx = self.context(prefix)
        out = self._cache.get(ctx)
        if out is None:
            size = self.alphabet.size
            p = np.full(size, 1.0 / size)  # below order 1: every symbol alike
            for k in range(len(ctx) + 1):  # shortest context first
                entry = self._table.get(ctx[len(ctx) - k:])
                if entry is None:  # a longer context holding this one was never seen either
                    break
                total, types, followers = entry
                seen = np.zeros(size)
                seen[list(followers)] = list(followers.values())
                p = (seen + types * p) / (total + types)
            out = self._cache[ctx] = np.log(p)
        return out

    def score(self, text: str) -> float:
        """log P(text, then the end of the name)."""
        codes = self.alphabet.encode(text) + [self.alphabet.blank]
        return float(sum(self.log_probs(text[:i])[c] for i, c in enumerate(codes)))

    def perplexity(self, names: list[str]) -> float:
        """Per-symbol perplexity of ``names`` (each with its end): lower is a better model of them."""
        total = sum(self.score(n) for n in names)
        return math.exp(-total / sum(len(n) + 1 for n in names))
