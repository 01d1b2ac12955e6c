"""Faults the sandbox injects on request, so tests can watch the HTTP client retry or give up.

`server.faults.add("/mastodon/api/v1/timelines", "429", count=2, retry_after=3)` makes
the next two requests whose path starts with that prefix answer 429 with
`Retry-After: 3`; once its count is used up a rule is gone (`count=None`: forever).
Rules are tried in the order they were added; the first live one that matches applies.
Kinds and their parameters:

- "429" (`retry_after` seconds, default 1; None sends no header), "500", "502", "503", "504"
- "401", "403" (an error body in the platform's style), "404"
- "slow" (`delay` seconds, default 1.0, then the normal answer)
- "invalid_json" (200, JSON content type, a body cut off mid-object)
- "html_200" (200 with an HTML maintenance page)
- "truncated" (200, Content-Length larger than the body, then the connection is closed)
- "close" (the connection is closed without any answer)
- "hang" (the request is accepted and never answered until the server stops)
- "drift" (the normal JSON answer with its schema drifted: the first item loses its
  identity and time fields, the second gets its counts as text, every item gains
  fields no client knows; see `drift`)
- "bomb" (`size` MB, default 1000: a 200 answer whose gzip body, about 1 MB per GB,
  inflates to `size` MB of zeros)
- "flood" (`size` MB, default 500: a 200 feed answer of that length, sent as it is written)
- "poison" (`what`: big_int, year_10000, far_future, surrogate, nul or huge: the
  normal answer with its first item made hostile; see tracker/sandbox/poison.py)
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "401",
    "403",
    "404",
    "slow",
    "invalid_json",
    "html_200",
    "truncated",
    "close",
    "hang",
    "drift",
    "poison",
    "bomb",
    "flood",
)

IDENTITY = (
    "uri",
    "objectID",
    "name",
    "id",
    "created_at",
    "createdAt",
    "created_utc",
    "created_at_i",
    "record",
)
COUNTS = ("favourites_count", "reblogs_count", "replies_count", "likeCount", "repostCount", "replyCount",
          "points", "num_comments", "score")  # fmt: skip


def drift(document: Any) -> Any:
    """Schema drift in the first list of items of a JSON answer (see the module docstring)."""
    items = _first_items(document)
    if items:
        for key in IDENTITY:
            _inner(items[0]).pop(key, None)
        if len(items) > 1:
            for key in COUNTS:
                if key in _inner(items[1]):
                    _inner(items[1])[key] = "many"
        for item in items:
            _inner(item)["x_added_by_platform"] = {"nested": [1, "two", None]}
    return document


def _inner(item: dict[str, Any]) -> dict[str, Any]:
    """Reddit wraps a thing in {"kind", "data"}; Bluesky feeds wrap a post in {"post"}."""
    for key in ("data", "post"):
        if isinstance(item.get(key), dict):
            return item[key]  # type: ignore[no-any-return]
    return item


def _first_items(document: Any) -> list[dict[str, Any]] | None:
    if isinstance(document, list) and document and all(isinstance(i, dict) for i in document):
        return document
    if isinstance(document, dict):
        for value in document.values():
            found = _first_items(value)
            if found:
                return found
    return None


@dataclass
class Fault:
    """One rule: requests whose path starts with `path` (and of `method`, when given)."""

    id: int
    path: str
    kind: str
    count: int | None  # None: every matching request
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return path.startswith(self.path) and (self.count is None or self.hits < self.count)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "count": self.count,
            "method": self.method,
            "params": self.params,
            "hits": self.hits,
        }


class Faults:
    """The server's fault rules; safe to use from tests while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self, path: str, kind: str, count: int | None = 1, *, method: str | None = None, **params: Any
    ) -> Fault:
        """Inject `kind` into the next `count` requests under `path` (see the module docstring)."""
        kind = str(kind)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None for every request)")
        if not path.startswith("/"):
            raise ValueError("path must start with '/' (a prefix of the request path)")
        with self._lock:
            fault = Fault(next(self._ids), path, kind, count, method, dict(params))
            self._rules.append(fault)
            return fault

    def add_from(self, spec: Mapping[str, Any]) -> Fault:
        """A rule from the control endpoint's JSON: {"path", "kind", "count", "method", "params"}."""
        params = spec.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("params must be an object")
        count = spec.get("count", 1)
        if count is not None and not isinstance(count, int):
            raise ValueError("count must be a whole number or null")
        return self.add(
            str(spec.get("path", "")), str(spec.get("kind", "")), count, method=spec.get("method"), **params
        )

    def take(self, method: str, path: str) -> Fault | None:
        """The first live rule matching this request, its use counted; None when none applies."""
        with self._lock:
            for fault in self._rules:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
            return None

    def clear(self) -> int:
        with self._lock:
            count = len(self._rules)
            self._rules.clear()
            return count

    def pending(self) -> list[Fault]:
        """Rules that will still apply to some request."""
        with self._lock:
            return [f for f in self._rules if f.count is None or f.hits < f.count]

    def __len__(self) -> int:
        return len(self.pending())
