"""Alerts: each firing of an `[[alerts]]` alert, with its figures and per-channel delivery state.

Revision ID: 0005_i20
Revises: 0004_i21
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_i20"
down_revision = "0005_i23"
branch_labels = None
depends_on = None

BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_firings",
        sa.Column("id", BIG_INT, autoincrement=True, nullable=False),
        sa.Column("alert", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("streams", sa.JSON(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("fired_at", sa.DateTime(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.Column("held_until", sa.DateTime(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("deliveries", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_firings_alert_fired", "alert_firings", ["alert", "fired_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_firings_alert_fired", table_name="alert_firings")
    op.drop_table("alert_firings")
