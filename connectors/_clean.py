"""What makes one hostile item harmless: cleaned values, bounded times, impossible ones named.

A platform (or whatever answers in its place) can send values no database or clock
takes: NUL characters (PostgreSQL refuses them in text and JSON), lone surrogates
(no UTF-8 encoder takes them), megabyte strings, counts beyond 64 bits, times beyond
year 9999 or centuries ahead. One such item must never stop a stream, so:

- `clean_item` stores the item cleaned: NUL removed, lone surrogates replaced by
  U+FFFD, text capped at MAX_TEXT (the import's limit), short fields capped or
  dropped, the raw payload cleaned the same way (strings capped at MAX_TEXT);
- `count` in connectors._text turns a figure no post can have into None (unknown);
- times outside what can be stored raise `ImpossibleValue`, a MappingError the
  connectors report as rejected without holding the cursor back (reading the item
  again cannot make it readable);
- `in_future` names an item dated more than FUTURE_SLACK ahead of now: connectors
  report it and never let it move a cursor (one post dated 2100 would otherwise make
  every later run ask for posts after 2100).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import Item, MappingError

MAX_TEXT = 100_000  # characters; the same limit as `tracker mentions import`
MAX_ID = 2_000
MAX_URL = 4_000
MAX_SHORT = 512  # author
MAX_LANG = 35  # the mentions.lang column
MAX_COUNT = 10**12  # no post has a trillion likes: a larger figure is not a count
FUTURE_SLACK = timedelta(days=1)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far from year 9999, so adding a margin never overflows
_SURROGATE = re.compile("[\ud800-\udfff]")


class ImpossibleValue(MappingError):
    """A value no real post can have (a time beyond year 9999, say): rejected, never retried."""


def text(value: str, limit: int = MAX_TEXT) -> str:
    """`value` without NUL, lone surrogates replaced, at most `limit` characters."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii() and _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    return value[:limit] if len(value) > limit else value


def payload(value: Any, depth: int = 0) -> Any:
    """A raw JSON-like payload with every string (and key) cleaned by `text`."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {text(str(k), MAX_SHORT): payload(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [payload(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities are not JSON
    return value


def _harmless(raw: dict[str, Any]) -> bool:
    """True when a payload needs no cleaning (checked on its JSON text, which is fast)."""
    try:
        dumped = json.dumps(raw, ensure_ascii=False, allow_nan=False)
        dumped.encode("utf-8")  # a lone surrogate fails here
    except (ValueError, TypeError, UnicodeEncodeError):
        return False
    return len(dumped) <= MAX_TEXT and "\\u0000" not in dumped


def clean_item(item: Item) -> Item:
    """The item as it can be stored (see the module docstring); MappingError when nothing is left."""
    external_id = text(item.external_id).strip()
    if not external_id:
        raise MappingError("external_id: empty once cleaned")
    if len(external_id) > MAX_ID:
        raise MappingError(f"external_id: longer than {MAX_ID:,} characters")
    url = text(item.url) if item.url else None
    author = text(item.author, MAX_SHORT) if item.author else None
    lang = text(item.lang) if item.lang else None
    return replace(
        item,
        external_id=external_id,
        text=text(item.text),
        url=url if url and len(url) <= MAX_URL else None,
        author=author or None,
        lang=lang if lang and len(lang) <= MAX_LANG else None,
        likes=figure(item.likes),
        reposts=figure(item.reposts),
        replies=figure(item.replies),
        quotes=figure(item.quotes),
        raw=item.raw if item.raw is None or _harmless(item.raw) else payload(item.raw),
    )


def figure(value: int | None) -> int | None:
    """An engagement figure, or None when no post can have it (beyond ±MAX_COUNT)."""
    if value is None or -MAX_COUNT <= value <= MAX_COUNT:
        return value
    return None


def bounded(moment: datetime, field: str = "created_at") -> datetime:
    """`moment` when it can be stored and compared safely; ImpossibleValue otherwise."""
    if not EARLIEST <= moment <= LATEST:
        raise ImpossibleValue(f"{field}: {moment.year} is not a possible year for a post")
    return moment


def from_epoch(seconds: float, field: str) -> datetime:
    """Unix seconds as aware UTC; ImpossibleValue when no clock can mean them."""
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ImpossibleValue(f"{field}: {seconds!r:.30} is not a possible Unix time") from None
    return bounded(moment, field)


def in_future(moment: datetime, now: datetime) -> str | None:
    """Why an item dated `moment` must not move a cursor (more than a day ahead), else None."""
    if moment > now + FUTURE_SLACK:
        return f"created_at: {moment.isoformat()[:25]} is more than a day in the future"
    return None
