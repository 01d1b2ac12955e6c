"""Saved searches as selections: an experiment may be narrowed to one (experiment_searches).

Revision ID: 0006_i21
Revises: 0006_i20
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_i21"
down_revision = "0006_i20"
branch_labels = None
depends_on = None

BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "experiment_searches",
        sa.Column("experiment_id", BIG_INT, nullable=False),
        sa.Column("search_id", BIG_INT, nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["search_id"], ["saved_searches.id"]),
        sa.PrimaryKeyConstraint("experiment_id"),
    )
    op.create_index("ix_experiment_searches_search", "experiment_searches", ["search_id"])


def downgrade() -> None:
    op.drop_index("ix_experiment_searches_search", table_name="experiment_searches")
    op.drop_table("experiment_searches")
