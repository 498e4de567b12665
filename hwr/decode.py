"""Stage: per-timestep log-probabilities → text. Greedy, beam search and lexicon-aware decoding.

All decoders share one signature ``(log_probs, alphabet, options) -> list[Decoded]`` and one
registry, ``DECODERS``, which feeds ``train.py``, ``python -m hwr.evaluate`` and the app.

Every decoder reports the same confidence: P(text | image) under the model, summed over all CTC
alignments of the text (Keras' CTC loss is exactly −log of that). So a greedy, a beam and a lexicon
answer can be compared on one scale, and the lexicon decoder can refuse a name the image does not
support.

An image can be read more than once (``hwr.variants``: the image a pixel lower, its strokes bolder):
its log-probabilities then come as (B, R, T, C) instead of (B, T, C). Each reading proposes texts
(its best path, its beams), and every proposal is scored under every reading; the confidence is the
geometric mean of the readings' P(text | image). Readings are combined on texts, never step by
step: two readings put a character's peak at different steps, and averaging their per-step
probabilities blurs both (a test shows it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from hwr.alphabet import Alphabet
from hwr.lm import CharLM


@dataclass
class Decoded:
    text: str
    #: P(text | image): the model's probability of this text over all its alignments
    confidence: float
    #: (text, probability), most probable first; the chosen text is among them
    alternatives: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class DecodeOptions:
    """Every setting of every decoder; a model's metadata stores its tuned ones (``decoder_options``)."""

    beam_width: int = 16
    top_paths: int = 5
    #: characters below this probability at a step are not tried as extensions there (0: all are)
    prune_below: float = 1e-4
    #: {NAME: count}; required by the lexicon decoder
    lexicon: dict[str, int] | None = None
    #: the character n-gram model of names (``hwr.lm``), used by the beam search when ``lm_weight`` ≠ 0
    lm: CharLM | None = None
    #: α: weight of log P_lm(character | the characters before it), per appended character
    lm_weight: float = 0.0
    #: β: added per appended character, against the n-gram model's preference for short texts
    length_bonus: float = 0.0
    #: γ: weight of log count(name) when the lexicon decoder picks among the near names
    prior_weight: float = 0.0
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


def readings(log_probs: np.ndarray) -> list[np.ndarray]:
    """Each reading's (B, T, C) log-probabilities: a single reading as it is, (B, R, T, C) split."""
    return [log_probs] if log_probs.ndim == 3 else [log_probs[:, r] for r in range(log_probs.shape[1])]


def _rank(log_probs: np.ndarray, candidates: list[list[str]], alphabet: Alphabet) -> list[list[tuple[str, float]]]:
    """Score every image's candidate texts exactly; return them as (text, log P), best first.

    With several readings, log P is the mean of theirs (the log of their probabilities' geometric mean).
    """
    flat_img, flat_txt = [], []
    for b, texts in enumerate(candidates):
        for t in dict.fromkeys(texts):  # unique, order kept
            flat_img.append(b)
            flat_txt.append(t)
    ll = np.mean([log_likelihood(lp[flat_img], flat_txt, alphabet) for lp in readings(log_probs)],
                 axis=0) if flat_txt else []
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
    time of a single drawing. Several readings: of their best paths, the one they together find most probable.
    """
    texts: list[list[str]] = [[] for _ in range(len(log_probs))]
    for lp in readings(log_probs):
        best = np.argmax(lp, axis=-1)
        keep = np.ones_like(best, bool)
        keep[:, 1:] = best[:, 1:] != best[:, :-1]
        for found, row, k in zip(texts, best, keep):
            found.append(alphabet.decode(row[k]))
    return [_as_decoded(r) for r in _rank(log_probs, texts, alphabet)]


def _scorer(options: DecodeOptions) -> Callable[[str], float]:
    """The prior of a text the beam search adds to log P(text | image): α·log P_lm(text) + β·length."""
    lm = options.lm if options.lm_weight else None
    if lm is None:
        return lambda text: options.length_bonus * len(text)
    return lambda text: options.lm_weight * lm.score(text) + options.length_bonus * len(text)


def _prefix_beam(log_probs: np.ndarray, alphabet: Alphabet, options: DecodeOptions) -> list[tuple[str, float]]:
    """CTC prefix beam search over one image's (T, C) log-probabilities → (text, score), best first.

    Each beam is a text with the probability of all the alignments kept so far that end in a blank
    (``pb``) or in its last character (``pnb``); a step extends every beam by every character at once
    (one array over the beams and the alphabet), merges an extension that equals a beam into it, and
    keeps the ``beam_width`` best. Characters the image gives less than ``prune_below`` at a step are
    not tried there, so the many blank-dominated steps cost a multiplication and nothing more.
    The character model enters per appended character (α·log P(c | the last characters) + β), and
    the end of the name at the end. With α = β = 0 this is the textbook prefix beam search (a test
    holds them equal), and it reads the texts Keras' (TensorFlow's) beam search reads (a test) in
    1.9 ms an image where Keras takes 4.5 ms (eager, TensorFlow; the busy 2-core machine), without
    Keras. Probabilities rescaled every step, as in ``log_likelihood``.
    """
    y = np.exp(log_probs.astype(np.float64))
    size = alphabet.size
    lm = options.lm if options.lm_weight else None

    def prior_row(text: str) -> np.ndarray:
        """What appending each symbol to ``text`` adds to its score (index 0: ending the name)."""
        row = np.full(size, options.length_bonus)
        row[alphabet.blank] = 0.0
        if lm is not None:
            row += options.lm_weight * lm.log_probs(text)
        return row

    prefixes, rows = [""], [prior_row("")]
    pb, pnb = np.ones(1), np.zeros(1)
    last = np.zeros(1, np.int64)  # the last character's index; 0 (the blank's) for the empty text
    prior = np.zeros(1)  # the prior of each beam's text so far
    log_scale = 0.0
    column = np.full(size, -1)
    for yt in y:
        total = pb + pnb
        stay_b, stay_nb = total * yt[alphabet.blank], pnb * yt[last]
        chars = np.flatnonzero(yt > options.prune_below)
        chars = chars[chars != alphabet.blank]
        if chars.size:
            ext = np.where(last[:, None] == chars, pb[:, None], total[:, None]) * yt[chars]
            column[:] = -1
            column[chars] = np.arange(chars.size)
            at = {p: k for k, p in enumerate(prefixes)}
            for k, p in enumerate(prefixes):  # beam k is its parent's extension by its last character
                parent = at.get(p[:-1]) if p else None
                if parent is not None and column[last[k]] >= 0:
                    stay_nb[k] += ext[parent, column[last[k]]]
                    ext[parent, column[last[k]]] = 0.0
            table = np.stack(rows)
            with np.errstate(divide="ignore"):
                scores = np.concatenate([np.log(stay_b + stay_nb) + prior,
                                         (np.log(ext) + prior[:, None] + table[:, chars]).ravel()])
            n = max(1, min(options.beam_width, int(np.isfinite(scores).sum())))  # P = 0 is no beam
            top = np.argpartition(-scores, n - 1)[:n]
            beams, (k, s) = len(prefixes), np.divmod(np.maximum(top - len(prefixes), 0), chars.size)
            new = top >= beams
            c = chars[s]
            prefixes = [prefixes[kk] + alphabet.chars[cc - 1] if nw else prefixes[i]
                        for i, kk, cc, nw in zip(top, k, c, new)]
            rows = [prior_row(p) if nw else rows[i] for i, p, nw in zip(top, prefixes, new)]
            pb = np.where(new, 0.0, stay_b[np.minimum(top, beams - 1)])
            pnb = np.where(new, ext[k, s], stay_nb[np.minimum(top, beams - 1)])
            prior = np.where(new, prior[k] + table[k, c], prior[np.minimum(top, beams - 1)])
            last = np.where(new, c, last[np.minimum(top, beams - 1)])
        else:
            pb, pnb = stay_b, stay_nb
        peak = (pb + pnb).max()
        if peak > 0:
            pb, pnb, log_scale = pb / peak, pnb / peak, log_scale + float(np.log(peak))
    with np.errstate(divide="ignore"):
        final = np.log(pb + pnb) + log_scale + prior + np.array([r[alphabet.blank] for r in rows])
    order = np.argsort(-final, kind="stable")[:options.top_paths]
    return [(prefixes[i], float(final[i])) for i in order]


def _beam_ranked(log_probs: np.ndarray, alphabet: Alphabet,
                 options: DecodeOptions) -> list[tuple[list[tuple[str, float]], int]]:
    """Each image's beam texts as (text, log P(text | image)), most probable first, and the one chosen.

    The beam's scores are re-computed exactly (``log_likelihood``), and the chosen text maximises
    log P(text | image) + the prior (``_scorer``): with no prior, the most probable one. With
    several readings each searches its own beams, and their texts are scored under all of them.
    """
    found = [[text for lp in readings(log_probs) for text, _ in _prefix_beam(lp[b], alphabet, options)]
             for b in range(len(log_probs))]
    prior = _scorer(options)
    out = []
    for ranked in _rank(log_probs, found, alphabet):
        out.append((ranked, int(np.argmax([ll + prior(t) for t, ll in ranked]))))
    return out


def beam(log_probs: np.ndarray, alphabet: Alphabet, options: DecodeOptions = DecodeOptions()) -> list[Decoded]:
    """Beam search over labellings, with the character model of names where the options give one."""
    return [_as_decoded(ranked, choice) for ranked, choice in _beam_ranked(log_probs, alphabet, options)]


def lexicon(log_probs: np.ndarray, alphabet: Alphabet, options: DecodeOptions = DecodeOptions()) -> list[Decoded]:
    """The beam search, then the nearest lexicon names, taken only where the image supports them.

    The lexicon holds only about two thirds of the names people write, so a name replaces the free
    reading only when the model itself finds it nearly as probable (``lexicon_margin``). Among the
    near names, the count is a prior: log P(name | image) + γ·log count picks the candidate.
    """
    if not options.lexicon:
        raise ValueError("the lexicon decoder needs a lexicon (DecodeOptions.lexicon)")
    free = _beam_ranked(log_probs, alphabet, options)
    names = list(options.lexicon)
    candidates = []
    for ranked, choice in free:
        near: list[str] = []
        for text in dict.fromkeys([ranked[choice][0], ranked[0][0]]):
            cutoff = max(1, int(len(text) * options.lexicon_max_edit_ratio))
            near += [m[0] for m in process.extract(text, names, scorer=Levenshtein.distance,
                                                   score_cutoff=cutoff, limit=10)]
        candidates.append(near)
    out = []
    for (ranked, choice), names_ranked in zip(free, _rank(log_probs, candidates, alphabet)):
        if names_ranked:
            name, ll = max(names_ranked, key=lambda n: n[1] + options.prior_weight
                           * np.log(options.lexicon[n[0]]))
            if ll >= ranked[choice][1] - options.lexicon_margin:
                merged = sorted({**dict(ranked), **dict(names_ranked)}.items(), key=lambda ts: -ts[1])
                out.append(_as_decoded(merged, [t for t, _ in merged].index(name)))
                continue
        out.append(_as_decoded(ranked, choice))
    return out


Decoder = Callable[[np.ndarray, Alphabet, DecodeOptions], list[Decoded]]
DECODERS: dict[str, Decoder] = {"greedy": greedy, "beam": beam, "lexicon": lexicon}


def decode(log_probs: np.ndarray, alphabet: Alphabet, decoder: str = "greedy",
           options: DecodeOptions = DecodeOptions()) -> list[Decoded]:
    """Decode a batch with a decoder chosen by name."""
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {sorted(DECODERS)}")
    return DECODERS[decoder](np.asarray(log_probs, np.float32), alphabet, options)
