"""The HN Search API (Algolia) as hn.algolia.com serves it: GET /api/v1/search_by_date and /search.

Parameters: `query` (every word must occur in the title, text or URL; unless the request
says `typoTolerance=false` and `queryType=prefixNone`, as Algolia by default also words one
typo off and the last word as a prefix), `tags` (commas
AND, parentheses OR: "(story,comment)", "story,author_pg"), `numericFilters`
(created_at_i, points, num_comments with < <= = >= >, comma-separated and ANDed), `page`
(from 0) and `hitsPerPage` (default 20, at most 1000). Answers carry nbHits, nbPages,
page, hitsPerPage and today's extra fields (exhaustive, processingTimingsMS, ...); like
Algolia, no more than `hn_max_hits` (1000) hits of one query are served: nbPages stops
there while nbHits goes on. Hits are today's shape: stories with title, url (or
story_text for Ask HN), points, num_comments, children; comments with comment_text,
story_id, story_title, parent_id and no points.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tracker.sandbox.state import Context, searchable
from tracker.sandbox.wire import Request, Response, int_arg, iso_s, json_response
from tracker.sandbox.world import Post

_FILTER = re.compile(r"^\s*(created_at_i|points|num_comments)\s*(<=|>=|<|>|=)\s*(-?\d+)\s*$")
_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


def _tolerant(ctx: Context, query: str) -> list[Post]:
    """Posts matching `query` the way Algolia does by default: each word may be one typo off
    (two from 8 letters; none under 4), and the last word may be a prefix of a longer one."""
    words = [w for w in re.findall(r"[a-z0-9]+", query.lower()) if w]
    found = []
    for post in ctx.newest_first.get("hackernews", []):
        text = set(re.findall(r"[a-z0-9]+", searchable(post)))
        last = len(words) - 1
        if words and all(any(_near(w, t, last=i == last) for t in text) for i, w in enumerate(words)):
            found.append(post)
    return found


def _near(word: str, other: str, *, last: bool) -> bool:
    if word == other or (last and other.startswith(word)):
        return True
    allowed = 0 if len(word) < 4 else 1 if len(word) < 8 else 2
    return allowed > 0 and abs(len(word) - len(other)) <= allowed and _distance(word, other) <= allowed


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (small words only)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def object_id(post: Post) -> str:
    """Item ids grow with time, as HN's do."""
    return str(40_000_000 + post.n * 3)


def handle(ctx: Context, req: Request) -> Response:
    if req.path not in ("/api/v1/search_by_date", "/api/v1/search"):
        return _error(404, "Not Found")
    if req.method != "GET":
        return _error(405, "Method not allowed")
    try:
        filters = _numeric_filters(req.arg("numericFilters") or "")
        tags = _tags(req.arg("tags") or "")
    except ValueError as exc:
        return _error(400, str(exc))
    per_page = int_arg(req.arg("hitsPerPage"), 20, 1, 1000)
    number = int_arg(req.arg("page"), 0, 0, 10_000)
    query = (req.arg("query") or "").strip()
    exact = req.arg("typoTolerance") == "false" and req.arg("queryType") == "prefixNone"
    if not query:
        pool = ctx.newest_first.get("hackernews", [])
    elif exact:
        pool = ctx.matching("hackernews", query)
    else:  # Algolia's defaults: typo variants and the last word as a prefix match too
        pool = ctx.memo(("hn-tolerant", query.lower()), lambda: _tolerant(ctx, query))
    hits = [p for p in ctx.visible(pool, req.now) if _tagged(p, tags) and _passes(ctx, p, req.now, filters)]
    if req.path == "/api/v1/search":  # relevance: points first
        hits = sorted(hits, key=lambda p: ctx.world.engagement(p, req.now).likes, reverse=True)
    served = min(len(hits), ctx.settings.hn_max_hits)
    pages = math.ceil(served / per_page)
    start = number * per_page
    chunk = hits[start : min(start + per_page, served)]
    words = query.lower().split()
    params = {k: v[0] for k, v in req.query.items() if v}
    return json_response(
        {
            "exhaustive": {"nbHits": True, "typo": True},
            "exhaustiveNbHits": True,
            "exhaustiveTypo": True,
            "hits": [hit(ctx, p, req.now, words) for p in chunk],
            "hitsPerPage": per_page,
            "nbHits": len(hits),
            "nbPages": pages,
            "page": number,
            "params": urlencode(params) + "&advancedSyntax=true&analyticsTags=backend",
            "processingTimeMS": 1,
            "processingTimingsMS": {"_request": {"roundTrip": 12}, "total": 1},
            "query": query,
            "serverTimeMS": 2,
        }
    )


def error(status: int) -> Response:
    return _error(
        status, {429: "Too many requests", 403: "Invalid Application-ID or API key"}.get(status, "Error")
    )


def hit(ctx: Context, post: Post, now: datetime, words: list[str]) -> dict[str, Any]:
    """One search hit in today's field set."""
    counts = ctx.world.engagement(post, now)
    oid = object_id(post)
    updated = iso_s(min(now, post.created_at + timedelta(hours=2)))
    base: dict[str, Any] = {
        "author": post.author,
        "children": [],
        "created_at": iso_s(post.created_at),
        "created_at_i": int(post.created_at.timestamp()),
        "objectID": oid,
        "updated_at": updated,
    }
    if post.kind == "comment":
        story = str(_story_of(post))
        text = _html(post.text)
        base |= {
            "_tags": ["comment", f"author_{post.author}", f"story_{story}"],
            "comment_text": text,
            "parent_id": int(story),
            "story_id": int(story),
            "story_title": post.extra.get("story_title", ""),
            "story_url": None,
        }
        fields = {"author": post.author, "comment_text": text, "story_title": base["story_title"]}
    else:
        tags = ["story", f"author_{post.author}", f"story_{oid}"]
        base |= {
            "num_comments": counts.replies,
            "points": max(1, counts.likes),
            "story_id": int(oid),
            "title": post.title,
        }
        if "url" in post.extra:
            base["url"] = post.extra["url"]
        else:
            tags.append("ask_hn")
            base["story_text"] = _html(post.text)
        base["_tags"] = tags
        fields = {"author": post.author, "title": post.title}
        fields |= {"url": base["url"]} if "url" in base else {"story_text": base["story_text"]}
    base["_highlightResult"] = {key: _highlight(value, words) for key, value in fields.items()}
    return dict(sorted(base.items()))


def _story_of(post: Post) -> int:
    """The (made-up) story a comment answers: an older id that no post of the world has."""
    return 40_000_000 + 3 * max(0, post.n - 1 - post.n % 997) + 2


def _html(text: str) -> str:
    """HN's HTML: paragraphs as <p>, quotes and slashes as hex entities."""
    escaped = html.escape(text, quote=True).replace("/", "&#x2F;")
    return "<p>".join(escaped.split("\n\n"))


def _highlight(value: str, words: list[str]) -> dict[str, Any]:
    matched = [w for w in words if w in value.lower()]
    marked = value
    for word in matched:
        marked = re.sub(re.escape(word), lambda m: f"<em>{m.group(0)}</em>", marked, flags=re.IGNORECASE)
    level = "none" if not matched else "full" if len(matched) == len(words) else "partial"
    return {"matchLevel": level, "matchedWords": matched, "value": marked} | (
        {"fullyHighlighted": False} if matched else {}
    )


def _tags(value: str) -> list[set[str]]:
    """ "(story,comment),author_pg" -> [{"story", "comment"}, {"author_pg"}] (AND of ORs)."""
    groups: list[set[str]] = []
    depth, current = 0, ""
    for char in value + ",":
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("tags: unbalanced parentheses")
        if char == "," and depth == 0:
            names = {n.strip() for n in current.strip().strip("()").split(",") if n.strip()}
            if names:
                groups.append(names)
            current = ""
        else:
            current += char
    if depth != 0:
        raise ValueError("tags: unbalanced parentheses")
    return groups


def _tagged(post: Post, groups: list[set[str]]) -> bool:
    own = {"comment" if post.kind == "comment" else "story", f"author_{post.author}"}
    if post.kind == "story":
        own |= {f"story_{object_id(post)}"} | (set() if "url" in post.extra else {"ask_hn"})
    return all(group & own for group in groups)


def _numeric_filters(value: str) -> list[tuple[str, str, int]]:
    found = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        match = _FILTER.match(part)
        if not match:
            raise ValueError(f"invalid numericFilters: {part!r}")
        found.append((match.group(1), match.group(2), int(match.group(3))))
    return found


def _passes(ctx: Context, post: Post, now: datetime, filters: list[tuple[str, str, int]]) -> bool:
    if not filters:
        return True
    counts = ctx.world.engagement(post, now)
    values = {
        "created_at_i": int(post.created_at.timestamp()),
        "points": max(1, counts.likes),
        "num_comments": counts.replies,
    }
    return all(_OPS[op](values[name], number) for name, op, number in filters)


def _error(status: int, message: str) -> Response:
    return json_response({"message": message, "status": status}, status)
