"""The durable store: atomic appends, nothing lost when the writer is killed mid-append."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.data.store import RecordStore
from tools.domain.errors import StoreError


def test_append_and_load_round_trip(tmp_path, demo_record):
    store = RecordStore(f"sqlite:///{tmp_path / 's.db'}")
    assert store.append("demo", demo_record) == 652
    loaded = store.load("demo", demo_record.space)
    assert loaded.frame.equals(demo_record.frame)
    assert store.names() == [("demo", 652)]


def test_duplicate_ids_store_nothing(tmp_path, demo_record):
    store = RecordStore(f"sqlite:///{tmp_path / 's.db'}")
    store.append("demo", demo_record)
    with pytest.raises(StoreError, match="nothing stored"):
        store.append("demo", demo_record)
    assert store.count("demo") == 652


def test_unreachable_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="cannot open the experiment store"):
        RecordStore(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 's.db'}")


WRITER = r"""
import sys
from tools.data.store import RecordStore
from tools.campaign.virtual_lab import VirtualLab
from tools.domain.record import ExperimentRecord
record = VirtualLab(seed=3).demo_record()
store = RecordStore(sys.argv[1])
batch = 50
for k in range(10_000):
    part = record.frame.iloc[: batch].copy()
    part["experiment_id"] = [f"b{k}-{i}" for i in range(batch)]
    store.append("kill", ExperimentRecord(frame=part, space=record.space))
    print(k, flush=True)
"""


def test_kill_mid_append_loses_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None
    confirmed = -1
    deadline = time.monotonic() + 60
    while confirmed < 5 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        confirmed = int(line.split()[0])
    # kill while it is in the middle of further appends, without any chance to clean up
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for line in proc.stdout:  # confirmations that raced the kill
        confirmed = max(confirmed, int(line.split()[0]))
    proc.stdout.close()
    assert confirmed >= 5, "the writer never got going"
    store = RecordStore(url)
    stored = store.count("kill")
    store.dispose()
    assert stored % 50 == 0, "a half-written batch is visible"
    assert stored >= (confirmed + 1) * 50, "a confirmed batch was lost"
