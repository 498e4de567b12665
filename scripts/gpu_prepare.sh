#!/usr/bin/env bash
# Run HERE, before a training run on the lent GPU machine (see ../shared/GPU.md and README "Train on a GPU").
# Fills the ignored folder .gpu/ with what that machine lacks and `run` can carry (64 MiB in all):
# Keras and the two small packages of its own that the machine lacks (namex, optree), and rapidfuzz, as
# Python 3.12 wheels (everything else Keras needs is there), the labelled crops, the development mix,
# part of the unlabelled crops, the lexicon and the fonts. Then: run(command="bash scripts/gpu_train.sh", carry=[".gpu"]).
set -euo pipefail
cd "$(dirname "$0")/.."
unlabelled=${1:-6000}  # at most; fewer where the tracked files leave less room (below)
src=../shared/data/kaggle-names-sample
py=${PYTHON:-.venv/bin/python}  # the project's (scripts/venv.sh): Keras for its version, OpenCV for the mix
rm -rf .gpu && mkdir -p .gpu/wheels .gpu/data/validation_v2 .gpu/data/train_v2/train
python3 -m pip download -q --no-deps -d .gpu/wheels --python-version 3.12 --implementation cp --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_28_x86_64 \
  "keras==$("$py" -c 'from importlib.metadata import version; print(version("keras"))')" namex optree rapidfuzz
# the development mix (README "Honest selection"): the hand-read TRAIN_* crops + held-out-font drawings
# and photos as the test split, every other unlabelled crop in train_v2; links here, copies there
"$py" scripts/make_unseen.py --dev-mix .gpu/links --real-dir "$src" --seed 1601 -n 100
cp -L .gpu/links/*.csv .gpu/data/
cp -rL .gpu/links/validation_v2/validation .gpu/data/validation_v2/
mkdir -p .gpu/data/test_v2 && cp -rL .gpu/links/test_v2/test .gpu/data/test_v2/
cp ../shared/data/names_lexicon.tsv .gpu/
cp -r ../shared/fonts .gpu/fonts
# the unlabelled crops fill what is left of the 64 MiB that travels (tracked files + .gpu/, 1 MiB
# spare): a checkpoint committed for the next CPU chunk (checkpoints/) costs the GPU run some crops,
# never the carry
python3 - .gpu/links/train_v2/train .gpu/data/train_v2/train "$unlabelled" <<'PY'
import shutil, subprocess, sys
from pathlib import Path
src, dst, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
budget = 63 * 2**20  # the 64 MiB that travel, 1 MiB spare
travels = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.decode().split("\0")
room = budget - sum(Path(f).stat().st_size for f in travels if f and Path(f).is_file()) \
    - sum(f.stat().st_size for f in Path(".gpu").rglob("*") if f.is_file() and "links" not in f.parts)
copied = 0
for f in sorted(src.iterdir())[:n]:
    size = f.stat().st_size
    if size > room:
        break
    shutil.copy(f, dst / f.name)  # follows the link
    room -= size
    copied += 1
print(f"{copied} unlabelled crops ({n} asked for"
      + (")" if copied == n else "; the rest would not travel)")
      + f"; the working tree and .gpu/ come to {(budget - room) / 2**20:.1f} MiB of the 64 that travel")
PY
rm -rf .gpu/links
