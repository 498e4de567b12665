"""Stage: files on disk. Every file a run writes appears whole or not at all.

A process killed mid-write (SIGKILL, a full disk, a lost node) must never leave a half-written
checkpoint, state or cache that the next run trips over. Each file is written to a temporary name in
the same folder (same file system, so the rename is atomic), flushed to disk, then ``os.replace``-d
over the target; on any error the temporary file is removed. Temporary names start with ``.tmp-``
and keep the target's suffix (Keras only saves to names ending in ``.keras``).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"


def _fsync(path: Path) -> None:
    """Flush a written file to the device, so a rename never points at data still in memory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; renamed over ``target`` when the block ends well."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}-{target.name}")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: Path | str, text: str) -> Path:
    """``Path.write_text``, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)


def write_json(target: Path | str, data: object) -> Path:
    """Pretty JSON, atomically (``default=str`` so paths and numpy numbers need no conversion)."""
    return write_text(target, json.dumps(data, indent=2, default=str))


def remove_leftovers(folder: Path | str) -> list[Path]:
    """Delete the temporary files a killed process left in ``folder`` (not recursive); returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    left = sorted(folder.glob(f"{TMP_PREFIX}*"))
    for path in left:
        path.unlink(missing_ok=True)
    return left
