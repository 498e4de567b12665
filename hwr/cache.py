"""Stage: image files → preprocessed uint8 arrays on disk, built with every core, read memory-mapped.

Preprocessing a crop costs ~2 ms and the full Kaggle training split has 331k of them, so each image
goes through the shared ``preprocess`` once and the result is kept as a ``.npy`` file in the run's
``cache/`` folder. The file is read back with ``mmap_mode="r"``: a batch touches only its own rows,
so a 2.7 GB cache costs the pages that are read, not 2.7 GB of memory (what made the full-size run
need 11 GB). The cache is built by a process pool (forkserver: no fork of a process that may already
hold TensorFlow's threads) whose workers write their rows straight into an
``np.lib.format.open_memmap`` file; the file is renamed into place only when it is complete, and its
space is reserved up front, so a full disk is one clear error at the start, not a crash half way.

This module imports no Keras, so the pool's workers (and the synthesis workers, which get ``prepare``
as their transform) start in a fraction of a second.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import multiprocessing
import os
import time
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
from tqdm.auto import tqdm

from hwr import config
from hwr.atomic import atomic_path
from hwr.data import DataError
from hwr.preprocess import PREPROCESS_VERSION, ImageError, preprocess, to_uint8

log = logging.getLogger(__name__)

#: images per task handed to a worker: big enough to amortise the hand-over, small for a smooth ETA
CHUNK = 256
#: below this many images the pool's start-up (about a second) costs more than it saves
POOL_MIN = 512
#: errors that mean the disk (or the file-size limit) is full
DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class CacheError(DataError):
    """The cache could not be written (disk full): the message says where and how much."""


class Cached(NamedTuple):
    """Preprocessed images (memory-mapped when from a file), which inputs they are, and what it cost."""

    images: np.ndarray
    kept: list[int]
    prepared: int  # images preprocessed now (0 when the cache was reused)
    seconds: float


def prepare(source, height: int = config.IMG_HEIGHT, width: int = config.IMG_WIDTH) -> np.ndarray:
    """The shared preprocessing, stored as uint8 (what caches and synthesis workers return)."""
    return to_uint8(preprocess(source, height, width))


def _fill(job: tuple[str, int, list[str], int, int]) -> tuple[int, list[int]]:
    """Worker: preprocess ``paths`` into rows ``start``… of the open ``.npy`` file; returns the failures."""
    file, start, paths, height, width = job
    out = np.load(file, mmap_mode="r+")
    failed = []
    for i, path in enumerate(paths):
        try:
            out[start + i] = prepare(path, height, width)
        except ImageError as err:
            log.warning("skipped %s", err)
            failed.append(start + i)
    out.flush()
    del out
    return len(paths), failed


def _reserve(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """An ``open_memmap`` file with its blocks allocated now, so a full disk fails here, not mid-write."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.path.getsize(path))
    finally:
        os.close(fd)
    return out


def save_array(target: Path, array: np.ndarray) -> None:
    """Write ``array`` as ``.npy`` atomically, chunk by chunk (a memory-mapped source is never loaded whole)."""
    with atomic_path(target) as tmp:
        out = _reserve(tmp, array.shape)
        for lo in range(0, len(array), 4096):
            out[lo:lo + 4096] = array[lo:lo + 4096]
        out.flush()
        del out


def load_array(path: Path) -> np.ndarray:
    """A cached ``.npy`` file, memory-mapped read-only."""
    return np.load(path, mmap_mode="r")


def _build(paths: Sequence[Path], height: int, width: int, target: Path | None, processes: int,
           desc: str) -> tuple[np.ndarray, list[int]]:
    """Preprocess into ``target`` (or memory when None) with ``processes`` workers; returns (images, failed)."""
    n = len(paths)
    if target is None or n < POOL_MIN or processes <= 1:
        images, failed = np.zeros((n, height, width), np.uint8), []
        for i, path in enumerate(tqdm(paths, desc=desc, unit="img", leave=False)):
            try:
                images[i] = prepare(path, height, width)
            except ImageError as err:
                log.warning("skipped %s", err)
                failed.append(i)
        return images, failed
    out = _reserve(target, (n, height, width))
    del out  # the workers write through their own maps
    jobs = [(str(target), lo, [str(p) for p in paths[lo:lo + CHUNK]], height, width)
            for lo in range(0, n, CHUNK)]
    failed: list[int] = []
    with multiprocessing.get_context("forkserver").Pool(processes) as pool, \
            tqdm(total=n, desc=desc, unit="img", leave=False) as bar:
        for done, bad in pool.imap_unordered(_fill, jobs):
            failed += bad
            bar.update(done)
    return load_array(target), sorted(failed)


def prepare_files(paths: Sequence[Path], height: int, width: int, cache: Path | None = None,
                  desc: str = "preprocess", processes: int | None = None) -> Cached:
    """Preprocess image files (cached by their names and the size); returns arrays and kept indices.

    Unreadable files are logged and skipped, so one corrupt scan does not stop a 331k-image run.
    Raises CacheError, naming the folder and the size needed, when the cache cannot be written.
    """
    t0 = time.perf_counter()
    key = hashlib.sha1("\n".join(map(str, paths)).encode()
                       + f"{height}x{width}v{PREPROCESS_VERSION}".encode()).hexdigest()[:12]
    if cache is None:
        images, failed = _build(paths, height, width, None, 1, desc)
        kept = sorted(set(range(len(paths))) - set(failed))
        return Cached(images[kept] if failed else images, kept, len(paths), time.perf_counter() - t0)
    images_file, kept_file = cache / f"{desc}-{key}.npy", cache / f"{desc}-{key}.kept.npy"
    if images_file.is_file() and kept_file.is_file():
        return Cached(load_array(images_file), np.load(kept_file).tolist(), 0, time.perf_counter() - t0)
    processes = processes or os.cpu_count() or 1
    try:
        with atomic_path(images_file) as tmp:
            raw = tmp.with_name(f"{tmp.stem}-raw.npy")  # the pool's output, before failures are dropped
            try:
                images, failed = _build(paths, height, width, raw, processes, desc)
                kept = sorted(set(range(len(paths))) - set(failed))
                if isinstance(images, np.memmap) and not failed:
                    del images
                    os.replace(raw, tmp)  # complete as it is
                else:  # built in memory, or rows to drop: write the kept rows
                    compact = _reserve(tmp, (len(kept), height, width))
                    for lo in range(0, len(kept), 4096):
                        compact[lo:lo + 4096] = images[kept[lo:lo + 4096]]
                    compact.flush()
                    del compact, images
            finally:
                raw.unlink(missing_ok=True)
            with atomic_path(kept_file) as ktmp:  # before the images: they mark the cache complete
                np.save(ktmp, np.array(kept, np.int64))
    except OSError as err:
        if err.errno in DISK_FULL:
            need = len(paths) * height * width / 1e6
            raise CacheError(f"no room to cache {len(paths)} preprocessed images "
                             f"(~{need:,.1f} MB) in {cache}: {os.strerror(err.errno)}; free space or "
                             f"pass another --out-dir, then --resume") from None
        raise
    seconds = time.perf_counter() - t0
    log.info("%s: preprocessed %d images in %.1f s (%.0f img/s, %d processes)", desc, len(paths), seconds,
             len(paths) / max(seconds, 1e-9), processes if len(paths) >= POOL_MIN else 1)
    return Cached(load_array(images_file), kept, len(paths), seconds)
