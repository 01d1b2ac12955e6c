"""Mentions whose source gave no usable date: stored at the time first seen, and flagged.

A feed entry without a published or updated date used to be rejected on every run;
now it is stored with `created_at` = the moment the tracker first saw it and
`date_estimated` true, so views and exports can tell.

Revision ID: 0004_i15a
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_i15a"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(
            sa.Column("date_estimated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("date_estimated")
