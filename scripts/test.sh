#!/usr/bin/env bash
# Install what the tests need (Debian's chromium for the browser tests; requirements-dev.txt into the
# project's .venv/), then run pytest there. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
if ! command -v chromium >/dev/null 2>&1; then
  as_root apt-get update -qq && as_root apt-get install -y -qq chromium >/dev/null
fi
use_venv requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
