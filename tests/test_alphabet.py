"""The alphabet: characters, the CTC blank, the output size, encode/decode."""

from __future__ import annotations

import numpy as np
import pytest

from hwr.alphabet import DEFAULT_CHARS, Alphabet, UnknownCharacterError


def test_blank_is_zero_and_size_counts_it():
    alphabet = Alphabet()
    assert alphabet.blank == 0
    assert alphabet.size == len(DEFAULT_CHARS) + 1 == 30
    assert {" ", "-", "'"} <= set(alphabet.chars)


def test_every_character_round_trips():
    alphabet = Alphabet()
    codes = alphabet.encode(alphabet.chars)
    assert codes == list(range(1, alphabet.size))  # 1-based: 0 stays the blank
    assert alphabet.decode(codes) == alphabet.chars
    for name in ["JEAN-PIERRE", "D'ALMEIDA", "MARIE CLAIRE", "A"]:
        assert alphabet.decode(alphabet.encode(name)) == name


def test_decode_skips_blank_and_padding():
    alphabet = Alphabet()
    a, b = alphabet.encode("AB")
    assert alphabet.decode([0, a, 0, -1, b, -1, 999]) == "AB"
    assert alphabet.decode([]) == ""


@pytest.mark.parametrize("text", ["martin", "JOSÉ", "R2D2", "A_B", "ANNA\n"])
def test_unknown_character_raises(text):
    with pytest.raises(UnknownCharacterError, match="outside the alphabet"):
        Alphabet().encode(text)
    assert Alphabet().unknown(text)


def test_encode_batch_pads_with_blank():
    alphabet = Alphabet()
    batch = alphabet.encode_batch(["ANNA", "", "L"], max_len=6)
    assert batch.dtype == np.int32 and batch.shape == (3, 6)
    np.testing.assert_array_equal(batch[0], alphabet.encode("ANNA") + [alphabet.blank] * 2)
    assert (batch[1] == alphabet.blank).all()
    assert alphabet.decode(batch[2]) == "L"


def test_encode_batch_refuses_too_long_and_unknown():
    alphabet = Alphabet()
    with pytest.raises(ValueError, match="longer than 3"):
        alphabet.encode_batch(["MARTIN"], max_len=3)
    with pytest.raises(UnknownCharacterError):
        alphabet.encode_batch(["ANNA", "anna"], max_len=6)


def test_custom_alphabet_and_bad_ones():
    small = Alphabet("AB")
    assert small.size == 3
    assert small.encode("BA") == [2, 1]
    with pytest.raises(ValueError, match="repeated"):
        Alphabet("ABA")
    with pytest.raises(ValueError, match="blank"):
        Alphabet(blank=1)
