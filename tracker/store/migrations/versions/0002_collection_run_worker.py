"""Record which worker (host:pid) ran each collection run.

With several schedulers sharing one PostgreSQL database, `status` says who
collected a stream, and tests can prove no two workers collected it at once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_runs") as batch_op:
        batch_op.add_column(sa.Column("worker", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collection_runs") as batch_op:
        batch_op.drop_column("worker")
