"""Stage: training — honest selection: the development set and what it decides.

Three sets never overlap (issue 16). The *training* set is fitted; the *development* set (real rows
taken from the training side, plus names rendered in fonts held out from training) chooses the
checkpoint, stops each stage early, sets the pseudo-label threshold and the default decoder; the
*evaluation* set is scored once, at the end, and only reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwr.intervals import Interval, mean_difference
from hwr.metrics import score
from hwr.recognizer import Recognizer


@dataclass
class DevSet:
    """The development set: named parts (real crops, held-out-font names), each (images, texts).

    Selection uses the mean of the parts' CERs, so 300 rendered names do not outweigh 100 real crops
    (or the reverse): a checkpoint must read both the Kaggle scans and unseen hands well.
    """

    parts: dict[str, tuple[np.ndarray, list[str]]]

    def describe(self) -> str:
        return " + ".join(f"{name} ({len(x)} images)" for name, (x, _) in self.parts.items())

    def readings(self, reader: Recognizer, decoder: str = "greedy") -> dict[str, list[str]]:
        """Each part's texts as ``reader`` reads them."""
        return {name: [p.text for p in reader.read_arrays(x, decoder, batch_size=256)]
                for name, (x, _) in self.parts.items()}

    def score(self, reader: Recognizer, decoder: str = "greedy") -> dict[str, float]:
        """Each part's CER and word accuracy, and their means (``val_cer``: what selection watches)."""
        return self.scored(self.readings(reader, decoder))

    def scored(self, readings: dict[str, list[str]]) -> dict[str, float]:
        """``score`` of readings already made (``readings``)."""
        out = {}
        for name, texts in readings.items():
            s = score(self.parts[name][1], texts)
            out[f"dev_{name}_cer"], out[f"dev_{name}_word_accuracy"] = s.cer, s.word_accuracy
        out["val_cer"] = float(np.mean([out[f"dev_{n}_cer"] for n in self.parts]))
        out["val_word_accuracy"] = float(np.mean([out[f"dev_{n}_word_accuracy"] for n in self.parts]))
        return out

    def difference(self, a: dict[str, list[str]], b: dict[str, list[str]]) -> Interval:
        """The development CER (``val_cer``) of readings ``b`` minus that of ``a`` (each ``readings``), with
        its paired bootstrap interval: whether a checkpoint reads the set better than another by more than noise."""
        return mean_difference([(y, a[name], b[name]) for name, (_, y) in self.parts.items()])


def choose_threshold(truths: list[str], readings: list[str], confidences: list[float], precision: float) -> float:
    """The lowest confidence above which readings are right at least ``precision`` of the time.

    Applied to the development set, this keeps as many pseudo-labels as possible at a known error
    rate; 1.0 (almost none kept) when even the surest readings miss the target.
    """
    conf = np.asarray(confidences, float)
    order = np.argsort(-conf, kind="stable")
    right = (np.asarray(readings, object) == np.asarray(truths, object))[order]
    running = np.cumsum(right) / np.arange(1, len(right) + 1)
    ok = np.flatnonzero(running >= precision)
    return float(conf[order][ok.max()]) if len(ok) else 1.0
