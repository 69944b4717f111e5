"""A durable experiment store behind the CSV exchange format (SQLite by default, any SQLAlchemy URL).

Each append is one transaction: either every row of it is stored or none is, so a crash or a
kill mid-append never loses or half-writes what was already recorded. Rows are kept as JSON
payloads (JSONB on PostgreSQL) so one store serves any design space. The schema is versioned
with Alembic (tools/data/migrations): opening a store brings an older schema up to date, under
a lock so that several processes opening a new store at once create it once.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError

from tools.domain.design_space import DesignSpace
from tools.domain.errors import StoreError
from tools.domain.record import ExperimentRecord, record_from_rows

SCHEMA_REVISION = "0002"
"""The Alembic revision this code reads and writes (the head of tools/data/migrations/versions)."""

_MIGRATIONS = Path(__file__).with_name("migrations")
# one arbitrary key for PostgreSQL's advisory lock, so concurrent first opens migrate once
_MIGRATION_LOCK_KEY = 7_140_225_331
# the driver each SQLAlchemy dialect loads, and how to install it
_DRIVER_HINTS = {"psycopg": "pip install '.[postgres]' (or bash scripts/setup.sh --dev)"}

_metadata = MetaData()
runs = Table(
    "runs",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("record", String(200), nullable=False, index=True),
    Column("experiment_id", String(200), nullable=False),
    Column("payload", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    UniqueConstraint("record", "experiment_id", name="uq_record_experiment"),
)


def display_url(url: str) -> str:
    """The store URL fit to show: SQLAlchemy renders it with the password as '***'."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # not a URL SQLAlchemy can parse, so nobody can tell where a password would be in it
        return url.split("://", 1)[0] + "://..." if "://" in url else "(unparsable URL)"


SQLITE_BUSY_TIMEOUT_MS = 60_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # first: a writer waits for another one rather than failing (60 s covers a slow shared
    # machine), and switching to WAL needs the lock too, so it must already wait (sqlite3's own
    # default is 5 s, which a loaded machine exceeded: "database is locked" on opening the store)
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


class RecordStore:
    """Named experiment records in one database; appends are atomic."""

    def __init__(self, url: str):
        self.url = url
        try:
            self._engine: Engine = create_engine(url)
            if self._engine.dialect.name == "sqlite":
                event.listen(self._engine, "connect", _sqlite_pragmas)
            try:
                self._migrate()
            except BaseException:
                self._engine.dispose()
                raise
        except ModuleNotFoundError as err:
            hint = _DRIVER_HINTS.get((err.name or "").split(".")[0], f"pip install {err.name}")
            raise StoreError(
                f"the experiment store at {display_url(url)} needs the database driver '{err.name}', "
                f"which is not installed: {hint}"
            ) from err
        except (SQLAlchemyError, ImportError) as err:
            raise StoreError(f"cannot open the experiment store at {display_url(url)}: {err}") from err

    # -- schema ----------------------------------------------------------------------------
    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None for a store created before versioning)."""
        with self._engine.connect() as conn:
            return _current_revision(conn)

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_REVISION; a store already there costs one query."""
        if self.schema_revision() == SCHEMA_REVISION:
            return
        engine = self._engine
        if engine.dialect.name == "sqlite" and make_url(self.url).database not in (None, "", ":memory:"):
            # a second engine whose transactions start with BEGIN IMMEDIATE: the whole migration
            # (DDL and version row) is one SQLite transaction, and a concurrent opener waits for it
            engine = create_engine(self.url)
            event.listen(engine, "connect", _sqlite_immediate_transactions)
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
                current = _current_revision(conn)
                if current != SCHEMA_REVISION:
                    _upgrade(conn, current)
        finally:
            if engine is not self._engine:
                engine.dispose()

    # -- runs ------------------------------------------------------------------------------
    def append(self, name: str, record: ExperimentRecord) -> int:
        """Store every row of `record` under `name` in one transaction; returns the count.

        A duplicated experiment_id (within the record or against the store) aborts the whole
        append with StoreError and stores nothing.
        """
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [
            {
                "record": name,
                "experiment_id": str(r["experiment_id"]),
                "payload": {k: _jsonable(v) for k, v in r.items()},
                "recorded_at": now,
            }
            for r in record.frame.to_dict("records")
        ]
        try:
            with self._engine.begin() as conn:
                if rows:
                    conn.execute(runs.insert(), rows)
        except IntegrityError as err:
            raise StoreError(f"nothing stored: an experiment_id is already in record '{name}'") from err
        except OperationalError as err:
            raise StoreError(f"nothing stored: the store at {display_url(self.url)} failed ({err.orig})") from err
        return len(rows)

    def count(self, name: str) -> int:
        """Number of stored runs in record `name`."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(runs).where(runs.c.record == name)).scalar_one())

    def names(self) -> list[tuple[str, int]]:
        """Every record name with its run count."""
        with self._engine.connect() as conn:
            result = conn.execute(select(runs.c.record, func.count()).group_by(runs.c.record).order_by(runs.c.record))
            return [(str(r[0]), int(r[1])) for r in result]

    def payloads(self, name: str) -> dict[str, dict[str, Any]]:
        """Every stored run of record `name` as experiment_id -> its row (column -> value), in append order."""
        query = select(runs.c.experiment_id, runs.c.payload).where(runs.c.record == name).order_by(runs.c.seq)
        with self._engine.connect() as conn:
            return {str(eid): _payload(p) for eid, p in conn.execute(query)}

    def load(self, name: str, space: DesignSpace) -> ExperimentRecord:
        """Every run of record `name` in append order, validated against `space`."""
        rows = list(self.payloads(name).values())
        if not rows:
            raise StoreError(f"no record named '{name}' in the store")
        return record_from_rows(rows, space, source=f"store:{name}")

    def dispose(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()


def _payload(value: Any) -> dict[str, Any]:
    # JSON columns come back decoded; a payload written as text by an older version still parses
    return dict(json.loads(value) if isinstance(value, str) else value)


def _sqlite_immediate_transactions(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN IMMEDIATE instead


def _current_revision(conn: Connection) -> str | None:
    # read Alembic's version table directly: opening a store that is up to date needs no Alembic
    if not inspect(conn).has_table("alembic_version"):
        return None
    version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if version is None else str(version)


def _upgrade(conn: Connection, current: str | None) -> None:
    """Run the Alembic migrations from `current` to SCHEMA_REVISION on this connection."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        raise StoreError(
            f"the experiment store's schema is at revision {current}, which this version of matassist does "
            f"not know (it knows up to {SCHEMA_REVISION}); upgrade matassist to use this store"
        )
    try:
        command.upgrade(config, SCHEMA_REVISION)
    except CommandError as err:
        raise StoreError(f"cannot bring the experiment store's schema to revision {SCHEMA_REVISION}: {err}") from err
