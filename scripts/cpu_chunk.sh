#!/usr/bin/env bash
# One chunk of the larger design's training on the CPU (docs/experiments.md "Without a GPU"), for a session that is
# lent no GPU:
#   bash scripts/cpu_chunk.sh [MINUTES] [train.py options...]      # default 150 minutes
# 1. puts the run back in runs/wide21/ from checkpoints/wide21/ when runs/wide21/ holds none (a new
#    session's checkout has only what landed on main, so the checkpoint is committed there);
# 2. trains with --resume --stop-after MINUTES (the development mix runs/dev17 is built first if absent;
#    --stop-after 0: one epoch);
# 3. copies the newest checkpoint, best.keras, state.json, history.csv and the pseudo-labels (pseudoN.csv,
#    so a resumed stage trains on the labels it began with) into checkpoints/wide21/, whole or not at all,
#    for the session to commit.
# When the run has finished (runs/wide21/crnn.keras), score it as README "Train on a GPU" says.
# RUN, KEEP and DEV_MIX name other folders (the tests use them); extra arguments go to train.py and win.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-150}
shift $(( $# > 0 ? 1 : 0 ))
run=${RUN:-runs/wide21}
keep=${KEEP:-checkpoints/wide21}
dev=${DEV_MIX:-runs/dev17}
py=${PYTHON:-.venv/bin/python}
DESIGN=(--conv-filters 16,32,64,128 --dense-units 128 --rnn-units 128,128)
[ -d "$dev" ] || "$py" scripts/make_unseen.py --dev-mix "$dev" --seed 1601 -n 100
mkdir -p "$run"
if [ ! -f "$run/state.json" ] && [ -f "$keep/state.json" ]; then
    cp "$keep"/* "$run"/
    echo "put back $(ls "$keep" | grep -c '^ckpt-.*keras$') checkpoint(s) from $keep into $run"
fi
status=0
"$py" train.py --data-dir "$dev" --train-rows validation:1-1000 --dev-rows test --out-dir "$run" \
    --synthetic 120000 --canvas-fraction 0.25 --batch-size 256 --steps-per-epoch 300 --epochs 60 \
    --pseudo-epochs 10 --finetune-epochs 10 --patience 8 --lr-patience 3 --decoders greedy \
    "${DESIGN[@]}" --resume --stop-after "$minutes" "$@" 2>&1 | tee -a "$run.log" || status=$?
newest=$(ls "$run"/ckpt-[0-9][0-9][0-9][0-9].keras 2>/dev/null | sort | tail -1 || true)
if [ -n "$newest" ] && [ -f "$run/best.keras" ]; then
    rm -rf "$keep.tmp" && mkdir -p "$keep.tmp"
    cp "$newest" "${newest%.keras}.json" "$run/best.keras" "$run/state.json" "$run/history.csv" "$keep.tmp"/
    for labels in "$run"/pseudo[0-9]*.csv; do if [ -f "$labels" ]; then cp "$labels" "$keep.tmp"/; fi; done
    rm -rf "$keep.old"
    if [ -d "$keep" ]; then mv "$keep" "$keep.old"; fi
    mv "$keep.tmp" "$keep" && rm -rf "$keep.old"
    echo "kept $(basename "$newest") in $keep ($(du -sh "$keep" | cut -f1)): commit it for the next chunk"
fi
exit "$status"
