#!/usr/bin/env bash
# Install the app's packages and start it on the bundled model and sample data.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -r requirements.txt
export TF_CPP_MIN_LOG_LEVEL=2
exec python3 -m streamlit run app.py "$@"
