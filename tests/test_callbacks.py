"""The stage callbacks: time shares, the time limit, early stopping and learning-rate cuts that survive a resume."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from hwr.callbacks import StageEarlyStopping, StageReduceLR, TimeLimit, stage_deadline


def test_stages_share_the_time_left_by_their_epochs():
    assert stage_deadline(0.0, 420.0, [30, 6, 6]) == pytest.approx(300.0)
    assert stage_deadline(100.0, 420.0, [6, 6]) == pytest.approx(260.0)
    assert stage_deadline(500.0, 420.0, [6]) == 500.0  # already late: stop at once


def test_time_limit_ends_fit_after_the_batch_that_passes_it():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    seen = []
    count = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    model.fit(np.zeros((40, 2)), np.zeros(40), batch_size=2, epochs=3, verbose=0,
              callbacks=[count, TimeLimit(time.time())])
    assert seen == [0]


@pytest.mark.parametrize("before", [0, 1, 3, 4])
def test_early_stopping_resumed_mid_stage_stops_where_keras_uninterrupted_stops(before):
    cers = [0.5, 0.4, 0.45, 0.4, 0.46, 0.47, 0.3, 0.31]

    def epochs_run(early: keras.callbacks.Callback, first: int) -> int:
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        feed = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_cer=cers[e]))
        seen = []
        count = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))
        model.fit(np.zeros((4, 2)), np.zeros(4), epochs=len(cers), initial_epoch=first, verbose=0,
                  callbacks=[feed, early, count])
        return first + len(seen)

    whole = epochs_run(keras.callbacks.EarlyStopping("val_cer", patience=3, mode="min"), 0)
    assert whole == 5  # best 0.4 at the second epoch, then three epochs without a lower CER (0.4 again is none)
    # killed after `before` epochs and resumed, it stops at the same epoch (a fresh EarlyStopping: at 8)
    assert epochs_run(StageEarlyStopping(3, cers[:before]), before) == whole


@pytest.mark.parametrize("before", [0, 2, 4, 6])
def test_learning_rate_resumed_mid_stage_follows_keras_uninterrupted(before):
    cers = [0.5, 0.4, 0.45, 0.46, 0.41, 0.39, 0.42, 0.43, 0.44]

    def rates(reduce: keras.callbacks.Callback, first: int) -> list[float]:
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        model.optimizer.learning_rate.assign(0.1)  # a stage starts at its base rate, as train.py sets it
        feed = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_cer=cers[e]))
        seen = []
        record = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda e, logs: seen.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))
        model.fit(np.zeros((4, 2)), np.zeros(4), epochs=len(cers), initial_epoch=first, verbose=0,
                  callbacks=[feed, reduce, record])
        return seen

    whole = rates(keras.callbacks.ReduceLROnPlateau("val_cer", factor=0.5, patience=2, mode="min", min_lr=1e-6), 0)
    # halved after the fourth epoch (two without a CER below 0.4) and after the eighth (two after 0.39)
    assert whole == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025])
    # killed after `before` epochs and resumed, the rate goes on as it would have (a fresh callback: 0.1 again)
    assert rates(StageReduceLR(2, cers[:before]), before) == pytest.approx(whole[before:])
