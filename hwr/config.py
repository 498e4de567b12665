"""Stage: defaults. Every default of the library, train.py, evaluation and the app lives here."""

from __future__ import annotations

from pathlib import Path

#: The project root: paths are found from the package, never from the working directory.
ROOT = Path(__file__).resolve().parent.parent
#: The recovered data beside the project (absent in a fresh clone elsewhere).
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data" / "kaggle-names-sample"
SHARED_LEXICON = SHARED / "data" / "names_lexicon.tsv"
SHARED_FONTS = SHARED / "fonts"
#: Training fonts the repo bundles: joined-up capitals, which no shared font has
#: (scripts/fetch_script_fonts.sh says where they come from; data/README.md).
SCRIPT_FONTS = ROOT / "data" / "fonts"

#: What the repo bundles so the app and tests run from a fresh clone.
BUNDLED_DATA = ROOT / "data" / "sample"
BUNDLED_LEXICON = ROOT / "data" / "names_lexicon.tsv"
DEFAULT_MODEL = ROOT / "models" / "crnn.keras"

#: Handwriting fonts (file stems, whole families) never used to render training data: rendered in the
#: canvas and photo looks they are the development set for unseen hands (issue 16), so synthesis is
#: tuned on handwriting the model has not learnt, as users' own hands will be.
HELDOUT_FONTS = frozenset({
    "SteveHand", "Ecolier-court", "Ecolier-lignes-court", "dkg", "dkgBd", "dkgBI", "dkgIt",
    "caveat-latin-400-normal", "kalam-latin-400-normal", "indie-flower-latin-400-normal",
    "Humor-Sans", "TomsonTalks",
})

#: Model input: height × width in pixels (grayscale, 1.0 = paper, 0.0 = ink).
IMG_HEIGHT = 32
IMG_WIDTH = 256
#: Longest label the training pipeline pads to (Kaggle names are ≤ 34 characters).
MAX_LABEL_LEN = 34

#: On the shared sample: VALIDATION_0001–0900 train, 0901–1000 select (checkpoints, early stopping,
#: thresholds: the development set), 1001–1500 report (../shared/README.md; issue 16).
SAMPLE_TRAIN_RANGE = (1, 900)
SAMPLE_DEV_RANGE = (901, 1000)
SAMPLE_EVAL_RANGE = (1001, 1500)

#: Hard limit on decoded image size (pixels) so a 10,000 × 10,000 upload cannot exhaust memory.
MAX_IMAGE_PIXELS = 120_000_000
#: Larger images are shrunk to this many pixels on the long side before any other work: a name
#: 1.5% of a photographed page's long side is still 30 pixels tall, nearly the model's 32.
MAX_SIDE = 2000


def default_data_dir() -> Path:
    """The shared sample when present, else the small sample bundled in the repo."""
    return SHARED_DATA if SHARED_DATA.is_dir() else BUNDLED_DATA


def default_fonts() -> tuple[Path, ...]:
    """The training font folders: the shared fonts when present, else the bundled ones.

    The bundled joined-up capitals are not added to the shared fonts by default: a fine-tune with
    them read the development set no better (README "Unseen images"); ``--fonts`` adds them.
    """
    return (SHARED_FONTS,) if SHARED_FONTS.is_dir() else (SCRIPT_FONTS,)


def default_lexicon() -> Path:
    """The shared lexicon when present, else the bundled copy."""
    return SHARED_LEXICON if SHARED_LEXICON.is_file() else BUNDLED_LEXICON
