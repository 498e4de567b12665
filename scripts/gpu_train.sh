#!/usr/bin/env bash
# Run ON the lent GPU machine (no TensorFlow there): installs the carried wheels, trains under JAX,
# and leaves the model, its metadata, report, curves, history and predictions in $OUT.
# Extra arguments go to train.py (e.g. --synthetic 50000 for a shorter run).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import keras, rapidfuzz, tqdm" 2>/dev/null || \
  python3 -m pip install -q --no-index --find-links .gpu/wheels keras rapidfuzz tqdm
run=${RUN_DIR:-/tmp/hwr-gpu-run}
export KERAS_BACKEND=jax
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 train.py --data-dir .gpu/data --lexicon .gpu/names_lexicon.tsv --fonts .gpu/fonts \
  --out-dir "$run" --synthetic 150000 --batch-size 256 --steps-per-epoch 400 \
  --epochs 20 --pseudo-epochs 4 --finetune-epochs 4 --patience 6 --processes "$(nproc)" "$@"
mkdir -p "${OUT:-/tmp/hwr-gpu-out}"
cp "$run"/crnn* "${OUT:-/tmp/hwr-gpu-out}/"
