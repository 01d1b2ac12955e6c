"""Own posts get a partial time index of their own, in place of the (kind, created_at) index.

`ix_mentions_kind_created_at` held every mention: a backfill's rows, on random days of the
history, each changed a page of it at a random place, beside the same in
`ix_mentions_created_at`. At 2,000,000 mentions the two indexes no longer fit in an import's
page cache together, and inserting 200,000 more mentions took 16.3 s with it against 7.2 s
without (bench/RESULTS.md). The kind's only selective use is own posts (a few per day against
thousands of mentions): the engagement of own posts and the `kind:own` filters read them by
time through `ix_mentions_own_created_at (created_at, id) WHERE kind = 'own'`; the other kind
is most rows, which the time index serves as well as an index of the kind did.

Revision ID: 0010_h22d
Revises: 0009_h22c
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_h22d"
down_revision = "0009_h22c"
branch_labels = None
depends_on = None

OWN = sa.text("kind = 'own'")


def upgrade() -> None:
    # "if exists": a store made from the models of a later revision and stamped with an earlier
    # one (as tests do) has the new index already
    op.drop_index("ix_mentions_kind_created_at", table_name="mentions", if_exists=True)
    op.create_index(
        "ix_mentions_own_created_at",
        "mentions",
        ["created_at", "id"],
        sqlite_where=OWN,
        postgresql_where=OWN,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_mentions_own_created_at", table_name="mentions")
    op.create_index("ix_mentions_kind_created_at", "mentions", ["kind", "created_at"])
