"""Unseen-style test sets in the Kaggle layout: names drawn on the canvas and photographed on paper.

    python scripts/make_unseen.py                       # data/unseen/{canvas,photo}, 150 names each
    python scripts/make_unseen.py --dev-mix runs/dev17 --seed 1601 -n 100   # checkpoint selection
    python scripts/make_unseen.py --case title --out data/unseen/title   # the same names as "Marie"
    python -m hwr.evaluate --data-dir data/unseen/photo --split test --rows all --decoder lexicon

The names come from the lexicon and the hands from fonts the model is never trained on
(``config.HELDOUT_FONTS`` by default, or ``--font-dir`` with any other folder), so these sets measure
what a new user brings, not what the model has learnt. Two looks:

* ``canvas``: what the Draw page hands over — RGBA 880×220, transparent where nothing was drawn,
  the font's centre lines redrawn with a round pen of 3–14 px, anywhere on the canvas;
* ``photo``: a phone photo of a name written on paper — 1000–1400 px wide, paper texture, light
  falling off across the page, a soft shadow (a hand or the phone), black or blue ink, ±4° rotation,
  sometimes ruled lines, a page edge on a dark table or specks, blur, sensor noise and a JPEG.

The photo compositor here is its own code, apart from the training renderer in ``hwr.synth``, so the
photo set does not simply measure the training distribution with other fonts. Deterministic: one
generator per image from ``[seed, look, index]``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwr import config, synth  # noqa: E402
from hwr.data import file_number, image_dir, read_labels  # noqa: E402
from hwr.lexicon import load_lexicon  # noqa: E402
from hwr.synth.case import CASES, in_case  # noqa: E402

log = logging.getLogger("make_unseen")

LOOKS = ("canvas", "photo")
CANVAS_SIZE = (880, 220)  # width, height of the Draw page's canvas
#: 120 random ``TRAIN_*`` crops of the shared sample, read by eye (106 labelled; the 14 that could not
#: be read with certainty are listed without a name): the development set's real crops.
TRAIN_SIDE_LABELS = config.ROOT / "data" / "dev" / "train_side_labels.csv"


def canvas_image(text: str, font: str, rng: np.random.Generator) -> np.ndarray:
    """BGRA 880×220: the name's centre lines drawn with a round pen, transparent elsewhere."""
    width, height = CANVAS_SIZE
    lines = synth.centre_lines(text, font, rng, cap=rng.uniform(40, 130))
    pen = int(rng.integers(3, 15))
    margin = 6 + pen
    scale = min(1.0, (width - 2 * margin) / lines.shape[1], (height - 2 * margin) / lines.shape[0])
    if scale < 1.0:
        lines = cv2.resize(lines, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        lines = np.where(lines > 0, 255, 0).astype(np.uint8)
    h, w = lines.shape
    x = int(rng.uniform(margin, max(margin, width - margin - w)))
    y = int(rng.uniform(margin, max(margin, height - margin - h)))
    alpha = np.zeros((height, width), np.uint8)
    alpha[y:y + h, x:x + w] = lines
    alpha = cv2.dilate(alpha, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (pen, pen)))
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0)  # the canvas antialiases its strokes
    image = np.zeros((height, width, 4), np.uint8)  # the default stroke colour is black
    image[:, :, 3] = alpha
    return image


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Zero-mean noise smooth over ``shape / cells``: paper fibres, uneven light."""
    h, w = shape
    coarse = rng.normal(0, 1, (max(2, h * cells // max(h, w)), cells)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def photo_image(text: str, font: str, rng: np.random.Generator) -> bytes:
    """A phone photo (JPEG bytes) of ``text`` written in ``font`` on a sheet of paper."""
    width = int(rng.integers(1000, 1401))
    height = int(width * rng.uniform(0.55, 0.8))
    paper = np.array([rng.uniform(225, 250), rng.uniform(232, 252), rng.uniform(238, 255)], np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[:] = paper
    texture = 3.0 * _smooth_noise(rng, (height, width), 200) + 2.0 * _smooth_noise(rng, (height, width), 30)
    img += texture[:, :, None]

    if rng.random() < 0.3:  # ruled paper: faint blue lines
        gap = int(rng.uniform(0.06, 0.1) * height)
        colour = np.array([215, 180, 150], np.float32)
        for ly in range(int(rng.uniform(0.1, 1.0) * gap), height, gap):
            img[ly:ly + 2] = 0.5 * img[ly:ly + 2] + 0.5 * colour

    ink_layer = synth.pen_ink(text, font, rng, cap=100.0)
    cap = rng.uniform(0.08, 0.2) * height
    factor = min(cap / 100.0, rng.uniform(0.45, 0.85) * width / ink_layer.shape[1])
    ink = cv2.resize(ink_layer, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    ink = ink[: height - 20, : width - 20]
    h, w = ink.shape
    x = int(rng.uniform(0.05 * width, max(0.05 * width + 1, width - w - 0.05 * width)))
    y = int(rng.uniform(0.15 * height, max(0.15 * height + 1, height - h - 0.15 * height)))
    colour = (np.array([40, 35, 30], np.float32) if rng.random() < 0.5
              else np.array([rng.uniform(120, 170), rng.uniform(40, 70), rng.uniform(10, 40)], np.float32))
    alpha = ink.astype(np.float32)[:, :, None] / 255.0 * rng.uniform(0.8, 1.0)
    region = img[y:y + h, x:x + w]
    region += alpha * (colour - region)

    for _ in range(int(rng.integers(0, 6)) if rng.random() < 0.4 else 0):  # specks and dust
        cx, cy = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        cv2.circle(img, (cx, cy), int(rng.integers(1, 4)), tuple(float(v) for v in paper * 0.5), -1)

    if rng.random() < 0.25:  # the page edge, with the table beyond it
        table = np.array([rng.uniform(30, 90), rng.uniform(40, 100), rng.uniform(50, 120)], np.float32)
        side = int(rng.integers(4))
        band = int(rng.uniform(0.03, 0.12) * (width if side < 2 else height))
        if side == 0:
            img[:, :band] = table
        elif side == 1:
            img[:, -band:] = table
        elif side == 2:
            img[:band] = table
        else:
            img[-band:] = table

    angle = rng.uniform(-4, 4)
    rot = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    img = cv2.warpAffine(img, rot, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    # Light: brighter towards a random point, darker away from it.
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    lx, ly = rng.uniform(-0.3, 1.3) * width, rng.uniform(-0.3, 1.3) * height
    dist = np.sqrt((xs - lx) ** 2 + (ys - ly) ** 2) / math.hypot(width, height)
    light = 1.0 - rng.uniform(0.2, 0.55) * dist + 0.03 * _smooth_noise(rng, (height, width), 6)
    # Shadow: a soft-edged polygon coming in from one side (a hand, the phone).
    shadow = np.zeros((height, width), np.float32)
    edge = int(rng.integers(4))
    depth = rng.uniform(0.2, 0.55)
    corners = {
        0: [(0, 0), (depth * width * rng.uniform(0.5, 1.5), 0), (depth * width, height), (0, height)],
        1: [(width, 0), (width * (1 - depth), 0), (width * (1 - depth * rng.uniform(0.5, 1.5)), height), (width, height)],
        2: [(0, 0), (width, 0), (width, depth * height * rng.uniform(0.5, 1.5)), (0, depth * height)],
        3: [(0, height), (width, height), (width, height * (1 - depth)), (0, height * (1 - depth * rng.uniform(0.5, 1.5)))],
    }[edge]
    cv2.fillPoly(shadow, [np.array(corners, np.int32)], 1.0)
    blur = rng.uniform(0.03, 0.1) * width
    shadow = cv2.GaussianBlur(shadow, (0, 0), blur)
    light *= 1.0 - rng.uniform(0.25, 0.6) * shadow
    img *= (light * rng.uniform(0.75, 1.05))[:, :, None]

    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
    img += rng.normal(0, rng.uniform(1, 5), img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 92))])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return buf.tobytes()


def write_look(images: Path, look: str, n: int, fonts: list[Path], names: list[str], seed: int,
               first: int = 1, case: str = "capitals") -> list[tuple[str, str, str]]:
    """``n`` images of ``look`` into ``images`` as TEST_{first:04d}...; their (file, name, font) rows.

    ``case`` is how each name is written (``title``: "Marie"); its label stays in capitals. The
    names, fonts, pens and places are those of the capitals for the same seed.
    """
    images.mkdir(parents=True, exist_ok=True)
    suffix = ".png" if look == "canvas" else ".jpg"
    rows = []
    for i in range(n):
        rng = np.random.default_rng([seed, LOOKS.index(look), i])
        text = names[int(rng.integers(len(names)))]
        font = str(fonts[i % len(fonts)])
        name = f"TEST_{first + i:04d}{suffix}"
        hand = in_case(text, case, font)
        if look == "canvas":
            cv2.imwrite(str(images / name), canvas_image(hand, font, rng))
        else:
            (images / name).write_bytes(photo_image(hand, font, rng))
        rows.append((name, text, Path(font).name))
    return rows


def write_labels(out: Path, rows: list[tuple[str, str, str]]) -> None:
    """The Kaggle test CSV (FILENAME,IDENTITY) and, beside it, which font wrote each image."""
    with (out / "written_name_test_v2.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("FILENAME", "IDENTITY")] + [r[:2] for r in rows])
    with (out / "fonts.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("FILENAME", "FONT")] + [(r[0], r[2]) for r in rows])


def make_dev_mix(out: Path, real_dir: Path, real_dev: Path | tuple[int, int], n: int,
                 fonts: list[Path], names: list[str], seed: int) -> None:
    """A development folder for ``train.py --data-dir out --dev-rows test``: checkpoints chosen on
    real crops *and* on unseen hands in both new looks, never on the evaluation rows.

    Its ``test`` split holds the real development crops (copied), then ``n`` canvas drawings and ``n``
    photos. ``real_dev`` is either a labels file of ``TRAIN_*`` crops read by eye (``TRAIN_SIDE_LABELS``:
    crops no model of ours has trained on; ``train_v2/train`` then links every other unlabelled crop,
    so these are never pseudo-labelled either) or a range of ``VALIDATION_*`` rows. The validation
    split is linked from ``real_dir``.
    """
    out.mkdir(parents=True, exist_ok=True)
    linked = ("written_name_validation_v2.csv", "validation_v2")
    for entry in linked if isinstance(real_dev, Path) else (*linked, "train_v2"):
        link = out / entry
        if not link.exists():
            link.symlink_to((real_dir / entry).resolve())
    images = out / "test_v2" / "test"
    images.mkdir(parents=True, exist_ok=True)
    real: list[tuple[Path, str]] = []  # (crop, its name)
    if isinstance(real_dev, Path):
        labels = pd.read_csv(real_dev, dtype=str, keep_default_na=False)
        train_images = image_dir(real_dir, "train")
        unlabelled = out / "train_v2" / "train"
        unlabelled.mkdir(parents=True, exist_ok=True)
        taken = set(labels["FILENAME"])  # labelled or not: none of them stays an unlabelled crop
        for path in sorted(train_images.glob("*.jpg")):
            link = unlabelled / path.name
            if path.name not in taken and not link.exists():
                link.symlink_to(path.resolve())
        real = [(train_images / f, text) for f, text in zip(labels["FILENAME"], labels["IDENTITY"]) if text]
    else:
        validation = read_labels(real_dir, "validation")
        real = [(image_dir(real_dir, "validation") / f, text)
                for f, text in zip(validation["FILENAME"], validation["IDENTITY"])
                if real_dev[0] <= file_number(f) <= real_dev[1]]
    rows = []
    for crop, text in real:
        name = f"TEST_{len(rows) + 1:04d}.jpg"
        shutil.copyfile(crop, images / name)
        rows.append((name, text, "real:" + crop.name))
    for look in LOOKS:
        rows += write_look(images, look, n, fonts, names, seed, first=len(rows) + 1)
    write_labels(out, rows)
    log.info("development mix: %d images in %s", len(rows), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=config.ROOT / "data" / "unseen")
    parser.add_argument("--looks", default=",".join(LOOKS))
    parser.add_argument("-n", type=int, default=150, help="images per look (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--font-dir", type=Path, default=None,
                        help="fonts to write with (default: the held-out shared fonts)")
    parser.add_argument("--lexicon", type=Path, default=config.default_lexicon())
    parser.add_argument("--case", choices=[c for c in CASES if c != "marked"], default="capitals",
                        help="how the names are written, e.g. title: Marie, labelled MARIE (default: "
                             "%(default)s; a font without lower case writes capitals)")
    parser.add_argument("--dev-mix", type=Path, default=None, metavar="DIR",
                        help="instead: build a development folder in DIR (real crops, see --real-dev, "
                             "+ -n canvas + -n photos) for train.py's checkpoint selection; use another "
                             "--seed than the reported sets")
    parser.add_argument("--real-dir", type=Path, default=config.SHARED_DATA,
                        help="the real data for --dev-mix (default: %(default)s)")
    parser.add_argument("--real-dev", default=str(TRAIN_SIDE_LABELS),
                        help="the real crops of --dev-mix: a labels file of TRAIN_* crops read by eye, "
                             "kept out of the unlabelled crops, or FIRST-LAST VALIDATION_* rows (e.g. "
                             "901-1000) (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        fonts = (synth.usable_fonts(args.font_dir, heldout=False) if args.font_dir
                 else synth.usable_fonts(config.SHARED_FONTS, heldout=True))
        looks = [look.strip() for look in args.looks.split(",")]
        if unknown := set(looks) - set(LOOKS):
            raise ValueError(f"unknown look(s) {sorted(unknown)}; expected {LOOKS}")
        if not fonts:
            raise ValueError("no usable font to write with")
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    lexicon = load_lexicon(args.lexicon)
    # common names, as people type their own: the 3,000 most frequent, all encodable
    names = [name for name, _ in sorted(lexicon.items(), key=lambda kv: -kv[1])[:3000]]
    if args.dev_mix:
        first, dash, last = args.real_dev.partition("-")
        real_dev = (int(first), int(last)) if dash and first.isdigit() and last.isdigit() else Path(args.real_dev)
        if isinstance(real_dev, Path) and not real_dev.is_file():
            print(f"error: --real-dev {args.real_dev}: no such labels file, and not FIRST-LAST", file=sys.stderr)
            return 1
        make_dev_mix(args.dev_mix, args.real_dir, real_dev, args.n, fonts, names, args.seed)
        return 0
    for look in looks:
        out = args.out / look
        write_labels(out, write_look(out / "test_v2" / "test", look, args.n, fonts, names, args.seed,
                                     case=args.case))
        log.info("%s: %d images in %s", look, args.n, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
