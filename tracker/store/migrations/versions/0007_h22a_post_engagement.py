"""Engagement at the fixed age in the daily aggregates, and each own post's figure by day.

`daily_aggregates.sentiment_sq` sums the squared scores (the sentiment-drop alert's
spread); `daily_aggregates.engagement` sums the own posts' engagement at
`experiments.engagement_age`; `post_engagement` holds each own post's figure per linked
stream and organisation day, what the robust engagement estimate reads
(tracker/aggregates.py); `daily_scorers` the scored mentions per cell and sentiment scorer.
All are built here for existing mentions, in the zone the
aggregates already have, at the age `tracker db upgrade` names (else the default 48 hours;
another age in the config reads the raw history until `tracker db check --repair`).

Revision ID: 0007_h22a
Revises: 0006_i22
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0007_h22a"
down_revision = "0006_i22"
branch_labels = None
depends_on = None

BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    from tracker import aggregates

    with op.batch_alter_table("daily_aggregates") as batch:
        batch.add_column(sa.Column("engagement", BIG_INT, nullable=False, server_default="0"))
        batch.add_column(sa.Column("sentiment_sq", sa.Float(), nullable=False, server_default="0"))
    op.create_table(
        "post_engagement",
        sa.Column("stream_id", BIG_INT, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("mention_id", BIG_INT, nullable=False),
        sa.Column("engagement", BIG_INT, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "day", "mention_id"),
    )
    op.create_index("ix_post_engagement_mention", "post_engagement", ["mention_id"])
    op.create_table(
        "daily_scorers",
        sa.Column("streams", sa.String(length=400), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scorer", sa.String(length=40), nullable=False),
        sa.Column("scored", BIG_INT, nullable=False),
        sa.PrimaryKeyConstraint("streams", "day", "scorer"),
    )
    op.create_index("ix_daily_scorers_day", "daily_scorers", ["day"])
    config = op.get_context().config
    attributes = config.attributes if config is not None else {}
    bind = op.get_bind()
    zone = aggregates.stored_zone(bind) or ZoneInfo(attributes.get("zone") or "UTC")
    age = attributes.get("engagement_age") or aggregates.DEFAULT_AGE
    aggregates.rebuild(bind, zone, age if isinstance(age, timedelta) else aggregates.DEFAULT_AGE)


def downgrade() -> None:
    op.drop_index("ix_daily_scorers_day", table_name="daily_scorers")
    op.drop_table("daily_scorers")
    op.drop_index("ix_post_engagement_mention", table_name="post_engagement")
    op.drop_table("post_engagement")
    with op.batch_alter_table("daily_aggregates") as batch:
        batch.drop_column("sentiment_sq")
        batch.drop_column("engagement")
    op.execute("DELETE FROM aggregate_meta WHERE name = 'engagement_age'")
