"""Pure helpers shared by the mappings: HTML to plain text, timestamps to aware UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from connectors._clean import ImpossibleValue, bounded, figure
from connectors.base import MappingError

_BLOCK = {"p", "div", "br", "li", "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr"}
_SKIP = {"script", "style"}
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_LONG_YEAR = re.compile(r"^[+-]?\d{5,}-")  # ISO 8601 expanded years: no calendar here holds them


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment: tags stripped, entities decoded, paragraphs kept as lines."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return markup.strip()
    parser = _TextParser()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)  # convert_charrefs decoded the entities already
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def parse_time(value: Any, field: str = "created_at") -> datetime:
    """An ISO 8601 timestamp (Z or offset; a missing offset means UTC) as aware UTC.

    A time no post can have (before 1970, after year 9000) raises ImpossibleValue.
    """
    if not isinstance(value, str) or not value:
        raise MappingError(f"{field}: expected an ISO 8601 timestamp, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if _LONG_YEAR.match(text):
        raise ImpossibleValue(f"{field}: {value[:40]!r} is beyond year 9999")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{field}: not an ISO 8601 timestamp: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise ImpossibleValue(f"{field}: {value[:40]!r} is not a possible time") from None
    return bounded(moment, field)


def count(raw: dict[str, Any], key: str) -> int | None:
    """A non-negative engagement figure, or None when absent; a mistyped one is a MappingError."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(f"{key}: expected a whole number, got {type(value).__name__}")
    return figure(value)  # a count no post can have (beyond 64 bits, say) is unknown, not an error


def text_field(raw: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """A string field; None when absent (MappingError when required), MappingError when mistyped."""
    value = raw.get(key)
    if value is None:
        if required:
            raise MappingError(f"{key}: missing")
        return None
    if not isinstance(value, str):
        raise MappingError(f"{key}: expected text, got {type(value).__name__}")
    return value
