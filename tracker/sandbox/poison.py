"""Poison: one hostile item in an otherwise normal answer (the sandbox's "poison" fault).

`server.faults.add("/hn", "poison", what="far_future")` makes the next answer under
/hn carry its first item altered as `what` says; the other items stay as they are.
A collector must store or reject that one item and go on (issue 15, item 4):

- "big_int": every engagement count of the item is 2**70 (beyond 64 bits);
- "year_10000": its times are in year 10000 (Unix seconds 253402300800);
- "far_future": its times are on 1 January 2100;
- "surrogate": its text and author hold a lone surrogate (JSON "\\ud800"; a feed "&#xD800;");
- "nul": its text holds NUL characters (JSON "\\u0000");
- "huge": its text is 10 MB long.

Two more are what real platforms send, not attacks: "no_date" (a feed entry without any
date) and "removed" (a Reddit post whose author is "[deleted]" and body "[removed]").

JSON answers (every platform but RSS) are altered as data; feeds as XML text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tracker.sandbox.faults import COUNTS, _first_items, _inner

KINDS = ("big_int", "year_10000", "far_future", "surrogate", "nul", "huge")
QUIRKS = ("no_date", "removed")  # not hostile, only awkward: see the module docstring
HUGE = 10_000_000
TEXTS = ("content", "text", "title", "comment_text", "story_text", "selftext")
AUTHORS = ("author",)
ISO_TIMES = ("created_at", "createdAt", "indexedAt")
EPOCHS = ("created_at_i", "created_utc", "created")
TIMES = {
    "year_10000": ("10000-01-01T00:00:00.000Z", 253402300800),
    "far_future": ("2100-01-01T00:00:00.000Z", 4102444800),
}


def poison_json(body: bytes, what: str) -> bytes:
    """The JSON answer with its first item poisoned; ASCII-escaped so lone surrogates survive."""
    document = json.loads(body)
    items = _first_items(document)
    if items:
        _poison(_inner(items[0]), what)
    return json.dumps(document, ensure_ascii=True).encode()


def _poison(item: dict[str, Any], what: str) -> None:
    record = item.get("record") if isinstance(item.get("record"), dict) else None
    places = [item] + ([record] if record is not None else [])
    if what == "removed":
        item.update(author="[deleted]", selftext="[removed]")
    elif what == "no_date":
        for key in ISO_TIMES + EPOCHS:
            item.pop(key, None)
    elif what == "big_int":
        for key in (*COUNTS, "quotes_count", "quoteCount"):
            if key in item:
                item[key] = 2**70
    elif what in TIMES:
        iso, epoch = TIMES[what]
        for place in places:
            for key in ISO_TIMES:
                if key in place:
                    place[key] = iso if key != "created_at" or isinstance(place[key], str) else epoch
            for key in EPOCHS:
                if key in place:
                    place[key] = epoch
    else:
        extra = {"surrogate": "\ud800 broken \udfff", "nul": "\x00 nul \x00", "huge": "x" * HUGE}[what]
        for place in places:
            for key in TEXTS:
                if isinstance(place.get(key), str):
                    place[key] = place[key] + extra if what != "huge" else extra
                    if what == "huge":  # one 10 MB string: the answer stays under the 20 MB cap
                        return
            if what != "huge":
                for key in AUTHORS:
                    if isinstance(place.get(key), str):
                        place[key] += extra


def poison_feed(body: bytes, what: str) -> bytes:
    """The feed with its first entry poisoned (XML text: a date, a title, a character reference)."""
    text = body.decode("utf-8")
    if what == "no_date":
        entry = re.search(r"<(item|entry)>.*?</(item|entry)>", text, flags=re.S)
        if entry:
            dates = r"<(pubDate|published|updated)>[^<]*</(pubDate|published|updated)>"
            bare = re.sub(dates, "", entry.group(0))
            text = text[: entry.start()] + bare + text[entry.end() :]
    elif what in TIMES:
        year = "10000" if what == "year_10000" else "2100"
        rss = f"<pubDate>Fri, 01 Jan {year} 00:00:00 GMT</pubDate>"
        text = re.sub(r"<pubDate>[^<]*</pubDate>", rss, text, count=1)
        atom = f"<published>{year}-01-01T00:00:00Z</published><updated>{year}-01-01T00:00:00Z</updated>"
        text = re.sub(r"<published>[^<]*</published><updated>[^<]*</updated>", atom, text, count=1)
    else:
        extra = {"huge": "x" * HUGE, "surrogate": "&#xD800;", "nul": "&#0;"}.get(what, "")
        text = re.sub(r"(<(?:item|entry)>.*?<title[^>]*>)", lambda m: m.group(1) + extra, text, count=1,
                      flags=re.S)  # fmt: skip
    return text.encode("utf-8")


def poison(body: bytes, content_type: str, what: str) -> bytes:
    """Poison an answer of either kind; `what` must be one of KINDS."""
    if what not in KINDS + QUIRKS:
        raise ValueError(f"unknown poison {what!r}; known: {', '.join(KINDS + QUIRKS)}")
    if "json" in content_type:
        return poison_json(body, what)
    return poison_feed(body, what)
