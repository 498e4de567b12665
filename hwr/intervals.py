"""Stage: how sure a figure is. Bootstrap intervals for word accuracy and CER over a set's images.

A figure on 495 images moves by a name or two with the images drawn, and two models, decoders or
settings read on the *same* images differ by less than either figure's own spread suggests, since
most images are read right (or wrong) by both. So there are two intervals here:

- ``interval``: how far one figure could move on another draw of images like these;
- ``difference``: how far the difference between two readings of the same images could, resampling
  the images once for both (a paired bootstrap), which is what "within noise" should mean;
- ``mean_difference``: the same for the development figure ``train.py`` selects on, the mean of
  several parts' CERs (real crops, held-out-font names), each part resampled on its own.

The percentile bootstrap: each resample draws as many images as the set holds, with replacement;
CER is recomputed as a corpus figure (edits / characters of the drawn images), never a mean of
per-image rates. Written in NumPy, not ``scipy.stats.bootstrap``, so the serving install that runs
``python -m hwr.evaluate`` needs no SciPy; ``tests/test_intervals.py`` holds it equal to SciPy's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hwr.metrics import edit_distance

#: the intervals' coverage, and the resamples that draw them (their end points move by about a
#: tenth of a point between seeds at this count on 500 images)
LEVEL = 0.95
RESAMPLES = 10_000
#: resamples drawn at once: a block's weights are RESAMPLE_BLOCK × images floats
RESAMPLE_BLOCK = 1_000
#: the figures with intervals, and the decimals each is written with in percent (of 495 images a
#: name is 0.2 points of words; a character of ~3,200 is 0.03 points of CER)
DIGITS = {"word_accuracy": 1, "cer": 2}


@dataclass(frozen=True)
class Interval:
    """A figure (or a difference of two) and the bounds of its bootstrap interval."""

    estimate: float
    low: float
    high: float
    level: float = LEVEL

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the interval (a difference: whether it is more than noise)."""
        return value < self.low or value > self.high

    def noise(self) -> str:
        """A difference's verdict in words: whether its interval holds 0."""
        return "more than noise" if self.excludes(0.0) else "within noise (the interval holds 0)"

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}

    def span(self, digits: int = 1) -> str:
        """'83.2–89.1%': the interval's ends, in percent."""
        return f"{100 * self.low:.{digits}f}–{100 * self.high:.{digits}f}%"

    def percent(self, digits: int = 1, sign: bool = False) -> str:
        """'86.3% (83.2–89.1%)', or with ``sign`` '+4.2 points (+2.0 … +6.5)' for a difference."""
        if sign:
            return (f"{100 * self.estimate:+.{digits}f} points "
                    f"({100 * self.low:+.{digits}f} … {100 * self.high:+.{digits}f})")
        return f"{100 * self.estimate:.{digits}f}% ({self.span(digits)})"


def to_dicts(found: dict[str, Interval]) -> dict[str, dict]:
    """``interval``'s or ``difference``'s result as JSON keeps it (figure → estimate, low, high, level)."""
    return {name: value.to_dict() for name, value in found.items()}


def written(found: Mapping[str, Interval | dict], sign: bool = False) -> dict[str, str]:
    """Each figure of ``interval``'s or ``difference``'s result (or of its JSON form) written with its
    interval at its ``DIGITS``: word_accuracy → '86.3% (83.2–89.1%)', cer → '4.18% (2.88–5.75%)'."""
    return {name: (value if isinstance(value, Interval) else Interval(**value)).percent(DIGITS[name], sign)
            for name, value in found.items() if name in DIGITS}


def per_image(truths: Sequence[str], preds: Sequence[str]) -> dict[str, np.ndarray]:
    """Each image's counts that the figures sum: right (0/1), edits, truth characters."""
    if len(truths) != len(preds):
        raise ValueError(f"{len(truths)} truths and {len(preds)} readings: one reading an image")
    return {"right": np.array([t == p for t, p in zip(truths, preds)], np.float64),
            "edits": np.array([edit_distance(t, p) for t, p in zip(truths, preds)], np.float64),
            "chars": np.array([len(t) for t in truths], np.float64)}


def _resampled_sums(columns: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, k) sums of the k per-image ``columns`` (images, k) over bootstrap resamples.

    A resample is a draw of image counts (multinomial: n draws over n images, each alike), so its
    sums are one matrix product; blocks keep the counts matrix small on a large set.
    """
    n = len(columns)
    if n == 0:
        raise ValueError("no images: a bootstrap needs at least one")
    rng = np.random.default_rng(seed)
    sums = []
    for start in range(0, resamples, RESAMPLE_BLOCK):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(RESAMPLE_BLOCK, resamples - start))
        sums.append(counts @ columns)
    return np.concatenate(sums)


def _rate(edits: np.ndarray | float, chars: np.ndarray | float) -> np.ndarray | float:
    """Edits per truth character, as ``hwr.metrics.score`` computes CER (no division by zero)."""
    return edits / np.maximum(chars, 1)


def _bounds(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)


def interval(truths: Sequence[str], preds: Sequence[str], level: float = LEVEL,
             resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Interval]:
    """Word accuracy and CER of ``preds`` against ``truths``, each with its bootstrap interval."""
    c = per_image(truths, preds)
    sums = _resampled_sums(np.stack([c["right"], c["edits"], c["chars"]], axis=1), resamples, seed)
    n = len(c["right"])
    words, cer = sums[:, 0] / n, _rate(sums[:, 1], sums[:, 2])
    return {"word_accuracy": Interval(float(c["right"].mean()), *_bounds(words, level), level),
            "cer": Interval(float(_rate(c["edits"].sum(), c["chars"].sum())), *_bounds(cer, level), level)}


def _paired(truths: Sequence[str], preds_a: Sequence[str], preds_b: Sequence[str], resamples: int,
            seed: int) -> dict[str, tuple[float, np.ndarray]]:
    """B minus A of word accuracy and CER: each figure's estimate and its resampled values."""
    a, b = per_image(truths, preds_a), per_image(truths, preds_b)
    columns = np.stack([b["right"] - a["right"], b["edits"] - a["edits"], a["chars"]], axis=1)
    sums = _resampled_sums(columns, resamples, seed)
    return {"word_accuracy": (float(columns[:, 0].mean()), sums[:, 0] / len(columns)),
            "cer": (float(_rate(columns[:, 1].sum(), columns[:, 2].sum())), _rate(sums[:, 1], sums[:, 2]))}


def difference(truths: Sequence[str], preds_a: Sequence[str], preds_b: Sequence[str],
               level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Interval]:
    """B minus A on the same images (word accuracy, CER), the images resampled once for both."""
    return {name: Interval(estimate, *_bounds(samples, level), level)
            for name, (estimate, samples) in _paired(truths, preds_a, preds_b, resamples, seed).items()}


def mean_difference(parts: Sequence[tuple[Sequence[str], Sequence[str], Sequence[str]]], level: float = LEVEL,
                    resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """B minus A of the mean of the parts' CERs, each part (truths, readings A, readings B) resampled
    on its own (a stratified paired bootstrap): the development figure that selects checkpoints."""
    if not parts:
        raise ValueError("no parts: the mean of nothing has no interval")
    found = [_paired(*part, resamples, seed + k)["cer"] for k, part in enumerate(parts)]
    return Interval(float(np.mean([estimate for estimate, _ in found])),
                    *_bounds(np.mean([samples for _, samples in found], axis=0), level), level)
