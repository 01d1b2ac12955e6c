"""Pure functions of the RSS connector: feed bytes -> plain dicts -> Items.

feedparser reads RSS 0.9x, 1.0 (RDF), 2.0 and Atom into one shape; its answer is
turned into plain JSON-safe dicts at once (its dict subclass warns on some lookups,
and `Item.raw` is stored as JSON), so the mapping reads ordinary dicts.
"""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser  # type: ignore[import-untyped]

from connectors._clean import ImpossibleValue, bounded, in_future
from connectors._text import html_to_text
from connectors.base import Item, MappingError, PayloadError
from connectors.rss.urls import web_url

PLATFORM = "rss"


def parse_feed(content: bytes, *, where: str, content_type: str = "", location: str = "") -> dict[str, Any]:
    """The feed as a plain dict (`feed`, `entries`, `version`, `bozo`).

    A malformed feed (bozo) keeps whatever entries feedparser recovered; an answer
    that is no feed at all (an HTML page, JSON, an empty body) raises PayloadError.
    `location` (the answer's URL) resolves relative links.
    """
    content = _safe_references(content)
    headers = {"content-type": content_type} if content_type else {}
    if location:
        headers["content-location"] = location
    # A stream, never bytes or str: given those, feedparser may open a file or a URL itself.
    parsed = feedparser.parse(io.BytesIO(content), response_headers=headers)
    feed = plain(parsed)
    if not feed.get("entries") and not feed.get("version"):
        raise PayloadError(f"{where} answered with {_what(content, content_type)}, not an RSS or Atom feed")
    return {
        "feed": feed.get("feed") or {},
        "entries": feed.get("entries") or [],
        "version": feed.get("version") or "",
        "bozo": bool(feed.get("bozo")),
    }


_LONG_NUMBER = re.compile(r"(?<![\d.])\d{5,}")  # a year beyond 9999 (fractions of seconds aside)
_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,12})|([0-9]{1,20}));")


def _safe_references(content: bytes) -> bytes:
    """Character references no text can hold (NUL, lone surrogates, beyond U+10FFFF) as U+FFFD.

    feedparser turns `&#xD800;` into a character it then fails to encode, which would
    fail the whole feed on every run; XML 1.0 forbids those references anyway.
    """
    if b"&#" not in content:
        return content

    def replace(match: re.Match[bytes]) -> bytes:
        hexa, decimal = match.group(1), match.group(2)
        value = int(hexa, 16) if hexa is not None else int(decimal)
        if value == 0 or 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
            return b"&#xFFFD;"
        return match.group(0)

    return _REFERENCE.sub(replace, content)


def _what(content: bytes, content_type: str) -> str:
    head = content.lstrip()[:15].lower()
    if not head:
        return "an empty body"
    if "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    return "something else"


def plain(value: Any) -> Any:
    """feedparser's values as JSON-safe builtins: dicts, lists, str, numbers; times as lists."""
    if isinstance(value, time.struct_time):
        return list(value)
    if isinstance(value, dict):
        # dict.items, not FeedParserDict.get: no key aliasing, no deprecation warnings.
        return {str(k): plain(v) for k, v in dict.items(value) if k != "bozo_exception"}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def feed_language(feed: Mapping[str, Any]) -> str | None:
    """The channel's `<language>` / the feed's xml:lang, when it says."""
    return _nonempty(feed.get("language"))


def map_entries(
    entries: Iterable[Any],
    *,
    feed_lang: str | None = None,
    kind: str = "mention",
    now: datetime | None = None,
    poison: list[str] | None = None,
) -> tuple[list[Item], list[str]]:
    """Map each entry on its own: (items, reasons for the rejected ones, by position).

    With `now`, an entry without a usable date is stored at `now`, flagged
    date_estimated. Entries no reading can fix (an impossible date, one more than a
    day after `now`) go to `poison` when given (else with the rejected).
    """
    items: list[Item] = []
    rejected: list[str] = []
    for number, entry in enumerate(entries, start=1):
        label = _nonempty(entry.get("id")) if isinstance(entry, Mapping) else None
        where = f"entry {number}" + (f" ({label[:80]})" if label else "")
        try:
            if not isinstance(entry, Mapping):
                raise MappingError(f"expected an entry, got {type(entry).__name__}")
            item = entry_to_item(entry, feed_lang=feed_lang, kind=kind, now=now)
            future = in_future(item.created_at, now) if now is not None else None
            if future is not None:
                raise ImpossibleValue(future)
            items.append(item)
        except ImpossibleValue as exc:
            (poison if poison is not None else rejected).append(f"{where}: {exc}")
        except MappingError as exc:
            rejected.append(f"{where}: {exc}")
    return items, rejected


def entry_to_item(
    entry: Mapping[str, Any],
    *,
    feed_lang: str | None = None,
    kind: str = "mention",
    now: datetime | None = None,
) -> Item:
    """One feed entry (plain dict from `parse_feed`) as an Item; MappingError when unusable.

    external_id is the entry id (RSS guid, Atom id), else its link; created_at is
    `published`, else `updated`. An entry with neither (or only unreadable ones) is
    stored at `now`, the moment it was first seen, flagged `date_estimated`; without
    `now` it is rejected. An impossible date (beyond year 9000) raises ImpossibleValue.
    Feeds report no engagement: likes/reposts/replies/quotes stay None.
    """
    url = web_url(entry.get("link"))
    estimated = False
    try:
        moment = created_at(entry)
    except ImpossibleValue:
        raise
    except MappingError:
        if now is None:
            raise
        moment, estimated = now, True
    return Item(
        platform=PLATFORM,
        external_id=_identity(entry, url),
        text=entry_text(entry),
        created_at=moment,
        date_estimated=estimated,
        url=url,
        author=_author(entry),
        lang=entry_language(entry) or feed_lang,
        kind=kind,
        raw=dict(entry),
    )


def _identity(entry: Mapping[str, Any], url: str | None) -> str:
    ident = _nonempty(entry.get("id"))
    if ident:
        return ident
    link = url or _nonempty(entry.get("link"))
    if link:
        return link
    raise MappingError("external_id: the entry has neither an id (guid) nor a link")


def created_at(entry: Mapping[str, Any]) -> datetime:
    """`published`, else `updated`, as aware UTC (feedparser's parsed times are UTC).

    A date with a five-digit year is impossible (feedparser would misread
    "10000-01-01" as 2010-12-01): ImpossibleValue.
    """
    for key in ("published", "updated"):
        value = entry.get(key)
        if isinstance(value, str) and _LONG_NUMBER.search(value):
            raise ImpossibleValue(f"created_at: {value.strip()[:40]!r} is beyond year 9999")
    for key in ("published", "updated"):
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            return _utc(parsed, key)
    for key in ("published", "updated"):
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            raise MappingError(f"created_at: unreadable {key} date {value.strip()[:40]!r}")
    raise MappingError("created_at: missing (the entry has no published or updated date)")


def _utc(parsed: Any, key: str) -> datetime:
    try:
        year, month, day, hour, minute, second = (int(part) for part in parsed[:6])
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(float("inf"))
        raise MappingError(f"created_at: bad {key} time {parsed!r:.60}") from exc
    if not 1 <= year <= 9999:  # datetime() would raise OverflowError for year 2147483648
        raise ImpossibleValue(f"created_at: {year} is not a possible year for a post")
    try:
        return bounded(datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC), key)
    except (OverflowError, ValueError) as exc:
        raise MappingError(f"created_at: bad {key} time {parsed!r:.60}") from exc


def entry_text(entry: Mapping[str, Any]) -> str:
    """Title and body (summary, else content) as plain text, joined by a blank line."""
    title = _rendered(entry.get("title"), entry.get("title_detail"))
    body = _rendered(entry.get("summary"), entry.get("summary_detail"))
    if not body:
        for part in _parts(entry):
            if isinstance(part, Mapping):
                body = _rendered(part.get("value"), part)
                if body:
                    break
    if body == title:  # microblog-style feeds repeat the text as the title
        body = ""
    text = "\n\n".join(part for part in (title, body) if part)
    if not text:
        raise MappingError("text: the entry has no title, summary or content")
    return text


def _rendered(value: Any, detail: Any) -> str:
    """Plain text of a feed text construct; `text/plain` ones are not read as HTML."""
    if not isinstance(value, str):
        return ""
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    if kind == "text/plain":
        # Escaped first, so "1 < 2" survives while whitespace is tidied the same way.
        return html_to_text(html.escape(value, quote=False))
    return html_to_text(value)


def _author(entry: Mapping[str, Any]) -> str | None:
    detail = entry.get("author_detail")
    name = _nonempty(detail.get("name")) if isinstance(detail, Mapping) else None
    return name or _nonempty(entry.get("author"))


def entry_language(entry: Mapping[str, Any]) -> str | None:
    """The entry's own language: dc:language, else the xml:lang its text carries."""
    lang = _nonempty(entry.get("language"))
    if lang:
        return lang
    details = [entry.get("title_detail"), entry.get("summary_detail"), *_parts(entry)]
    for detail in details:
        if isinstance(detail, Mapping):
            lang = _nonempty(detail.get("language"))
            if lang:
                return lang
    return None


def _parts(entry: Mapping[str, Any]) -> list[Any]:
    """The entry's content parts; a `content` that is not a list (a hostile feed) has none."""
    content = entry.get("content")
    return list(content) if isinstance(content, list | tuple) else []


def _nonempty(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
