# Sourced ON the lent GPU machine by scripts/gpu_*.sh: the carried wheels (Keras and what the machine
# lacks), installed where they replace nothing, and unbuffered, sparse progress output for the log.
if ! python3 -c "import keras, rapidfuzz" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/hwr-site .gpu/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/hwr-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15
