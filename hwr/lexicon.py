"""Stage: the name lexicon (``name<TAB>count``), used by synthesis and lexicon-aware decoding."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


class LexiconError(ValueError):
    """The lexicon file is missing or malformed."""


def load_lexicon(path: Path | str) -> dict[str, int]:
    """Read ``name<TAB>count`` (with a header row) into {NAME: count}, upper-cased, blanks dropped."""
    path = Path(path)
    if not path.is_file():
        raise LexiconError(f"lexicon file not found: {path}")
    try:
        df = pd.read_csv(path, sep="\t", dtype={"name": str}, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise LexiconError(f"cannot read lexicon {path}: {err}") from err
    if not {"name", "count"} <= set(df.columns):
        raise LexiconError(f"{path} needs the columns 'name' and 'count', found {list(df.columns)}")
    names = df["name"].str.strip().str.upper()
    counts = pd.to_numeric(df["count"], errors="coerce").fillna(1).astype(int)
    out: dict[str, int] = {}
    for name, count in zip(names, counts):
        if name:
            out[name] = out.get(name, 0) + int(count)
    return out
