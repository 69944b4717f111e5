"""Alembic migrations of the experiment store's schema (SQLite and PostgreSQL alike); RecordStore runs them."""
