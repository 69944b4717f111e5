#!/usr/bin/env bash
# Create or refresh .venv from a lock file. Idempotent: does nothing when that lock is installed.
#   bash scripts/setup.sh         the user lock, requirements.lock (core: what the run command needs)
#   bash scripts/setup.sh --dev   the development lock, requirements-dev.lock (core + dev, baybe, postgres)
# The dev lock holds every pin of the user lock, so a .venv set up with --dev serves both commands.
# Installs torch 2.13.0 (CPU) from the wheel on this machine's disk so no CUDA build is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=requirements.lock
case "${1:-}" in
  "") ;;
  --dev) LOCK=requirements-dev.lock ;;
  *) echo "usage: bash scripts/setup.sh [--dev]" >&2; exit 2 ;;
esac

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "setup: Python 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

WHEELS=${UV_FIND_LINKS:-${PIP_FIND_LINKS:-/opt/wheels}}
# one stamp per lock: the hash of the lock and pyproject.toml it was installed from
stamp_of() { cat "$1" pyproject.toml | sha256sum | cut -d' ' -f1; }
installed() { [ -f ".venv/.matassist-stamp-$1" ] && [ "$(cat ".venv/.matassist-stamp-$1")" = "$(stamp_of "$1")" ]; }
if [ -x .venv/bin/python ]; then
  if installed "$LOCK"; then exit 0; fi
  if [ "$LOCK" = requirements.lock ] && installed requirements-dev.lock; then exit 0; fi
fi

echo "setup: installing $LOCK into .venv (first run takes a few minutes)" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv==0.13.8
if ! ls "$WHEELS"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  echo "setup: the CPU wheel of torch 2.13.0 was not found in $WHEELS; set UV_FIND_LINKS to its folder" >&2
  exit 2
fi
rm -f .venv/.matassist-stamp .venv/.matassist-stamp-*  # whatever was installed is being replaced
UV_FIND_LINKS="$WHEELS" .venv/bin/uv pip sync -q --python .venv/bin/python "$LOCK"
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps --config-settings editable_mode=compat -e .
stamp_of "$LOCK" > ".venv/.matassist-stamp-$LOCK"
echo "setup: done" >&2
