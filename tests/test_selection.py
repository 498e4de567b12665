"""What the development set decides: the pseudo-label threshold."""

from __future__ import annotations

from hwr.selection import choose_threshold


def test_the_pseudo_label_threshold_is_the_lowest_that_keeps_the_precision_asked():
    truths = ["ANNA", "LEA", "MARC", "JEAN", "PAUL"]
    readings = ["ANNA", "LEA", "MARK", "JEAN", "POL"]
    confidences = [0.99, 0.95, 0.9, 0.8, 0.5]
    assert choose_threshold(truths, readings, confidences, 0.75) == 0.8  # 3 of the 4 above 0.8 are right
    assert choose_threshold(truths, readings, confidences, 1.0) == 0.95
    assert choose_threshold(truths, ["X"] * 5, confidences, 0.5) == 1.0  # none right: keep (almost) none
