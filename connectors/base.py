"""Types shared by every connector and by the store's ingest: the normalised item (a mention)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PLATFORMS = ("mastodon", "bluesky", "hackernews", "reddit", "rss")
KINDS = ("mention", "own")


@dataclass(frozen=True, slots=True)
class Item:
    """One collected post in the normalised fields of SPEC §4.

    Engagement figures are None when the platform does not report them (never 0 for
    "unknown"). `sentiment` is set only when the source already scored the text
    (an import file); otherwise the store scores it. `raw` is the platform's payload.
    """

    platform: str
    external_id: str
    text: str
    created_at: datetime
    url: str | None = None
    author: str | None = None
    lang: str | None = None
    kind: str = "mention"
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    sentiment: float | None = None
    raw: dict[str, Any] | None = None
    streams: tuple[str, ...] = field(default=())

    @property
    def engagement(self) -> int:
        """likes + reposts + replies + quotes, unknown figures counted as 0."""
        return sum(v or 0 for v in (self.likes, self.reposts, self.replies, self.quotes))
