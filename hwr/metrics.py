"""Stage: scoring. One set of metrics for the training callback, evaluation and the Model page."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable

from rapidfuzz.distance import Levenshtein


def edit_distance(truth: str, pred: str) -> int:
    return Levenshtein.distance(truth, pred)


def cer(truth: str, pred: str) -> float:
    """Character error rate of one pair: edits / length of the truth."""
    return edit_distance(truth, pred) / max(len(truth), 1)


def positional_matches(truth: str, pred: str) -> int:
    """Characters equal at the same position: the Kaggle notebook's "correct characters" count."""
    return sum(t == p for t, p in zip(truth, pred))


@dataclass
class Scores:
    """Corpus-level figures: CER sums edits over all characters (not a mean of per-image CERs)."""

    images: int
    word_accuracy: float
    cer: float
    wer: float
    #: Kaggle notebook's "correct characters": position-wise matches / truth characters
    char_accuracy_positional: float

    def to_dict(self) -> dict:
        return asdict(self)


def score(truths: Iterable[str], preds: Iterable[str]) -> Scores:
    """Word accuracy, CER, WER (over space-separated words) and positional character accuracy."""
    pairs = list(zip(truths, preds, strict=True))
    n = len(pairs)
    chars = sum(len(t) for t, _ in pairs)
    edits = sum(edit_distance(t, p) for t, p in pairs)
    words = sum(len(t.split()) for t, _ in pairs)
    word_edits = sum(Levenshtein.distance(t.split(), p.split()) for t, p in pairs)
    return Scores(
        images=n,
        word_accuracy=sum(t == p for t, p in pairs) / max(n, 1),
        cer=edits / max(chars, 1),
        wer=word_edits / max(words, 1),
        char_accuracy_positional=sum(positional_matches(t, p) for t, p in pairs) / max(chars, 1),
    )


def confusions(truths: Iterable[str], preds: Iterable[str]) -> Counter:
    """(truth char, predicted char) → count over aligned edits; '' stands for insertion/deletion."""
    out: Counter = Counter()
    for t, p in zip(truths, preds, strict=True):
        for op in Levenshtein.editops(t, p):
            if op.tag == "replace":
                out[(t[op.src_pos], p[op.dest_pos])] += 1
            elif op.tag == "delete":
                out[(t[op.src_pos], "")] += 1
            else:
                out[("", p[op.dest_pos])] += 1
    return out


def per_character_errors(truths: Iterable[str], preds: Iterable[str]) -> dict[str, dict]:
    """For each truth character: how often it occurs and how often it was substituted or dropped."""
    truths, preds = list(truths), list(preds)
    seen = Counter(c for t in truths for c in t)
    errors = Counter()
    for (t, _), n in confusions(truths, preds).items():
        if t:
            errors[t] += n
    return {c: {"count": seen[c], "errors": errors[c], "error_rate": errors[c] / seen[c]}
            for c in sorted(seen)}
