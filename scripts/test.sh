#!/usr/bin/env bash
# The README's test command: set up .venv from the lock if needed, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
.venv/bin/ruff check assistant tools ui benchmarks tests
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
