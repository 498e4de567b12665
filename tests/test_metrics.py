"""Scoring on hand-checked pairs: word accuracy, corpus CER, WER, positional accuracy, confusions."""

from __future__ import annotations

from collections import Counter

import pytest

from hwr import metrics


def test_scores_of_known_pairs():
    s = metrics.score(["HELLO", "WORLD"], ["HELLO", "WORD"])
    assert s.images == 2
    assert s.word_accuracy == 0.5
    assert s.cer == pytest.approx(1 / 10)  # one deletion over ten truth characters
    assert s.wer == pytest.approx(1 / 2)  # WORLD → WORD is one wrong word out of two
    assert s.char_accuracy_positional == pytest.approx(8 / 10)  # W O R match, L≠D, nothing for D
    assert set(s.to_dict()) == {"images", "word_accuracy", "cer", "wer", "char_accuracy_positional"}


def test_cer_is_corpus_level_not_a_mean():
    s = metrics.score(["A", "ABCDEFGHIJ"], ["B", "ABCDEFGHIJ"])
    assert s.cer == pytest.approx(1 / 11)  # a mean of per-image CERs would say 0.5
    assert metrics.cer("A", "B") == 1.0


def test_positional_accuracy_punishes_a_shift_that_cer_does_not():
    assert metrics.positional_matches("HELLO", "HELO") == 3  # H E L match, L≠O
    s = metrics.score(["HELLO"], ["HELO"])
    assert s.char_accuracy_positional == pytest.approx(3 / 5)
    assert s.cer == pytest.approx(1 / 5)
    assert s.word_accuracy == 0.0


def test_wer_counts_words_of_multi_word_names():
    s = metrics.score(["JEAN PIERRE", "MARIE"], ["JEAN PIERE", "MARIE"])
    assert s.wer == pytest.approx(1 / 3)
    assert metrics.score(["JEAN PIERRE"], ["JEANPIERRE"]).wer == pytest.approx(1.0)


def test_perfect_and_empty():
    s = metrics.score(["ANNA", "LEA"], ["ANNA", "LEA"])
    assert (s.word_accuracy, s.cer, s.wer, s.char_accuracy_positional) == (1.0, 0.0, 0.0, 1.0)
    empty = metrics.score([], [])
    assert empty.images == 0 and empty.cer == 0.0
    assert metrics.cer("", "AB") == 2.0  # insertions against an empty truth still count
    with pytest.raises(ValueError):
        metrics.score(["A", "B"], ["A"])


def test_edit_distance():
    assert metrics.edit_distance("MARTIN", "MARTYN") == 1
    assert metrics.edit_distance("ANNA", "") == 4
    assert metrics.edit_distance("KITTEN", "SITTING") == 3


def test_confusions_name_substitutions_deletions_insertions():
    assert metrics.confusions(["MARTIN"], ["MARTYN"]) == Counter({("I", "Y"): 1})
    assert metrics.confusions(["ANNA"], ["ANA"]) == Counter({("N", ""): 1})
    assert metrics.confusions(["ANA"], ["ANNA"]) == Counter({("", "N"): 1})
    both = metrics.confusions(["MARTIN", "LOUIS", "LEA"], ["MARTYN", "LOUYS", "LEA"])
    assert both == Counter({("I", "Y"): 2})


def test_per_character_errors():
    errors = metrics.per_character_errors(["MARTIN", "ANNA"], ["MARTYN", "ANA"])
    assert list(errors) == sorted(errors) == sorted(set("MARTINANNA"))
    assert errors["I"] == {"count": 1, "errors": 1, "error_rate": 1.0}
    assert errors["N"] == {"count": 3, "errors": 1, "error_rate": pytest.approx(1 / 3)}
    assert errors["A"] == {"count": 3, "errors": 0, "error_rate": 0.0}
    # an inserted character is no truth character's error
    assert metrics.per_character_errors(["ANA"], ["ANNA"])["N"]["errors"] == 0
