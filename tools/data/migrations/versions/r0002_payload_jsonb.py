"""Payloads as JSONB on PostgreSQL, so a lab can query runs by their values in SQL.

SQLite keeps JSON as text whatever the column is declared as, so there it changes nothing.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Turn the text payloads into JSONB (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("runs", "payload", type_=postgresql.JSONB(), existing_type=sa.Text(),
                        existing_nullable=False, postgresql_using="payload::jsonb")


def downgrade() -> None:
    """Turn JSONB payloads back into text (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("runs", "payload", type_=sa.Text(), existing_type=postgresql.JSONB(),
                        existing_nullable=False, postgresql_using="payload::text")
