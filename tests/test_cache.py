"""Preprocessed-image caches: memory-mapped, built by a process pool, identical to preprocessing in place."""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

import numpy as np
import pytest

from hwr import config
from hwr.cache import POOL_MIN, CacheError, prepare, prepare_files
from hwr.data import DataError

SOURCE = config.BUNDLED_DATA / "validation_v2" / "validation"


def test_a_cache_is_memory_mapped_reused_and_equal_to_preprocessing_in_place(tmp_path):
    files = sorted(SOURCE.glob("*.jpg"))[:12]
    built = prepare_files(files, 32, 256, tmp_path, desc="t")
    assert built.prepared == 12 and built.kept == list(range(12))
    again = prepare_files(files, 32, 256, tmp_path, desc="t")
    assert again.prepared == 0 and isinstance(again.images, np.memmap) and again.images.dtype == np.uint8
    np.testing.assert_array_equal(again.images, prepare_files(files, 32, 256, None).images)
    np.testing.assert_array_equal(again.images[3], prepare(files[3], 32, 256))


def test_the_pool_builds_the_same_cache_and_drops_unreadable_files(tmp_path):
    files = sorted(SOURCE.glob("*.jpg"))[:POOL_MIN + 8]
    broken = tmp_path / "VALIDATION_9999.jpg"
    broken.write_bytes(b"not a jpeg")
    paths = [*files[:100], broken, *files[100:]]
    pooled = prepare_files(paths, 32, 256, tmp_path / "cache", desc="pool", processes=2)
    assert pooled.prepared == len(paths) and pooled.kept == [i for i in range(len(paths)) if i != 100]
    np.testing.assert_array_equal(pooled.images, prepare_files(files, 32, 256, None).images)
    assert not list((tmp_path / "cache").glob(".tmp-*"))


@contextlib.contextmanager
def disk_full_past(limit: int):
    """Files this process writes may not grow past ``limit`` bytes (EFBIG, as ENOSPC): a disk that fills."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_full_disk_is_one_line_and_leaves_no_half_cache(tmp_path):
    files = sorted(SOURCE.glob("*.jpg"))[:40]  # 40 × 32 × 256 bytes: 320 KiB
    with disk_full_past(64 * 1024), pytest.raises(CacheError) as err:
        prepare_files(files, 32, 256, tmp_path, desc="full")
    assert isinstance(err.value, DataError) and len(str(err.value).splitlines()) == 1
    assert "no room to cache 40 preprocessed images" in str(err.value) and str(tmp_path) in str(err.value)
    assert list(Path(tmp_path).iterdir()) == []


def test_a_disk_that_fills_while_caching_stops_train_py_in_one_line_and_the_run_resumes(tmp_path, capsys):
    import pandas as pd

    import train
    from test_crash import TINY

    out = tmp_path / "run"
    with disk_full_past(64 * 1024):
        assert train.main([*TINY, "--out-dir", str(out), "-q"]) == 2
    err = capsys.readouterr().err.split("\r")[-1].strip()  # after the progress bar
    assert err.startswith("train.py: no room to cache 16 preprocessed images") and len(err.splitlines()) == 1, err
    assert not list(out.rglob(".tmp-*")) and not list(out.rglob("*.npy"))
    assert train.main([*TINY, "--out-dir", str(out), "--resume", "-q"]) == 0  # room again: it goes on
    assert len(pd.read_csv(out / "history.csv")) == 4
