"""Stage: training. Data (real + synthetic + pseudo-labelled) + model + metrics → fit, checkpoints, report.

Training runs in *stages*, each a number of epochs of ``steps_per_epoch`` batches:

1. ``mixed``: synthetic names (most of the data) with the real labelled crops (augmented, repeated);
2. ``pseudo1``…: self-training — the model reads the unlabelled ``TRAIN_*`` crops, readings above a
   confidence threshold join the training data for the next stage;
3. ``finetune``: real and pseudo-labelled crops with a little synthetic data, at a lower rate.

Three sets that never overlap choose, stop and report (``hwr.selection``); every epoch is
checkpointed so that a crash loses at most one and ``--resume`` goes on (``hwr.checkpoints``); the
callbacks that score, stop early, keep a time limit and pause a run in chunks are in
``hwr.callbacks``. This module puts them together: the data once, then each stage's ``fit``, then
the final evaluation, model file and report.
"""

from __future__ import annotations

import hashlib
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
from hwr.callbacks import DevCheckpoint, Pause, StageEarlyStopping, StageReduceLR, TimeLimit, stage_deadline
from hwr.checkpoints import Checkpoints, keep_best
from hwr.data import DataError, Sample, default_selections, development_selection, load_split, unlabelled_images
from hwr.decode import DECODERS
from hwr.distribute import describe_devices, strategy_scope
from hwr.evaluation import default_decoder, evaluate, table_intervals
from hwr.lexicon import load_lexicon
from hwr.metrics import per_character_errors
from hwr.model import ModelSpec, build_model, compile_for_training, transfer_weights
from hwr.pipeline import Batches, ImageStack
from hwr.preprocess import PREPROCESS_VERSION
from hwr.recognizer import Recognizer, load_recognizer, save_model
from hwr.selection import DevSet, choose_threshold

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Every option of train.py, with its default."""

    data_dir: Path = field(default_factory=config.default_data_dir)
    out_dir: Path = config.ROOT / "runs" / "default"
    train_selection: str | None = None  # default: hwr.data.default_selections
    dev_selection: str | None = None  # default: hwr.data.development_selection
    eval_selection: str | None = None
    lexicon: Path = field(default_factory=config.default_lexicon)
    fonts: tuple[Path, ...] = field(default_factory=config.default_fonts)  # folders, all searched
    synthetic: int = 40_000
    # names rendered in the held-out fonts for the development set: two samples of 300 put one model
    # 1.6 points of CER apart and disagreed on which of two models read better; of 1,000, 0.16 apart
    # and agreeing (docs/experiments.md "A fourth fine-tune"), for ~2 s more scoring an epoch on a 2-core CPU
    dev_synthetic: int = 1000
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
    lr_patience: int = 0  # halve the learning rate after this many epochs without a better development CER (0: never)
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


def _plain(value: object) -> object:
    """A config value as JSON holds it: paths (alone or in a tuple, like ``fonts``) as strings."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple) and value and all(isinstance(v, Path) for v in value):
        return [str(v) for v in value]
    return value


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


def rendered_names(cfg: TrainConfig, cache: Path, n: int, heldout: bool) -> tuple[np.ndarray, list[str]]:
    """``n`` synthetic names in the training fonts, or (``heldout``) in the fonts kept for development.

    The development names are people's names (lexicon names and compounds), without the training
    mix's random letter strings: those are a training device, and the character model, which makes
    names read better, reads them worse, so with a tenth of them the development set chose a
    weaker character model than names want (README "Evaluate").
    """
    from functools import partial

    from hwr import synth

    empty = np.zeros((0, cfg.spec.height, cfg.spec.width), np.uint8), []
    if n <= 0:
        return empty
    seed = cfg.seed + 1 if heldout else cfg.seed  # other names for the development set
    fonts = [f for folder in cfg.fonts for f in synth.usable_fonts(folder, heldout=heldout)]
    if heldout and not fonts:
        log.warning("no held-out fonts in %s: the development set is real crops only",
                    ", ".join(map(str, cfg.fonts)))
        return empty
    # the fonts are part of the key: another set of folders renders other images
    hand = hashlib.sha1("\n".join(sorted(f.name for f in fonts)).encode()).hexdigest()[:8]
    stem = cache / (f"synth{'-heldout-names' if heldout else ''}-{n}-{seed}-{cfg.canvas_fraction}-"
                    f"{cfg.spec.height}x{cfg.spec.width}-v{PREPROCESS_VERSION}-s{synth.SYNTH_VERSION}-f{hand}")
    images_file, texts_file = Path(f"{stem}.npy"), Path(f"{stem}.json")
    if images_file.is_file() and texts_file.is_file():
        return load_array(images_file), json.loads(texts_file.read_text())
    lexicon = load_lexicon(cfg.lexicon)
    images, texts = synth.synthesize(n, None, lexicon, fonts, seed,
                                     transform=partial(prepare, height=cfg.spec.height, width=cfg.spec.width),
                                     canvas_fraction=cfg.canvas_fraction, processes=cfg.processes,
                                     random_share=0.0 if heldout else synth.RANDOM_SHARE)
    atomic.write_json(texts_file, texts)  # before the images: they mark the cache complete
    save_array(images_file, np.stack(images))
    return load_array(images_file), texts


def _threshold_set(cfg: TrainConfig, dev_sel: str) -> str:
    """The development part that sets the pseudo-label threshold, in words."""
    if cfg.pseudo_threshold_on == "real":
        return dev_sel
    return f"{cfg.dev_synthetic} development names in the held-out fonts"


def _pseudo_labels(reader: Recognizer, decoder: str, images: np.ndarray, files: list[Path],
                   threshold: float, saved: Path, out_csv: Path) -> tuple[np.ndarray, list[str]]:
    """Readings of unlabelled crops that the model is sure of, written to ``out_csv``.

    A resumed run reuses the stage's readings from ``saved`` (in the run folder, which every worker
    reads; a worker other than the chief writes to a scratch folder): read again by the restored model,
    they would differ from the ones the stage began with, and between workers.
    """
    if saved.is_file():
        df = pd.read_csv(saved, dtype={"text": str}, keep_default_na=False)
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


def _best_epoch(state: dict) -> str:
    """Which epoch ``best.keras`` is, in words (epoch 0: a fine-tune's starting model)."""
    if state.get("best_epoch") == 0:
        return f"the starting model (no epoch of {state['epochs_total']} read the development set better)"
    return f"epoch {state.get('best_epoch')} of {state['epochs_total']}"


def _rate_cuts(cfg: TrainConfig, history: list[dict]) -> str:
    """The learning-rate cuts the development CER made (``--lr-patience``), in words."""
    if cfg.lr_patience <= 0:
        return "not cut by the development CER (--lr-patience 0)"
    cuts = [f"{row['learning_rate']:.2g} from {row['stage']} epoch {row['epoch']}"
            for before, row in zip(history, history[1:])
            if before["stage"] == row["stage"] and row.get("learning_rate", 0) < before.get("learning_rate", 0)]
    return (f"halved after {cfg.lr_patience} epochs without a lower development CER: "
            f"{', '.join(cuts) if cuts else 'never cut'}")


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


def _peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest child (cache and synthesis workers)."""
    scale = 1024 ** 2 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {"trainer": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1),
            "largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale, 1)}


@dataclass
class _RunData:
    """Everything a run reads, prepared once (memory-mapped caches): the sets, their counts, the time it took."""

    real: tuple[np.ndarray, list[str]]
    synthetic: tuple[np.ndarray, list[str]]
    dev: DevSet
    heldout_names: int  # names rendered in the held-out fonts for the development set
    unlabelled: tuple[np.ndarray, list[Path]]
    eval_samples: list[Sample]  # read only at the end
    info: dict[str, dict]  # training / development / evaluation: rows, kept, dropped
    lexicon: dict[str, int] | None  # the lexicon decoder's names and counts (None: no lexicon file)
    timing: dict[str, float]


def _dev_set(real: tuple[np.ndarray, list[str]], names: tuple[np.ndarray, list[str]]) -> DevSet:
    """The development set's parts that hold images: the real rows, the names in the held-out fonts."""
    return DevSet({k: v for k, v in {"real": real, "heldout_fonts": names}.items() if len(v[0])})


def development_set(cfg: TrainConfig, cache: Path) -> DevSet:
    """The development set a run with ``cfg`` chooses on, built outside a run (``scripts/dev_compare.py``)."""
    dev_sel = _selections(cfg)[1]
    x, y, _ = _prepare(cfg, _select(cfg, dev_sel)[0], cfg.max_dev_images, dev_sel, cache,
                       {"prepared": 0, "prepare_s": 0.0})
    return _dev_set((x, y), rendered_names(cfg, cache, cfg.dev_synthetic, heldout=True))


def _load_data(cfg: TrainConfig, selections: tuple[str, str, str], cache: Path, t0: float) -> _RunData:
    """The three selections (checked apart), the synthetic names and the unlabelled crops, preprocessed."""
    train_sel, dev_sel, eval_sel = selections
    timing = {"prepared": 0, "prepare_s": 0.0}
    (real_all, real_info), (dev_all, dev_info), (eval_all, eval_info) = (_select(cfg, s) for s in selections)
    _check_apart({"training": real_all, "development": dev_all, "evaluation": eval_all})
    real_x, real_y, real_samples = _prepare(cfg, real_all, cfg.max_train_images, train_sel, cache, timing)
    devr_x, devr_y, dev_samples = _prepare(cfg, dev_all, cfg.max_dev_images, dev_sel, cache, timing)
    eval_samples = eval_all[:cfg.max_eval_images] if cfg.max_eval_images else eval_all
    real_info["kept"], dev_info["kept"], eval_info["kept"] = len(real_samples), len(dev_samples), len(eval_samples)
    synthetic = rendered_names(cfg, cache, cfg.synthetic, heldout=False)
    devs_x, devs_y = rendered_names(cfg, cache, cfg.dev_synthetic, heldout=True)
    dev = _dev_set((devr_x, devr_y), (devs_x, devs_y))
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
             len(real_x), len(synthetic[0]), len(unl_x), dev.describe(), len(eval_samples), eval_sel)
    lexicon = load_lexicon(cfg.lexicon) if Path(cfg.lexicon).is_file() else None
    return _RunData((real_x, real_y), synthetic, dev, len(devs_x), (unl_x, unl_files), eval_samples,
                    {"training": real_info, "development": dev_info, "evaluation": eval_info}, lexicon, timing)


def _start(cfg: TrainConfig, checkpoints: Checkpoints, resume: bool, init: Recognizer | None,
           warm: Recognizer | None, fingerprint: dict) -> tuple[keras.Model, dict]:
    """The model to train and the run's state: the newest checkpoint, else the model fine-tuned or built."""
    # state["done"]: epochs finished per stage, so a resumed run (even with longer stages) goes on
    with strategy_scope(cfg.devices):  # a checkpoint, too, is loaded where it will train
        model, state = checkpoints.restore() if resume else (None, None)
        if model is not None:
            log.info("resumed after epoch %d (%s)", state["epochs_total"], state["done"])
        elif init is not None:
            model = compile_for_training(init.model, cfg.learning_rate)
            log.info("fine-tuning %s", cfg.init_model)
        else:
            model = build_model(cfg.spec, Alphabet())
            if warm is not None:
                copied = transfer_weights(warm.model, model)
                log.info("warm start from %s: weights of %d of %d layers with weights (%s)", cfg.warm_start,
                         len(copied), sum(bool(layer.weights) for layer in model.layers), ", ".join(copied))
            model = compile_for_training(model, cfg.learning_rate)
    if state is None:
        if resume:
            log.info("no complete checkpoint in %s: starting from the beginning", cfg.out_dir)
        state = {"done": {}, "epochs_total": 0, "seconds": 0.0, "history": [], "fingerprint": fingerprint}
    state["started"], state["seconds_before"] = time.time(), state.get("seconds", 0.0)
    state.pop("first_step_at", None)
    return model, state


def _paused(cfg: TrainConfig, state: dict, stage: str, epochs: int) -> bool:
    log.warning("stopped by --stop-after %s at epoch %d (stage %s: %d of %d epochs), everything saved in %s: "
                "the same command with --resume goes on from here", cfg.stop_after, state["epochs_total"], stage,
                state["done"].get(stage, 0), epochs, cfg.out_dir)
    return True


def _train_stages(cfg: TrainConfig, model: keras.Model, state: dict, data: _RunData, reader: Recognizer,
                  out: Path, checkpoints: Checkpoints, t0: float, dev_sel: str) -> bool:
    """Every stage's epochs still to go; True when ``cfg.stop_after`` paused the run before its end."""
    deadline = t0 + 60 * cfg.time_limit if cfg.time_limit else None
    pseudo_decoder = cfg.pseudo_decoder if reader.lexicon is not None or cfg.pseudo_decoder != "lexicon" else "greedy"
    (unl_x, unl_files), dev = data.unlabelled, data.dev
    pseudo = np.zeros((0, cfg.spec.height, cfg.spec.width), np.uint8), []
    stages = _stages(cfg)
    # one for the run: it fires once an epoch ends past the limit
    pause = Pause(t0 + 60 * cfg.stop_after) if cfg.stop_after is not None else None
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
            pseudo = _pseudo_labels(reader, pseudo_decoder, unl_x, unl_files, threshold,
                                    checkpoints.read_from / f"{name}.csv", out / f"{name}.csv")
            state["pseudo_labelled"] = len(pseudo[0])
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
        x, y, aug = _stage_data(finetune, data.synthetic, data.real, pseudo)
        batches = Batches(x, y, reader.alphabet, cfg.batch_size, seed=cfg.seed + k, augment_mask=aug,
                          steps=cfg.steps_per_epoch, first_epoch=start, shard=distribute.process())
        log.info("stage %s: %d images (%d augmented), epochs %d→%d", name, len(x), int(aug.sum()), start, epochs)
        stage_cers = [r["val_cer"] for r in state["history"] if r["stage"] == name]
        early = StageEarlyStopping(cfg.patience, stage_cers)
        callbacks = [DevCheckpoint(out, name, dev, reader, state, checkpoints), early, *([pause] if pause else [])]
        if cfg.lr_patience > 0:
            callbacks.insert(1, StageReduceLR(cfg.lr_patience, stage_cers))  # after the epoch's score
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
    return False


def _against_start(data: _RunData, state: dict, start: Recognizer | None, reader: Recognizer,
                   chosen: dict[str, list[str]]) -> dict | None:
    """The chosen checkpoint's development CER minus the starting model's, with its paired bootstrap
    interval (``hwr.intervals.mean_difference``), where a fine-tune or warm start chose an epoch: an
    epoch beats its start by any margin, and this says whether by more than noise. ``chosen``: the
    checkpoint's greedy development readings."""
    if start is None or start.path is None or not state.get("best_epoch") \
            or (start.spec.height, start.spec.width) != (reader.spec.height, reader.spec.width):
        return None
    # from its file: training changed the loaded model's weights in place; read once, as selection reads
    first = replace(load_recognizer(start.path, runtime="keras"), variants=())
    found = data.dev.difference(data.dev.readings(first), chosen)
    return {**found.to_dict(), "text": f"{found.percent(2, sign=True)}, {found.noise()}"}


def _finish(cfg: TrainConfig, model: keras.Model, state: dict, data: _RunData, out: Path, best_file: Path | None,
            tuned: dict, selections: tuple[str, str, str], command: str, t0: float,
            start: Recognizer | None = None) -> dict:
    """Score ``best_file`` (else the last model) with ``cfg.decoders``, save it with its metadata and
    report; the metadata. ``start``: a fine-tune's or warm start's starting model, which the chosen
    checkpoint is measured against on the development set."""
    train_sel, dev_sel, eval_sel = selections
    best = model
    if best_file is not None:
        try:
            best = keras.saving.load_model(best_file)
        except Exception as err:  # noqa: BLE001 — a damaged best.keras: the last model still reads
            log.warning("best.keras does not load (%s); reporting the last model", type(err).__name__)
    alphabet, lexicon = Alphabet(), data.lexicon
    reader = Recognizer(best, alphabet, cfg.spec, {}, None, lexicon)
    metrics, intervals, tables, dev_cer, dev_texts = {}, {}, {}, {}, {}
    for name in cfg.decoders:
        if name == "lexicon" and lexicon is None:
            continue
        dev_texts[name] = data.dev.readings(reader, name)
        dev_cer[name] = data.dev.scored(dev_texts[name])["val_cer"]  # the default decoder is chosen here
        tables[name], scores = evaluate(reader, data.eval_samples, name, progress=False)  # and only reported here
        metrics[name], intervals[name] = scores.to_dict(), table_intervals(tables[name])
    best_decoder, decoder_choice = default_decoder(dev_cer)
    pred_df = tables[best_decoder]
    with atomic.atomic_path(out / "crnn_predictions.csv") as tmp:
        pred_df.to_csv(tmp, index=False)
    history = pd.DataFrame(state["history"])
    if len(history):
        with atomic.atomic_path(out / "crnn_history.csv") as tmp:
            history.to_csv(tmp, index=False)
    selection = {
        "development": {"selection": dev_sel, **data.info["development"], "heldout_font_names": data.heldout_names,
                        "heldout_fonts": sorted(config.HELDOUT_FONTS) if data.heldout_names else []},
        "checkpoint": f"best.keras: {_best_epoch(state)}, lowest development CER (mean of "
                      f"{', '.join(data.dev.parts)}: {state.get('best_cer', float('nan')):.4f})",
        "checkpoint_vs_start": _against_start(data, state, start, reader,
                                              dev_texts.get("greedy") or data.dev.readings(reader)),
        "early_stopping": f"patience {cfg.patience} epochs on the development CER; stages stopped early: "
                          f"{', '.join(state.get('stopped_early', [])) or 'none'}",
        "learning_rate": _rate_cuts(cfg, state["history"]),
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
        **tuned,  # a fine-tune or warm start keeps its starting model's decoder settings (re-tune: scripts/tune_decoder.py)
        "metrics": metrics,
        "intervals": intervals,
        "per_character": per_character_errors([s.text for s in data.eval_samples], pred_df.prediction.tolist()),
        "evaluation": {"selection": eval_sel, "data_dir": str(cfg.data_dir), **data.info["evaluation"]},
        "selection": selection,
        "training": {
            "data": {"real": {"selection": train_sel, **data.info["training"]}, "synthetic": len(data.synthetic[0]),
                     "pseudo_labelled": state.get("pseudo_labelled", 0), "unlabelled_seen": len(data.unlabelled[0])},
            "seconds": round(state.get("seconds", 0.0), 1),
            "epochs": state["epochs_total"], "steps_per_epoch": cfg.steps_per_epoch,
            "stages_cut_by_time_limit": state.get("cut_short", []),
            "batch_size": cfg.batch_size, "replicas": distribute.replicas(),
            "hardware": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores; "
                        f"{describe_devices()}".strip(),
            "startup": {**{k: round(v, 2) for k, v in data.timing.items()},
                        "first_step_at": state.get("first_step_at"), "run_started_at": t0},
            "peak_rss_mb": _peak_rss_mb(),
            "command": command, "seed": cfg.seed,
            "config": {k: _plain(v) for k, v in asdict(cfg).items() if k != "spec"},
        },
        "history_csv": "crnn_history.csv",
        "evaluation_predictions": "crnn_predictions.csv",
        "report": "crnn_report.md",
    }
    save_model(best, out / "crnn.keras", metadata, overwrite=True)
    from hwr.report import write_report
    write_report(out / "crnn.keras", metadata, history)
    return metadata


def run(cfg: TrainConfig, resume: bool = False, command: str = "") -> dict | None:
    """Train, evaluate with ``cfg.decoders``, save the model and its report; returns the metadata.

    ``None`` when ``cfg.stop_after`` paused the run before its end (``resume`` continues it).
    """
    t0 = time.time()
    distribute.start(cfg.devices, cfg.cluster_timeout)  # before anything below touches TensorFlow
    keras.utils.set_random_seed(cfg.seed)
    run_dir = Path(cfg.out_dir)
    out = distribute.write_dir(run_dir)  # the run folder, or a scratch folder on a non-chief worker
    try:
        return _run(cfg, resume, command, t0, run_dir, out)
    finally:
        if out != run_dir:  # a worker's copy, caches too (gigabytes on the full data): the chief's is the run's
            shutil.rmtree(out, ignore_errors=True)


def _run(cfg: TrainConfig, resume: bool, command: str, t0: float, run_dir: Path, out: Path) -> dict | None:
    """``run`` once this process knows where it writes (``out``) and where the run is (``run_dir``)."""
    checkpoints = Checkpoints(out, read_from=run_dir)
    if not resume and (run_dir / "state.json").exists():  # every worker stops, not only the chief
        raise FileExistsError(f"{run_dir} holds a previous run: pass --resume, or another --out-dir")
    init = load_recognizer(cfg.init_model, runtime="keras") if cfg.init_model else None
    warm = load_recognizer(cfg.warm_start, runtime="keras") if cfg.warm_start else None  # a wrong path fails before the data
    if init is not None:
        cfg = replace(cfg, spec=init.spec)  # the images must be prepared for the model being tuned
    selections = _selections(cfg)
    fingerprint = _fingerprint(cfg, selections)
    if resume:
        checkpoints.check_resumable(fingerprint)
    out.mkdir(parents=True, exist_ok=True)
    for folder in (out, out / "cache"):
        for left in atomic.remove_leftovers(folder):
            log.info("removed %s, left by a run that was stopped while writing it", left.name)
    data = _load_data(cfg, selections, out / "cache", t0)
    model, state = _start(cfg, checkpoints, resume, init, warm, fingerprint)

    start = init or warm  # its tuned decoder settings read its readings (and the pseudo-labels) as the app does
    tuned_options = start.metadata.get("decoder_options") if start is not None else None
    tuned = {"decoder_options": tuned_options} if tuned_options else {}
    reader = Recognizer(model, Alphabet(), cfg.spec, tuned, None, data.lexicon)  # the model in training, read as the app reads
    if start is not None and "best_cer" not in state:
        # a fine-tune or a warm start competes with its starting point: it returns the starting model
        # unless an epoch reads the development set better (a new preprocessing alone can be the whole
        # gain; a model widened from a trained one starts as good as that one)
        keep_best(out, model, state, data.dev.score(reader)["val_cer"], 0)
        log.info("starting model: development CER %.4f; an epoch must beat it", state["best_cer"])
    if _train_stages(cfg, model, state, data, reader, out, checkpoints, t0, selections[1]):
        return None
    metadata = _finish(cfg, model, state, data, out, checkpoints.best(), tuned, selections, command, t0, start)
    if cfg.export and distribute.is_chief():
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
