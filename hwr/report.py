"""Stage: the training report. Markdown + curves PNG beside the model, from its metadata and history.

It names which set chose the checkpoint, stopped training and set the pseudo-label threshold, and
which set the reported figures are on, so a reader can tell selection from evaluation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hwr import atomic
from hwr.intervals import DIGITS, written


def _table(metrics: dict, intervals: dict) -> str:
    """One row per decoder; word accuracy and CER with their bootstrap intervals where recorded."""
    rows = ["| decoder | word accuracy | CER | WER | correct characters (position-wise) | images |",
            "|---|---|---|---|---|---|"]
    for name, m in metrics.items():
        text = {k: f"{m[k]:.{digits}%}" for k, digits in DIGITS.items()} | written(intervals.get(name, {}))
        words, cer = text["word_accuracy"], text["cer"]
        rows.append(f"| {name} | {words} | {cer} | {m['wer']:.1%} | "
                    f"{m['char_accuracy_positional']:.1%} | {m['images']} |")
    return "\n".join(rows)


def _cut(training: dict) -> str:
    cut = training.get("stages_cut_by_time_limit")
    return f" (stages cut short by `--time-limit`: {', '.join(cut)})" if cut else ""


def _variants(metadata: dict) -> str:
    """The test-time variants the model reads with (``hwr.variants``), and what chose them."""
    chosen = metadata.get("test_time_variants")
    if not chosen:
        return "none (each image read once)"
    return (f"{', '.join(chosen)}, read beside each image (chosen with the decoders' settings on the "
            f"development set by scripts/tune_decoder.py)")


def _versus(selection: dict) -> str:
    """The chosen epoch against the starting model, where a fine-tune chose one (``checkpoint_vs_start``)."""
    found = selection.get("checkpoint_vs_start")
    if not found:
        return ""
    return (f"; against the starting model, development CER {found['text']} "
            f"({found['level']:.0%} interval, paired bootstrap over each part's images)")


def _selection(metadata: dict) -> str:
    """Which set chose what (issue 16): the development set selects, the evaluation set is only reported."""
    sel = metadata.get("selection")
    if not sel:
        return ""
    dev = sel["development"]
    fonts = (f" + {dev['heldout_font_names']} names rendered in the held-out fonts "
             f"({', '.join(dev['heldout_fonts'])})" if dev.get("heldout_font_names") else "")
    thresholds = "; ".join(f"{stage}: {t['value']:.3f} (chosen on {t['chosen_on']})"
                           for stage, t in sel.get("pseudo_threshold", {}).items()) or "no self-training"
    return f"""
## What selected what

- development set: {dev['selection']} ({dev['kept']} images of the data folder){fonts}; never trained on
- checkpoint: {sel['checkpoint']}{_versus(sel)}
- early stopping: {sel['early_stopping']}
- learning rate: {sel.get('learning_rate', 'not cut by the development CER')}
- pseudo-label threshold: {thresholds}
- default decoder: {sel['decoder_default']}
- test-time variants: {_variants(metadata)}
- reported figures: {sel['reported']}
"""


def write_report(model_path: Path, metadata: dict, history: pd.DataFrame) -> Path:
    """Write ``NAME_report.md`` and ``NAME_curves.png`` beside the model; returns the report path."""
    from hwr.plots import curves_figure

    model_path = Path(model_path)
    stem = model_path.with_suffix("")
    curves = Path(f"{stem}_curves.png")
    if len(history):
        fig = curves_figure(history)
        with atomic.atomic_path(curves) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    t = metadata["training"]
    data = t["data"]
    ev = metadata["evaluation"]
    text = f"""# {model_path.name}: training and evaluation report

## Evaluation ({ev['selection']} of `{ev['data_dir']}`: {ev['kept']} images, {sum(ev['dropped'].values())} rows dropped by cleaning)

{_table(metadata['metrics'], metadata.get('intervals', {}))}

Default decoder: **{metadata['decoder_default']}** (chosen on the development set when the report says so below). CER is edits / truth characters over the whole set;
"correct characters (position-wise)" is the Kaggle notebook's figure (same character at the same position).
In brackets: the 95% bootstrap interval over the images, how far a figure could move on another draw of
images like these (`hwr/intervals.py`; `python -m hwr.compare A.csv B.csv` for the difference of two readings).
{_selection(metadata)}
## Training data

- real labelled crops: {data['real']['kept']} ({data['real']['selection']})
- synthetic names rendered in handwriting fonts: {data['synthetic']}
- pseudo-labelled unlabelled crops (last round): {data['pseudo_labelled']} of {data['unlabelled_seen']}

## Run

- {t['epochs']} epochs × {t['steps_per_epoch']} steps × batch {t['batch_size']}, {t['seconds'] / 60:.1f} minutes of training{_cut(t)}
- hardware: {t['hardware']}
- seed: {t['seed']}
- command: `{t['command']}`

![curves]({curves.name})
"""
    report = Path(f"{stem}_report.md")
    atomic.write_text(report, text)
    return report
