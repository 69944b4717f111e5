#!/usr/bin/env bash
# Compile the two locks from pyproject.toml (its dependencies are ranges; the locks pin):
#   requirements-dev.lock  core + every extra (dev, baybe, postgres): the test command installs it
#   requirements.lock      core only, for users: the run command installs it
# The user lock is compiled under the dev lock as a constraint, so a package has the same version
# in both. Versions already locked are kept (uv prefers the pins of the file it rewrites); pass
# --upgrade or --upgrade-package NAME to move them. torch resolves to the CPU wheel in the folder
# named by UV_FIND_LINKS/PIP_FIND_LINKS (default /opt/wheels), never to a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
WHEELS=${UV_FIND_LINKS:-${PIP_FIND_LINKS:-/opt/wheels}}
common=(--quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 --find-links "$WHEELS"
        --custom-compile-command "bash scripts/lock.sh")
[ -f requirements-dev.lock ] || cp requirements.lock requirements-dev.lock  # start from the pins we have
"$UV" pip compile pyproject.toml --all-extras "${common[@]}" -o requirements-dev.lock "$@"
"$UV" pip compile pyproject.toml --constraint requirements-dev.lock "${common[@]}" -o requirements.lock "$@"
for lock in requirements-dev.lock requirements.lock; do
  grep -q '^torch==2\.13\.0+cpu$' "$lock" || {
    echo "lock: torch did not resolve to 2.13.0+cpu in $lock; is the CPU wheel in $WHEELS?" >&2; exit 2; }
done
