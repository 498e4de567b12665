"""Stage: training. Data (real + synthetic + pseudo-labelled) + model + metrics → fit, checkpoints, report.

Training runs in *stages*, each a number of epochs of ``steps_per_epoch`` batches:

1. ``mixed``: synthetic names (most of the data) with the real labelled crops (augmented, repeated);
2. ``pseudo1``…: self-training — the model reads the unlabelled ``TRAIN_*`` crops, readings above a
   confidence threshold join the training data for the next stage;
3. ``finetune``: real and pseudo-labelled crops with a little synthetic data, at a lower rate.

After every epoch the run directory gets ``last.keras`` (with optimizer state) and ``state.json``,
so ``--resume`` continues where a stopped run left off; ``best.keras`` tracks the lowest evaluation
CER. The evaluation selection (real, held-out) is only ever scored, never trained on.

A ``time_limit`` fits the whole schedule into a wall-clock budget (a lent GPU for ten minutes, a
laptop for an hour): each stage gets the share of the time left that its epochs have of the epochs
left, and a stage cut short counts as done, as with early stopping, so the run still self-trains,
fine-tunes, evaluates and saves its model in time.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from hwr import config
from hwr.alphabet import Alphabet
from hwr.data import Sample, default_selections, load_split, unlabelled_images
from hwr.decode import DECODERS
from hwr.distribute import describe_devices, strategy_scope
from hwr.lexicon import load_lexicon
from hwr.metrics import per_character_errors, score
from hwr.model import ModelSpec, build_model, compile_for_training, transfer_weights
from hwr.pipeline import Batches, prepare, prepare_files
from hwr.preprocess import PREPROCESS_VERSION
from hwr.evaluation import evaluate
from hwr.recognizer import Recognizer, load_recognizer, save_model

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Every option of train.py, with its default."""

    data_dir: Path = field(default_factory=config.default_data_dir)
    out_dir: Path = config.ROOT / "runs" / "default"
    train_selection: str | None = None  # default: hwr.data.default_selections
    eval_selection: str | None = None
    lexicon: Path = field(default_factory=config.default_lexicon)
    fonts: Path = config.SHARED_FONTS
    synthetic: int = 40_000
    canvas_fraction: float = 0.1
    max_train_images: int | None = None  # cap on real labelled images (tests, quick runs)
    max_eval_images: int | None = None
    epochs: int = 30
    pseudo_rounds: int = 1
    pseudo_epochs: int = 6
    pseudo_threshold: float = 0.9
    max_unlabelled: int | None = None
    finetune_epochs: int = 6
    steps_per_epoch: int = 100
    batch_size: int = 64
    learning_rate: float = 1e-3
    patience: int = 8
    time_limit: float | None = None  # minutes from the start to the final evaluation
    seed: int = 42
    decoders: tuple[str, ...] = tuple(DECODERS)  # scored at the end (JAX's beam search is slow: see README)
    devices: str = "auto"
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


def _load_real(cfg: TrainConfig, selection: str, limit: int | None, cache: Path) -> tuple[np.ndarray, list[str], list[Sample], dict]:
    samples, report = load_split(cfg.data_dir, selection, Alphabet())
    samples = samples[:limit] if limit else samples
    images, kept = prepare_files([s.image for s in samples], cfg.spec.height, cfg.spec.width,
                                 cache, desc=selection.replace(":", "_"))
    samples = [samples[i] for i in kept]
    return images, [s.text for s in samples], samples, {"rows": report.rows, "kept": len(samples),
                                                         "dropped": report.dropped}


def _synthetic(cfg: TrainConfig, cache: Path) -> tuple[np.ndarray, list[str]]:
    from functools import partial

    from hwr import synth

    if cfg.synthetic <= 0:
        return np.zeros((0, cfg.spec.height, cfg.spec.width), np.uint8), []
    cache_file = cache / (f"synth-{cfg.synthetic}-{cfg.seed}-{cfg.canvas_fraction}-"
                          f"{cfg.spec.height}x{cfg.spec.width}-v{PREPROCESS_VERSION}-s{synth.SYNTH_VERSION}.npz")
    if cache_file.is_file():
        with np.load(cache_file) as z:
            return z["images"], z["texts"].tolist()
    fonts = synth.usable_fonts(cfg.fonts)
    lexicon = load_lexicon(cfg.lexicon)
    images, texts = synth.synthesize(cfg.synthetic, None, lexicon, fonts, cfg.seed,
                                     transform=partial(prepare, height=cfg.spec.height, width=cfg.spec.width),
                                     canvas_fraction=cfg.canvas_fraction, processes=cfg.processes)
    arr = np.stack(images)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(cache_file, images=arr, texts=np.array(texts))
    return arr, texts


class EvalCheckpoint(keras.callbacks.Callback):
    """After each epoch: CER and word accuracy on the evaluation set, history row, checkpoints."""

    def __init__(self, run: Path, stage_name: str, eval_images: np.ndarray,
                 eval_texts: list[str], reader: Recognizer, state: dict):
        super().__init__()
        self.run, self.stage_name = run, stage_name
        self.eval_images, self.eval_texts, self.reader, self.state = eval_images, eval_texts, reader, state

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        preds = [p.text for p in self.reader.read_arrays(self.eval_images, batch_size=256)]
        s = score(self.eval_texts, preds)
        logs["val_cer"], logs["val_word_accuracy"] = s.cer, s.word_accuracy
        row = {"stage": self.stage_name, "epoch": self.state["epochs_total"] + 1, "loss": logs.get("loss"),
               "val_cer": s.cer, "val_word_accuracy": s.word_accuracy,
               "seconds": time.time() - self.state["started"] + self.state["seconds_before"]}
        history = self.run / "history.csv"
        new = not history.exists()
        with history.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        self.state["done"][self.stage_name] = epoch + 1
        self.state.update(epochs_total=self.state["epochs_total"] + 1, seconds=row["seconds"])
        if s.cer < self.state.get("best_cer", float("inf")):
            self.state["best_cer"] = s.cer
            self.model.save(self.run / "best.keras")
        self.model.save(self.run / "last.keras")
        (self.run / "state.json").write_text(json.dumps(self.state, indent=2))


class TimeLimit(keras.callbacks.Callback):
    """Ends the stage after the batch that passes ``stop_at`` (epoch end still evaluates and checkpoints)."""

    def __init__(self, stop_at: float):
        super().__init__()
        self.stop_at = stop_at

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.time() >= self.stop_at:
            self.model.stop_training = True


def stage_deadline(now: float, deadline: float, left: list[int]) -> float:
    """When the first of the stages with ``left`` epochs to go must stop: its share of the time left."""
    return now + max(0.0, deadline - now) * left[0] / max(1, sum(left))


def _pseudo_labels(reader: Recognizer, images: np.ndarray, files: list[Path],
                   threshold: float, out_csv: Path) -> tuple[np.ndarray, list[str]]:
    """Readings of unlabelled crops that the model is sure of (saved, so a resumed run reuses them)."""
    if out_csv.is_file():
        df = pd.read_csv(out_csv, dtype={"text": str}, keep_default_na=False)
    else:
        decoded = reader.read_arrays(images, batch_size=256)
        df = pd.DataFrame({"index": range(len(files)), "file": [f.name for f in files],
                           "text": [d.text for d in decoded], "confidence": [d.confidence for d in decoded]})
        df = df[(df.confidence >= threshold) & (df.text.str.len() >= 2)]
        df.to_csv(out_csv, index=False)
    log.info("pseudo-labels: kept %d of %d unlabelled crops (confidence ≥ %.2f)", len(df), len(files), threshold)
    return images[df["index"].to_numpy(int)], df["text"].tolist()


def _stage_data(finetune: bool, synthetic, real, pseudo) -> tuple[np.ndarray, list[str], np.ndarray]:
    """One stage's images, texts and which of them to augment (the real and pseudo-labelled crops).

    Real crops are few, so they are repeated to make up about a quarter of the mixed stages' data; the
    fine-tuning stage is mostly real, with as many synthetic names again so the canvas look stays known.
    """
    (sx, sy), (rx, ry), (px, py) = synthetic, real, pseudo
    crops_x, crops_y = np.concatenate([rx, px]), list(ry) + list(py)
    if finetune:
        keep = min(len(sx), max(len(crops_x), 1))
        sx, sy, reps = sx[:keep], sy[:keep], 1
    else:
        reps = max(1, round(len(sx) / (3 * max(len(crops_x), 1))))
    x = np.concatenate([sx] + [crops_x] * reps)
    y = list(sy) + crops_y * reps
    aug = np.concatenate([np.zeros(len(sx), bool), np.ones(len(crops_x) * reps, bool)])
    return x, y, aug


def run(cfg: TrainConfig, resume: bool = False, command: str = "") -> dict:
    """Train, evaluate with ``cfg.decoders``, save the model and its report; returns the metadata."""
    t0 = time.time()
    deadline = t0 + 60 * cfg.time_limit if cfg.time_limit else None
    keras.utils.set_random_seed(cfg.seed)
    alphabet = Alphabet()
    run_dir = Path(cfg.out_dir)
    cache = run_dir / "cache"
    state_file = run_dir / "state.json"
    if not resume and state_file.exists():
        raise FileExistsError(f"{run_dir} holds a previous run: pass --resume, or another --out-dir")
    init = load_recognizer(cfg.init_model, runtime="keras") if cfg.init_model else None
    warm = load_recognizer(cfg.warm_start, runtime="keras") if cfg.warm_start else None  # a wrong path fails before the data
    if init is not None:
        cfg = replace(cfg, spec=init.spec)  # the images must be prepared for the model being tuned
    run_dir.mkdir(parents=True, exist_ok=True)
    train_sel, eval_sel = default_selections(cfg.data_dir)
    train_sel, eval_sel = cfg.train_selection or train_sel, cfg.eval_selection or eval_sel

    real_x, real_y, _, real_info = _load_real(cfg, train_sel, cfg.max_train_images, cache)
    eval_x, eval_y, eval_samples, eval_info = _load_real(cfg, eval_sel, cfg.max_eval_images, cache)
    synth_x, synth_y = _synthetic(cfg, cache)
    unl_files: list[Path] = []
    unl_x = np.zeros((0, cfg.spec.height, cfg.spec.width), np.uint8)
    if cfg.pseudo_rounds > 0:
        unl_files = unlabelled_images(cfg.data_dir, "train", cfg.max_unlabelled)
        unl_x, kept = prepare_files(unl_files, cfg.spec.height, cfg.spec.width, cache, desc="unlabelled")
        unl_files = [unl_files[i] for i in kept]
    log.info("data: %d real, %d synthetic, %d unlabelled; evaluation %d (%s)",
             len(real_x), len(synth_x), len(unl_x), len(eval_x), eval_sel)

    # state["done"]: epochs finished per stage, so a resumed run (even with longer stages) goes on
    state = json.loads(state_file.read_text()) if resume and state_file.exists() else \
        {"done": {}, "epochs_total": 0, "seconds": 0.0}
    state["started"], state["seconds_before"] = time.time(), state.get("seconds", 0.0)
    with strategy_scope(cfg.devices):
        if resume and (run_dir / "last.keras").exists():
            model = keras.saving.load_model(run_dir / "last.keras")
            log.info("resumed from %s after epochs %s", run_dir / "last.keras", state["done"])
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

    lexicon = load_lexicon(cfg.lexicon) if Path(cfg.lexicon).is_file() else None
    reader = Recognizer(model, alphabet, cfg.spec, {}, None, lexicon)  # the model in training, read as the app reads
    pseudo_x, pseudo_y = np.zeros((0, cfg.spec.height, cfg.spec.width), np.uint8), []
    stages = _stages(cfg)
    for k, (name, epochs) in enumerate(stages):
        if name.startswith("pseudo") and len(unl_x):
            pseudo_x, pseudo_y = _pseudo_labels(reader, unl_x, unl_files, cfg.pseudo_threshold,
                                                run_dir / f"{name}.csv")
        start = state["done"].get(name, 0)
        if start >= epochs:
            continue
        if deadline and time.time() >= deadline:
            log.warning("time limit of %s minutes reached: stage %s skipped", cfg.time_limit, name)
            state["done"][name], state["cut_short"] = epochs, state.get("cut_short", []) + [name]
            continue
        finetune = name == "finetune"
        model.optimizer.learning_rate.assign(cfg.learning_rate * (0.3 if finetune else 1.0))
        x, y, aug = _stage_data(finetune, (synth_x, synth_y), (real_x, real_y), (pseudo_x, pseudo_y))
        batches = Batches(x, y, alphabet, cfg.batch_size, seed=cfg.seed + k, augment_mask=aug,
                          steps=cfg.steps_per_epoch, first_epoch=start)
        log.info("stage %s: %d images (%d augmented), epochs %d→%d", name, len(x), int(aug.sum()), start, epochs)
        callbacks = [EvalCheckpoint(run_dir, name, eval_x, eval_y, reader, state),
                     keras.callbacks.EarlyStopping("val_cer", patience=cfg.patience, mode="min")]
        limit = None
        if deadline:
            left = [n - state["done"].get(s, 0) for s, n in stages[k:]]
            limit = TimeLimit(stage_deadline(time.time(), deadline, left))
            callbacks.append(limit)
        model.fit(batches, epochs=epochs, initial_epoch=start, callbacks=callbacks,
                  verbose=1 if sys.stderr.isatty() else 2)
        if limit and state["done"].get(name, 0) < epochs and time.time() >= limit.stop_at:
            log.warning("stage %s stopped by the time limit after %d of %d epochs", name,
                        state["done"].get(name, 0), epochs)
            state["cut_short"] = state.get("cut_short", []) + [name]
        state["done"][name] = epochs  # finished, or stopped early: either way this stage is done
        state_file.write_text(json.dumps(state, indent=2))

    best = keras.saving.load_model(run_dir / "best.keras") if (run_dir / "best.keras").exists() else model
    reader = Recognizer(best, alphabet, cfg.spec, {}, None, lexicon)
    metrics, tables = {}, {}
    for name in cfg.decoders:
        if name == "lexicon" and lexicon is None:
            continue
        tables[name], scores = evaluate(reader, eval_samples, name, progress=False)
        metrics[name] = scores.to_dict()
    best_decoder = min(metrics, key=lambda d: metrics[d]["cer"])
    pred_df = tables[best_decoder]
    pred_df.to_csv(run_dir / "crnn_predictions.csv", index=False)
    history = pd.read_csv(run_dir / "history.csv") if (run_dir / "history.csv").exists() else pd.DataFrame()
    if len(history):
        history.to_csv(run_dir / "crnn_history.csv", index=False)
    metadata = {
        "alphabet": alphabet.chars,
        "spec": cfg.spec.to_dict(),
        "decoder_default": best_decoder,
        "metrics": metrics,
        "per_character": per_character_errors(eval_y, pred_df.prediction.tolist()),
        "evaluation": {"selection": eval_sel, "data_dir": str(cfg.data_dir), **eval_info},
        "training": {
            "data": {"real": {"selection": train_sel, **real_info}, "synthetic": len(synth_x),
                     "pseudo_labelled": len(pseudo_x), "unlabelled_seen": len(unl_x)},
            "seconds": round(state.get("seconds", 0.0), 1),
            "epochs": state["epochs_total"], "steps_per_epoch": cfg.steps_per_epoch,
            "stages_cut_by_time_limit": state.get("cut_short", []),
            "batch_size": cfg.batch_size,
            "hardware": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores; "
                        f"{describe_devices()}".strip(),
            "command": command, "seed": cfg.seed,
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items() if k != "spec"},
        },
        "history_csv": "crnn_history.csv",
        "evaluation_predictions": "crnn_predictions.csv",
        "report": "crnn_report.md",
    }
    save_model(best, run_dir / "crnn.keras", metadata, overwrite=True)
    from hwr.report import write_report
    write_report(run_dir / "crnn.keras", metadata, history)
    if cfg.export:
        export_model(run_dir, Path(cfg.export), cfg.overwrite)
    return metadata


def export_model(run_dir: Path, target: Path, overwrite: bool) -> None:
    """Copy a finished run's model, metadata, history, predictions, report and curves to ``target``."""
    import shutil

    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = target.with_suffix("")
    for src in sorted(run_dir.glob("crnn*")):
        dst = Path(f"{stem}{src.name[len('crnn'):]}")
        shutil.copyfile(src, dst)
