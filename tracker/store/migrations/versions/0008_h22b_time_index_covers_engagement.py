"""The mentions' time index also holds id and engagement: the most engaging mentions of a
period are found in the index alone.

The overview's "most engaging mentions of the last 7 days" (and the mentions page sorted by
engagement) read every mention of the period to sort them: at 3,000,000 mentions over three
years a week holds about 19,000, and reading their rows took 50 ms of the overview's 158 ms
(bench/RESULTS.md). With `engagement` in the index the sort reads index entries only and then
the few rows shown. `id` comes before `engagement` so the index keeps the order
(created_at, id) that newest-first pages walk without sorting.

Revision ID: 0008_h22b
Revises: 0007_h22a
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0008_h22b"
down_revision = "0007_h22a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_mentions_created_at", table_name="mentions")
    op.create_index("ix_mentions_created_at", "mentions", ["created_at", "id", "engagement"])


def downgrade() -> None:
    op.drop_index("ix_mentions_created_at", table_name="mentions")
    op.create_index("ix_mentions_created_at", "mentions", ["created_at"])
