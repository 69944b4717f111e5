"""Start-up time of the console command: wall seconds of `matassist --help` and `matassist propose --help`.

Each command runs `--runs` times in a fresh process (the first run is reported but not in the
median: it may pay for cold disk caches). Prints JSON with every run and the medians, and the
heavy modules a bare `import cli.app` loads (should be none of pandas, SQLAlchemy, torch).

Usage: .venv/bin/python benchmarks/bench_cli_startup.py [--runs 6]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("pandas", "sqlalchemy", "sklearn", "scipy", "matplotlib", "torch", "lightgbm")


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    exe = shutil.which("matassist", path=str(Path(sys.executable).parent)) or "matassist"
    results = {}
    for label, cmd in {"help": [exe, "--help"], "propose_help": [exe, "propose", "--help"]}.items():
        runs = [_time(cmd) for _ in range(max(2, args.runs))]
        results[label] = {"runs_s": [round(t, 3) for t in runs], "median_s": round(statistics.median(runs[1:]), 3)}
    probe = subprocess.run(
        [sys.executable, "-c", f"import sys, json, cli.app; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"],
        check=True, capture_output=True, text=True,
    )
    print(json.dumps({
        "benchmark": "cli_startup",
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        **results,
        "heavy_modules_on_import": json.loads(probe.stdout.strip().splitlines()[-1]),
    }, indent=2))


if __name__ == "__main__":
    main()
