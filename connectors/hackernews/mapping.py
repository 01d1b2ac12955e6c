"""HN Search (Algolia) hit -> Item (pure; no HTTP).

A hit is a story (link story: title + url; text post such as Ask HN: title +
story_text HTML, no url), a comment (comment_text HTML, no title, no points shown),
or a poll. Fields have changed over the years: 2014 hits lack `updated_at` and
`children`, today's have them; both shapes map alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors._clean import from_epoch
from connectors._text import count, html_to_text, parse_time, text_field
from connectors.base import Item, MappingError
from connectors.hackernews.urls import item_url

PLATFORM = "hackernews"


def map_hit(raw: Any) -> Item:
    """One search hit as an Item; MappingError names the first missing or mistyped field.

    Stories: text is the title and the story_text joined by a blank line, likes are
    points, replies num_comments. Comments: text is comment_text, likes None (HN does
    not show comment points; old index entries carry a placeholder 1), replies only
    when the hit has num_comments.
    """
    if not isinstance(raw, dict):
        raise MappingError(f"hit: expected an object, got {type(raw).__name__}")
    object_id = _object_id(raw)
    comment = is_comment(raw)
    return Item(
        platform=PLATFORM,
        external_id=object_id,
        url=item_url(object_id),
        author=text_field(raw, "author") or None,
        text=_comment_text(raw) if comment else _story_text(raw),
        created_at=created_at(raw),
        likes=None if comment else count(raw, "points"),
        replies=count(raw, "num_comments"),
        raw=raw,
    )


def is_comment(raw: dict[str, Any]) -> bool:
    """Tagged "comment" (every Algolia hit has _tags), else recognised by its comment_text."""
    tags = raw.get("_tags")
    if isinstance(tags, list):
        return "comment" in tags
    return raw.get("comment_text") is not None and raw.get("title") is None


def created_at(raw: dict[str, Any]) -> datetime:
    """`created_at` (ISO 8601, with or without milliseconds), else the Unix `created_at_i`."""
    if raw.get("created_at") is not None:
        return parse_time(raw["created_at"])
    seconds = raw.get("created_at_i")
    if seconds is None:
        raise MappingError("created_at: missing")
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise MappingError(f"created_at_i: expected a whole number, got {type(seconds).__name__}")
    return from_epoch(seconds, "created_at_i")


def _object_id(raw: dict[str, Any]) -> str:
    value = raw.get("objectID")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        raise MappingError("objectID: missing")
    if not isinstance(value, str):
        raise MappingError(f"objectID: expected text, got {type(value).__name__}")
    if not value.strip():
        raise MappingError("objectID: empty")
    return value.strip()


def _story_text(raw: dict[str, Any]) -> str:
    title = (text_field(raw, "title") or "").strip()  # plain text: "a<b" is not a tag
    body = html_to_text(text_field(raw, "story_text"))
    text = "\n\n".join(part for part in (title, body) if part)
    if not text:
        raise MappingError("title: missing")
    return text


def _comment_text(raw: dict[str, Any]) -> str:
    text = html_to_text(text_field(raw, "comment_text", required=True))
    if not text:
        raise MappingError("comment_text: empty")
    return text
