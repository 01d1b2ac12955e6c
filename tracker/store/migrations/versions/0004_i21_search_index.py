"""Full-text search: the searchable form of each mention, its index, and saved searches.

`mention_search` holds every mention's folded words, hashtags, handles and author
(tracker/search_index.py). On SQLite an FTS5 table with that external content is kept
in step by triggers; on PostgreSQL a GIN index covers the tsvector of the same words.
Existing mentions are indexed here, in batches.

Revision ID: 0004_i21
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_i21"
down_revision = "0004_i17"
branch_labels = None
depends_on = None

BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    from tracker import search_index

    op.create_table(
        "mention_search",
        sa.Column("mention_id", BIG_INT, autoincrement=False, nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("handles", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mention_id"),
    )
    op.create_table(
        "saved_searches",
        sa.Column("id", BIG_INT, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    conn = op.get_bind()
    ddl = search_index.POSTGRES_DDL if conn.dialect.name == "postgresql" else search_index.SQLITE_DDL
    for statement in ddl:
        conn.exec_driver_sql(statement)
    search_index.rebuild(conn)


def downgrade() -> None:
    from tracker import search_index

    conn = op.get_bind()
    drop = search_index.POSTGRES_DROP if conn.dialect.name == "postgresql" else search_index.SQLITE_DROP
    for statement in drop:
        conn.exec_driver_sql(statement)
    op.drop_table("saved_searches")
    op.drop_table("mention_search")
