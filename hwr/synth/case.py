"""Stage: synthetic data, how a name is written: capitals, title or lower case, dotted i's, accents.

The labels are capitals (the Kaggle alphabet), but people do not always write that way: unlabelled
``TRAIN_*`` crops show dotted lower-case i's among capitals (FAZiLLEAU, SiMON), accents (JÉRÔME,
PHILOMÈNE), and whole names in lower or title case (Hocquette, Océane); on the Draw page a person
writes "Marie". Before this module every synthetic name was written in capitals, and the model
trained on them read held-out-font drawings of title-case names at 31% (the same drawings in
capitals: 87%; README "Unseen images"). ``written`` draws the text a hand puts on paper for a
label; the label stays what the model must output.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from hwr.synth.fonts import draws

#: Accented forms a French hand gives each capital, most common first.
_ACCENTS = {"E": "ÉÈÊË", "I": "ÏÎ", "O": "Ô", "A": "ÀÂ", "C": "Ç", "U": "ÜÛ"}
#: Chance per letter with accents that the hand writes one (E most often: JÉRÔME, HÉLÈNE).
_ACCENT_CHANCE = {"E": 0.15, "I": 0.04, "O": 0.04, "A": 0.01, "C": 0.03, "U": 0.02}

#: How a name is written: capitals as labelled, capitals with dotted i's and accents, title case,
#: lower case. Capitals stay the majority (the Kaggle crops are mostly capitals).
CASES = ("capitals", "marked", "title", "lower")
CASE_WEIGHTS = (0.6, 0.15, 0.15, 0.1)


def plain(text: str) -> str:
    """The label of a written text: accents dropped, capitals (``plain("Océane") == "OCEANE"``)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).upper()


def _accented(ch: str, rng: np.random.Generator) -> str:
    options = _ACCENTS.get(ch)
    if options and rng.random() < _ACCENT_CHANCE[ch]:
        return options[min(int(rng.geometric(0.6)) - 1, len(options) - 1)]
    return ch


def in_case(label: str, case: str, path: str, rng: np.random.Generator | None = None) -> str:
    """``label`` written in ``case`` (one of ``CASES``) in the font ``path``; accents only with ``rng``.

    A character the font does not draw falls back to the same letter without its accent, then to
    the capital the label holds, so a caps-only font writes capitals whatever the case.
    ``plain(in_case(label, ...)) == label`` always.
    """
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; expected one of {CASES}")
    out = []
    start = True  # at the start of a word (title case)
    for ch in label:
        want = _accented(ch, rng) if rng is not None and case != "capitals" else ch
        if case == "marked":
            if ch == "I" and want == "I" and rng is not None and rng.random() < 0.5:
                want = "i"
        elif case == "lower" or (case == "title" and not start):
            want = want.lower()
        start = ch in " -'"
        bare = plain(want).lower() if want.islower() else plain(want)
        out.append(next(c for c in (want, bare, ch) if c == ch or draws(path, c)))
    return "".join(out)


def written(label: str, path: str, rng: np.random.Generator) -> str:
    """The text a hand writes for ``label`` in the font ``path``: a case drawn by ``CASE_WEIGHTS``."""
    return in_case(label, CASES[int(rng.choice(len(CASES), p=CASE_WEIGHTS))], path, rng)
