"""What the development set decides: the pseudo-label threshold; whether one model reads it better than another."""

from __future__ import annotations

from hwr.selection import choose_threshold


def test_the_pseudo_label_threshold_is_the_lowest_that_keeps_the_precision_asked():
    truths = ["ANNA", "LEA", "MARC", "JEAN", "PAUL"]
    readings = ["ANNA", "LEA", "MARK", "JEAN", "POL"]
    confidences = [0.99, 0.95, 0.9, 0.8, 0.5]
    assert choose_threshold(truths, readings, confidences, 0.75) == 0.8  # 3 of the 4 above 0.8 are right
    assert choose_threshold(truths, readings, confidences, 1.0) == 0.95
    assert choose_threshold(truths, ["X"] * 5, confidences, 0.5) == 1.0  # none right: keep (almost) none


def test_the_development_difference_says_an_untrained_model_reads_worse_beyond_noise(bundled_data, tiny_model_path):
    """``DevSet.difference``: the committed model against itself, and against an untrained one."""
    from dataclasses import replace

    import numpy as np

    from hwr import config
    from hwr.data import load_split
    from hwr.recognizer import load_recognizer
    from hwr.selection import DevSet

    committed = replace(load_recognizer(config.DEFAULT_MODEL, runtime="keras"), variants=())
    samples, _ = load_split(bundled_data, "validation:1-40")
    x = np.stack([committed.preprocess(s.image) for s in samples])
    dev = DevSet({"real": (x[:20], [s.text for s in samples[:20]]),
                  "other": (x[20:], [s.text for s in samples[20:]])})
    mine = dev.readings(committed)
    same = dev.difference(mine, mine)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0) and not same.excludes(0.0)
    untrained = replace(load_recognizer(tiny_model_path, runtime="keras"), variants=())
    worse = dev.difference(mine, dev.readings(untrained))
    scores = dev.score(committed)["val_cer"], dev.score(untrained)["val_cer"]
    assert worse.estimate > 0.5 and worse.excludes(0.0)  # its CER minus the committed model's
    assert abs(worse.estimate - (scores[1] - scores[0])) < 1e-12
