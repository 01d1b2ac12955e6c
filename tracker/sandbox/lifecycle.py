"""What happens to posts after they are written: some are deleted (switchable).

With `deleted_share` > 0 (SandboxServer(deleted_share=0.05), or POST /_sandbox/deletions)
that share of the world's posts, chosen by a hash of the seed and the post's number, is
deleted by its author at a moment between DELETE_AFTER and DELETE_WITHIN after it was
written; `SandboxServer.delete(post)` deletes one post at a chosen moment. From then on
the post is gone as each platform shows it: left out of searches, timelines and feeds,
404 on Mastodon's GET /api/v1/statuses/:id, left out of Mastodon's GET /api/v1/statuses?id[]=
and Bluesky's getPosts, and on Reddit's /api/info still listed with "[deleted]" as author
and body and removed_by_category "deleted", as Reddit does.

Engagement needs no switch: every post's figures grow with its age and saturate over
days (World.engagement), so a reading at 1 h, 24 h, 48 h and 7 d sees them grow.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tracker.sandbox.world import Post

if TYPE_CHECKING:
    from tracker.sandbox.state import Context

DELETE_AFTER = timedelta(minutes=30)
DELETE_WITHIN = timedelta(days=6)
DELETABLE = ("post", "reply", "story", "comment")  # not boosts, reposts or feed entries


def deleted_at(ctx: Context, post: Post) -> datetime | None:
    """When `post` is deleted in this sandbox (None: never)."""
    chosen = ctx.deleted.get(post.n)
    if chosen is not None:
        return chosen
    share = ctx.settings.deleted_share
    if share <= 0 or post.kind not in DELETABLE or post.platform == "rss":
        return None
    digest = hashlib.sha256(f"{ctx.world.seed}:delete:{post.n}".encode()).digest()
    if int.from_bytes(digest[:4], "big") / 2**32 >= share:
        return None
    fraction = int.from_bytes(digest[4:8], "big") / 2**32
    return post.created_at + DELETE_AFTER + (DELETE_WITHIN - DELETE_AFTER) * fraction


def gone(ctx: Context, post: Post, now: datetime) -> bool:
    """Whether the post has been deleted by `now`."""
    moment = deleted_at(ctx, post)
    return moment is not None and moment <= now
