"""The durable store: atomic appends, nothing lost when the writer is killed mid-append, a versioned schema.

Tests that take `store_url` run twice: on SQLite in the fast tier and on a throw-away
PostgreSQL cluster in the `postgres` tier (tests/pg_cluster.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.campaign.virtual_lab import VirtualLab
from tools.data.store import RecordStore
from tools.domain.errors import StoreError


def test_append_and_load_round_trip(store_url, demo_record):
    store = RecordStore(store_url)
    assert store.append("demo", demo_record) == 652
    loaded = store.load("demo", demo_record.space)
    assert loaded.frame.equals(demo_record.frame)
    assert store.names() == [("demo", 652)]
    store.dispose()


def test_duplicate_ids_store_nothing(store_url, demo_record):
    store = RecordStore(store_url)
    store.append("demo", demo_record)
    with pytest.raises(StoreError, match="nothing stored"):
        store.append("demo", demo_record)
    assert store.count("demo") == 652
    store.dispose()


def test_unreachable_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="cannot open the experiment store"):
        RecordStore(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 's.db'}")


WRITER = r"""
import sys
from tools.campaign.virtual_lab import VirtualLab
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


def test_kill_mid_append_loses_nothing(store_url):
    url = store_url
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


IMPORTER = r"""
import sys
from tools.campaign.virtual_lab import VirtualLab
from tools.data.store import RecordStore
from tools.campaign.virtual_lab import VirtualLab
from tools.domain.record import ExperimentRecord
record = VirtualLab(seed=3).demo_record()
url, prefix, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = RecordStore(url)  # both writers open a new store at once: its schema is created once
for k in range(batches):
    part = record.frame.iloc[k * 20 : (k + 1) * 20].copy()
    part["experiment_id"] = [f"{prefix}{k}-{i}" for i in range(len(part))]
    store.append("shared", ExperimentRecord(frame=part, space=record.space))
store.dispose()
"""


def test_two_concurrent_writers_every_row_back(store_url, demo_record):
    procs = [
        subprocess.Popen([sys.executable, "-c", IMPORTER, store_url, prefix, "15"], cwd=Path(__file__).resolve().parents[1],
                         stderr=subprocess.PIPE, text=True)
        for prefix in ("a", "b")
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    store = RecordStore(store_url)
    stored = store.payloads("shared")
    store.dispose()
    expected = {f"{prefix}{k}-{i}" for prefix in ("a", "b") for k in range(15) for i in range(20)}
    assert set(stored) == expected
    # every payload came back as it went in
    first = stored["a0-0"]
    assert first["ni"] == pytest.approx(float(VirtualLab(seed=3).demo_record().frame.iloc[0]["ni"]))


def test_schema_is_versioned_and_the_head_is_what_the_code_reads(store_url):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from tools.data.store import _MIGRATIONS, SCHEMA_REVISION

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION
    store = RecordStore(store_url)
    assert store.schema_revision() == SCHEMA_REVISION
    store.dispose()


def _legacy_store(url: str, payloads: list[dict]) -> None:
    """A store as the unversioned code created it: create_all, payload as text, no alembic_version."""
    import json

    from sqlalchemy import (
        Column,
        Integer,
        MetaData,
        String,
        Table,
        Text,
        UniqueConstraint,
        create_engine,
    )

    metadata = MetaData()
    legacy = Table(
        "runs", metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("record", String(200), nullable=False, index=True),
        Column("experiment_id", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("recorded_at", String(40), nullable=False),
        UniqueConstraint("record", "experiment_id", name="uq_record_experiment"),
    )
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(legacy.insert(), [{"record": "old", "experiment_id": p["experiment_id"], "payload": json.dumps(p),
                                        "recorded_at": "2025-01-01T00:00:00+00:00"} for p in payloads])
    engine.dispose()


def test_a_store_from_before_versioning_is_migrated_with_its_rows(store_url, demo_record):
    from sqlalchemy import create_engine, text

    from tools.data.store import SCHEMA_REVISION, _jsonable

    rows = [{k: _jsonable(v) for k, v in r.items()} for r in demo_record.frame.iloc[:30].to_dict("records")]
    _legacy_store(store_url, rows)
    store = RecordStore(store_url)
    assert store.schema_revision() == SCHEMA_REVISION
    assert store.load("old", demo_record.space).frame.equals(demo_record.frame.iloc[:30].reset_index(drop=True))
    more = demo_record.frame.iloc[30:40].reset_index(drop=True)
    assert store.append("old", type(demo_record)(frame=more, space=demo_record.space)) == 10
    assert store.count("old") == 40
    store.dispose()
    engine = create_engine(store_url)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            kind = conn.execute(text("SELECT data_type FROM information_schema.columns "
                                     "WHERE table_name = 'runs' AND column_name = 'payload'")).scalar_one()
            assert kind == "jsonb"
    engine.dispose()


def test_a_newer_schema_is_refused_with_a_clear_message(store_url):
    from sqlalchemy import create_engine, text

    RecordStore(store_url).dispose()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="revision 9999, which this version of matassist does not know"):
        RecordStore(store_url)


@pytest.mark.postgres
def test_payloads_are_jsonb_and_queryable_in_sql(pg_cluster, demo_record):
    from sqlalchemy import create_engine, text

    url = pg_cluster.new_database()
    store = RecordStore(url)
    store.append("demo", demo_record)
    store.dispose()
    engine = create_engine(url)
    with engine.connect() as conn:
        kind = conn.execute(text("SELECT data_type FROM information_schema.columns "
                                 "WHERE table_name = 'runs' AND column_name = 'payload'")).scalar_one()
        at_94 = conn.execute(text("SELECT count(*) FROM runs WHERE (payload->>'ni')::float = 0.94")).scalar_one()
        failed = conn.execute(text("SELECT count(*) FROM runs WHERE payload @> '{\"status\": \"failed\"}'")).scalar_one()
    engine.dispose()
    assert kind == "jsonb"
    assert at_94 == int((demo_record.frame["ni"] == 0.94).sum()) == 18
    assert failed == len(demo_record.failed_runs)


def test_a_missing_driver_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    with pytest.raises(StoreError) as info:
        RecordStore("postgresql+psycopg://lab:s3cret@db.example:5432/matassist")
    message = str(info.value)
    assert "\n" not in message
    assert "needs the database driver 'psycopg'" in message and "pip install '.[postgres]'" in message
    assert "s3cret" not in message and "lab:***@db.example" in message


def test_the_password_of_a_store_url_is_never_shown():
    from tools.data.store import display_url

    assert display_url("postgresql+psycopg://lab:s3cret@db:5432/m") == "postgresql+psycopg://lab:***@db:5432/m"
    assert display_url("sqlite:////tmp/x/matassist.db") == "sqlite:////tmp/x/matassist.db"
    assert "s3cret" not in display_url("no url at all s3cret")
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot open the experiment store") as info:
        RecordStore("postgresql+psycopg://lab:s3cret@127.0.0.1:1/m?connect_timeout=5")
    assert "s3cret" not in str(info.value)


def test_the_cli_names_the_postgres_extra_with_its_brackets(monkeypatch):
    from typer.testing import CliRunner

    from cli.app import app

    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setenv("MATASSIST_DATABASE_URL", "postgresql+psycopg://lab:s3cret@localhost/matassist")
    result = CliRunner().invoke(app, ["dataset", "list"])
    assert result.exit_code == 2
    assert "pip install '.[postgres]'" in result.output and "s3cret" not in result.output
