#!/usr/bin/env bash
# Run ON the lent GPU machine (no TensorFlow there; see ../shared/GPU.md), after scripts/gpu_prepare.sh
# here: run(command="bash scripts/gpu_train.sh", carry=[".gpu"], timeout_s=600).
# Everything fits in GPU_BUDGET_S seconds (default 565): the speed benchmark of the default model
# beside the classic CRNN (at most GPU_BENCH_S, default 110; 0 skips it), then train.py under JAX with
# --time-limit set to what is left, then the model, its metadata, report, curves, history, predictions,
# the benchmark JSON and the log in $OUT. The final evaluation scores greedy decoding only (JAX's beam
# search takes minutes); score beam and lexicon afterwards under TensorFlow:
#   python -m hwr.evaluate --model M --split validation --decoder beam --record   (then lexicon)
# It trains the larger design hwr.spec.WIDE from scratch (DESIGN below; tests/test_gpu_scripts.py holds
# the two equal). Extra arguments go to train.py after it and win (e.g. --synthetic 20000 for a quick
# try, or --rnn-units 96,96 --conv-filters 16,32,64,96 --dense-units 96 for the default design).
set -uo pipefail
cd "$(dirname "$0")/.."
budget=${GPU_BUDGET_S:-565}
bench_s=${GPU_BENCH_S:-110}
out=${OUT:-/tmp/hwr-gpu-out}
run=${RUN_DIR:-/tmp/hwr-gpu-run}
mkdir -p "$out"
log="$out/train.log"
DESIGN=(--conv-filters 16,32,64,128 --dense-units 128 --rnn-units 128,128)
source scripts/gpu_env.sh
export KERAS_BACKEND=jax
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc; } 2>&1 | tee "$log"

# 1. speed: the benchmark of README "Speed", on this GPU: the trained model, the design trained now
if [ "$bench_s" -gt 0 ]; then
  timeout -k 5 "$bench_s" python3 -m hwr.bench --batch-size 512 --train-steps 20 --warmup-steps 3 \
    --images 20 --loads 1 --repeats 2 --designs ours,wide,classic --json "$out/bench-gpu.json" 2>&1 | grep -v "^WARNING\|^I0000" | tee -a "$log"
fi

# 2. training in what is left, keeping 60 s for the final evaluation, the report and the copy
left=$(( budget - SECONDS - 60 ))
echo "training with --time-limit $left s" | tee -a "$log"
# all 1,000 labelled rows train; the development mix of gpu_prepare.sh (test split) selects
timeout -k 10 $(( left + 45 )) python3 train.py --data-dir .gpu/data --lexicon .gpu/names_lexicon.tsv \
  --train-rows validation:1-1000 --dev-rows test \
  --fonts .gpu/fonts --out-dir "$run" --synthetic 120000 --canvas-fraction 0.25 --batch-size 256 --steps-per-epoch 300 \
  --epochs 60 --pseudo-epochs 10 --finetune-epochs 10 --patience 8 --lr-patience 3 --processes "$(nproc)" \
  --decoders greedy --time-limit "$(python3 -c "print(round($left / 60, 2))")" "${DESIGN[@]}" "$@" 2>&1 \
  | tee -a "$log"

# 3. what comes back (at most 8 files): the finished model, or the best checkpoint if the run broke off
if [ -f "$run/crnn.keras" ]; then
  cp "$run"/crnn.keras "$run"/crnn.json "$run"/crnn_report.md "$run"/crnn_history.csv \
     "$run"/crnn_predictions.csv "$out/"
  cp "$run"/crnn_curves.png "$out/" 2>/dev/null
else
  cp "$run"/best.keras "$run"/history.csv "$run"/state.json "$out/" 2>/dev/null
fi
ls -la "$out"
