"""Alert episodes the sandbox injects on a schedule: a mention spike, a sentiment drop, a keyword burst.

An `Episode` is a burst of posts on one of the world's mention streams (default the brand's
Mastodon hashtag), written from its start over `span` and each collectable as soon as it is
written (no platform lag), so the whole episode is collectable at `start + span`:

  spike           `posts` (default 40) posts over `span` (default 10 minutes) in the brand's
                  usual mix of tones: far above any usual hour of the world's streams
  sentiment_drop  `posts` (default 24) negative posts over `span` (default 3 hours): fewer than
                  10 in any hour (not a spike), but the mean sentiment of the last hours drops
  keyword         `posts` (default 5) posts naming `keyword` (default "outage") over `span`
                  (default 10 minutes), usual tones

Combine a spike and a sentiment drop at one time for a crisis.

When it starts: `at` (a timestamp) or `after` (a duration after the server starts). The
posts are added to the world before it is served, with their future times; a server with
episodes runs on the wall clock (SandboxServer(live=True)), so they appear when their time
comes, exactly as posts written then would. `[sandbox] episodes` and `tracker sandbox serve
--episode` configure them (tracker/config.py parses both into Episode).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from tracker.sandbox import texts
from tracker.sandbox.world import TONE_MIX, Post, World, _authors, _Builder, _counts, _truncate

KINDS = ("spike", "sentiment_drop", "keyword")
DEFAULT_POSTS = {"spike": 40, "sentiment_drop": 24, "keyword": 5}
DEFAULT_SPAN = {"spike": timedelta(minutes=10), "sentiment_drop": timedelta(hours=3),
                "keyword": timedelta(minutes=10)}  # fmt: skip
DEFAULT_KEYWORD = "outage"
_DRAFT_FIELDS = ("platform", "stream", "role", "kind", "subjects", "created_at", "visible_at", "author",
                 "lang", "says_lang", "tone", "text", "title")  # fmt: skip


class EpisodeError(ValueError):
    """An episode the world cannot hold (an unknown or owned stream), said in words."""


@dataclass(frozen=True)
class Episode:
    """One scheduled episode (see the module docstring); exactly one of `at` and `after` is set."""

    kind: str
    at: datetime | None = None
    after: timedelta | None = None
    stream: str | None = None  # a mention stream of the world; None: the brand's Mastodon stream
    posts: int | None = None  # None: DEFAULT_POSTS[kind]
    span: timedelta | None = None  # None: DEFAULT_SPAN[kind]
    keyword: str = DEFAULT_KEYWORD

    def start(self, started: datetime) -> datetime:
        """When it starts, for a server started at `started`."""
        if self.at is not None:
            return self.at
        return started + (self.after or timedelta(0))

    @property
    def count(self) -> int:
        return self.posts if self.posts is not None else DEFAULT_POSTS[self.kind]

    @property
    def length(self) -> timedelta:
        return self.span if self.span is not None else DEFAULT_SPAN[self.kind]


@dataclass(frozen=True)
class Scheduled:
    """An episode placed in time: its stream, start, the moment all of it is collectable, its posts."""

    episode: Episode
    stream: str
    start: datetime
    collectable: datetime
    posts: tuple[int, ...]  # post numbers in the world

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {"kind": self.episode.kind, "stream": self.stream, "start": self.start.isoformat(),
                "collectable_at": self.collectable.isoformat(), "posts": len(self.posts),
                "keyword": self.episode.keyword if self.episode.kind == "keyword" else None,
                "collectable": self.collectable <= now}  # fmt: skip

    def line(self) -> str:
        what = f"{len(self.posts)} posts"
        if self.episode.kind == "keyword":
            what += f" naming {self.episode.keyword!r}"
        return (f"  episode {self.episode.kind} on {self.stream}: {what} from {self.start.isoformat()}, "
                f"all collectable at {self.collectable.isoformat()}")  # fmt: skip


def parse_episode(text: str, now: datetime | None = None) -> Episode:
    """`KIND[:STREAM]@WHEN` (the --episode option): WHEN is `+DURATION` after the server starts
    (`+2m`, `+90s`) or an ISO 8601 timestamp with offset. Raises ValueError in words."""
    from tracker.timeutil import parse_duration, parse_instant

    what, sep, when = text.partition("@")
    kind, _, stream = what.partition(":")
    if not sep or kind not in KINDS or not when.strip():
        raise ValueError(
            f"expected KIND[:STREAM]@WHEN with KIND one of {', '.join(KINDS)} and WHEN like +2m or "
            f"2026-12-02T10:00:00Z, got {text!r}"
        )
    when = when.strip()
    if when.startswith("+"):
        try:
            return Episode(kind, after=parse_duration(when[1:]), stream=stream or None)
        except ValueError:
            raise ValueError(f"expected a duration after '+' like +2m or +90s, got {when!r}") from None
    try:
        return Episode(kind, at=parse_instant(when), stream=stream or None)
    except ValueError:
        raise ValueError(f"expected +DURATION or a timestamp with offset like 2026-12-02T10:00:00Z, "
                         f"got {when!r}") from None  # fmt: skip


def default_stream(world: World) -> str:
    return f"{world.brand_slug}-mastodon"


def schedule(
    world: World, episodes: Sequence[Episode], started: datetime
) -> tuple[World, tuple[Scheduled, ...]]:
    """The world with every episode's posts added (numbered after its own), and where each went."""
    if not episodes:
        return world, ()
    builder = _Builder(world.seed, world.zone, world.days, world.end, world.brand, world.competitor,
                       world.streams, world.experiments, world.spikes)  # fmt: skip
    names = {world.brand_slug: world.brand, world.competitor_slug: world.competitor}
    added: list[Post] = []
    placed: list[Scheduled] = []
    number = max((p.n for p in world.posts), default=0)
    for index, episode in enumerate(episodes):
        name = episode.stream or default_stream(world)
        mention_streams = [s.name for s in world.streams if s.role != "owned"]
        if name not in mention_streams:
            raise EpisodeError(
                f"episode {episode.kind} on {name!r}: the sandbox's world has no such mention stream "
                f"(known: {', '.join(mention_streams)})"
            )
        stream = world.stream(name)
        rng = random.Random(f"{world.seed}:episode:{index}")
        authors = _authors(rng, stream.platform, 200)
        start = episode.start(started)
        step = timedelta(seconds=1) if stream.platform in ("hackernews", "reddit", "rss") else timedelta(
            milliseconds=1)  # fmt: skip
        numbers = []
        last = start
        for i in range(episode.count):
            moment = _truncate(start + max(episode.length * i / episode.count, step * i), stream.platform)
            mix = TONE_MIX["brand"]  # a spike or a keyword burst alone leaves the tone as usual
            tone = "negative" if episode.kind == "sentiment_drop" else rng.choices(texts.TONES, mix)[0]
            draft = builder._mention(rng, stream, moment, rng.choice(authors), tone, None)
            if draft.lang != "en":  # an episode is in English, so its words and sentiment are known
                said = texts.sentence(rng, names[stream.subject], tone, "en")
                if draft.platform == "reddit":
                    draft.title = said
                elif draft.platform in ("mastodon", "bluesky") or draft.kind == "comment":
                    draft.text = said
            draft.lang, draft.says_lang = "en", True
            if episode.kind == "keyword":
                said = f"{names[stream.subject]} {episode.keyword}"
                draft.text = f"{draft.text} Anyone else hit by the {said}?".strip()
                if draft.title:
                    draft.title = f"{draft.title} ({episode.keyword})"
            draft.created_at = draft.visible_at = moment
            number += 1
            numbers.append(number)
            likes, reposts, replies, quotes = _counts(rng, (6.0, 2.0, 2.0, 0.5), 2.0)
            fields: dict[str, Any] = {name: getattr(draft, name) for name in _DRAFT_FIELDS}
            fields.update(likes=likes, reposts=reposts, replies=replies, quotes=quotes)
            added.append(Post(n=number, **fields, extra=MappingProxyType(dict(draft.extra))))
            last = max(last, moment)
        placed.append(Scheduled(episode, name, start, last, tuple(numbers)))
    posts = tuple(sorted((*world.posts, *added), key=lambda p: (p.created_at, p.n)))
    return replace(world, posts=posts, by_n=MappingProxyType({p.n: p for p in posts})), tuple(placed)
