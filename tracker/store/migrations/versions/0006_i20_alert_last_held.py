"""Alerts: when an open firing's condition was last seen holding (`alert_firings.last_held_at`).

A firing is active only while its episode is ongoing: its condition held at a recent
check (tracker/alerts.py says how recent). Existing firings take their fired_at.

Revision ID: 0006_i20
Revises: 0005_i20
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_i20"
down_revision = "0005_i20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_firings") as batch:
        batch.add_column(sa.Column("last_held_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE alert_firings SET last_held_at = fired_at")


def downgrade() -> None:
    with op.batch_alter_table("alert_firings") as batch:
        batch.drop_column("last_held_at")
