#!/usr/bin/env bash
# Run ON the lent GPU machine, after scripts/gpu_prepare.sh here:
#   run(command="bash scripts/gpu_backend_check.sh torch", carry=[".gpu"], timeout_s=200)
# A short train.py run under BACKEND (default torch) on the GPU, the saved model's outputs on fixed
# inputs (outputs.npy: load the model here under TensorFlow and compare), then the speed benchmark.
# Everything lands in $OUT as it is made, so a run stopped at its limit still brings back the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
backend=${1:-torch}
out=${OUT:-/tmp/hwr-gpu-out}
run=/tmp/hwr-$backend-run
mkdir -p "$out"
log="$out/$backend.log"
source scripts/gpu_env.sh
export KERAS_BACKEND=$backend
timeout -k 5 110 python3 train.py --data-dir .gpu/data --lexicon .gpu/names_lexicon.tsv --fonts .gpu/fonts \
  --out-dir "$run" --synthetic 5000 --max-unlabelled 500 --batch-size 256 --steps-per-epoch 100 \
  --epochs 20 --pseudo-epochs 2 --finetune-epochs 2 --decoders greedy --time-limit 1.0 2>&1 | tee "$log"
cp "$run/crnn.keras" "$out/$backend-crnn.keras" && cp "$run/crnn.json" "$out/$backend-crnn.json"
python3 - "$run/crnn.keras" "$out/outputs.npy" <<'PY' 2>&1 | tee -a "$log"
import sys, numpy as np, keras
from hwr.recognizer import load_recognizer
model = load_recognizer(sys.argv[1]).model
x = np.random.default_rng(0).random((8, 32, 256, 1), dtype=np.float32)
np.save(sys.argv[2], keras.ops.convert_to_numpy(model.predict_on_batch(x)))
print(keras.backend.backend(), "outputs saved")
PY
timeout -k 5 60 python3 -m hwr.bench --batch-size 512 --train-steps 20 --warmup-steps 3 --images 20 \
  --loads 1 --repeats 2 --json "$out/bench-gpu-$backend.json" 2>&1 | grep -v "^WARNING" | tee -a "$log"
ls -la "$out"
