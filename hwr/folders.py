"""Stage: the data folders a served app may read, and messages that name no server path.

An app put online must not let a visitor read any folder of the server, nor learn which paths
exist. So the Errors page offers only folders the operator lists, by name: the bundled sample
always, plus ``HWR_DATA_DIRS`` (``name=path`` pairs separated by ``os.pathsep``) and a
``[data_dirs]`` table in Streamlit's secrets. Visitors pick a name; a name not on the list maps to
nothing, so a typed or forged path is never opened. Messages shown to visitors go through
``hide_paths``, which writes a listed folder as its name and cuts any other absolute path to its
file name. No Streamlit here: the app's layer hands in its secrets.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from hwr import config

log = logging.getLogger(__name__)

#: Environment variable listing the folders visitors may browse: ``name=path`` pairs, ``os.pathsep``-separated.
FOLDERS_ENV = "HWR_DATA_DIRS"
#: The name the bundled sample is always listed under.
SAMPLE_NAME = "sample"

# an absolute POSIX path's directories ("/srv/data/x/"): what hide_paths cuts from a message
_DIRECTORIES = re.compile(r"(?<![\w.~:/-])/(?:[^\s/'\"`]+/)+")


class FolderError(ValueError):
    """The operator's list of folders is malformed (told to the operator, at start-up)."""


def parse_folders(spec: str) -> dict[str, Path]:
    """``"kaggle=/data/kaggle:dev=/data/dev"`` → {name: path}; raises FolderError on a bad entry."""
    found: dict[str, Path] = {}
    for entry in filter(None, (e.strip() for e in spec.split(os.pathsep))):
        name, sep, path = entry.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise FolderError(f"{FOLDERS_ENV} entries are name=path, separated by {os.pathsep!r}; "
                              f"got {entry!r}")
        found[name.strip()] = Path(path.strip()).expanduser()
    return found


def allowed_folders(environ: Mapping[str, str] = os.environ,
                    secrets: Mapping[str, object] | None = None) -> dict[str, Path]:
    """Every folder visitors may choose, by name: the bundled sample first, then env, then secrets.

    A later source overrides an earlier one's name, except that the sample's name stays the sample.
    """
    folders = parse_folders(environ.get(FOLDERS_ENV, ""))
    for name, path in (secrets or {}).items():
        folders[str(name)] = Path(str(path)).expanduser()
    folders.pop(SAMPLE_NAME, None)
    return {SAMPLE_NAME: config.BUNDLED_DATA, **folders}


def hide_paths(text: str, names: Mapping[Path, str] | None = None) -> str:
    """A message fit for a visitor: each listed folder written as its name, other directories cut.

    ``names`` maps folders to what to call them (``""`` drops the folder, leaving what is inside
    it); every other absolute path keeps only its last part, so no server path is revealed.
    """
    for folder, name in sorted((names or {}).items(), key=lambda fn: -len(str(fn[0]))):
        for form in {str(folder), str(Path(folder).resolve())}:
            text = text.replace(form + os.sep, f"{name}{os.sep}" if name else "")
            text = text.replace(form, name or ".")
    return _DIRECTORIES.sub("", text)


def hide_paths_in(value: object) -> object:
    """``hide_paths`` on every string of a JSON-like value (a model's metadata shown on a page)."""
    if isinstance(value, str):
        return hide_paths(value)
    if isinstance(value, Mapping):
        return {k: hide_paths_in(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [hide_paths_in(v) for v in value]
    return value
