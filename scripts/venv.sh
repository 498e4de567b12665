# Sourced by app.sh and test.sh: the project's own virtual environment in .venv/, created with the
# first python3 on the PATH (Debian/Ubuntu's, pyenv's or conda's) and filled from a requirements
# file; packages are installed again only when that file (or one it includes with -r) changed.
# Never installs into the interpreter itself: Debian 12 and Ubuntu 24.04 refuse that (PEP 668), and
# elsewhere it would mix this project's pins into the user's own packages.

# as_root CMD...: run a system command as root (directly, or through sudo).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# requirements_digest FILE: one hash over FILE and every file it includes with -r, recursively.
requirements_digest() {
  local file=$1 dir included
  dir=$(dirname "$file")
  cat "$file"
  for included in $(sed -n 's/^[[:space:]]*-r[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$file"); do
    requirements_digest "$dir/$included"
  done
}

# make_venv: .venv/ with a working python and pip, made by python3 -m venv. Where Debian/Ubuntu's
# python3 lacks the venv module (package python3-venv), it is installed, as test.sh installs chromium.
make_venv() {
  local python=${PYTHON:-python3}
  if .venv/bin/python -m pip --version >/dev/null 2>&1; then
    return
  fi
  rm -rf .venv  # a half-made one (no pip) would fail again the same way
  if ! "$python" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    if command -v apt-get >/dev/null 2>&1; then
      echo "installing python3-venv (Debian/Ubuntu ship python3 without it)" >&2
      as_root apt-get update -qq
      as_root apt-get install -y -qq "python$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv" \
        >/dev/null 2>&1 || as_root apt-get install -y -qq python3-venv >/dev/null
    fi
    "$python" -m venv .venv || { rm -rf .venv; echo "cannot create .venv with $python -m venv" >&2; return 1; }
  fi
}

# use_venv REQUIREMENTS: make .venv/ if needed and install REQUIREMENTS into it unless they are in.
use_venv() {
  local requirements=$1 stamp digest
  make_venv
  stamp=".venv/.installed-$(basename "$requirements" .txt)"
  digest=$(requirements_digest "$requirements" | .venv/bin/python -c \
    'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    .venv/bin/python -m pip install -q -r "$requirements"
    echo "$digest" > "$stamp"
  fi
}
