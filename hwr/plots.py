"""Stage: pictures of a reading and of training. Pure matplotlib: every function returns a Figure.

No Streamlit and no pyplot state here (figures are built with ``matplotlib.figure.Figure``, so
nothing leaks between app sessions or threads); the app's pages and the report both use them.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: How characters that are hard to see are written on axes: the CTC blank and the space.
BLANK_LABEL = "∅"
SPACE_LABEL = "␣"


def char_labels(chars: str) -> list[str]:
    """Row labels for the model's outputs: the blank (index 0), then the alphabet, spaces made visible."""
    return [BLANK_LABEL] + [SPACE_LABEL if c == " " else c for c in chars]


def best_path(probs: np.ndarray) -> list[tuple[int, int]]:
    """(timestep, class) where the best path emits a character: repeats merged, blanks dropped."""
    path = np.argmax(probs, axis=1)
    return [(t, int(k)) for t, k in enumerate(path) if k != 0 and (t == 0 or path[t - 1] != k)]


def ctc_figure(image: np.ndarray, probs: np.ndarray, chars: str, title: str | None = None) -> Figure:
    """The model input on top and the softmax over time × characters under it, on one x axis.

    The model turns an (H, W) input into T timesteps, each reading W/T columns; both panels are drawn
    in input-pixel units so a column of the heatmap sits exactly under the strokes it read. White
    dots mark the best path, red squares the characters it emits (also the red ticks under the input).
    """
    height, width = image.shape
    steps, classes = probs.shape
    if classes != len(chars) + 1:
        raise ValueError(f"probabilities have {classes} classes; the alphabet needs {len(chars) + 1}")
    step_w = width / steps
    fig = Figure(figsize=(8.5, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1.2, 4.6], width_ratios=[60, 1])
    ax_img = fig.add_subplot(grid[0, 0], label="input")
    # same x limits rather than sharex: shared axes would share ticks, and each panel has its own
    ax_heat = fig.add_subplot(grid[1, 0], label="probabilities")
    ax_bar = fig.add_subplot(grid[1, 1], label="colorbar")
    fig.add_subplot(grid[0, 1], label="spacer").set_axis_off()

    ax_img.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, extent=(0, width, height, 0),
                  aspect="auto", interpolation="nearest")
    ax_img.set_yticks([])
    ax_img.set_xlim(0, width)
    emitted = best_path(probs)
    labels = char_labels(chars)
    ax_img.set_xticks([(t + 0.5) * step_w for t, _ in emitted], [labels[k] for _, k in emitted])
    ax_img.tick_params(axis="x", labelbottom=True, labelsize=10, colors="tab:red", length=3)
    ax_img.set_ylabel("input", rotation=0, ha="right", va="center")
    if title:
        ax_img.set_title(title, fontsize=12)

    heat = ax_heat.imshow(probs.T, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto",
                          extent=(0, width, classes - 0.5, -0.5), interpolation="nearest")
    centres = (np.arange(steps) + 0.5) * step_w
    ax_heat.scatter(centres, np.argmax(probs, axis=1), marker=".", s=10, color="white",
                    linewidths=0, label="best path")
    ax_heat.scatter([centres[t] for t, _ in emitted], [k for _, k in emitted], marker="s", s=40,
                    facecolors="none", edgecolors="tab:red", linewidths=1.2, label="emitted character")
    ax_heat.set_yticks(range(classes), labels, fontsize=7.5)
    tick_steps = np.arange(0, steps + 1, max(1, steps // 8))
    ax_heat.set_xticks(tick_steps * step_w, [str(t) for t in tick_steps])
    ax_heat.set_xlim(0, width)
    ax_heat.set_xlabel(f"timestep ({steps} steps, each reads {step_w:g} input columns)")
    ax_heat.set_ylabel("output")
    ax_heat.legend(loc="upper right", fontsize=8, framealpha=0.8)
    fig.colorbar(heat, cax=ax_bar, label="probability")
    return fig


def _run_index(history: pd.DataFrame) -> np.ndarray:
    """x values: the epoch column when it only grows, else 1..n (stages that restart their count)."""
    epochs = pd.to_numeric(history.get("epoch"), errors="coerce") if "epoch" in history else None
    if epochs is not None and epochs.notna().all() and epochs.is_monotonic_increasing \
            and epochs.is_unique:
        return epochs.to_numpy()
    return np.arange(1, len(history) + 1)


def curves_figure(history: pd.DataFrame) -> Figure:
    """Training curves: losses on the left, validation CER and word accuracy on the right.

    Columns that are absent are left out; a ``stage`` column shades each training stage.
    """
    x = _run_index(history)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for col, style in (("loss", "-"), ("val_loss", "--")):
        if col in history:
            ax_loss.plot(x, history[col], style, marker=".", label=col)
    ax_loss.set_title("CTC loss")
    for col, color in (("val_cer", "tab:red"), ("val_word_accuracy", "tab:green")):
        if col in history:
            ax_acc.plot(x, history[col], marker=".", color=color, label=col)
    ax_acc.set_title("Validation")
    ax_acc.set_ylim(0, 1)
    if "stage" in history:
        stages = history["stage"].astype(str).to_numpy()
        starts = [0] + [i for i in range(1, len(stages)) if stages[i] != stages[i - 1]]
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(stages)
            for ax in (ax_loss, ax_acc):
                ax.axvspan(x[start] - 0.5, x[end - 1] + 0.5, color=f"C{n % 10}", alpha=0.07, lw=0)
            ax_acc.text(x[start] - 0.4, 0.98, stages[start], va="top", fontsize=8, color="0.3")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    return fig


def char_errors_figure(per_character: Mapping[str, Mapping[str, float]], min_count: int = 1) -> Figure:
    """Error rate per truth character (substituted or dropped / occurrences), worst first."""
    rows = [(c, float(v["error_rate"]), int(v["count"])) for c, v in per_character.items()
            if int(v.get("count", 0)) >= min_count]
    rows.sort(key=lambda r: -r[1])
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    ax = fig.subplots()
    labels = [SPACE_LABEL if c == " " else c for c, _, _ in rows]
    bars = ax.bar(labels, [r for _, r, _ in rows], color="tab:blue")
    for bar, (_, _, count) in zip(bars, rows):
        ax.annotate(str(count), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=7, color="0.35",
                    xytext=(0, 2), textcoords="offset points")
    ax.set_ylabel("error rate")
    ax.set_ylim(0, max([r for _, r, _ in rows], default=0.1) * 1.15 or 0.1)
    ax.set_title("Errors per character in the truth (numbers: occurrences)", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    return fig
