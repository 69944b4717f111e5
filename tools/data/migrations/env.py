"""Alembic's entry point for the experiment store's schema (tools/data/store.py).

RecordStore runs the migrations itself when it opens a database, passing its connection (inside
a transaction that holds the migration lock) as `config.attributes["connection"]`. By hand, e.g.
to write a new revision or to look at the SQL:

    alembic -c tools/data/migrations/alembic.ini revision --rev-id 0003 -m "what changes"
    alembic -c tools/data/migrations/alembic.ini -x url=sqlite:///path/to/matassist.db upgrade head --sql

A new revision also moves SCHEMA_REVISION in tools/data/store.py (a test checks they agree).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine


def run_migrations() -> None:
    """Run the pending migrations on the store's connection, or on the URL given with -x url=..."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the store's URL: alembic -c tools/data/migrations/alembic.ini -x url=URL ...")
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context.configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
