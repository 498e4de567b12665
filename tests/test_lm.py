"""The character n-gram model of names: probabilities, counts as weights, begin and end, nltk's equal."""

from __future__ import annotations

import numpy as np
import pytest

from hwr import config
from hwr.alphabet import Alphabet
from hwr.lexicon import load_lexicon
from hwr.lm import BEGIN, CharLM

ALPHABET = Alphabet()


@pytest.fixture(scope="module")
def names() -> dict[str, int]:
    return load_lexicon(config.BUNDLED_LEXICON)


def test_every_context_gives_a_distribution_over_the_symbols(names):
    lm = CharLM(names)
    for prefix in ["", "M", "MARTI", "JEAN-PI", "QXQXQ", "O'"]:
        p = np.exp(lm.log_probs(prefix))
        assert p.shape == (ALPHABET.size,)
        assert p.sum() == pytest.approx(1.0) and (p > 0).all()  # nothing the image shows is impossible


def test_names_start_end_and_continue_as_the_lexicon_does(names):
    lm = CharLM(names)
    code = {c: ALPHABET.encode(c)[0] for c in "NXE"}
    after = np.exp(lm.log_probs("MARTI"))
    assert after[code["N"]] > 0.5 > after[code["X"]]
    assert np.exp(lm.log_probs(""))[ALPHABET.blank] < 1e-3  # a name is rarely empty
    assert np.exp(lm.log_probs("MARTIN"))[ALPHABET.blank] > np.exp(lm.log_probs("MART"))[ALPHABET.blank]
    assert lm.score("MARTINEAU") > lm.score("MRTAINUEA")  # same letters, not a name's order
    assert lm.perplexity(["MARTINEAU", "BERNADETTE"]) < ALPHABET.size / 3


def test_counts_weigh_the_names():
    lm = CharLM({"ANNA": 100, "ANNE": 1})
    a, e = ALPHABET.encode("AE")
    p = np.exp(lm.log_probs("ANN"))
    assert p[a] > 10 * p[e] > 0


def test_names_outside_the_alphabet_are_left_out_and_orders_are_checked():
    lm = CharLM({"ÉLODIE": 5, "ELODIE": 1}, order=3)
    assert lm.context("ELO") == "LO" and lm.context("") == BEGIN * 2
    assert np.exp(lm.log_probs("")).argmax() == ALPHABET.encode("E")[0]
    assert CharLM({"A": 1}, order=1).context("ABC") == ""
    with pytest.raises(ValueError, match="order"):
        CharLM({"A": 1}, order=0)


def test_equals_nltk_interpolated_witten_bell(names):
    """nltk.lm's model on the same padded names, its unigram level interpolated with the uniform like
    every other level (ours does, so that no character is impossible)."""
    nltk_lm = pytest.importorskip("nltk.lm")
    from nltk.lm.smoothing import WittenBell
    from nltk.util import everygrams

    end = "</s>"
    kept = [n for n in list(names)[:1500] if not ALPHABET.unknown(n)]
    symbols = [end, *ALPHABET.chars]

    class WittenBellUniformBase(WittenBell):
        def unigram_score(self, word):
            counts = self.counts.unigrams
            seen = sum(counts[s] > 0 for s in symbols)
            return (counts[word] + seen / len(symbols)) / (counts.N() + seen)

    reference = nltk_lm.WittenBellInterpolated(5)
    sentences = [[BEGIN] * 4 + list(n) + [end] for n in kept]
    reference.fit([[g for g in everygrams(s, max_len=5) if g[-1] != BEGIN] for s in sentences],
                  [*ALPHABET.chars, end, BEGIN])
    reference.estimator = WittenBellUniformBase(reference.vocab, reference.counts)
    ours = CharLM({n: 1 for n in kept})
    for prefix in ["", "M", "MAR", "MARTI", "JEAN-", "QQQ", "ZZZZZZ", "ANN"]:
        expected = [reference.score(s, tuple(ours.context(prefix))) for s in symbols]
        np.testing.assert_allclose(np.exp(ours.log_probs(prefix)), expected, rtol=1e-9)
