"""End to end: collection runs read known mentions again at fixed ages, through the real
connectors against the sandbox, with the tracker's clock on the sandbox's clock.

A brand mention's stored engagement at 48 h must equal what the sandbox shows at 48 h
(before the refresh it stayed at its first reading); a post its author deletes is marked
deleted, kept, left out of the counts and counted in `status`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.sandbox.conftest import FAST
from tracker import collect as collect_module
from tracker import refresh as refresh_module
from tracker.collect import collect
from tracker.config import Settings, parse_settings
from tracker.metrics import _engagement_at_age, daily
from tracker.sandbox import SandboxServer, World
from tracker.sandbox.bluesky import post_uri
from tracker.sandbox.hackernews import object_id
from tracker.sandbox.mastodon import status_uri
from tracker.sandbox.reddit import fullname
from tracker.sandbox.world import Post
from tracker.status import stream_status
from tracker.store.db import Store, open_store
from tracker.store.models import EngagementSnapshot, Mention, MentionStream, Stream
from tracker.timeutil import day_bounds

STREAMS = ("acme-mastodon", "acme-bluesky", "acme-hn", "acme-reddit")
AGES = (timedelta(hours=1), timedelta(hours=24), timedelta(hours=48))


def external_id(server: SandboxServer, post: Post) -> str:
    return {
        "mastodon": lambda: status_uri(post, server.context),
        "bluesky": lambda: post_uri(post),
        "hackernews": lambda: object_id(post),
        "reddit": lambda: fullname(post),
    }[post.platform]()


def shown(server: SandboxServer, post: Post, moment: datetime) -> int:
    """The engagement the platform shows for the post at `moment` (as its API renders it)."""
    counts = server.world.engagement(post, moment)
    if post.platform == "hackernews":  # points (at least 1) and comments
        return max(1, counts.likes) + counts.replies
    if post.platform == "reddit":  # score and comments
        return counts.likes + counts.replies
    return counts.likes + counts.reposts + counts.replies + counts.quotes


def settings_for(server: SandboxServer, names: tuple[str, ...], db: str) -> Settings:
    tables = [{"every": "15m", **c} for c in server.stream_configs() if c["name"] in names]
    raw = {"organisation": {"name": "Refresh test"}, "database": {"url": db}, "streams": tables}
    return parse_settings(raw, Path("/x/tracker.toml"))


@pytest.fixture
def clock(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The tracker's clock is the sandbox's: first_seen, readings and due ages on its time."""
    monkeypatch.setattr(collect_module, "utcnow", lambda: server.now)
    monkeypatch.setattr(refresh_module, "utcnow", lambda: server.now)
    for name, value in server.secrets().items():
        monkeypatch.setenv(name, value)
    return server


def run_at(server: SandboxServer, settings: Settings, store: Store, moment: datetime) -> list[Any]:
    from connectors._http import HttpClient

    server.set_now(moment)

    async def go() -> list[Any]:
        http = HttpClient.create(FAST)
        try:
            return await collect(settings=settings, store=store, streams=settings.streams, http=http)
        finally:
            await http.aclose()

    reports = asyncio.run(go())
    assert all(r.status == "ok" for r in reports), [(r.stream, r.error) for r in reports]
    assert all(r.refresh_error is None for r in reports), [(r.stream, r.refresh_error) for r in reports]
    return reports


def chosen(world: World, stream: str) -> Post:
    """A mention written two days before the world's end, quickly visible, with engagement to grow."""
    posts = [
        p
        for p in world.posts_of(stream)
        if world.end - timedelta(days=3) < p.created_at < world.end - timedelta(days=2)
        and p.visible_at - p.created_at < timedelta(minutes=5)
        and p.kind != "comment"
        and p.likes + p.replies > 4
    ]
    assert posts, stream
    return posts[0]


@pytest.mark.slow
def test_engagement_at_48h_equals_the_platforms(clock: SandboxServer, world: World, tmp_path: Path) -> None:
    server = clock
    db = f"sqlite:///{tmp_path / 'tracker.db'}"
    settings = settings_for(server, STREAMS, db)
    store = open_store(db)
    picks = {name: chosen(world, name) for name in STREAMS}
    start = min(p.created_at for p in picks.values())
    # One run at each moment: first sight ten minutes in, then at every age of every pick.
    moments = sorted(
        {start + timedelta(minutes=10)} | {p.created_at + a for p in picks.values() for a in AGES}
    )
    moments = [m for m in moments if m >= start + timedelta(minutes=10)]
    first: dict[str, int] = {}
    try:
        for moment in moments:
            run_at(server, settings, store, moment)
            with store.read() as session:
                for name, post in picks.items():
                    if name not in first and post.created_at + timedelta(minutes=5) <= moment:
                        row = session.scalars(
                            select(Mention).where(Mention.external_id == external_id(server, post))
                        ).one()
                        first[name] = row.engagement
        with store.read() as session:
            for name, post in picks.items():
                row = session.scalars(
                    select(Mention).where(Mention.external_id == external_id(server, post))
                ).one()
                readings = session.scalars(
                    select(EngagementSnapshot).where(EngagementSnapshot.mention_id == row.id)
                ).all()
                assert len(readings) >= 1 + len(AGES), (name, len(readings))  # each reading recorded
                for age in AGES:
                    mark = post.created_at + age
                    stored = _engagement_at_age(session, [(row.id, mark)])[row.id]
                    assert stored == shown(server, post, mark), (name, age, stored)
                at_48h = shown(server, post, post.created_at + timedelta(hours=48))
                assert first[name] < at_48h, (name, first[name], at_48h)  # it grew after first sight
    finally:
        store.close()


def test_a_deleted_post_is_marked_kept_and_left_out(
    clock: SandboxServer, world: World, tmp_path: Path
) -> None:
    server = clock
    db = f"sqlite:///{tmp_path / 'tracker.db'}"
    names = ("acme-mastodon", "acme-bluesky", "acme-reddit", "acme-hn")
    settings = settings_for(server, names, db)
    store = open_store(db)
    picks = {name: chosen(world, name) for name in names}
    newest = max(p.created_at for p in picks.values())
    start, later = (
        newest + timedelta(minutes=10),
        newest + timedelta(hours=48),
    )  # every pick's 48 h in between
    try:
        run_at(server, settings, store, start)
        for post in picks.values():
            server.delete(post, start + timedelta(minutes=20))
        reports = run_at(server, settings, store, later)
        assert sum(r.deleted for r in reports) >= len(picks)
        with store.read() as session:
            for name, post in picks.items():
                row = session.scalars(
                    select(Mention).where(Mention.external_id == external_id(server, post))
                ).one()
                assert row.deleted_at == later, name  # kept, and marked when the refresh found it gone
            others = session.scalars(select(Mention).where(Mention.deleted_at.is_not(None))).all()
            assert {m.external_id for m in others} == {external_id(server, p) for p in picks.values()}
            stream_ids = {s["name"]: s for s in stream_status(store=store, settings=settings)}
            for name in names:
                assert stream_ids[name]["deleted"] == 1
            # Left out of the day's count from then on: the day counts one less than is stored.
            for name, post in picks.items():
                sid = session.scalars(select(Stream.id).where(Stream.name == name)).one()
                day = post.created_at.astimezone(world.zone).date()
                counted = daily(session, "mentions", [sid], day, day, world.zone)[day].value
                lo, hi = day_bounds(day, day, world.zone)
                stored = session.scalar(
                    select(func.count()).where(
                        MentionStream.stream_id == sid,
                        MentionStream.created_at >= lo,
                        MentionStream.created_at < hi,
                    )
                )
                assert counted == stored - 1, (name, counted, stored)
    finally:
        store.close()
