"""Stage: synthetic data, the names. Which names to render: lexicon names, compounds, random letters."""

from __future__ import annotations

import numpy as np

from hwr.alphabet import Alphabet
from hwr.config import MAX_LABEL_LEN
from hwr.synth.fonts import LETTERS


def _fits(name: str, alphabet: Alphabet) -> bool:
    return 0 < len(name) <= MAX_LABEL_LEN and not alphabet.unknown(name) and name.strip() == name


def _random_string(rng: np.random.Generator) -> str:
    """Uniform letters (the rare Q, W, X, Z, K, J as often as E), sometimes with a separator."""
    length = int(rng.integers(2, 15))
    chars = list(rng.choice(list(LETTERS), size=length))
    if length >= 4 and rng.random() < 0.25:
        # never at an end and never doubled, as in real names
        chars[int(rng.integers(1, length - 1))] = str(rng.choice([" ", "-", "'"]))
    return "".join(chars)


#: Share of random letter strings among the names sampled for training
RANDOM_SHARE = 0.1


def sample_names(lexicon: dict[str, int], n: int, rng: np.random.Generator,
                 random_share: float = RANDOM_SHARE) -> list[str]:
    """``n`` names: lexicon names weighted by sqrt(count), ~10% compounds and ``random_share`` random letters.

    The square root keeps THOMAS frequent without drowning the long tail; compounds give the model
    hyphens and spaces; random strings make sure every letter is seen in training. They are not what
    people write: a development set that stands for people's names samples none (``random_share=0``;
    lexicon names take their place). All are encodable and at most ``MAX_LABEL_LEN`` long.
    """
    alphabet = Alphabet()
    names = [name for name in lexicon if _fits(name, alphabet)]
    if names:
        weights = np.sqrt(np.array([max(lexicon[name], 1) for name in names], dtype=np.float64))
        weights /= weights.sum()
    out: list[str] = []
    kinds = rng.random(n)
    for kind in kinds:
        if not names or kind < random_share:
            name = _random_string(rng)
        elif kind < random_share + 0.1:
            first, second = rng.choice(len(names), size=2, p=weights)
            name = f"{names[first]}{rng.choice(['-', '-', ' '])}{names[second]}"
            if not _fits(name, alphabet):
                name = names[first]
        else:
            name = names[int(rng.choice(len(names), p=weights))]
        out.append(name)
    return out
