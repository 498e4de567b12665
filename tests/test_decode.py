"""Decoders on hand-made log-probability matrices, where the right answer is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwr.alphabet import Alphabet
from hwr.decode import DECODERS, DecodeOptions, _prefix_beam, decode, log_likelihood
from hwr.lm import CharLM

ALPHABET = Alphabet()
BLANK = "_"  # stands for the CTC blank in the paths below (the hyphen is a real character)
LEXICON = {"MARTIN": 120, "MARTINE": 8, "ANNA": 50, "MARIE": 40}


def path_matrix(path: str, p: float = 0.9, steps: dict[int, dict[str, float]] | None = None,
                alphabet: Alphabet = ALPHABET) -> np.ndarray:
    """Log-probabilities (1, T, C) where step t puts ``p`` on ``path[t]`` and spreads the rest.

    ``steps`` replaces a step's distribution with explicit probabilities ({char or '_': p}),
    the remainder spread over the other classes.
    """
    size = alphabet.size
    out = np.empty((len(path), size))

    def index(c: str) -> int:
        return alphabet.blank if c == BLANK else alphabet.encode(c)[0]

    for t, c in enumerate(path):
        chosen = (steps or {}).get(t, {c: p})
        row = np.full(size, (1.0 - sum(chosen.values())) / (size - len(chosen)))
        for ch, prob in chosen.items():
            row[index(ch)] = prob
        out[t] = row
    return np.log(out)[None].astype(np.float32)


def brute_force(log_probs: np.ndarray, alphabet: Alphabet) -> dict[str, float]:
    """P(text) for every text, by summing all |C|^T alignments (tiny matrices only)."""
    probs = np.exp(log_probs[0].astype(np.float64))
    totals: dict[str, float] = {}
    for path in itertools.product(range(alphabet.size), repeat=len(probs)):
        merged = [k for k, _ in itertools.groupby(path)]
        text = alphabet.decode(merged)
        totals[text] = totals.get(text, 0.0) + float(np.prod(probs[np.arange(len(path)), path]))
    return totals


def test_registry_and_unknown_decoder():
    assert set(DECODERS) == {"greedy", "beam", "lexicon"}
    with pytest.raises(ValueError, match="unknown decoder"):
        decode(path_matrix("_A_"), ALPHABET, "viterbi")


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_blank_separates_repeated_letters(decoder):
    assert decode(path_matrix("_AN_NA_"), ALPHABET, decoder)[0].text == "ANNA"
    # without a blank between them, repeated steps merge into one letter
    assert decode(path_matrix("AANNNAA"), ALPHABET, decoder)[0].text == "ANA"


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_space_hyphen_apostrophe(decoder):
    assert decode(path_matrix("_J-P_D'A L_"), ALPHABET, decoder)[0].text == "J-PD'A L"


def test_batch_keeps_order():
    batch = np.concatenate([path_matrix("_LEA__"), path_matrix("ANNA__"), path_matrix("______")])
    for name in ["greedy", "beam"]:
        assert [d.text for d in decode(batch, ALPHABET, name)] == ["LEA", "ANA", ""]


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_confidence_is_the_probability_of_the_text(decoder):
    lp = path_matrix("_MAR_TIN_", p=0.8)
    out = decode(lp, ALPHABET, decoder)[0]
    assert out.text == "MARTIN"
    expected = float(np.exp(log_likelihood(lp, ["MARTIN"], ALPHABET)[0]))
    assert out.confidence == pytest.approx(expected, rel=1e-4)
    assert 0.0 < out.confidence <= 1.0
    assert out.alternatives[0] == (out.text, pytest.approx(out.confidence))


def test_confidence_matches_brute_force_sum_over_alignments():
    alphabet = Alphabet("AB")
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(1, 3, alphabet.size)) * 2.0
    lp = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)
    truth = brute_force(lp, alphabet)
    assert sum(truth.values()) == pytest.approx(1.0)
    for name in ["greedy", "beam"]:
        out = decode(lp, alphabet, name, DecodeOptions(beam_width=16, top_paths=5))[0]
        assert out.confidence == pytest.approx(truth[out.text], rel=1e-4)
        for text, prob in out.alternatives:
            assert prob == pytest.approx(truth[text], rel=1e-4)
    # with T=3 and two letters the beam holds every labelling, so it finds the most probable text
    best = max(truth, key=truth.get)
    assert decode(lp, alphabet, "beam", DecodeOptions(beam_width=16))[0].text == best


def _martn(p_i: float) -> np.ndarray:
    """Greedy path M A R T _ N, where the step after T also gives 'I' probability ``p_i``."""
    return path_matrix("_MART_N_", steps={5: {BLANK: 0.95 - p_i, "I": p_i}})


def test_lexicon_corrects_a_reading_the_image_supports():
    lp = _martn(0.4)
    options = DecodeOptions(lexicon=LEXICON)
    free = decode(lp, ALPHABET, "beam", options)[0]
    assert decode(lp, ALPHABET, "greedy")[0].text == free.text == "MARTN"
    out = decode(lp, ALPHABET, "lexicon", options)[0]
    assert out.text == "MARTIN"
    assert out.confidence == pytest.approx(float(np.exp(log_likelihood(lp, ["MARTIN"], ALPHABET)[0])),
                                           rel=1e-4)
    assert out.confidence < free.confidence  # the model itself preferred MARTN, but not by 10×
    assert "MARTN" in dict(out.alternatives)


def test_lexicon_keeps_a_free_reading_the_image_strongly_supports():
    options = DecodeOptions(lexicon=LEXICON)
    # MARTIN is one edit away, but the model gives its I almost no probability
    out = decode(_martn(0.001), ALPHABET, "lexicon", options)[0]
    assert out.text == "MARTN"
    # a name with no lexicon neighbour at all is kept as read
    assert decode(path_matrix("_Z_O_E_"), ALPHABET, "lexicon", options)[0].text == "ZOE"


def test_lexicon_decoder_needs_a_lexicon():
    with pytest.raises(ValueError, match="lexicon"):
        decode(path_matrix("_A_"), ALPHABET, "lexicon", DecodeOptions(lexicon=None))


def test_log_likelihood_of_empty_batch_and_empty_text():
    assert log_likelihood(path_matrix("_A_")[:0], [], ALPHABET).shape == (0,)
    all_blank = path_matrix("___", p=0.9)
    assert np.exp(log_likelihood(all_blank, [""], ALPHABET)[0]) == pytest.approx(0.9 ** 3, rel=1e-4)
    # more letters (and blanks between repeats) than steps: the image cannot spell them
    assert np.isneginf(log_likelihood(np.concatenate([all_blank] * 2), ["ABCD", "LLL"], ALPHABET)).all()


def test_log_likelihood_equals_keras_ctc_loss():
    """The NumPy forward pass is Keras' CTC loss, negated, incl. repeats, one letter and empty text."""
    import keras

    from hwr.decode import log_likelihood

    alphabet = Alphabet()
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.full(alphabet.size, 0.3), size=(6, 64))).astype(np.float32)
    texts = ["ANNA", "PAUL", "MARIE", "X", "JEAN-PIERRE", "L'LL"]
    target = alphabet.encode_batch(texts, 11)
    expected = -keras.ops.convert_to_numpy(keras.ops.ctc_loss(
        target, lp, np.array([len(t) for t in texts]), np.full(6, 64), mask_index=alphabet.blank))
    np.testing.assert_allclose(log_likelihood(lp, texts, alphabet), expected, rtol=1e-5)
    empty = -keras.ops.convert_to_numpy(keras.ops.ctc_loss(
        np.zeros((1, 1), np.int32), lp[:1], np.array([0]), np.array([64]), mask_index=alphabet.blank))
    np.testing.assert_allclose(log_likelihood(lp[:1], [""], alphabet), empty, rtol=1e-5)


def test_greedy_equals_keras_ctc_decode():
    """The NumPy best path is Keras' greedy CTC decoding (repeats merged, blanks dropped)."""
    import keras

    alphabet = Alphabet()
    rng = np.random.default_rng(1)
    lp = np.log(rng.dirichlet(np.full(alphabet.size, 0.2), size=(8, 64))).astype(np.float32)
    lp[:, ::3, 0] += 3.0  # plenty of blanks, and repeats between them
    paths, _ = keras.ops.ctc_decode(lp, np.full(8, 64), strategy="greedy", mask_index=alphabet.blank)
    expected = [alphabet.decode(p) for p in keras.ops.convert_to_numpy(paths)[0]]
    assert [d.text for d in decode(lp, alphabet, "greedy")] == expected


NAMES = ["MARTIN", "ANNA", "JEAN-PIERRE", "LEA", "O'BRIEN", "BERNADETTE", "ZOE", "MARIE CLAIRE", "LL"]


def model_like(rng: np.random.Generator, count: int, steps: int = 64) -> np.ndarray:
    """Log-probabilities (count, steps, C) shaped like the CRNN's: mostly blank, each letter of a name
    over a step or three, every step unsure between its class and a second one, the rest spread."""
    out = np.empty((count, steps, ALPHABET.size))
    for i in range(count):
        name = ALPHABET.encode(NAMES[i % len(NAMES)])
        path = [ALPHABET.blank] * rng.integers(1, 6)
        for code in name:
            path += [code] * rng.integers(1, 4) + [ALPHABET.blank] * rng.integers(1, 3)
        path = (path + [ALPHABET.blank] * steps)[:steps]
        for t, cls in enumerate(path):
            row = rng.dirichlet(np.full(ALPHABET.size, 0.3)) * rng.uniform(0.001, 0.05)
            doubt = rng.uniform(0.0, 0.4)
            row[cls] += (1 - row.sum()) * (1 - doubt)
            row[rng.integers(0, ALPHABET.size)] += 1 - row.sum()
            out[i, t] = row
    return np.log(out).astype(np.float32)


def textbook_beam(log_probs: np.ndarray, width: int) -> list[tuple[str, float]]:
    """The CTC prefix beam search as textbooks write it, one prefix at a time in dicts (slow)."""
    y = np.exp(log_probs.astype(np.float64))
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (1.0, 0.0)}
    for yt in y:
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            grown.setdefault(prefix, [0.0, 0.0])[0] += (pb + pnb) * yt[ALPHABET.blank]
            if prefix:
                grown[prefix][1] += pnb * yt[prefix[-1]]
            for c in range(1, ALPHABET.size):
                before = pb if prefix and prefix[-1] == c else pb + pnb
                grown.setdefault(prefix + (c,), [0.0, 0.0])[1] += before * yt[c]
        beams = dict(sorted(grown.items(), key=lambda kv: -sum(kv[1]))[:width])
    return sorted(((ALPHABET.decode(p), float(np.log(sum(v)))) for p, v in beams.items()), key=lambda ts: -ts[1])


def test_beam_search_is_the_textbook_prefix_beam_search():
    lp = model_like(np.random.default_rng(6), 3, steps=24)
    for x in lp:
        found = _prefix_beam(x, ALPHABET, DecodeOptions(beam_width=8, top_paths=8, prune_below=0.0))
        expected = textbook_beam(x, 8)
        assert [t for t, _ in found] == [t for t, _ in expected]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], rtol=1e-12)


def test_beam_equals_keras_ctc_decode():
    """With no character model, the NumPy beam search reads what Keras' (TensorFlow's) does: at a wide
    beam the same five texts, at the default width the same best text. TensorFlow's scores can be
    higher than ours (never above the texts' exact probability): at the same width its search keeps
    some alignments that the textbook prefix beam search drops."""
    keras = pytest.importorskip("keras")
    lp = model_like(np.random.default_rng(4), 12)
    lengths = np.full(len(lp), lp.shape[1])
    for width in (64, DecodeOptions().beam_width):
        paths, scores = keras.ops.ctc_decode(lp, lengths, strategy="beam_search", beam_width=width,
                                             top_paths=5, mask_index=ALPHABET.blank)
        paths, scores = keras.ops.convert_to_numpy(paths), keras.ops.convert_to_numpy(scores)
        options = DecodeOptions(beam_width=width, top_paths=5, prune_below=0.0)
        for b, found in enumerate(_prefix_beam(x, ALPHABET, options) for x in lp):
            expected = [ALPHABET.decode(paths[k, b]) for k in range(5)]
            assert found[0][0] == expected[0]
            if width == 64:
                assert [t for t, _ in found] == expected
            exact = log_likelihood(lp[[b] * 5], [t for t, _ in found], ALPHABET)
            assert all(s <= e + 1e-9 for (_, s), e in zip(found, exact))
            assert found[0][1] <= scores[b, 0] + 1e-3


def test_pruning_unlikely_characters_keeps_the_readings():
    lp = model_like(np.random.default_rng(5), 18)
    exhaustive = decode(lp, ALPHABET, "beam", DecodeOptions(prune_below=0.0))
    assert [d.text for d in decode(lp, ALPHABET, "beam")] == [d.text for d in exhaustive]


def _martineau(p_i: float) -> np.ndarray:
    """MARTINEAU where the I's step is unsure between I and L (I with probability ``p_i``)."""
    return path_matrix("_MART_I_NEAU_", steps={6: {"I": p_i, "L": 0.9 - p_i}})


NAME_COUNTS = {"MARTIN": 120, "MARTINE": 8, "MARTINEZ": 30, "ANNA": 50, "MARIE": 40, "CATHERINE": 9,
               "JEAN": 80, "ANTOINE": 25, "AURELIE": 12, "BEAU": 3, "MOREAU": 40, "RENEAU": 2}


def test_character_model_reads_a_name_outside_the_lexicon():
    """MARTINEAU is no lexicon name, but 'TINE' and 'EAU' are common in names: the n-gram model takes
    the I the image half supports, and leaves it where the image rules it out."""
    lm = CharLM(NAME_COUNTS)
    assert "MARTINEAU" not in NAME_COUNTS
    plain, with_lm = DecodeOptions(), DecodeOptions(lm=lm, lm_weight=0.2)
    assert decode(_martineau(0.4), ALPHABET, "beam", plain)[0].text == "MARTLNEAU"
    out = decode(_martineau(0.4), ALPHABET, "beam", with_lm)[0]
    assert out.text == "MARTINEAU"
    assert out.confidence == pytest.approx(float(np.exp(log_likelihood(_martineau(0.4), ["MARTINEAU"],
                                                                      ALPHABET)[0])), rel=1e-4)
    assert decode(_martineau(0.005), ALPHABET, "beam", with_lm)[0].text == "MARTLNEAU"
    # a weight of 0 turns the model off entirely
    zero = DecodeOptions(lm=lm, lm_weight=0.0)
    assert decode(_martineau(0.4), ALPHABET, "beam", zero)[0].text == "MARTLNEAU"


def test_length_bonus_counters_the_character_models_preference_for_short_texts():
    lm = CharLM(NAME_COUNTS)
    lp = path_matrix("_A_N_N_A_S_", p=0.99, steps={9: {"S": 0.5, BLANK: 0.4}})
    short = decode(lp, ALPHABET, "beam", DecodeOptions(lm=lm, lm_weight=0.2))[0].text
    longer = decode(lp, ALPHABET, "beam", DecodeOptions(lm=lm, lm_weight=0.2, length_bonus=6.0))[0].text
    assert (short, longer) == ("ANNA", "ANNAS")


def test_lexicon_count_prior_picks_among_names_the_image_supports_alike():
    counts = {"MARIE": 400, "MARIA": 2}
    lp = path_matrix("_MARI_A_", steps={6: {"A": 0.47, "E": 0.43}})
    assert decode(lp, ALPHABET, "lexicon", DecodeOptions(lexicon=counts))[0].text == "MARIA"
    out = decode(lp, ALPHABET, "lexicon", DecodeOptions(lexicon=counts, prior_weight=1.0))[0]
    assert out.text == "MARIE"
    assert dict(out.alternatives)["MARIA"] > out.confidence  # the image alone preferred MARIA
    # the prior never takes a name the image does not support
    strong = path_matrix("_MARI_A_", steps={6: {"A": 0.89, "E": 0.001}})
    assert decode(strong, ALPHABET, "lexicon", DecodeOptions(lexicon=counts, prior_weight=1.0))[0].text == "MARIA"


@pytest.mark.parametrize("decoder", ["greedy", "beam", "lexicon"])
def test_the_same_reading_twice_reads_as_once(decoder):
    lp = np.concatenate([_martn(0.4), path_matrix("_MARI_A_", steps={6: {"A": 0.47, "E": 0.43}})[:, :8]])
    options = DecodeOptions(lexicon=LEXICON)
    alone = decode(lp, ALPHABET, decoder, options)
    together = decode(np.stack([lp, lp], axis=1), ALPHABET, decoder, options)
    assert [d.text for d in together] == [d.text for d in alone]
    assert [d.confidence for d in together] == pytest.approx([d.confidence for d in alone], rel=1e-5)


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_several_readings_read_the_text_they_together_find_most_probable(decoder):
    # one reading half-sees MARIA; the other sees MARIE clearly, at other steps (its peaks come later)
    unsure = path_matrix("_MARI_A__", steps={6: {"A": 0.47, "E": 0.43}})
    sure = path_matrix("__MARI_E_", steps={7: {"A": 0.05, "E": 0.9}})
    assert decode(unsure, ALPHABET, decoder)[0].text == "MARIA"
    out = decode(np.stack([unsure, sure], axis=1), ALPHABET, decoder)[0]
    assert out.text == "MARIE"
    both = [log_likelihood(m, ["MARIE"], ALPHABET)[0] for m in (unsure, sure)]
    assert out.confidence == pytest.approx(float(np.exp(np.mean(both))), rel=1e-4)  # the geometric mean
    # averaging the two readings step by step instead blurs MARIE's E, whose peaks do not line up
    mean = np.log((np.exp(unsure) + np.exp(sure)) / 2)
    assert decode(mean, ALPHABET, decoder)[0].text != "MARIE"
