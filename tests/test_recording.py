"""Recording results: concurrent recorders, a kill between the store and the file, modes and links, the assistant's tool.

Tests that take `store_url` run on SQLite in the fast tier and on a throw-away PostgreSQL
cluster in the `postgres` tier.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from assistant.settings import Settings
from assistant.tools import build_registry
from assistant.tools.base import ToolContext, run_tool
from cli.app import app
from tools.data.recording import lock_path, record_new_results
from tools.data.store import RecordStore
from tools.domain.errors import DataFileError, StoreError
from tools.domain.record import ExperimentRecord, read_record

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _results(path: Path, record: ExperimentRecord, ids: list[str] | None = None, capacity: float = 220.0,
             shot: str | None = "shot-1") -> Path:
    """Three results at 94% Ni (one failed), as a lab fills in a results template."""
    base = record.frame[record.frame["ni"] == 0.94].iloc[:3][record.space.names].copy()
    base["calcination_time_h"] = [11.0, 12.0, 13.0]
    base["capacity_mah_g"] = [capacity, np.nan, capacity - 5]
    base["status"] = ["ok", "failed", "ok"]
    base["predicted_mah_g"] = [218.0, 219.0, 216.0]
    if shot is not None:
        base["shot"] = shot
    if ids is not None:
        base["experiment_id"] = ids
    base.to_csv(path, index=False)
    return path


def _stored_ids(url: str, name: str) -> list[str]:
    store = RecordStore(url)
    try:
        return list(store.payloads(name))
    finally:
        store.dispose()


def _env(url: str, data_dir: Path) -> dict[str, str]:
    return {**os.environ, "MATASSIST_DATABASE_URL": url, "MATASSIST_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
            "MPLBACKEND": "Agg"}


def _record_args(record: Path, results: Path) -> list[str]:
    return ["record", "--data", str(record), "--results", str(results), "--json"]


def test_two_concurrent_record_processes_keep_both_batches(store_url, demo_csv, demo_record, tmp_path, isolated_data_dir):
    first = _results(tmp_path / "a.csv", demo_record, ids=["a-1", "a-2", "a-3"])
    second = _results(tmp_path / "b.csv", demo_record, ids=["b-1", "b-2", "b-3"], shot="shot-2")
    code = "import sys; from cli.app import main; sys.argv[0] = 'matassist'; main()"
    from filelock import FileLock

    # hold the record's lock while both start, so both read-modify-writes are due at the same moment
    with FileLock(str(lock_path(demo_csv))):
        procs = [subprocess.Popen([sys.executable, "-c", code, *_record_args(demo_csv, results)], cwd=ROOT,
                                  env=_env(store_url, isolated_data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for results in (first, second)]
        time.sleep(3)
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        assert json.loads(stdout)["added"] == 3
    in_file = list(read_record(demo_csv).frame["experiment_id"])
    assert len(in_file) == len(demo_record) + 6
    assert {"a-1", "a-2", "a-3", "b-1", "b-2", "b-3"} <= set(in_file)
    assert sorted(_stored_ids(store_url, demo_csv.stem)) == sorted(in_file)


def test_a_second_recorder_that_cannot_get_the_lock_refuses_cleanly(demo_csv, demo_record, tmp_path):
    from filelock import FileLock

    before = demo_csv.read_bytes()
    results = _results(tmp_path / "r.csv", demo_record)
    with FileLock(str(lock_path(demo_csv))), pytest.raises(DataFileError, match="another recorder has held its lock"):
        record_new_results(demo_csv, results, lock_timeout_s=0.2)
    assert demo_csv.read_bytes() == before


KILLED_RECORDER = r"""
import os, signal, sys
import tools.data.recording as recording
recording._before_file_write = lambda: os.kill(os.getpid(), signal.SIGKILL)  # dies after the store's commit
from cli.app import main
sys.argv[0] = "matassist"
main()
"""


def test_a_kill_between_store_and_file_is_reconciled_by_the_retry(store_url, demo_csv, demo_record, tmp_path, isolated_data_dir, monkeypatch):
    before = demo_csv.read_bytes()
    results = _results(tmp_path / "r.csv", demo_record, shot=None)  # no ids, no shot: both are derived, the same on retry
    killed = subprocess.run([sys.executable, "-c", KILLED_RECORDER, *_record_args(demo_csv, results)], cwd=ROOT,
                            env=_env(store_url, isolated_data_dir), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert demo_csv.read_bytes() == before, "the file was written although the process died before"
    assert len(_stored_ids(store_url, demo_csv.stem)) == len(demo_record) + 3, "the store did not commit"

    monkeypatch.setenv("MATASSIST_DATABASE_URL", store_url)
    retry = runner.invoke(app, _record_args(demo_csv, results))
    assert retry.exit_code == 0, retry.output
    payload = json.loads(retry.stdout)
    assert payload["added"] == 3 and payload["store"]["stored"] == 0 and payload["store"]["reconciled"] == 3
    assert payload["note"] == "the results have no shot column: recorded as shot-1"
    in_file = list(read_record(demo_csv).frame["experiment_id"])
    assert len(in_file) == len(demo_record) + 3
    assert _stored_ids(store_url, demo_csv.stem) == in_file


def test_results_the_store_holds_with_other_values_are_refused(store_url, demo_csv, demo_record, tmp_path):
    first = _results(tmp_path / "r.csv", demo_record, ids=["x-1", "x-2", "x-3"])
    store = RecordStore(store_url)
    store.append(demo_csv.stem, read_record(first, space=demo_record.space))  # e.g. an import under the same name
    store.dispose()
    before = demo_csv.read_bytes()
    changed = _results(tmp_path / "r2.csv", demo_record, ids=["x-1", "x-2", "x-3"], capacity=230.0)
    with pytest.raises(StoreError, match="'x-1' is already in store record 'demo' with other values"):
        record_new_results(demo_csv, changed, store_url=store_url)
    assert demo_csv.read_bytes() == before
    assert _stored_ids(store_url, demo_csv.stem) == ["x-1", "x-2", "x-3"]


def test_the_store_gains_the_runs_recorded_without_it(store_url, demo_csv, demo_record, tmp_path):
    record_new_results(demo_csv, _results(tmp_path / "a.csv", demo_record, ids=["a-1", "a-2", "a-3"]))  # --no-store
    outcome = record_new_results(demo_csv, _results(tmp_path / "b.csv", demo_record, ids=["b-1", "b-2", "b-3"]), store_url=store_url)
    assert outcome.stored == len(demo_record) + 6
    assert _stored_ids(store_url, demo_csv.stem) == list(read_record(demo_csv).frame["experiment_id"])


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o600])
def test_record_keeps_the_file_mode(demo_csv, demo_record, tmp_path, mode):
    os.chmod(demo_csv, mode)
    out = runner.invoke(app, _record_args(demo_csv, _results(tmp_path / "r.csv", demo_record)))
    assert out.exit_code == 0, out.output
    assert stat.S_IMODE(demo_csv.stat().st_mode) == mode
    assert len(read_record(demo_csv)) == len(demo_record) + 3


def test_record_through_a_symlink_updates_the_target(demo_csv, demo_record, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "lab_record.csv"
    demo_csv.rename(target)
    os.chmod(target, 0o644)
    link = tmp_path / "demo.csv"
    link.symlink_to(target)
    out = runner.invoke(app, _record_args(link, _results(tmp_path / "r.csv", demo_record)))
    assert out.exit_code == 0, out.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(read_record(target)) == len(demo_record) + 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert lock_path(link).parent == shared  # the lock sits beside the real file, shared by every link to it
    assert json.loads(out.stdout)["store"]["record"] == "demo"


def test_assistant_record_results_updates_the_store(store_url, demo_csv, demo_record, tmp_path, isolated_data_dir):
    results = _results(tmp_path / "r.csv", demo_record, ids=["n-1", "n-2", "n-3"], shot=None)
    # the user attached the results and asked to record them in this turn
    ctx = ToolContext(settings=Settings(data_dir=isolated_data_dir, database_url=store_url), record_path=demo_csv,
                      attachments=[results], write_allowed=True)
    spec = build_registry()["record_results"]
    output = run_tool(ctx, spec, {"results_file": str(results)})
    assert output.ok, output.summary
    assert output.data["added"] == 3 and output.data["store_record"] == "demo"
    assert "Recorded 3 runs (1 failed)" in output.summary and "shot-1" in output.summary
    in_file = list(read_record(demo_csv).frame["experiment_id"])
    assert len(in_file) == len(demo_record) + 3
    assert _stored_ids(store_url, "demo") == in_file  # the first time, the whole record goes in, like the CLI
    assert set(read_record(demo_csv).frame["shot"]) == {"history", "shot-1"}
    # the same results again: refused with the message, nothing written twice
    again = run_tool(ctx, spec, {"results_file": str(results)})
    assert not again.ok and "already in the record" in again.summary
    assert len(_stored_ids(store_url, "demo")) == len(demo_record) + 3


def test_the_cli_and_the_assistant_record_the_same_way(demo_record, tmp_path, isolated_data_dir):
    """Same record, same results: the CLI and the tool leave identical files and stores."""
    outcomes = []
    for how in ("cli", "tool"):
        folder = tmp_path / how
        folder.mkdir()
        record = folder / "lab.csv"
        demo_record.frame.to_csv(record, index=False)
        results = _results(folder / "r.csv", demo_record, shot=None)
        url = f"sqlite:///{folder / 'store.db'}"
        if how == "cli":
            out = runner.invoke(app, _record_args(record, results), env={"MATASSIST_DATABASE_URL": url})
            assert out.exit_code == 0, out.output
        else:
            ctx = ToolContext(settings=Settings(data_dir=isolated_data_dir, database_url=url), record_path=record,
                              attachments=[results], write_allowed=True)
            assert run_tool(ctx, build_registry()["record_results"], {"results_file": str(results)}).ok
        store = RecordStore(url)
        outcomes.append((pd.read_csv(record), store.payloads("lab")))
        store.dispose()
    pd.testing.assert_frame_equal(outcomes[0][0], outcomes[1][0])
    assert outcomes[0][1] == outcomes[1][1]


def test_a_record_in_a_folder_without_write_permission_is_a_clear_error(demo_csv, demo_record, tmp_path, monkeypatch):
    from filelock import FileLock

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(FileLock, "acquire", refuse)  # root may write anywhere, so the refusal is simulated
    with pytest.raises(DataFileError, match=r"cannot take the record's lock .*\.demo\.csv\.lock \(Permission denied\)"):
        record_new_results(demo_csv, _results(tmp_path / "r.csv", demo_record))
