"""Sentiment taught by the team: labels, a model per language, and which scorer scored a mention.

`labels` holds the team's labels (positive | neutral | negative | irrelevant) of a mention
or of an imported text; `sentiment_models` one trained model per language and version
(its training set's hash, cross-validated figures, and the fitted weights as JSON, never
pickle); `mentions.sentiment_scorer` names the scorer of each score ("vader" or
"model:<lang>:<version>"). Existing scores are VADER's.

Revision ID: 0005_i23
Revises: 0004_i21
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_i23"
down_revision = "0004_i21"
branch_labels = None
depends_on = None

BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", BIG_INT, autoincrement=True, nullable=False),
        sa.Column("mention_id", BIG_INT, nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=35), nullable=False),
        sa.Column("label", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lang", "text_hash", name="uq_labels_lang_text"),
    )
    op.create_index("ix_labels_mention_id", "labels", ["mention_id"])
    op.create_table(
        "sentiment_models",
        sa.Column("id", BIG_INT, autoincrement=True, nullable=False),
        sa.Column("lang", sa.String(length=35), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(), nullable=False),
        sa.Column("training_hash", sa.String(length=64), nullable=False),
        sa.Column("labels", sa.Integer(), nullable=False),
        sa.Column("macro_f1", sa.Float(), nullable=False),
        sa.Column("baseline_f1", sa.Float(), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.Column("adopted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lang", "version", name="uq_sentiment_models_lang_version"),
    )
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("sentiment_scorer", sa.String(length=40), nullable=True))
    op.execute("UPDATE mentions SET sentiment_scorer = 'vader' WHERE sentiment IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("sentiment_scorer")
    op.drop_table("sentiment_models")
    op.drop_index("ix_labels_mention_id", table_name="labels")
    op.drop_table("labels")
