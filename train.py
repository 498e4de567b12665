"""Train the CRNN: real + synthetic + pseudo-labelled names → model, history, curves and report.

With no arguments it trains on the shared sample (or the bundled one) with the project's defaults.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from hwr.backend import BackendError, check_backend
from hwr.distribute import DEVICES_HELP, parse_devices
from hwr.spec import ModelSpec


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _names(text: str) -> tuple[str, ...]:
    from hwr.decode import DECODERS

    names = tuple(v for v in text.split(",") if v)
    unknown = [v for v in names if v not in DECODERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"decoders are {', '.join(DECODERS)}; not {text!r}")
    return names


def _devices(text: str) -> str:
    try:
        parse_devices(text)
    except BackendError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from hwr.decode import DECODERS
    from hwr.training import TrainConfig

    c = TrainConfig()  # the one place defaults live
    d = c.spec
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Example (full Kaggle download, JAX on a GPU): KERAS_BACKEND=jax python train.py "
               "--data-dir ~/kaggle --synthetic 100000 --batch-size 512 --steps-per-epoch 600 --devices gpu")
    g = p.add_argument_group("data")
    g.add_argument("--data-dir", type=Path, default=c.data_dir,
                   help="folder in the Kaggle layout (written_name_*_v2.csv, *_v2/*/)")
    g.add_argument("--train-rows", help="training selection, SPLIT or SPLIT:FIRST-LAST by file number "
                   "(default: 'train' when its CSV exists, else validation:1-1000)")
    g.add_argument("--dev-rows", help="development selection: chooses the checkpoint, stops stages early "
                   "and sets the pseudo-label threshold (default: the last 2%% of 'train' by file number, "
                   "or validation:901-1000 on the sample); never trained on")
    g.add_argument("--eval-rows", help="evaluation selection, only reported: scored once at the end "
                   "(default: 'validation', or validation:1001-1500 on the sample); never trained on")
    g.add_argument("--lexicon", type=Path, default=c.lexicon, help="name<TAB>count file")
    g.add_argument("--fonts", type=Path, nargs="+", default=list(c.fonts),
                   help="folders of handwriting fonts for synthesis, all searched; those named in "
                        "config.HELDOUT_FONTS write only the development set (default: the shared fonts "
                        "when present, else data/fonts, the bundled joined-up capitals; give both to add "
                        "those to the shared ones)")
    g.add_argument("--synthetic", type=int, default=c.synthetic, help="synthetic names to render (0: none)")
    g.add_argument("--dev-synthetic", type=int, default=c.dev_synthetic,
                   help="names rendered in the held-out fonts (config.HELDOUT_FONTS) for the development set "
                        "(0: real development crops only)")
    g.add_argument("--canvas-fraction", type=float, default=c.canvas_fraction, help="share of synthetic names drawn canvas-style")
    g.add_argument("--max-train-images", type=int, help="use at most this many real labelled crops")
    g.add_argument("--max-dev-images", type=int, help="use at most this many real development crops")
    g.add_argument("--max-eval-images", type=int, help="evaluate on at most this many crops")
    g.add_argument("--max-unlabelled", type=int, help="pseudo-label at most this many unlabelled crops")
    g = p.add_argument_group("schedule")
    g.add_argument("--epochs", type=int, default=c.epochs, help="epochs of the mixed (synthetic + real) stage")
    g.add_argument("--pseudo-rounds", type=int, default=c.pseudo_rounds, help="self-training rounds on unlabelled crops")
    g.add_argument("--pseudo-epochs", type=int, default=c.pseudo_epochs, help="epochs per self-training round")
    g.add_argument("--pseudo-threshold", type=float, default=c.pseudo_threshold,
                   help="minimum confidence P(text|image) to keep a pseudo-label (default: chosen on the "
                        "development set, the lowest at which --pseudo-precision of its readings are right)")
    g.add_argument("--pseudo-precision", type=float, default=c.pseudo_precision,
                   help="share of right readings the chosen pseudo-label threshold must give on the development set")
    g.add_argument("--pseudo-threshold-on", choices=("real", "heldout_fonts"), default=c.pseudo_threshold_on,
                   help="development part that chooses the pseudo-label threshold: the real crops, or the names "
                        "in the held-out fonts (for a fine-tune whose starting model trained on those crops)")
    g.add_argument("--pseudo-decoder", choices=sorted(DECODERS), default=c.pseudo_decoder,
                   help="decoder that reads the unlabelled crops; a fine-tune uses the starting model's tuned "
                        "settings (greedy where there is no lexicon)")
    g.add_argument("--finetune-epochs", type=int, default=c.finetune_epochs, help="final epochs on real (+ pseudo) crops at 0.3× rate")
    g.add_argument("--steps-per-epoch", type=int, default=c.steps_per_epoch, help="batches per epoch (an epoch ends with evaluation and a checkpoint)")
    g.add_argument("--batch-size", type=int, default=c.batch_size)
    g.add_argument("--learning-rate", type=float, default=c.learning_rate)
    g.add_argument("--patience", type=int, default=c.patience, help="early stopping: epochs without a lower development CER")
    g.add_argument("--lr-patience", type=int, default=c.lr_patience, metavar="EPOCHS",
                   help="halve the learning rate after this many epochs of a stage without a lower development "
                        "CER (0: never; below --patience, so the rate drops before the stage stops)")
    g.add_argument("--time-limit", type=float, metavar="MINUTES",
                   help="fit the schedule into this many minutes (stages share the time by their epochs; "
                        "then evaluation and saving follow)")
    g.add_argument("--stop-after", type=float, metavar="MINUTES",
                   help="train in chunks: stop at the first epoch end after this many minutes, everything "
                        "saved and no stage cut short; the same command with --resume goes on from there")
    g.add_argument("--seed", type=int, default=c.seed, help="seed for synthesis, shuffling and weights")
    g = p.add_argument_group("model")
    g.add_argument("--height", type=int, default=d.height)
    g.add_argument("--width", type=int, default=d.width)
    g.add_argument("--conv-filters", type=_ints, default=d.conv_filters, help="filters per conv block, e.g. 16,32,64,96")
    g.add_argument("--rnn", choices=("gru", "lstm"), default=d.rnn)
    g.add_argument("--strided-blocks", type=int, default=d.strided_blocks, metavar="N",
                   help="the first N convs stride instead of being max-pooled: less work at full "
                   "resolution, faster CPU training (README 'Speed')")
    g.add_argument("--dense-units", type=int, default=d.dense_units,
                   help="width of the projection from the conv features to the recurrent layers")
    g.add_argument("--rnn-units", type=_ints, default=d.rnn_units, help="units per bidirectional layer")
    g.add_argument("--init-model", type=Path, help="fine-tune: start from this trained .keras model "
                   "(its input size and architecture replace the options above)")
    g.add_argument("--warm-start", type=Path, help="start the architecture above from this trained "
                   ".keras model's weights, layer by layer where names match and shapes match or grow "
                   "(--strided-blocks changed; wider layers, whose new units start sending nothing, so "
                   "a model widened throughout reads exactly as the trained one); the rest starts "
                   "from random weights. The run returns the starting model unless an epoch beats it")
    g = p.add_argument_group("run")
    g.add_argument("--out-dir", type=Path, default=c.out_dir,
                   help="run folder: checkpoints, caches, history, report, model")
    g.add_argument("--resume", action="store_true", help="continue the run in --out-dir from its last checkpoint")
    g.add_argument("--devices", type=_devices, default=c.devices,
                   help=f"where to train: {DEVICES_HELP}; tf.distribute on TensorFlow (TF_CONFIG with a "
                        "cluster: multi-worker), keras.distribution on JAX. --batch-size is the global batch")
    g.add_argument("--cluster-timeout", type=float, default=c.cluster_timeout, metavar="SECONDS",
                   help="with TF_CONFIG: how long a worker waits for the others before giving up")
    g.add_argument("--decoders", type=_names, default=",".join(c.decoders),
                   help="decoders the final evaluation scores (beam and lexicon run for minutes outside "
                        "TensorFlow; score them later with python -m hwr.evaluate --record)")
    g.add_argument("--processes", type=int, help="processes for synthesis (default: all cores)")
    g.add_argument("--export", type=Path, help="copy the finished model (+ metadata, report) here, e.g. models/crnn.keras")
    g.add_argument("--overwrite", action="store_true", help="allow --export to replace an existing model")
    g.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    args = p.parse_args(argv)
    if args.init_model and args.warm_start:
        p.error("--init-model tunes that model as it is; --warm-start starts a new architecture from it: "
                "pass one")
    from hwr.distribute import several_processes
    if args.stop_after is not None and several_processes():
        p.error("--stop-after is for a run in one process (each worker would stop by its own clock): "
                "stop a cluster's workers together, then --resume")
    return args


def model_spec(args: argparse.Namespace) -> ModelSpec:
    """The architecture the model options name."""
    return ModelSpec(height=args.height, width=args.width, conv_filters=args.conv_filters,
                     pools=ModelSpec().pools[:len(args.conv_filters)], strided_blocks=args.strided_blocks,
                     dense_units=args.dense_units, rnn=args.rnn, rnn_units=args.rnn_units)


def main(argv: list[str] | None = None) -> int:
    try:
        check_backend()  # before Keras is imported: a wrong backend is one line, not a traceback
    except BackendError as err:
        print(f"train.py: {err}", file=sys.stderr)
        return 2
    # TF_CONFIG and the devices first: collective ops and logical devices must be set up before
    # anything else touches TensorFlow (parse_args imports hwr.training, and with it Keras)
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--devices", default="auto")
    early.add_argument("--cluster-timeout", type=float, default=None)
    early.add_argument("-q", "--quiet", action="store_true")
    first, _ = early.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING if first.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from hwr import distribute

        distribute.start(first.devices, first.cluster_timeout or distribute.CLUSTER_TIMEOUT)
    except BackendError as err:
        print(f"train.py: {err}", file=sys.stderr)
        return 2
    args = parse_args(argv)
    from hwr.data import DataError
    from hwr.lexicon import LexiconError
    try:
        from hwr.checkpoints import ResumeError
        from hwr.training import TrainConfig, run

        cfg = TrainConfig(
            data_dir=args.data_dir, out_dir=args.out_dir, train_selection=args.train_rows,
            dev_selection=args.dev_rows, eval_selection=args.eval_rows, lexicon=args.lexicon,
            fonts=tuple(args.fonts), synthetic=args.synthetic, dev_synthetic=args.dev_synthetic,
            canvas_fraction=args.canvas_fraction, max_train_images=args.max_train_images,
            max_dev_images=args.max_dev_images, max_eval_images=args.max_eval_images,
            epochs=args.epochs, pseudo_rounds=args.pseudo_rounds, pseudo_epochs=args.pseudo_epochs,
            pseudo_threshold=args.pseudo_threshold, pseudo_precision=args.pseudo_precision,
            pseudo_decoder=args.pseudo_decoder, pseudo_threshold_on=args.pseudo_threshold_on,
            max_unlabelled=args.max_unlabelled,
            finetune_epochs=args.finetune_epochs, steps_per_epoch=args.steps_per_epoch,
            batch_size=args.batch_size, learning_rate=args.learning_rate, patience=args.patience,
            lr_patience=args.lr_patience,
            time_limit=args.time_limit, stop_after=args.stop_after,
            seed=args.seed, decoders=args.decoders, devices=args.devices,
            cluster_timeout=args.cluster_timeout, processes=args.processes, spec=model_spec(args),
            export=args.export, overwrite=args.overwrite, init_model=args.init_model,
            warm_start=args.warm_start)
        command = "python train.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        meta = run(cfg, resume=args.resume, command=command)
    except (DataError, BackendError, LexiconError, ResumeError, FileExistsError, FileNotFoundError) as err:
        print(f"train.py: {err}", file=sys.stderr)
        return 2
    if meta is None:
        print(f"train.py: stopped by --stop-after, everything saved in {args.out_dir}; "
              f"the same command with --resume goes on from there")
        return 0
    best = meta["decoder_default"]
    m = meta["metrics"][best]
    print(f"{best}: word accuracy {m['word_accuracy']:.1%}, CER {m['cer']:.2%} on {m['images']} images of "
          f"{meta['evaluation']['selection']} (checkpoint chosen on {meta['selection']['development']['selection']}); "
          f"model in {args.out_dir / 'crnn.keras'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
