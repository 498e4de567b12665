"""Plots: the CTC figure on a hand-made probability matrix, training curves, per-character errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from hwr.alphabet import Alphabet
from hwr.plots import (BLANK_LABEL, SPACE_LABEL, best_path, char_errors_figure, char_labels, ctc_figure,
                       curves_figure)

ALPHABET = Alphabet()
H, W, T = 32, 256, 64


def peaky(text: str, steps: int = T) -> np.ndarray:
    """A CTC output that reads ``text``: one confident step per character, blanks in between."""
    probs = np.full((steps, ALPHABET.size), 1e-3)
    probs[:, ALPHABET.blank] = 1.0
    for i, code in enumerate(ALPHABET.encode(text)):
        probs[3 + 4 * i, code] = 5.0
    return probs / probs.sum(axis=1, keepdims=True)


def axes(fig: Figure) -> dict:
    return {ax.get_label(): ax for ax in fig.axes}


def test_best_path_merges_repeats_and_drops_blanks():
    probs = np.zeros((6, 4))
    probs[np.arange(6), [1, 1, 0, 1, 2, 0]] = 1.0
    assert best_path(probs) == [(0, 1), (3, 1), (4, 2)]


def test_char_labels_make_blank_and_space_visible():
    assert char_labels("A B") == [BLANK_LABEL, "A", SPACE_LABEL, "B"]


def test_ctc_figure_aligns_the_input_over_the_heatmap():
    image = np.ones((H, W), np.float32)
    fig = ctc_figure(image, peaky("ANNA"), ALPHABET.chars, title="ANNA")
    assert isinstance(fig, Figure)
    found = axes(fig)
    assert {"input", "probabilities", "colorbar"} <= set(found)
    top, heat = found["input"], found["probabilities"]
    # same x extent in input pixels: each of the T columns of the heatmap covers W/T image columns
    assert top.get_xlim() == heat.get_xlim() == (0.0, float(W))
    assert heat.images[0].get_array().shape == (ALPHABET.size, T)
    assert top.images[0].get_array().shape == (H, W)
    # one row label per output, blank first; the emitted characters are the ticks under the input
    assert [t.get_text() for t in heat.get_yticklabels()] == char_labels(ALPHABET.chars)
    assert [t.get_text() for t in top.get_xticklabels()] == list("ANNA")
    assert np.allclose(top.get_xticks(), [(3 + 4 * i + 0.5) * W / T for i in range(4)])
    assert top.get_title() == "ANNA"


def test_ctc_figure_rejects_probabilities_of_another_alphabet():
    with pytest.raises(ValueError, match="classes"):
        ctc_figure(np.ones((H, W)), np.full((T, 5), 0.2), ALPHABET.chars)


def test_curves_figure_plots_present_columns_and_stages():
    history = pd.DataFrame({"epoch": [1, 2, 3, 1, 2], "loss": [9, 6, 4, 5, 3],
                            "val_cer": [.8, .6, .5, .4, .3], "val_word_accuracy": [0, .1, .2, .3, .4],
                            "stage": ["synthetic"] * 3 + ["real"] * 2})
    fig = curves_figure(history)
    loss_ax, val_ax = fig.axes
    assert [line.get_label() for line in loss_ax.get_lines()] == ["loss"]  # no val_loss column
    assert [line.get_label() for line in val_ax.get_lines()] == ["val_cer", "val_word_accuracy"]
    # epochs restart with the second stage, so the x axis runs over all rows
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4, 5]
    assert [t.get_text() for t in val_ax.texts] == ["synthetic", "real"]


def test_char_errors_figure_sorts_worst_first_and_filters_rare():
    per_char = {"A": {"count": 10, "errors": 1, "error_rate": 0.1},
                " ": {"count": 4, "errors": 2, "error_rate": 0.5},
                "Q": {"count": 1, "errors": 1, "error_rate": 1.0}}
    ax = char_errors_figure(per_char, min_count=2).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [SPACE_LABEL, "A"]
    assert [round(p.get_height(), 2) for p in ax.patches] == [0.5, 0.1]
