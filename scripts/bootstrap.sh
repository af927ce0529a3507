#!/usr/bin/env bash
# Create or reuse .venv with the exact pins of requirements/constraints.txt.
#
# Idempotent: a stamp (hash of the requirement files and pyproject.toml) makes a
# second call with the environment in place return in well under a second.
# Called by `make test`, `make demo` and .ci/run; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
STAMP="$VENV/.silava-stamp"
want=$(cat requirements/constraints.txt requirements/lava.txt requirements/landscape.txt pyproject.toml | sha256sum | cut -d' ' -f1)

ensure_espeak() {
  # The offline spoken-digit task synthesises speech with espeak-ng (Debian
  # package `espeak-ng`). Install it where we can (root with apt); tests that
  # need it are skipped with that reason otherwise.
  command -v espeak-ng >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing espeak-ng (apt)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null 2>&1; } \
      || echo "bootstrap: could not install espeak-ng; spoken-digit tests will be skipped" >&2
  fi
  return 0
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  ensure_espeak
  exit 0
fi

"$PY" - <<'PYCHECK'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"bootstrap: Python >= 3.10 is required, found {sys.version.split()[0]}")
PYCHECK

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
echo "bootstrap: installing pinned dependencies into $VENV (first run takes about a minute)" >&2
# constraints.txt pins every package exactly, torch==2.13.0 included, so pip never
# resolves a newer (CUDA) torch.
"${PIP[@]}" install -r requirements/constraints.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
# lava-nc / lava-dl declare Python <3.11 and pin torch 2.3: install without their
# metadata; their real needs are in constraints.txt.
"${PIP[@]}" install --no-deps --ignore-requires-python -r requirements/lava.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
# pflacco (silava landscape: Exploratory Landscape Analysis) pins old numpy/scipy/pandas; its
# feature functions run with ours (requirements/landscape.txt).
"${PIP[@]}" install --no-deps -r requirements/landscape.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"${PIP[@]}" install --no-deps --no-build-isolation -e . \
  || "${PIP[@]}" install --no-deps -e .
ensure_espeak
# The C loops (train/neurons/fused.c, hwsim/loops.c): build them now rather than on first use;
# without a C compiler the Python kernels and the numpy loop run (it says so, and is not an error).
"$VENV/bin/python" -m silava.train.neurons.native || true
"$VENV/bin/python" -m silava.hwsim.native || true
echo "$want" > "$STAMP"
echo "bootstrap: environment ready in $(( $(date +%s) - start )) s" >&2
