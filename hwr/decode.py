"""Stage: per-timestep log-probabilities → text. Greedy, beam search and lexicon-aware decoding.

All decoders share one signature ``(log_probs, alphabet, options) -> list[Decoded]`` and one
registry, ``DECODERS``, which feeds ``train.py``, ``python -m hwr.evaluate`` and the app.

Every decoder reports the same confidence: P(text | image) under the model, summed over all CTC
alignments of the text (Keras' CTC loss is exactly −log of that). So a greedy, a beam and a lexicon
answer can be compared on one scale, and the lexicon decoder can refuse a name the image does not
support.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from hwr.alphabet import Alphabet


@dataclass
class Decoded:
    text: str
    #: P(text | image): the model's probability of this text over all its alignments
    confidence: float
    #: (text, probability), most probable first; the chosen text is among them
    alternatives: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class DecodeOptions:
    beam_width: int = 16
    top_paths: int = 5
    #: {NAME: count}; required by the lexicon decoder
    lexicon: dict[str, int] | None = None
    #: the lexicon name is taken when log P(name) ≥ log P(best free text) − margin (ln 10 ≈ 2.3:
    #: a name at least a tenth as probable as the free reading)
    lexicon_margin: float = 2.3
    #: lexicon names within this share of the free reading's length in edits are considered
    lexicon_max_edit_ratio: float = 0.34


#: steps between rescalings of the forward variables. Only a text that every state of the image rules
#: out (each below e^-186 for four steps running) can underflow float64 in between: it scores -inf,
#: as exp() of its true log-probability would be 0.0 anyway
RESCALE_EVERY = 4


def log_likelihood(log_probs: np.ndarray, texts: list[str], alphabet: Alphabet) -> np.ndarray:
    """log P(texts[i] | image i) for log-probabilities (B, T, C): the CTC forward algorithm.

    The same quantity as ``-keras.ops.ctc_loss`` (a test holds them equal), computed in NumPy
    because decoders score a handful of short candidates per image: an eager Keras CTC call on the
    TensorFlow backend costs about two seconds. Probabilities, one matrix product a step and rescaled
    every few steps (Graves' scaling), instead of log-space sums: 0.7 ms instead of 1.2 ms for one
    image's text, on the path of every drawing read.
    """
    n = len(texts)
    if n == 0:
        return np.zeros((0,), np.float64)
    lp = np.asarray(log_probs, np.float64)
    steps = lp.shape[1]
    lengths = np.array([len(t) for t in texts])
    states = 2 * max(1, lengths.max()) + 1
    # the extended label: blank, c1, blank, c2, …, blank
    ext = np.full((n, states), alphabet.blank, np.int64)
    ext[:, 1::2] = alphabet.encode_batch(list(texts), max(1, lengths.max()))
    skip = np.zeros((n, states), bool)  # a step may jump a blank between two different characters
    skip[:, 2:] = (ext[:, 2:] != alphabet.blank) & (ext[:, 2:] != ext[:, :-2])
    emit = np.exp(np.take_along_axis(lp, np.broadcast_to(ext[:, None, :], (n, steps, states)), axis=2))
    # one step as a matrix: stay, move on one state, or jump a blank where ``skip`` allows
    move = np.eye(states)[None] + np.eye(states, k=1)[None] + np.eye(states, k=2)[None] * skip[:, None, :]
    alpha = np.zeros((n, 1, states))
    alpha[:, 0, 0] = emit[:, 0, 0]
    alpha[:, 0, 1] = np.where(lengths > 0, emit[:, 0, 1], 0.0)
    log_scale = np.zeros((n, 1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(1, steps):
            alpha = np.matmul(alpha, move) * emit[:, t, None]
            if t % RESCALE_EVERY == 0 or t == steps - 1:
                total = alpha.sum(axis=2, keepdims=True)
                log_scale += np.log(total)
                alpha /= total
        rows = np.arange(n)
        alpha = alpha[:, 0]
        before = np.where(lengths > 0, alpha[rows, np.maximum(2 * lengths - 1, 0)], 0.0)
        final = alpha[rows, 2 * lengths] + before
        ll = log_scale[:, 0, 0] + np.log(final)
    return np.where(np.isnan(ll), -np.inf, ll)  # a text the image cannot spell: P = 0


def _paths_to_texts(paths, alphabet: Alphabet) -> list[list[str]]:
    """Keras' decoded tensor (top_paths, B, T), padded with -1 → per-image lists of texts."""
    paths = keras.ops.convert_to_numpy(paths)
    return [[alphabet.decode(paths[k, b]) for k in range(paths.shape[0])]
            for b in range(paths.shape[1])]


def _rank(log_probs: np.ndarray, candidates: list[list[str]], alphabet: Alphabet) -> list[list[tuple[str, float]]]:
    """Score every image's candidate texts exactly; return them as (text, log P), best first."""
    flat_img, flat_txt = [], []
    for b, texts in enumerate(candidates):
        for t in dict.fromkeys(texts):  # unique, order kept
            flat_img.append(b)
            flat_txt.append(t)
    ll = log_likelihood(log_probs[flat_img], flat_txt, alphabet) if flat_txt else []
    ranked: list[list[tuple[str, float]]] = [[] for _ in candidates]
    for b, t, s in zip(flat_img, flat_txt, ll):
        ranked[b].append((t, float(s)))
    return [sorted(r, key=lambda ts: -ts[1]) for r in ranked]


def _as_decoded(ranked: list[tuple[str, float]], choice: int = 0) -> Decoded:
    text, ll = ranked[choice]
    return Decoded(text, float(np.exp(ll)), [(t, float(np.exp(s))) for t, s in ranked])


def greedy(log_probs: np.ndarray, alphabet: Alphabet, options: DecodeOptions = DecodeOptions()) -> list[Decoded]:
    """Best path: the most probable character at each step, repeats merged, blanks dropped.

    The same result as ``keras.ops.ctc_decode(strategy="greedy")`` (a test holds them equal), done in
    NumPy: ~0.05 ms instead of ~4 ms a call on the TensorFlow backend, which is most of the decoding
    time of a single drawing.
    """
    best = np.argmax(log_probs, axis=-1)
    keep = np.ones_like(best, bool)
    keep[:, 1:] = best[:, 1:] != best[:, :-1]
    texts = [[alphabet.decode(row[k])] for row, k in zip(best, keep)]
    return [_as_decoded(r) for r in _rank(log_probs, texts, alphabet)]


def beam(log_probs: np.ndarray, alphabet: Alphabet, options: DecodeOptions = DecodeOptions()) -> list[Decoded]:
    """Beam search over labellings; the beam's texts are re-scored exactly and the best is kept."""
    lengths = np.full((log_probs.shape[0],), log_probs.shape[1], np.int32)
    paths, _ = keras.ops.ctc_decode(log_probs, lengths, strategy="beam_search",
                                    beam_width=options.beam_width, top_paths=options.top_paths,
                                    mask_index=alphabet.blank)
    texts = _paths_to_texts(paths, alphabet)
    return [_as_decoded(r) for r in _rank(log_probs, texts, alphabet)]


def lexicon(log_probs: np.ndarray, alphabet: Alphabet, options: DecodeOptions = DecodeOptions()) -> list[Decoded]:
    """Beam search, then the nearest lexicon names, taken only where the image supports them.

    The lexicon holds only about two thirds of the names people write, so a name replaces the free
    reading only when the model itself finds it nearly as probable (``lexicon_margin``).
    """
    if not options.lexicon:
        raise ValueError("the lexicon decoder needs a lexicon (DecodeOptions.lexicon)")
    free = beam(log_probs, alphabet, options)
    names = list(options.lexicon)
    candidates = []
    for d in free:
        near: list[str] = []
        for text, _ in d.alternatives[:2]:
            cutoff = max(1, int(len(text) * options.lexicon_max_edit_ratio))
            near += [m[0] for m in process.extract(text, names, scorer=Levenshtein.distance,
                                                   score_cutoff=cutoff, limit=10)]
        candidates.append(near)
    scored = _rank(log_probs, candidates, alphabet)
    out = []
    for d, names_ranked in zip(free, scored):
        free_ranked = [(t, float(np.log(max(p, 1e-300)))) for t, p in d.alternatives]
        if names_ranked and names_ranked[0][1] >= free_ranked[0][1] - options.lexicon_margin:
            merged = sorted({**dict(free_ranked), **dict(names_ranked)}.items(), key=lambda ts: -ts[1])
            chosen = [t for t, _ in merged].index(names_ranked[0][0])
            out.append(_as_decoded(merged, chosen))
        else:
            out.append(d)
    return out


Decoder = Callable[[np.ndarray, Alphabet, DecodeOptions], list[Decoded]]
DECODERS: dict[str, Decoder] = {"greedy": greedy, "beam": beam, "lexicon": lexicon}


def decode(log_probs: np.ndarray, alphabet: Alphabet, decoder: str = "greedy",
           options: DecodeOptions = DecodeOptions()) -> list[Decoded]:
    """Decode a batch with a decoder chosen by name."""
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {sorted(DECODERS)}")
    return DECODERS[decoder](np.asarray(log_probs, np.float32), alphabet, options)
