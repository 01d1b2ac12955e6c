"""Experiment plans that hold: amendments with their reasons, several control streams,
days confirmed as uncovered, the detectable effect, and post-hoc results.

* ``experiment_amendments``: every change of a started experiment's plan, with the
  plan before and after it and the reason given (``experiment edit --amend --reason``);
  the first row's ``before`` is the original plan.
* ``experiment_controls``: the control streams of a synthetic control, in order
  (``experiments.control_stream_id`` stays the first of them).
* ``experiment_excluded_days``: days a user confirmed as not covered
  (``experiment measure --exclude-days``).
* ``experiments.mde``: the smallest effect the planned window detects with 80 % power.
* ``experiment_results.post_hoc``: measured under an amended plan (not evidence for adoption).

Revision ID: 0004_i16
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_i16"
down_revision = "0004_i15b"
branch_labels = None
depends_on = None

BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "experiment_amendments",
        sa.Column("id", BIG_INT, autoincrement=True, nullable=False),
        sa.Column("experiment_id", BIG_INT, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_experiment_amendments_exp", "experiment_amendments", ["experiment_id"])
    op.create_table(
        "experiment_controls",
        sa.Column("experiment_id", BIG_INT, nullable=False),
        sa.Column("stream_id", BIG_INT, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id", "stream_id"),
    )
    op.create_table(
        "experiment_excluded_days",
        sa.Column("experiment_id", BIG_INT, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id", "day"),
    )
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("mde", sa.Float(), nullable=True))
    with op.batch_alter_table("experiment_results") as batch:
        batch.add_column(sa.Column("post_hoc", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("experiment_results") as batch:
        batch.drop_column("post_hoc")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("mde")
    op.drop_table("experiment_excluded_days")
    op.drop_table("experiment_controls")
    op.drop_index("ix_experiment_amendments_exp", table_name="experiment_amendments")
    op.drop_table("experiment_amendments")
