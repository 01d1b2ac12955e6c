"""When a week-on-week change rests on too few items to mean anything (SPEC §8).

A change between two periods is shown only when both rest on at least `MIN_ITEMS`
items: mentions counted (mentions), scored mentions (sentiment, positive_share),
own posts (engagement), mentions of ours and the competitors' (share_of_voice).
Otherwise the digest, the web pages and the CLI say "too few to compare" instead
of a change such as a red "-100 pts" computed from two mentions.
"""

from __future__ import annotations

MIN_ITEMS = 10
TOO_FEW = "too few to compare"


def comparable(this_items: float | None, last_items: float | None) -> bool:
    """True when both periods rest on at least MIN_ITEMS items."""
    return (this_items or 0) >= MIN_ITEMS and (last_items or 0) >= MIN_ITEMS
