#!/usr/bin/env bash
# The README's test command: set up .venv from the development lock if needed, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
# The browser test needs Debian's Chromium; install it when we can (CI runs as root).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing chromium for the browser test" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
.venv/bin/ruff check assistant cli tools ui benchmarks tests
.venv/bin/mypy
# fast tier (the default `pytest` run), the PostgreSQL tier (a throw-away cluster started with
# initdb + pg_ctl; skipped, with the reason, where the server binaries are absent), then the slow
# tier (models, BayBE, the browser)
.venv/bin/python -m pytest -q "$@"
.venv/bin/python -m pytest -q -m postgres "$@"
.venv/bin/python -m pytest -q -m "slow or browser" "$@"
