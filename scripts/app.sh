#!/usr/bin/env bash
# Start the app on the bundled model and sample data, in the project's .venv/ (made and filled with
# requirements-app.txt on the first run: no TensorFlow). Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
use_venv requirements-app.txt
exec .venv/bin/python -m streamlit run app.py "$@"
