#!/usr/bin/env bash
# Create or refresh .venv from the lock file. Idempotent: does nothing when the lock is unchanged.
# Installs torch 2.13.0 (CPU) from the wheel on this machine's disk so no CUDA build is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "setup: Python 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

WHEELS=${UV_FIND_LINKS:-${PIP_FIND_LINKS:-/opt/wheels}}
stamp_src=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f .venv/.matassist-stamp ] && [ "$(cat .venv/.matassist-stamp)" = "$stamp_src" ]; then
  exit 0
fi

echo "setup: installing the locked environment into .venv (first run takes a few minutes)" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv==0.13.8
if ! ls "$WHEELS"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  echo "setup: the CPU wheel of torch 2.13.0 was not found in $WHEELS; set UV_FIND_LINKS to its folder" >&2
  exit 2
fi
UV_FIND_LINKS="$WHEELS" .venv/bin/uv pip sync -q --python .venv/bin/python requirements.lock
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps --config-settings editable_mode=compat -e .
echo "$stamp_src" > .venv/.matassist-stamp
echo "setup: done" >&2
