"""A mention's stream links carry its created_at, always.

`mention_streams.created_at` is the mention's time, copied so that a stream's mentions of a
period are read from one index. A stored mention found again by another stream at another time
(an undated feed entry is stamped with the moment it was first seen, so two feeds stamp it
differently) got a link with the new time while the mention kept its own: its days differed
between streams, and readers that take a link's time as the mention's (the week's most engaging
items, the posts already as old as `engagement_age`) disagreed with the daily aggregates, which
follow the links. The ingest now copies the stored time; here existing links are set to their
mention's, and when any was, the daily aggregates are rebuilt from the mentions.

Revision ID: 0009_h22c
Revises: 0008_h22b
Create Date: 2026-12-04
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from alembic import op

revision = "0009_h22c"
down_revision = "0008_h22b"
branch_labels = None
depends_on = None

ALIGN_POSTGRES = """UPDATE mention_streams AS ms SET created_at = m.created_at FROM mentions AS m
WHERE m.id = ms.mention_id AND ms.created_at <> m.created_at"""
OWN_TIME = "(SELECT m.created_at FROM mentions AS m WHERE m.id = mention_streams.mention_id)"
ALIGN_SQLITE = f"UPDATE mention_streams SET created_at = {OWN_TIME} WHERE created_at <> {OWN_TIME}"


def upgrade() -> None:
    from tracker import aggregates

    bind = op.get_bind()
    changed = bind.exec_driver_sql(ALIGN_POSTGRES if bind.dialect.name == "postgresql" else ALIGN_SQLITE)
    if changed.rowcount:
        zone = aggregates.stored_zone(bind) or ZoneInfo("UTC")
        aggregates.rebuild(bind, zone, aggregates.stored_age(bind) or aggregates.DEFAULT_AGE)


def downgrade() -> None:
    """Nothing to undo: the links' times were wrong copies."""
