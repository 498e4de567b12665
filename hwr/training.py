"""Stage: training. Data (real + synthetic + pseudo-labelled) + model + metrics → fit, checkpoints, report.

Training runs in *stages*, each a number of epochs of ``steps_per_epoch`` batches:

1. ``mixed``: synthetic names (most of the data) with the real labelled crops (augmented, repeated);
2. ``pseudo1``…: self-training — the model reads the unlabelled ``TRAIN_*`` crops, readings above a
   confidence threshold join the training data for the next stage;
3. ``finetune``: real and pseudo-labelled crops with a little synthetic data, at a lower rate.

Honest selection (issue 16): three sets that never overlap. The *training* set is fitted; the
*development* set (real rows taken from the training side, plus names rendered in fonts held out
from training) chooses the checkpoint (``best.keras``), stops each stage early and sets the
pseudo-label threshold; the *evaluation* set is scored once, at the end, and only reported.

Crash safety (issue 15): after every epoch the run folder gets ``ckpt-NNNN.keras`` (with optimizer
state) and ``ckpt-NNNN.json`` (the run's state, history included), the newest two kept, and
``state.json``; every file is written atomically (``hwr.atomic``). ``--resume`` loads the newest
checkpoint that loads, says so in one line when it had to fall back to the one before, and refuses
a folder made with another architecture or other data. Keras' ``BackupAndRestore`` does the same
for one ``fit`` call, but a run here is several ``fit`` calls (stages) with state of its own (the
best development CER, pseudo-labels, time used), so its checkpoints are kept here.

A ``time_limit`` fits the whole schedule into a wall-clock budget (a lent GPU for ten minutes, a
laptop for an hour): each stage gets the share of the time left that its epochs have of the epochs
left, and a stage cut short counts as done, as with early stopping, so the run still self-trains,
fine-tunes, evaluates and saves its model in time. A ``stop_after`` instead trains in chunks (a
CPU for a session at a time): at the first epoch end past it the run stops with everything saved,
no stage cut, and ``--resume`` goes on where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from hwr import atomic, config, distribute
from hwr.alphabet import Alphabet
from hwr.cache import load_array, prepare, prepare_files, save_array
from hwr.data import DataError, Sample, default_selections, development_selection, load_split, unlabelled_images
from hwr.decode import DECODERS
from hwr.distribute import describe_devices, strategy_scope
from hwr.lexicon import load_lexicon
from hwr.metrics import per_character_errors, score
from hwr.model import ModelSpec, build_model, compile_for_training, transfer_weights
from hwr.pipeline import Batches, ImageStack
from hwr.preprocess import PREPROCESS_VERSION
from hwr.evaluation import default_decoder, evaluate
from hwr.recognizer import Recognizer, load_recognizer, save_model

log = logging.getLogger(__name__)


class ResumeError(ValueError):
    """``--resume`` on a run folder made with another architecture or other data."""


@dataclass
class TrainConfig:
    """Every option of train.py, with its default."""

    data_dir: Path = field(default_factory=config.default_data_dir)
    out_dir: Path = config.ROOT / "runs" / "default"
    train_selection: str | None = None  # default: hwr.data.default_selections
    dev_selection: str | None = None  # default: hwr.data.development_selection
    eval_selection: str | None = None
    lexicon: Path = field(default_factory=config.default_lexicon)
    fonts: Path = config.SHARED_FONTS
    synthetic: int = 40_000
    dev_synthetic: int = 300  # names rendered in the held-out fonts for the development set
    canvas_fraction: float = 0.1
    max_train_images: int | None = None  # cap on real labelled images (tests, quick runs)
    max_dev_images: int | None = None
    max_eval_images: int | None = None
    epochs: int = 30
    pseudo_rounds: int = 1
    pseudo_epochs: int = 6
    pseudo_threshold: float | None = None  # None: chosen on the development set (pseudo_precision)
    pseudo_precision: float = 0.9
    #: reads the unlabelled crops (and the development set that sets their threshold); a fine-tune
    #: uses the starting model's tuned settings, so its pseudo-labels are as good as its readings
    pseudo_decoder: str = "lexicon"
    #: the development part that sets the threshold: "real" (the crops), or "heldout_fonts" where the
    #: starting model has trained on the real development crops (its confidence there says nothing)
    pseudo_threshold_on: str = "real"
    max_unlabelled: int | None = None
    finetune_epochs: int = 6
    steps_per_epoch: int = 100
    batch_size: int = 64
    learning_rate: float = 1e-3
    patience: int = 8
    time_limit: float | None = None  # minutes from the start to the final evaluation
    stop_after: float | None = None  # minutes from the start to a pause at an epoch end (resume goes on)
    seed: int = 42
    decoders: tuple[str, ...] = tuple(DECODERS)  # scored at the end (JAX's beam search is slow: see README)
    devices: str = "auto"
    cluster_timeout: float = distribute.CLUSTER_TIMEOUT
    processes: int | None = None
    spec: ModelSpec = field(default_factory=ModelSpec)
    init_model: Path | None = None  # fine-tune: start from this trained model (its spec wins)
    warm_start: Path | None = None  # start ``spec`` from this trained model's weights where they fit
    export: Path | None = None
    overwrite: bool = False


def _stages(cfg: TrainConfig) -> list[tuple[str, int]]:
    stages = [("mixed", cfg.epochs)]
    stages += [(f"pseudo{k}", cfg.pseudo_epochs) for k in range(1, cfg.pseudo_rounds + 1)]
    stages.append(("finetune", cfg.finetune_epochs))
    return [(name, n) for name, n in stages if n > 0]


def _select(cfg: TrainConfig, selection: str) -> tuple[list[Sample], dict]:
    """A selection's cleaned samples (all of them: the sets are checked apart before any limit) and counts."""
    samples, report = load_split(cfg.data_dir, selection, Alphabet())
    return samples, {"rows": report.rows, "kept": report.kept, "dropped": report.dropped}


def _prepare(cfg: TrainConfig, samples: list[Sample], limit: int | None, desc: str, cache: Path,
             timing: dict) -> tuple[np.ndarray, list[str], list[Sample]]:
    """The first ``limit`` samples' crops, preprocessed (memory-mapped cache), with their texts."""
    samples = samples[:limit] if limit else samples
    got = prepare_files([s.image for s in samples], cfg.spec.height, cfg.spec.width, cache,
                        desc=desc.replace(":", "_"), processes=cfg.processes)
    timing["prepared"] += got.prepared
    timing["prepare_s"] += got.seconds if got.prepared else 0.0
    samples = [samples[i] for i in got.kept]
    return got.images, [s.text for s in samples], samples


def _rendered(cfg: TrainConfig, cache: Path, n: int, heldout: bool) -> tuple[np.ndarray, list[str]]:
    """``n`` synthetic names in the training fonts, or (``heldout``) in the fonts kept for development."""
    from functools import partial

    from hwr import synth

    empty = np.zeros((0, cfg.spec.height, cfg.spec.width), np.uint8), []
    if n <= 0:
        return empty
    seed = cfg.seed + 1 if heldout else cfg.seed  # other names for the development set
    stem = cache / (f"synth{'-heldout' if heldout else ''}-{n}-{seed}-{cfg.canvas_fraction}-"
                    f"{cfg.spec.height}x{cfg.spec.width}-v{PREPROCESS_VERSION}-s{synth.SYNTH_VERSION}")
    images_file, texts_file = Path(f"{stem}.npy"), Path(f"{stem}.json")
    if images_file.is_file() and texts_file.is_file():
        return load_array(images_file), json.loads(texts_file.read_text())
    fonts = synth.usable_fonts(cfg.fonts, heldout=heldout)
    if heldout and not fonts:
        log.warning("no held-out fonts in %s: the development set is real crops only", cfg.fonts)
        return empty
    lexicon = load_lexicon(cfg.lexicon)
    images, texts = synth.synthesize(n, None, lexicon, fonts, seed,
                                     transform=partial(prepare, height=cfg.spec.height, width=cfg.spec.width),
                                     canvas_fraction=cfg.canvas_fraction, processes=cfg.processes)
    atomic.write_json(texts_file, texts)  # before the images: they mark the cache complete
    save_array(images_file, np.stack(images))
    return load_array(images_file), texts


@dataclass
class DevSet:
    """The development set: named parts (real crops, held-out-font names), each (images, texts).

    Selection uses the mean of the parts' CERs, so 300 rendered names do not outweigh 100 real crops
    (or the reverse): a checkpoint must read both the Kaggle scans and unseen hands well.
    """

    parts: dict[str, tuple[np.ndarray, list[str]]]

    def describe(self) -> str:
        return " + ".join(f"{name} ({len(x)} images)" for name, (x, _) in self.parts.items())

    def score(self, reader: Recognizer, decoder: str = "greedy") -> dict[str, float]:
        """Each part's CER and word accuracy, and their means (``val_cer``: what selection watches)."""
        out = {}
        for name, (x, y) in self.parts.items():
            s = score(y, [p.text for p in reader.read_arrays(x, decoder, batch_size=256)])
            out[f"dev_{name}_cer"], out[f"dev_{name}_word_accuracy"] = s.cer, s.word_accuracy
        out["val_cer"] = float(np.mean([out[f"dev_{n}_cer"] for n in self.parts]))
        out["val_word_accuracy"] = float(np.mean([out[f"dev_{n}_word_accuracy"] for n in self.parts]))
        return out


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

    def saved_fingerprint(self) -> dict | None:
        """What the run in the folder was made with, from the newest state file that reads."""
        for path in [self.read_from / "state.json", *(p.with_suffix(".json") for p in self._pairs(self.read_from))]:
            try:
                return json.loads(path.read_text()).get("fingerprint")
            except (OSError, ValueError):
                continue
        return None


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
        row = {"stage": self.stage_name, "epoch": self.state["epochs_total"] + 1, "loss": logs.get("loss"),
               **figures, "seconds": time.time() - self.state["started"] + self.state["seconds_before"]}
        self.state["history"].append(row)
        self.state["done"][self.stage_name] = epoch + 1
        self.state.update(epochs_total=self.state["epochs_total"] + 1, seconds=row["seconds"])
        if figures["val_cer"] < self.state.get("best_cer", float("inf")):
            keep_best(self.out, self.model, self.state, figures["val_cer"], row["epoch"])
        self.checkpoints.save(self.model, self.state)


class TimeLimit(keras.callbacks.Callback):
    """Ends the stage after the batch that passes ``stop_at`` (epoch end still evaluates and checkpoints)."""

    def __init__(self, stop_at: float):
        super().__init__()
        self.stop_at = stop_at

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.time() >= self.stop_at:
            self.model.stop_training = True


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


class Pause(keras.callbacks.Callback):
    """Ends training at the first epoch end past ``stop_at``, after that epoch's checkpoint is saved."""

    def __init__(self, stop_at: float):
        super().__init__()
        self.stop_at, self.fired = stop_at, False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if time.time() >= self.stop_at:
            self.fired = self.model.stop_training = True


def keep_best(out: Path, model: keras.Model, state: dict, cer: float, epoch: int) -> None:
    """``model`` becomes ``best.keras`` (written whole), its development CER the one to beat."""
    state["best_cer"], state["best_epoch"] = cer, epoch
    with atomic.atomic_path(out / "best.keras") as tmp:
        model.save(tmp)


def _best_epoch(state: dict) -> str:
    """Which epoch ``best.keras`` is, in words (epoch 0: a fine-tune's starting model)."""
    if state.get("best_epoch") == 0:
        return f"the starting model (no epoch of {state['epochs_total']} read the development set better)"
    return f"epoch {state.get('best_epoch')} of {state['epochs_total']}"


def stage_deadline(now: float, deadline: float, left: list[int]) -> float:
    """When the first of the stages with ``left`` epochs to go must stop: its share of the time left."""
    return now + max(0.0, deadline - now) * left[0] / max(1, sum(left))


def choose_threshold(truths: list[str], readings: list[str], confidences: list[float], precision: float) -> float:
    """The lowest confidence above which readings are right at least ``precision`` of the time.

    Applied to the development set, this keeps as many pseudo-labels as possible at a known error
    rate; 1.0 (almost none kept) when even the surest readings miss the target.
    """
    conf = np.asarray(confidences, float)
    order = np.argsort(-conf, kind="stable")
    right = (np.asarray(readings, object) == np.asarray(truths, object))[order]
    running = np.cumsum(right) / np.arange(1, len(right) + 1)
    ok = np.flatnonzero(running >= precision)
    return float(conf[order][ok.max()]) if len(ok) else 1.0


def _threshold_set(cfg: TrainConfig, dev_sel: str) -> str:
    """The development part that sets the pseudo-label threshold, in words."""
    if cfg.pseudo_threshold_on == "real":
        return dev_sel
    return f"{cfg.dev_synthetic} development names in the held-out fonts"


def _pseudo_labels(reader: Recognizer, decoder: str, images: np.ndarray, files: list[Path],
                   threshold: float, out_csv: Path) -> tuple[np.ndarray, list[str]]:
    """Readings of unlabelled crops that the model is sure of (saved, so a resumed run reuses them)."""
    if out_csv.is_file():
        df = pd.read_csv(out_csv, dtype={"text": str}, keep_default_na=False)
    else:
        decoded = reader.read_arrays(images, decoder, batch_size=256)
        df = pd.DataFrame({"index": range(len(files)), "file": [f.name for f in files],
                           "text": [d.text for d in decoded], "confidence": [d.confidence for d in decoded]})
        df = df[(df.confidence >= threshold) & (df.text.str.len() >= 2)]
        with atomic.atomic_path(out_csv) as tmp:
            df.to_csv(tmp, index=False)
    log.info("pseudo-labels: kept %d of %d unlabelled crops (confidence ≥ %.3f)", len(df), len(files), threshold)
    return np.asarray(images[df["index"].to_numpy(int)]), df["text"].tolist()


def _stage_data(finetune: bool, synthetic, real, pseudo) -> tuple[ImageStack, list[str], np.ndarray]:
    """One stage's images, texts and which of them to augment (the real and pseudo-labelled crops).

    Real crops are few, so they are repeated to make up about a quarter of the mixed stages' data; the
    fine-tuning stage is mostly real, with as many synthetic names again so the canvas look stays known.
    The images stay where they are (memory-mapped caches): the stack only indexes them.
    """
    (sx, sy), (rx, ry), (px, py) = synthetic, real, pseudo
    n_crops = len(rx) + len(px)
    if finetune:
        keep = min(len(sx), max(n_crops, 1))
        sx, sy, reps = sx[:keep], list(sy)[:keep], 1
    else:
        reps = max(1, round(len(sx) / (3 * max(n_crops, 1))))
    x = ImageStack([(sx, 1), (rx, reps), (px, reps)])
    y = list(sy) + list(ry) * reps + list(py) * reps
    aug = np.concatenate([np.zeros(len(sx), bool), np.ones(n_crops * reps, bool)])
    return x, y, aug


def _selections(cfg: TrainConfig) -> tuple[str, str, str]:
    """(train, development, evaluation) selections: the options, else ``hwr.data``'s defaults."""
    train_sel, eval_sel = default_selections(cfg.data_dir)
    return (cfg.train_selection or train_sel, cfg.dev_selection or development_selection(cfg.data_dir),
            cfg.eval_selection or eval_sel)


def _check_apart(named: dict[str, list[Sample]]) -> None:
    """Training shares no image with the development or evaluation sets; dev ∩ evaluation only warns."""
    files = {name: {str(s.image) for s in samples} for name, samples in named.items()}
    for other in ("development", "evaluation"):
        both = files["training"] & files[other]
        if both:
            raise DataError(f"the training and {other} selections share {len(both)} images "
                            f"(e.g. {Path(sorted(both)[0]).name}): choose rows apart")
    if files["development"] & files["evaluation"]:
        log.warning("the development and evaluation selections share %d images: the reported figures "
                    "are on data that chose the checkpoint", len(files["development"] & files["evaluation"]))


def _fingerprint(cfg: TrainConfig, selections: tuple[str, str, str]) -> dict:
    """What a resumed run must share with the run it continues: the architecture and the data."""
    keys = ("data_dir", "max_train_images", "max_dev_images", "max_eval_images", "synthetic", "dev_synthetic",
            "canvas_fraction", "seed", "init_model", "warm_start")
    return {"spec": cfg.spec.to_dict(), "selections": list(selections),
            **{k: str(getattr(cfg, k)) if isinstance(getattr(cfg, k), Path) else getattr(cfg, k) for k in keys}}


def _check_resumable(saved: dict | None, now: dict, run_dir: Path) -> None:
    if saved is None:
        return
    differ = [k for k in now if json.dumps(saved.get(k), sort_keys=True) != json.dumps(now[k], sort_keys=True)]
    if differ:
        k = differ[0]
        raise ResumeError(f"{run_dir} was made with other {', '.join(differ)} ({k}: {saved.get(k)} there, "
                          f"{now[k]} now): resume with the same options, or use another --out-dir")


def _peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest child (cache and synthesis workers)."""
    scale = 1024 ** 2 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {"trainer": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1),
            "largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale, 1)}


def _paused(cfg: TrainConfig, state: dict, stage: str, epochs: int) -> None:
    log.warning("stopped by --stop-after %s at epoch %d (stage %s: %d of %d epochs), everything saved in %s: "
                "the same command with --resume goes on from here", cfg.stop_after, state["epochs_total"], stage,
                state["done"].get(stage, 0), epochs, cfg.out_dir)


def run(cfg: TrainConfig, resume: bool = False, command: str = "") -> dict | None:
    """Train, evaluate with ``cfg.decoders``, save the model and its report; returns the metadata.

    ``None`` when ``cfg.stop_after`` paused the run before its end (``resume`` continues it).
    """
    t0 = time.time()
    deadline = t0 + 60 * cfg.time_limit if cfg.time_limit else None
    pause_at = t0 + 60 * cfg.stop_after if cfg.stop_after is not None else None
    distribute.start(cfg.devices, cfg.cluster_timeout)  # before anything below touches TensorFlow
    keras.utils.set_random_seed(cfg.seed)
    alphabet = Alphabet()
    run_dir = Path(cfg.out_dir)
    out = distribute.write_dir(run_dir)  # the run folder, or a scratch folder on a non-chief worker
    cache = out / "cache"
    checkpoints = Checkpoints(out, read_from=run_dir)
    if not resume and (out / "state.json").exists():
        raise FileExistsError(f"{run_dir} holds a previous run: pass --resume, or another --out-dir")
    init = load_recognizer(cfg.init_model, runtime="keras") if cfg.init_model else None
    warm = load_recognizer(cfg.warm_start, runtime="keras") if cfg.warm_start else None  # a wrong path fails before the data
    if init is not None:
        cfg = replace(cfg, spec=init.spec)  # the images must be prepared for the model being tuned
    selections = _selections(cfg)
    train_sel, dev_sel, eval_sel = selections
    fingerprint = _fingerprint(cfg, selections)
    if resume:
        _check_resumable(checkpoints.saved_fingerprint(), fingerprint, run_dir)
    out.mkdir(parents=True, exist_ok=True)
    for folder in (out, cache):
        for left in atomic.remove_leftovers(folder):
            log.info("removed %s, left by a run that was stopped while writing it", left.name)

    timing = {"prepared": 0, "prepare_s": 0.0}
    (real_all, real_info), (dev_all, dev_info), (eval_all, eval_info) = (_select(cfg, s) for s in selections)
    _check_apart({"training": real_all, "development": dev_all, "evaluation": eval_all})
    real_x, real_y, real_samples = _prepare(cfg, real_all, cfg.max_train_images, train_sel, cache, timing)
    devr_x, devr_y, dev_samples = _prepare(cfg, dev_all, cfg.max_dev_images, dev_sel, cache, timing)
    eval_samples = eval_all[:cfg.max_eval_images] if cfg.max_eval_images else eval_all  # read only at the end
    real_info["kept"], dev_info["kept"], eval_info["kept"] = len(real_samples), len(dev_samples), len(eval_samples)
    synth_x, synth_y = _rendered(cfg, cache, cfg.synthetic, heldout=False)
    devs_x, devs_y = _rendered(cfg, cache, cfg.dev_synthetic, heldout=True)
    dev = DevSet({k: v for k, v in {"real": (devr_x, devr_y), "heldout_fonts": (devs_x, devs_y)}.items()
                  if len(v[0])})
    if not dev.parts:
        raise DataError(f"the development selection {dev_sel} has no images in {cfg.data_dir} and no "
                        f"held-out fonts were rendered: pass --dev-rows (e.g. rows kept from training)")
    if cfg.pseudo_rounds > 0 and cfg.pseudo_threshold is None and cfg.pseudo_threshold_on not in dev.parts:
        raise DataError(f"--pseudo-threshold-on {cfg.pseudo_threshold_on}: the development set has no such part "
                        f"(it has {dev.describe()}); pass --pseudo-threshold or another part")
    unl_files: list[Path] = []
    unl_x = np.zeros((0, cfg.spec.height, cfg.spec.width), np.uint8)
    if cfg.pseudo_rounds > 0:
        unl_files = unlabelled_images(cfg.data_dir, "train", cfg.max_unlabelled)
        got = prepare_files(unl_files, cfg.spec.height, cfg.spec.width, cache, desc="unlabelled",
                            processes=cfg.processes)
        unl_x, unl_files = got.images, [unl_files[i] for i in got.kept]
        timing["prepared"] += got.prepared
        timing["prepare_s"] += got.seconds if got.prepared else 0.0
    timing["data_s"] = time.time() - t0
    log.info("data: %d real, %d synthetic, %d unlabelled; development %s; evaluation %d (%s, scored at the end)",
             len(real_x), len(synth_x), len(unl_x), dev.describe(), len(eval_samples), eval_sel)

    # state["done"]: epochs finished per stage, so a resumed run (even with longer stages) goes on
    with strategy_scope(cfg.devices):  # a checkpoint, too, is loaded where it will train
        model, state = checkpoints.restore() if resume else (None, None)
        if model is not None:
            log.info("resumed after epoch %d (%s)", state["epochs_total"], state["done"])
        elif init is not None:
            model = compile_for_training(init.model, cfg.learning_rate)
            log.info("fine-tuning %s", cfg.init_model)
        else:
            model = build_model(cfg.spec, alphabet)
            if warm is not None:
                copied = transfer_weights(warm.model, model)
                log.info("warm start from %s: weights of %d of %d layers with weights (%s)", cfg.warm_start,
                         len(copied), sum(bool(layer.weights) for layer in model.layers), ", ".join(copied))
            model = compile_for_training(model, cfg.learning_rate)
    if state is None:
        if resume:
            log.info("no complete checkpoint in %s: starting from the beginning", run_dir)
        state = {"done": {}, "epochs_total": 0, "seconds": 0.0, "history": [], "fingerprint": fingerprint}
    state["started"], state["seconds_before"] = time.time(), state.get("seconds", 0.0)
    state.pop("first_step_at", None)

    lexicon = load_lexicon(cfg.lexicon) if Path(cfg.lexicon).is_file() else None
    tuned_options = init.metadata.get("decoder_options") if init is not None else None
    tuned = {"decoder_options": tuned_options} if tuned_options else {}
    reader = Recognizer(model, alphabet, cfg.spec, tuned, None, lexicon)  # the model in training, read as the app reads
    if init is not None and "best_cer" not in state:
        # a fine-tune competes with its starting point: it returns the starting model unless an
        # epoch reads the development set better (a new preprocessing alone can be the whole gain)
        keep_best(out, model, state, dev.score(reader)["val_cer"], 0)
        log.info("starting model: development CER %.4f; an epoch must beat it", state["best_cer"])
    pseudo_decoder = cfg.pseudo_decoder if lexicon is not None or cfg.pseudo_decoder != "lexicon" else "greedy"
    pseudo_x, pseudo_y = np.zeros((0, cfg.spec.height, cfg.spec.width), np.uint8), []
    stages = _stages(cfg)
    pause = Pause(pause_at) if pause_at else None  # one for the run: it fires once an epoch ends past pause_at
    for k, (name, epochs) in enumerate(stages):
        if pause and pause.fired and state["done"].get(name, 0) < epochs:
            return _paused(cfg, state, name, epochs)  # the stage before ended past it (last epoch, early stop)
        if name.startswith("pseudo") and len(unl_x):
            threshold = state.setdefault("pseudo_thresholds", {}).get(name, cfg.pseudo_threshold)
            if threshold is None:
                part_x, part_y = dev.parts[cfg.pseudo_threshold_on]
                readings = reader.read_arrays(part_x, pseudo_decoder, batch_size=256)
                threshold = choose_threshold(part_y, [r.text for r in readings],
                                             [r.confidence for r in readings], cfg.pseudo_precision)
                log.info("pseudo-label threshold %.3f: %s readings above it are right ≥ %.0f%% of the time on %s",
                         threshold, pseudo_decoder, 100 * cfg.pseudo_precision, _threshold_set(cfg, dev_sel))
            state["pseudo_thresholds"][name] = threshold
            pseudo_x, pseudo_y = _pseudo_labels(reader, pseudo_decoder, unl_x, unl_files, threshold,
                                                out / f"{name}.csv")
        start = state["done"].get(name, 0)
        if start >= epochs:
            continue
        if deadline and time.time() >= deadline:
            log.warning("time limit of %s minutes reached: stage %s skipped", cfg.time_limit, name)
            state["done"][name], state["cut_short"] = epochs, state.get("cut_short", []) + [name]
            checkpoints.write_state(state)
            continue
        finetune = name == "finetune"
        model.optimizer.learning_rate.assign(cfg.learning_rate * (0.3 if finetune else 1.0))
        x, y, aug = _stage_data(finetune, (synth_x, synth_y), (real_x, real_y), (pseudo_x, pseudo_y))
        batches = Batches(x, y, alphabet, cfg.batch_size, seed=cfg.seed + k, augment_mask=aug,
                          steps=cfg.steps_per_epoch, first_epoch=start, shard=distribute.process())
        log.info("stage %s: %d images (%d augmented), epochs %d→%d", name, len(x), int(aug.sum()), start, epochs)
        early = StageEarlyStopping(cfg.patience, [r["val_cer"] for r in state["history"] if r["stage"] == name])
        callbacks = [DevCheckpoint(out, name, dev, reader, state, checkpoints), early, *([pause] if pause else [])]
        limit = None
        if deadline:
            left = [n - state["done"].get(s, 0) for s, n in stages[k:]]
            limit = TimeLimit(stage_deadline(time.time(), deadline, left))
            callbacks.append(limit)
        model.fit(batches, epochs=epochs, initial_epoch=start, callbacks=callbacks,
                  verbose=1 if sys.stderr.isatty() else 2)
        if state["done"].get(name, 0) < epochs:
            cut = limit is not None and time.time() >= limit.stop_at
            if pause and pause.fired and not early.stopped_epoch and not cut:
                return _paused(cfg, state, name, epochs)  # the epoch's checkpoint holds the whole state
            if cut:
                log.warning("stage %s stopped by the time limit after %d of %d epochs", name,
                            state["done"].get(name, 0), epochs)
                state["cut_short"] = state.get("cut_short", []) + [name]
            else:
                state.setdefault("stopped_early", []).append(name)
        state["done"][name] = epochs  # finished, or stopped early: either way this stage is done
        checkpoints.write_state(state)

    best = model
    if (out / "best.keras").exists():
        try:
            best = keras.saving.load_model(out / "best.keras")
        except Exception as err:  # noqa: BLE001 — a damaged best.keras: the last model still reads
            log.warning("best.keras does not load (%s); reporting the last model", type(err).__name__)
    reader = Recognizer(best, alphabet, cfg.spec, {}, None, lexicon)
    metrics, tables, dev_cer = {}, {}, {}
    for name in cfg.decoders:
        if name == "lexicon" and lexicon is None:
            continue
        dev_cer[name] = dev.score(reader, name)["val_cer"]  # the default decoder is chosen here
        tables[name], scores = evaluate(reader, eval_samples, name, progress=False)  # and only reported here
        metrics[name] = scores.to_dict()
    best_decoder, decoder_choice = default_decoder(dev_cer)
    pred_df = tables[best_decoder]
    with atomic.atomic_path(out / "crnn_predictions.csv") as tmp:
        pred_df.to_csv(tmp, index=False)
    history = pd.DataFrame(state["history"])
    if len(history):
        with atomic.atomic_path(out / "crnn_history.csv") as tmp:
            history.to_csv(tmp, index=False)
    selection = {
        "development": {"selection": dev_sel, **dev_info, "heldout_font_names": len(devs_x),
                        "heldout_fonts": sorted(config.HELDOUT_FONTS) if len(devs_x) else []},
        "checkpoint": f"best.keras: {_best_epoch(state)}, lowest development CER (mean of "
                      f"{', '.join(dev.parts)}: {state.get('best_cer', float('nan')):.4f})",
        "early_stopping": f"patience {cfg.patience} epochs on the development CER; stages stopped early: "
                          f"{', '.join(state.get('stopped_early', [])) or 'none'}",
        "pseudo_threshold": {name: {"value": t, "chosen_on": _threshold_set(cfg, dev_sel) if cfg.pseudo_threshold is None
                                    else "--pseudo-threshold"}
                             for name, t in state.get("pseudo_thresholds", {}).items()},
        "decoder_default": decoder_choice,
        "reported": f"{eval_sel}: scored once, after training; never used to select",
    }
    metadata = {
        "alphabet": alphabet.chars,
        "spec": cfg.spec.to_dict(),
        "decoder_default": best_decoder,
        **tuned,  # a fine-tune keeps its starting model's decoder settings (re-tune: scripts/tune_decoder.py)
        "metrics": metrics,
        "per_character": per_character_errors([s.text for s in eval_samples], pred_df.prediction.tolist()),
        "evaluation": {"selection": eval_sel, "data_dir": str(cfg.data_dir), **eval_info},
        "selection": selection,
        "training": {
            "data": {"real": {"selection": train_sel, **real_info}, "synthetic": len(synth_x),
                     "pseudo_labelled": len(pseudo_x), "unlabelled_seen": len(unl_x)},
            "seconds": round(state.get("seconds", 0.0), 1),
            "epochs": state["epochs_total"], "steps_per_epoch": cfg.steps_per_epoch,
            "stages_cut_by_time_limit": state.get("cut_short", []),
            "batch_size": cfg.batch_size, "replicas": distribute.replicas(),
            "hardware": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores; "
                        f"{describe_devices()}".strip(),
            "startup": {**{k: round(v, 2) for k, v in timing.items()},
                        "first_step_at": state.get("first_step_at"), "run_started_at": t0},
            "peak_rss_mb": _peak_rss_mb(),
            "command": command, "seed": cfg.seed,
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items() if k != "spec"},
        },
        "history_csv": "crnn_history.csv",
        "evaluation_predictions": "crnn_predictions.csv",
        "report": "crnn_report.md",
    }
    save_model(best, out / "crnn.keras", metadata, overwrite=True)
    from hwr.report import write_report
    write_report(out / "crnn.keras", metadata, history)
    if not distribute.is_chief():
        shutil.rmtree(out, ignore_errors=True)  # a worker's copy; the chief's is the run's
    elif cfg.export:
        export_model(run_dir, Path(cfg.export), cfg.overwrite)
    return metadata


def export_model(run_dir: Path, target: Path, overwrite: bool) -> None:
    """Copy a finished run's model, metadata, history, predictions, report and curves to ``target``."""
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = target.with_suffix("")
    for src in sorted(run_dir.glob("crnn*")):
        with atomic.atomic_path(Path(f"{stem}{src.name[len('crnn'):]}")) as tmp:
            shutil.copyfile(src, tmp)
