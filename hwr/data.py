"""Stage: files → labelled samples. Reads the Kaggle "Handwriting Recognition" layout from any root.

    ROOT/written_name_{train,validation,test}_v2.csv   (FILENAME,IDENTITY)
    ROOT/{train,validation,test}_v2/{train,validation,test}/FILENAME

Labels are cleaned as the field does (blank, UNREADABLE and EMPTY dropped, upper-cased, labels the
alphabet cannot encode dropped), and every rule reports how many rows it dropped. A *selection*
such as ``validation:1001-1500`` picks rows by the number in the file name, which is how the shared
sample is split (VALIDATION_0001–0900 to train, 0901–1000 to choose checkpoints and settings,
1001–1500 to report).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hwr import config
from hwr.alphabet import Alphabet

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
#: Labels the data set uses for "no name here".
NO_NAME = {"UNREADABLE", "EMPTY"}


class DataError(ValueError):
    """The data folder is not in the Kaggle layout, or a file in it is missing or broken."""


@dataclass(frozen=True)
class Sample:
    """One image and its text: real (a path) or synthetic/in-memory (an array)."""

    image: Path | object
    text: str


@dataclass
class CleaningReport:
    """How many rows each cleaning rule dropped, so nothing disappears silently."""

    split: str
    rows: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    kept: int = 0

    def drop(self, rule: str, count: int) -> None:
        self.dropped[rule] = self.dropped.get(rule, 0) + int(count)

    def summary(self) -> str:
        rules = ", ".join(f"{k}: {v}" for k, v in self.dropped.items() if v) or "none"
        return f"{self.split}: {self.rows} rows, kept {self.kept}; dropped {rules}"


def csv_path(root: Path, split: str) -> Path:
    return Path(root) / f"written_name_{split}_v2.csv"


def image_dir(root: Path, split: str) -> Path:
    return Path(root) / f"{split}_v2" / split


def file_number(filename: str) -> int:
    """VALIDATION_0042.jpg → 42 (−1 when the name holds no number)."""
    match = re.search(r"(\d+)(?=\.\w+$)", filename)
    return int(match.group(1)) if match else -1


def parse_selection(spec: str) -> tuple[str, tuple[int, int] | None]:
    """'validation:1001-1500' → ('validation', (1001, 1500)); 'test' → ('test', None)."""
    match = re.fullmatch(r"(\w+)(?::(\d+)-(\d+))?", spec.strip())
    if not match or match.group(1) not in SPLITS:
        raise DataError(f"bad selection {spec!r}: use SPLIT or SPLIT:FIRST-LAST, SPLIT in {SPLITS}")
    split, lo, hi = match.groups()
    return split, (int(lo), int(hi)) if lo else None


def read_labels(root: Path | str, split: str) -> pd.DataFrame:
    """The raw CSV of a split as strings; raises DataError naming what is missing."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    path = csv_path(root, split)
    if not path.is_file():
        raise DataError(f"{split} labels not found: {path} (expected the Kaggle layout)")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    missing = {"FILENAME", "IDENTITY"} - set(df.columns)
    if missing:
        raise DataError(f"{path} lacks the column(s) {sorted(missing)}; found {list(df.columns)}")
    return df[["FILENAME", "IDENTITY"]]


def load_split(root: Path | str, selection: str, alphabet: Alphabet = Alphabet(),
               max_len: int = config.MAX_LABEL_LEN) -> tuple[list[Sample], CleaningReport]:
    """Cleaned samples of a selection ('validation', 'validation:1-1000', …) with the drop counts."""
    root = Path(root)
    split, rows = parse_selection(selection)
    df = read_labels(root, split)
    folder = image_dir(root, split)
    if not folder.is_dir():
        raise DataError(f"{split} image folder not found: {folder}")
    if rows:
        numbers = df["FILENAME"].map(file_number)
        df = df[(numbers >= rows[0]) & (numbers <= rows[1])]
    report = CleaningReport(selection, rows=len(df))

    text = df["IDENTITY"].str.strip()
    keep = text != ""
    report.drop("blank label", (~keep).sum())
    text = text.str.upper()
    no_name = text.isin(NO_NAME)
    report.drop("UNREADABLE/EMPTY", (keep & no_name).sum())
    keep &= ~no_name
    encodable = text.map(lambda t: not alphabet.unknown(t)).astype(bool)
    report.drop("characters outside the alphabet", (keep & ~encodable).sum())
    keep &= encodable
    fits = text.str.len() <= max_len
    report.drop(f"longer than {max_len}", (keep & ~fits).sum())
    keep &= fits
    present = set(os.listdir(folder))
    exists = df["FILENAME"].isin(present)
    absent = df["FILENAME"][keep & ~exists]
    report.drop("image file missing", len(absent))
    for name in absent[:5]:
        log.warning("image listed in %s but missing: %s", csv_path(root, split).name, folder / name)
    keep &= exists

    samples = [Sample(folder / f, t) for f, t in zip(df["FILENAME"][keep], text[keep])]
    report.kept = len(samples)
    log.info(report.summary())
    return samples, report


def unlabelled_images(root: Path | str, split: str = "train", limit: int | None = None) -> list[Path]:
    """Image files of a split's folder that its CSV does not label (all of them when it has no CSV)."""
    folder = image_dir(Path(root), split)
    if not folder.is_dir():
        raise DataError(f"{split} image folder not found: {folder}")
    labelled: set[str] = set()
    if csv_path(Path(root), split).is_file():
        labelled = set(read_labels(root, split)["FILENAME"])
    files = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith((".jpg", ".jpeg", ".png")) and f not in labelled)
    return [folder / f for f in files[:limit]]


#: share of the full download's training split (the highest file numbers) kept aside for development
DEV_SHARE = 0.02


def _train_dev_cut(root: Path) -> tuple[int, int]:
    """(last training number, last number) of the full ``train`` split: the last DEV_SHARE is development."""
    numbers = read_labels(root, "train")["FILENAME"].map(file_number)
    last = int(numbers.max()) if len(numbers) else 0
    return last - max(1, round(DEV_SHARE * last)), last


def default_selections(root: Path | str) -> tuple[str, str]:
    """(train, evaluation) selections: Kaggle's own split when it is all there, else the sample's.

    Training leaves out the development rows (``development_selection``), so that checkpoints and
    settings can be chosen on data that is neither trained on nor reported.
    """
    if csv_path(Path(root), "train").is_file():
        cut, _ = _train_dev_cut(Path(root))
        return f"train:1-{cut}", "validation"
    lo, hi = config.SAMPLE_TRAIN_RANGE
    elo, ehi = config.SAMPLE_EVAL_RANGE
    return f"validation:{lo}-{hi}", f"validation:{elo}-{ehi}"


def development_selection(root: Path | str) -> str:
    """The development selection: the last 2% of ``train`` on the full download, else the sample's rows."""
    if csv_path(Path(root), "train").is_file():
        cut, last = _train_dev_cut(Path(root))
        return f"train:{cut + 1}-{last}"
    lo, hi = config.SAMPLE_DEV_RANGE
    return f"validation:{lo}-{hi}"
