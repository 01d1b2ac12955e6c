"""Every change of an experiment's status, kept as an event with its time and reason.

Concluding (early or not, adopting on evidence or on the team's judgement),
cancelling and reopening each add a row; reopening clears the experiment's
conclusion but the event of that conclusion keeps what it said.

Also `experiment_competitors`: the competitor streams an experiment's share of
voice is compared with when they are named (`--competitors`).

Revision ID: 0004_i14
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_i14"
down_revision = "0004_i16"
branch_labels = None
depends_on = None

BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "experiment_events",
        sa.Column("id", BIG_INT, autoincrement=True, nullable=False),
        sa.Column("experiment_id", BIG_INT, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("previous", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_experiment_events_exp", "experiment_events", ["experiment_id", "at"])
    op.create_table(
        "experiment_competitors",
        sa.Column("experiment_id", BIG_INT, nullable=False),
        sa.Column("stream_id", BIG_INT, nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id", "stream_id"),
    )


def downgrade() -> None:
    op.drop_table("experiment_competitors")
    op.drop_index("ix_experiment_events_exp", table_name="experiment_events")
    op.drop_table("experiment_events")
