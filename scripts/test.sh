#!/usr/bin/env bash
# Install everything the tests need (Python packages, Debian's chromium for the browser tests), then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
  fi
fi
python3 -m pip install -q -r requirements-dev.txt
export TF_CPP_MIN_LOG_LEVEL=2
python3 -m pytest "$@"
