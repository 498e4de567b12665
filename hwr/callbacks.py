"""Stage: training — the Keras callbacks that run one stage: score and checkpoint, slow down, stop early, stop in time.

A ``time_limit`` fits the whole schedule into a wall-clock budget (a lent GPU for ten minutes, a
laptop for an hour): each stage gets the share of the time left that its epochs have of the epochs
left (``stage_deadline``), and ``TimeLimit`` cuts it after the batch that passes it. A
``stop_after`` instead trains in chunks (a CPU for a session at a time): ``Pause`` stops at the first
epoch end past it, with everything saved and no stage cut, and a resume goes on where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np

from hwr.checkpoints import Checkpoints, keep_best
from hwr.recognizer import Recognizer
from hwr.selection import DevSet


class DevCheckpoint(keras.callbacks.Callback):
    """After each epoch: the development set's CER (the selection figure), history row, checkpoints."""

    def __init__(self, out: Path, stage_name: str, dev: DevSet, reader: Recognizer, state: dict,
                 checkpoints: Checkpoints):
        super().__init__()
        self.out, self.stage_name, self.dev, self.reader, self.state = out, stage_name, dev, reader, state
        self.checkpoints = checkpoints

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.state.setdefault("first_step_at", time.time())  # for the scale benchmark: time to the first step

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        figures = self.dev.score(self.reader)
        logs.update(figures)  # val_cer: what EarlyStopping watches
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))  # the one this epoch ran at
        row = {"stage": self.stage_name, "epoch": self.state["epochs_total"] + 1, "loss": logs.get("loss"),
               "learning_rate": rate, **figures,
               "seconds": time.time() - self.state["started"] + self.state["seconds_before"]}
        self.state["history"].append(row)
        self.state["done"][self.stage_name] = epoch + 1
        self.state.update(epochs_total=self.state["epochs_total"] + 1, seconds=row["seconds"])
        if figures["val_cer"] < self.state.get("best_cer", float("inf")):
            keep_best(self.out, self.model, self.state, figures["val_cer"], row["epoch"])
        self.checkpoints.save(self.model, self.state)


class StageReduceLR(keras.callbacks.ReduceLROnPlateau):
    """Halves the learning rate after ``patience`` epochs without a lower development CER, across resumes.

    A resumed stage starts at the stage's base rate with a fresh counter; replaying the stage's
    development CERs through Keras' own logic first brings the rate, the counter and the best CER to
    where an uninterrupted ``fit`` would have them.
    """

    def __init__(self, patience: int, stage_cers: list[float], factor: float = 0.5, min_lr: float = 1e-6):
        super().__init__("val_cer", factor=factor, patience=patience, mode="min", min_lr=min_lr, verbose=1)
        self.stage_cers = stage_cers

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        verbose, self.verbose = self.verbose, 0
        for epoch, cer in enumerate(self.stage_cers):
            self.on_epoch_end(epoch, {"val_cer": cer})
        self.verbose = verbose


class StageEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping on the development CER that a resume does not reset.

    A fresh ``fit`` forgets the stage's best CER and the epochs since it, so a run resumed (after a
    kill, or chunk by chunk with ``--stop-after``) would train up to ``patience`` epochs more each
    time; this one starts from the stage's history as an uninterrupted ``fit`` would stand.
    """

    def __init__(self, patience: int, stage_cers: list[float]):
        super().__init__("val_cer", patience=patience, mode="min")
        self.stage_cers = stage_cers

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self.stage_cers:
            k = int(np.argmin(self.stage_cers))  # the first of equal bests, as Keras keeps it
            self.best, self.wait = self.stage_cers[k], len(self.stage_cers) - 1 - k


def stage_deadline(now: float, deadline: float, left: list[int]) -> float:
    """When the first of the stages with ``left`` epochs to go must stop: its share of the time left."""
    return now + max(0.0, deadline - now) * left[0] / max(1, sum(left))


class TimeLimit(keras.callbacks.Callback):
    """Ends the stage after the batch that passes ``stop_at`` (epoch end still evaluates and checkpoints)."""

    def __init__(self, stop_at: float):
        super().__init__()
        self.stop_at = stop_at

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.time() >= self.stop_at:
            self.model.stop_training = True


class Pause(keras.callbacks.Callback):
    """Ends training at the first epoch end past ``stop_at``, after that epoch's checkpoint is saved."""

    def __init__(self, stop_at: float):
        super().__init__()
        self.stop_at, self.fired = stop_at, False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if time.time() >= self.stop_at:
            self.fired = self.model.stop_training = True
