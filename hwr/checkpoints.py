"""Stage: training — the run folder's checkpoints: what a crash cannot take and what a resume must match.

After every epoch the run folder gets ``ckpt-NNNN.keras`` (with optimizer state) and
``ckpt-NNNN.json`` (the run's state, history included), the newest two kept, and ``state.json``;
every file is written atomically (``hwr.atomic``). A resume loads the newest checkpoint that loads,
says so in one line when it had to fall back to the one before, and refuses a folder made with
another architecture or other data. Keras' ``BackupAndRestore`` does the same for one ``fit`` call,
but a run is several ``fit`` calls (stages) with state of its own (the best development CER,
pseudo-labels, time used), so its checkpoints are kept here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import pandas as pd

from hwr import atomic

log = logging.getLogger(__name__)


class ResumeError(ValueError):
    """``--resume`` on a run folder made with another architecture or other data."""


class Checkpoints:
    """``ckpt-NNNN.keras`` + ``ckpt-NNNN.json`` after epoch NNNN, the newest ``KEEP`` kept; state.json mirrors the last.

    The JSON is written before the model, so a model file always has its state; a resume takes the
    newest pair that loads and falls back to the one before when a file is damaged.
    """

    KEEP = 2

    def __init__(self, folder: Path, read_from: Path | None = None):
        self.folder, self.read_from = folder, read_from or folder
        self.saved: Path | None = None  # the checkpoint this process saved or resumed from

    def _pairs(self, folder: Path) -> list[Path]:
        return sorted(folder.glob("ckpt-[0-9][0-9][0-9][0-9].keras"), reverse=True)

    def save(self, model: keras.Model, state: dict) -> None:
        path = self.folder / f"ckpt-{state['epochs_total']:04d}.keras"
        atomic.write_json(path.with_suffix(".json"), state)
        with atomic.atomic_path(path) as tmp:
            model.save(tmp)
        self.saved = path
        self.write_state(state)
        for old in self._pairs(self.folder)[self.KEEP:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)

    def write_state(self, state: dict) -> None:
        """The state after a stage ends (early stopping, time limit) beside the newest model, and in state.json."""
        if self.saved is not None and self.saved.parent == self.folder:
            atomic.write_json(self.saved.with_suffix(".json"), state)
        atomic.write_json(self.folder / "state.json", state)
        with atomic.atomic_path(self.folder / "history.csv") as tmp:
            pd.DataFrame(state["history"]).to_csv(tmp, index=False)

    def restore(self) -> tuple[keras.Model | None, dict | None]:
        """The newest checkpoint that loads, with its state; (None, None) when there is none."""
        pairs = self._pairs(self.read_from)
        for k, path in enumerate(pairs):
            try:
                state = json.loads(path.with_suffix(".json").read_text())
                model = keras.saving.load_model(path)
            except Exception as err:  # noqa: BLE001 — any damage (truncated zip, bad JSON) means: the one before
                nxt = pairs[k + 1].name if k + 1 < len(pairs) else "the start of the run"
                log.warning("checkpoint %s is damaged (%s: %s); falling back to %s", path.name,
                            type(err).__name__, str(err).splitlines()[0][:100] if str(err) else "", nxt)
                continue
            self.saved = path
            return model, state
        return None, None

    def best(self) -> Path | None:
        """``best.keras`` as every process reports it: its own when one of its epochs wrote one (the
        chief may be replacing the run folder's at that moment), else the run folder's (a resumed
        worker's scratch folder has none). On JAX, loading and saving across processes are collective,
        so every process must take the same model."""
        return next((f for f in (self.folder / "best.keras", self.read_from / "best.keras") if f.exists()), None)

    def saved_fingerprint(self) -> dict | None:
        """What the run in the folder was made with, from the newest state file that reads."""
        for path in [self.read_from / "state.json", *(p.with_suffix(".json") for p in self._pairs(self.read_from))]:
            try:
                return json.loads(path.read_text()).get("fingerprint")
            except (OSError, ValueError):
                continue
        return None

    def check_resumable(self, now: dict) -> None:
        """Raise ``ResumeError`` when the folder's run was made with another architecture or other data."""
        saved = self.saved_fingerprint()
        if saved is None:
            return
        differ = [k for k in now if json.dumps(saved.get(k), sort_keys=True) != json.dumps(now[k], sort_keys=True)]
        if differ:
            k = differ[0]
            raise ResumeError(f"{self.read_from} was made with other {', '.join(differ)} ({k}: {saved.get(k)} "
                              f"there, {now[k]} now): resume with the same options, or use another --out-dir")


def keep_best(out: Path, model: keras.Model, state: dict, cer: float, epoch: int) -> None:
    """``model`` becomes ``best.keras`` (written whole), its development CER the one to beat."""
    state["best_cer"], state["best_epoch"] = cer, epoch
    with atomic.atomic_path(out / "best.keras") as tmp:
        model.save(tmp)
