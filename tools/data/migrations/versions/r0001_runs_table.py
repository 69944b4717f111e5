"""The runs table, as the store created it before its schema was versioned.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the runs table and its index; a store from before versioning already has them and is adopted as is."""
    op.create_table(
        "runs",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("record", sa.String(200), nullable=False),
        sa.Column("experiment_id", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("record", "experiment_id", name="uq_record_experiment"),
        if_not_exists=True,
    )
    op.create_index("ix_runs_record", "runs", ["record"], if_not_exists=True)


def downgrade() -> None:
    """Drop the runs table."""
    op.drop_index("ix_runs_record", table_name="runs")
    op.drop_table("runs")
