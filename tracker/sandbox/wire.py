"""What the sandbox's platform modules see of a request and hand back: plain data, no sockets."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """One request, as a platform module sees it.

    `path` is the part below the platform's prefix (what the real API's path is);
    `base` is the URL of that prefix as the client addressed it, for Link headers.
    `headers` have lower-case names.
    """

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    base: str
    now: datetime

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def bearer(self) -> str | None:
        """The token of an `Authorization: Bearer ...` header (any case of "bearer")."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": JSON, **(headers or {})})


def html_response(markup: str, status: int = 200) -> Response:
    return Response(status, markup.encode(), {"Content-Type": HTML})


def page(title: str, text: str) -> str:
    """A small HTML page, like the error pages proxies and platforms send."""
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>\n"
    )


def iso_ms(moment: datetime) -> str:
    """2026-08-01T13:52:47.767Z (Mastodon, Bluesky)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_s(moment: datetime) -> str:
    """2026-08-01T13:52:47Z (Hacker News today)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def url(base: str, path: str, params: Mapping[str, str]) -> str:
    query = urlencode(params)
    return f"{base}{path}" + (f"?{query}" if query else "")


def etag(body: bytes, *, weak: bool = False) -> str:
    tag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
    return "W/" + tag if weak else tag


def request_id() -> str:
    return str(uuid.uuid4())


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time or date (Z or offset; naive means UTC); None when absent or unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def int_arg(value: str | None, default: int, low: int, high: int) -> int:
    """A clamped integer parameter; garbage gives the default."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = default
    return max(low, min(high, number))
