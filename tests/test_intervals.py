"""hwr.intervals: bootstrap intervals of word accuracy and CER, alone and as a paired difference.

Held equal to SciPy's percentile bootstrap (``scipy.stats.bootstrap``) on a real set of readings:
the committed model's greedy and beam readings of the evaluation images, as measured and committed.
"""

from __future__ import annotations

import pandas as pd
import pytest

from hwr import config
from hwr.intervals import Interval, difference, interval, per_image
from hwr.metrics import score

READINGS = config.ROOT / "reports" / "unseen" / "names18"


def readings(decoder: str) -> pd.DataFrame:
    return pd.read_csv(READINGS / f"eval_{decoder}.csv", dtype=str, keep_default_na=False)


def test_the_estimates_are_the_scores_and_lie_inside_their_intervals():
    table = readings("greedy")
    found = interval(table.truth.tolist(), table.prediction.tolist())
    scores = score(table.truth, table.prediction)
    assert found["word_accuracy"].estimate == pytest.approx(scores.word_accuracy)
    assert found["cer"].estimate == pytest.approx(scores.cer)
    for bound in found.values():
        assert bound.low < bound.estimate < bound.high and bound.level == 0.95


def test_equal_to_scipys_percentile_bootstrap():
    stats = pytest.importorskip("scipy.stats")
    a, b = readings("greedy"), readings("beam")
    ours = interval(a.truth.tolist(), a.prediction.tolist())
    ca, cb = per_image(a.truth.tolist(), a.prediction.tolist()), per_image(b.truth.tolist(), b.prediction.tolist())

    def theirs(data, statistic):
        found = stats.bootstrap(data, statistic, paired=True, vectorized=True, method="percentile",
                                n_resamples=10_000, random_state=1).confidence_interval
        return found.low, found.high

    words = theirs((ca["right"],), lambda r, axis: r.mean(axis))
    cer = theirs((ca["edits"], ca["chars"]), lambda e, c, axis: e.sum(axis) / c.sum(axis))
    # Monte Carlo: at 10,000 resamples the ends differ by a few tenths of a point between draws
    assert (ours["word_accuracy"].low, ours["word_accuracy"].high) == pytest.approx(words, abs=0.006)
    assert (ours["cer"].low, ours["cer"].high) == pytest.approx(cer, abs=0.004)
    paired = difference(a.truth.tolist(), a.prediction.tolist(), b.prediction.tolist())
    words_d = theirs((ca["right"], cb["right"]), lambda x, y, axis: y.mean(axis) - x.mean(axis))
    assert (paired["word_accuracy"].low, paired["word_accuracy"].high) == pytest.approx(words_d, abs=0.006)


def test_a_paired_difference_is_narrower_than_either_figures_own_spread():
    a, b = readings("greedy"), readings("beam")
    alone = interval(b.truth.tolist(), b.prediction.tolist())["word_accuracy"]
    paired = difference(a.truth.tolist(), a.prediction.tolist(), b.prediction.tolist())["word_accuracy"]
    assert paired.estimate == pytest.approx(score(b.truth, b.prediction).word_accuracy
                                            - score(a.truth, a.prediction).word_accuracy)
    assert paired.high - paired.low < alone.high - alone.low
    assert paired.excludes(0.0)  # beam reads more names right than greedy, beyond the noise


def test_identical_readings_differ_by_exactly_nothing():
    t = readings("beam")
    same = difference(t.truth.tolist(), t.prediction.tolist(), t.prediction.tolist())
    assert all((d.estimate, d.low, d.high) == (0.0, 0.0, 0.0) for d in same.values())


def test_four_times_the_images_halve_the_interval_and_a_seed_repeats_it():
    t = readings("greedy")
    truths, preds = t.truth.tolist(), t.prediction.tolist()
    one, four = interval(truths, preds)["word_accuracy"], interval(truths * 4, preds * 4)["word_accuracy"]
    assert (four.high - four.low) == pytest.approx((one.high - one.low) / 2, rel=0.15)
    assert interval(truths, preds, seed=3) == interval(truths, preds, seed=3)
    narrower = interval(truths, preds, level=0.8)["word_accuracy"]
    assert one.low < narrower.low and narrower.high < one.high


def test_formats_and_bad_input():
    assert Interval(0.8626, 0.8323, 0.8909).percent() == "86.3% (83.2–89.1%)"
    assert Interval(0.0424, 0.0202, 0.0646).percent(1, sign=True) == "+4.2 points (+2.0 … +6.5)"
    with pytest.raises(ValueError, match="one reading an image"):
        interval(["ANNA"], [])
    with pytest.raises(ValueError, match="no images"):
        interval([], [])


def test_the_mean_of_parts_resamples_each_part_and_one_part_is_the_paired_difference():
    from hwr.intervals import mean_difference

    a, b = readings("greedy"), readings("beam")
    truths, pa, pb = a.truth.tolist(), a.prediction.tolist(), b.prediction.tolist()
    one = mean_difference([(truths, pa, pb)])
    assert one == difference(truths, pa, pb)["cer"]
    halves = [(truths[:200], pa[:200], pb[:200]), (truths[200:], pa[200:], pb[200:])]
    two = mean_difference(halves)
    parts = [difference(*h)["cer"].estimate for h in halves]
    assert two.estimate == pytest.approx(sum(parts) / 2) and two.low < two.estimate < two.high
    assert mean_difference([(truths, pa, pa)] * 2) == Interval(0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="no parts"):
        mean_difference([])
