"""Reddit listing child (t3 post, t1 comment) -> Item (pure; no HTTP).

A listing child is {"kind": "t3" | "t1", "data": {...}}. Crossposts are t3 posts of
their own (a crossposter's title in another community) and map like any post.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime
from typing import Any

from connectors._clean import from_epoch
from connectors._text import count, text_field
from connectors.base import Item, MappingError
from connectors.reddit.urls import permalink_url

PLATFORM = "reddit"
POST, COMMENT = "t3", "t1"
GONE = ("[deleted]", "[removed]")  # what Reddit shows in place of a deleted author or a removed text
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")


def map_child(raw: Any) -> Item:
    """One listing child as an Item; MappingError names the first missing or mistyped field."""
    if not isinstance(raw, dict):
        raise MappingError(f"child: expected an object, got {type(raw).__name__}")
    kind = raw.get("kind")
    if kind not in (POST, COMMENT):
        raise MappingError(f"kind: expected t3 or t1, got {kind!r}")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise MappingError("data: missing")
    return map_thing(data, kind=kind, raw=raw)


def map_thing(data: dict[str, Any], *, kind: str, raw: dict[str, Any] | None = None) -> Item:
    """A post's or comment's `data`: external_id is its fullname, likes its score (may be < 0).

    Posts: text is title + blank line + selftext (just the title when there is none),
    replies num_comments. Comments: text is body, replies only if the data counts them.
    """
    name = _fullname(data, kind)
    return Item(
        platform=PLATFORM,
        external_id=name,
        url=permalink_url(_permalink(data)),
        author=_author(data),
        text=_post_text(data) if kind == POST else _required_text(data, "body"),
        created_at=created_utc(data),
        likes=count(data, "score"),
        replies=count(data, "num_comments"),
        raw=raw if raw is not None else {"kind": kind, "data": data},
    )


def created_utc(data: dict[str, Any]) -> datetime:
    """`created_utc` (Unix seconds, a float in listings) as aware UTC."""
    value = data.get("created_utc")
    if value is None:
        raise MappingError("created_utc: missing")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MappingError(f"created_utc: expected Unix seconds, got {type(value).__name__}")
    return from_epoch(value, "created_utc")


def _fullname(data: dict[str, Any], kind: str) -> str:
    """`name` is the fullname (t3_abc); older payloads without it still have the base-36 `id`."""
    name = text_field(data, "name")
    if not name:
        ident = text_field(data, "id")
        if not ident:
            raise MappingError("name: missing")
        name = f"{kind}_{ident}"
    if not name.startswith(f"{kind}_"):
        raise MappingError(f"name: {name[:20]!r} is not a {kind} fullname")
    return name


def _permalink(data: dict[str, Any]) -> str:
    link = text_field(data, "permalink", required=True) or ""
    if not link.startswith("/"):
        raise MappingError(f"permalink: expected a path, got {link[:40]!r}")
    return link


def _author(data: dict[str, Any]) -> str | None:
    """The author's name; None for an account Reddit shows as "[deleted]" (it is no one's name)."""
    author = text_field(data, "author")
    return None if not author or author in GONE else author


def _post_text(data: dict[str, Any]) -> str:
    """Title + body; a body Reddit replaced by "[removed]" / "[deleted]" is left out (no one's words)."""
    title = _required_text(data, "title")
    body = _decoded(text_field(data, "selftext") or "").strip()
    if body in GONE:
        body = ""
    return f"{title}\n\n{body}" if body else title


def _required_text(data: dict[str, Any], key: str) -> str:
    value = (text_field(data, key, required=True) or "").strip()
    if not value:
        raise MappingError(f"{key}: empty")
    return _decoded(value)


def _decoded(text: str) -> str:
    """raw_json=1 text has no entities; a payload fetched without it escapes & < > as entities."""
    return html.unescape(text) if _ENTITY.search(text) else text


GONE_TEXTS = ("[deleted]", "[removed]")


def is_gone(raw: Any) -> bool:
    """A post or comment deleted by its author or removed by moderators or Reddit.

    Reddit keeps answering for it: the body becomes "[deleted]" or "[removed]" and
    `removed_by_category` names who took it down ("deleted", "moderator", "reddit", ...).
    An author shown as "[deleted]" alone only means the account is gone; the post stays.
    """
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("removed_by_category"), str):
        return True
    body = data.get("selftext") if raw.get("kind") == POST else data.get("body")
    return isinstance(body, str) and body.strip() in GONE_TEXTS
