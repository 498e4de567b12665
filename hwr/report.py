"""Stage: the training report. Markdown + curves PNG beside the model, from its metadata and history."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _table(metrics: dict) -> str:
    rows = ["| decoder | word accuracy | CER | WER | correct characters (position-wise) | images |",
            "|---|---|---|---|---|---|"]
    for name, m in metrics.items():
        rows.append(f"| {name} | {m['word_accuracy']:.1%} | {m['cer']:.2%} | {m['wer']:.1%} | "
                    f"{m['char_accuracy_positional']:.1%} | {m['images']} |")
    return "\n".join(rows)


def _cut(training: dict) -> str:
    cut = training.get("stages_cut_by_time_limit")
    return f" (stages cut short by `--time-limit`: {', '.join(cut)})" if cut else ""


def write_report(model_path: Path, metadata: dict, history: pd.DataFrame) -> Path:
    """Write ``NAME_report.md`` and ``NAME_curves.png`` beside the model; returns the report path."""
    from hwr.plots import curves_figure

    model_path = Path(model_path)
    stem = model_path.with_suffix("")
    curves = Path(f"{stem}_curves.png")
    if len(history):
        fig = curves_figure(history)
        fig.savefig(curves, dpi=110, bbox_inches="tight")
    t = metadata["training"]
    data = t["data"]
    ev = metadata["evaluation"]
    text = f"""# {model_path.name}: training and evaluation report

## Evaluation ({ev['selection']} of `{ev['data_dir']}`: {ev['kept']} images, {sum(ev['dropped'].values())} rows dropped by cleaning)

{_table(metadata['metrics'])}

Best decoder by CER: **{metadata['decoder_default']}**. CER is edits / truth characters over the whole set;
"correct characters (position-wise)" is the Kaggle notebook's figure (same character at the same position).

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
    report.write_text(text)
    return report
