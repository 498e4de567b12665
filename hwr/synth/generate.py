"""Stage: synthetic data, many samples. Which look each sample gets, rendered in parallel, reproducibly."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from hwr.synth.canvas import render_canvas
from hwr.synth.case import written
from hwr.synth.form import render_form
from hwr.synth.names import RANDOM_SHARE, sample_names
from hwr.synth.photo import render_photo

STYLES = ("form", "canvas", "photo")

#: Share of the non-canvas names rendered as phone photos (the rest look like Kaggle form crops).
#: A default here rather than a training option: the photo look exists so that uploads from a
#: phone read as well as scans, and the real crops still dominate the form look's share.
PHOTO_FRACTION = 0.25


def render_name(
    text: str, font_path: Path | str, rng: np.random.Generator, style: str = "form"
) -> np.ndarray:
    """``text`` handwritten in ``font_path``: a uint8 grayscale image, dark ink on light paper.

    ``style="form"`` imitates a Kaggle crop (see the module docstring); ``style="canvas"`` a name drawn
    in the app. Every random choice comes from ``rng``.
    """
    if not text.strip():
        raise ValueError("cannot render an empty name")
    if style == "form":
        return render_form(text, str(font_path), rng)
    if style == "canvas":
        return render_canvas(text, str(font_path), rng)
    if style == "photo":
        return render_photo(text, str(font_path), rng)
    raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")


class _Job(NamedTuple):
    fonts: tuple[str, ...]
    seed: int
    canvas_fraction: float
    transform: Callable[[np.ndarray], np.ndarray] | None


#: Set once per worker process by the pool initializer, so tasks carry only (index, name).
_worker_job: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _worker_job
    _worker_job = job


def _make_sample(job: _Job, index: int, text: str) -> np.ndarray:
    """Sample ``index``: its own generator, so it comes out the same in any process and any order."""
    rng = np.random.default_rng([job.seed, index])
    draw = rng.random()
    if draw < job.canvas_fraction:
        style = "canvas"
    elif draw < job.canvas_fraction + (1.0 - job.canvas_fraction) * PHOTO_FRACTION:
        style = "photo"
    else:
        style = "form"
    font = job.fonts[int(rng.integers(len(job.fonts)))]
    image = render_name(written(text, font, rng), font, rng, style)
    return job.transform(image) if job.transform is not None else image


def _worker_sample(task: tuple[int, str]) -> np.ndarray:
    if _worker_job is None:
        raise RuntimeError("synthesis worker started without _init_worker")
    return _make_sample(_worker_job, *task)


def synthesize(
    n: int,
    names: Sequence[str] | None,
    lexicon: dict[str, int] | None,
    fonts: Sequence[Path | str],
    seed: int,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    canvas_fraction: float = 0.1,
    processes: int | None = None,
    random_share: float = RANDOM_SHARE,
) -> tuple[list[np.ndarray], list[str]]:
    """``n`` rendered names and their texts; the same for a seed whatever the number of processes.

    ``names`` are used in turn (cycled) if given, else names are sampled from ``lexicon``, with
    ``random_share`` of them random letters (``sample_names``).
    ``transform`` (a picklable module-level function, e.g. the shared preprocessing) runs inside the
    workers so only the small arrays travel back.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not fonts:
        raise ValueError("no fonts to render with (see usable_fonts)")
    if not 0.0 <= canvas_fraction <= 1.0:
        raise ValueError(f"canvas_fraction must be in [0, 1], got {canvas_fraction}")
    if names is not None:
        if not names:
            raise ValueError("names is empty")
        texts = [names[i % len(names)] for i in range(n)]
    elif lexicon is not None:
        # A stream of its own (spawn_key), apart from the per-sample generators [seed, i].
        names_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
        texts = sample_names(lexicon, n, names_rng, random_share)
    else:
        raise ValueError("give names or a lexicon to sample them from")

    job = _Job(tuple(str(f) for f in fonts), seed, canvas_fraction, transform)
    if processes is None:
        processes = os.cpu_count() or 1
    processes = max(1, min(processes, n))
    bar = tqdm(total=n, desc="synthesizing", unit="img", leave=False)
    images: list[np.ndarray] = []
    try:
        if processes == 1:
            for i, text in enumerate(texts):
                images.append(_make_sample(job, i, text))
                bar.update()
        else:
            # forkserver: forking a parent that already runs TensorFlow's threads can deadlock.
            # Its server imports this module once, so each worker starts without re-importing.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            chunksize = max(1, min(64, n // (processes * 8)))
            with context.Pool(processes, initializer=_init_worker, initargs=(job,)) as pool:
                for image in pool.imap(_worker_sample, enumerate(texts), chunksize=chunksize):
                    images.append(image)
                    bar.update()
    finally:
        bar.close()
    return images, texts
