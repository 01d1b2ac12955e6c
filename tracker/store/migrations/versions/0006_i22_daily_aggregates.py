"""Daily aggregates per organisation day and set of streams, built here for existing mentions.

`daily_aggregates` is what analysis reads instead of the whole history
(tracker/aggregates.py); `aggregate_meta` records the time zone its days are in. The
zone is the organisation's when `tracker db upgrade` names it, else UTC (readers then
use the raw mentions until `tracker db check --repair` rebuilds in the right zone).

Revision ID: 0006_i22
Revises: 0006_i21
Create Date: 2026-12-02
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0006_i22"
down_revision = "0006_i21"
branch_labels = None
depends_on = None

BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    from tracker import aggregates

    op.create_table(
        "daily_aggregates",
        sa.Column("streams", sa.String(length=400), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("mentions", BIG_INT, nullable=False),
        sa.Column("scored", BIG_INT, nullable=False),
        sa.Column("sentiment_sum", sa.Float(), nullable=False),
        sa.Column("positive", BIG_INT, nullable=False),
        sa.Column("negative", BIG_INT, nullable=False),
        sa.Column("own", BIG_INT, nullable=False),
        sa.PrimaryKeyConstraint("streams", "day"),
    )
    op.create_index("ix_daily_aggregates_day", "daily_aggregates", ["day"])
    op.create_table(
        "aggregate_meta",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    config = op.get_context().config
    zone = (config.attributes.get("zone") if config is not None else None) or "UTC"
    # The cells are built by 0007_h22a, whose rebuild also fills the columns it adds (the
    # current tracker/aggregates.py writes every column of the newest schema).
    aggregates.set_zone(op.get_bind(), ZoneInfo(zone))


def downgrade() -> None:
    op.drop_table("aggregate_meta")
    op.drop_index("ix_daily_aggregates_day", table_name="daily_aggregates")
    op.drop_table("daily_aggregates")
