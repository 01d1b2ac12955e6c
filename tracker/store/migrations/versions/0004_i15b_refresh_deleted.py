"""Engagement read again at fixed ages, and posts the platform has deleted.

`mentions.refreshed_at` is when a refresh last read the post's figures (the tracker
reads each post again at the stream's `refresh_ages`); `mentions.deleted_at` is when
the platform answered that the post is gone. Deleted posts are kept for the record
and left out of the counts from then on.

Revision ID: 0004_i15b
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_i15b"
down_revision = "0004_i15a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch_op:
        batch_op.add_column(sa.Column("refreshed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_mentions_deleted_at", ["deleted_at"])


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch_op:
        batch_op.drop_index("ix_mentions_deleted_at")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("refreshed_at")
