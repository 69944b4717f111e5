"""A durable experiment store behind the CSV exchange format (SQLite by default, any SQLAlchemy URL).

Each append is one transaction: either every row of it is stored or none is, so a crash or a
kill mid-append never loses or half-writes what was already recorded. Rows are kept as JSON
payloads so one store serves any design space.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from tools.domain.design_space import DesignSpace
from tools.domain.errors import StoreError
from tools.domain.record import ExperimentRecord, record_from_rows

_metadata = MetaData()
runs = Table(
    "runs",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("record", String(200), nullable=False, index=True),
    Column("experiment_id", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("recorded_at", String(40), nullable=False),
    UniqueConstraint("record", "experiment_id", name="uq_record_experiment"),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
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
            self._engine: Engine = create_engine(url, future=True)
            if self._engine.dialect.name == "sqlite":
                event.listen(self._engine, "connect", _sqlite_pragmas)
            _metadata.create_all(self._engine)
        except (SQLAlchemyError, ImportError) as err:
            raise StoreError(f"cannot open the experiment store at {self._safe_url()}: {err}") from err

    def _safe_url(self) -> str:
        # never echo a password from the URL
        if "@" in self.url and "://" in self.url:
            scheme, rest = self.url.split("://", 1)
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return self.url

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
                "payload": json.dumps({k: _jsonable(v) for k, v in r.items()}, allow_nan=False),
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
            raise StoreError(f"nothing stored: the store at {self._safe_url()} failed ({err.orig})") from err
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

    def load(self, name: str, space: DesignSpace) -> ExperimentRecord:
        """Every run of record `name` in append order, validated against `space`."""
        with self._engine.connect() as conn:
            payloads = [row[0] for row in conn.execute(select(runs.c.payload).where(runs.c.record == name).order_by(runs.c.seq))]
        if not payloads:
            raise StoreError(f"no record named '{name}' in the store")
        return record_from_rows([json.loads(p) for p in payloads], space, source=f"store:{name}")

    def dispose(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()
