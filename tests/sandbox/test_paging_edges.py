"""Paging edges of the real platforms (issue 15, items 1 and 2), end to end: the sandbox's
switchable quirks against the project's real connectors. For each edge: the items the
platform holds, the items stored, and the recorded gap when they differ — never an
unrecorded loss. Run with -s to see the figures."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.reliability.test_kill9 import stored
from tests.sandbox.conftest import collect, make_connector, spec_for
from tests.sandbox.test_connectors import expected, external_id
from tracker import collect as tracker_collect
from tracker.sandbox import SandboxServer, World, generate_world
from tracker.sandbox.mastodon import filtered, status_uri
from tracker.sandbox.server import ENV


def figure(edge: str, held: int, stored_: int, gap: str | None) -> None:
    print(f"\n[edge] {edge}: held {held}, stored {stored_}, gap: {gap or 'none'}")


def test_mastodon_search_short_filtered_pages_do_not_end_the_run(world: World) -> None:
    with SandboxServer(world, mastodon_filtered=0.15) as server:
        token = server.world.accounts.mastodon_token
        spec = spec_for(server, "acme-mastodon", hashtag=None, query="acme", token_env=ENV["mastodon_token"],
                        backfill=100_000)  # fmt: skip
        assert spec.secrets["token"] == token
        run = collect(server, spec)
        ctx = server.context
        held = {status_uri(p, ctx) for p in ctx.visible(ctx.matching("mastodon", "acme"), server.now)
                if not filtered(ctx, p)}  # fmt: skip
        sizes = [len(p.items) for p in run.pages]
        assert any(0 < size < 40 for size in sizes[:-1]), sizes  # short pages came, and paging went on
        assert set(run.ids) == held and len(run.ids) == len(held)
        assert run.final.complete and run.final.gap is None
        first_short = next(i for i, size in enumerate(sizes) if size < 40)
        figure("mastodon search, 15 % filtered", len(held), len(run.ids), None)
        print(f"        a run stopping at the first short page would have stored {sum(sizes[: first_short + 1])}")


def test_mastodon_tag_timeline_short_filtered_pages_do_not_end_the_run(world: World) -> None:
    with SandboxServer(world, mastodon_filtered=0.15) as server:
        run = collect(server, spec_for(server, "acme-mastodon", backfill=100_000))
        held = {k for k, p in expected(server, "acme-mastodon", server.now).items()
                if not filtered(server.context, p)}  # fmt: skip
        assert set(run.ids) == held and run.final.complete
        figure("mastodon tag timeline, 15 % filtered", len(held), len(run.ids), None)


def test_bluesky_empty_pages_with_a_cursor_and_the_result_cap(world: World) -> None:
    with SandboxServer(world, bluesky_empty_pages=2, bluesky_search_cap=300) as server:
        spec = spec_for(server, "acme-bluesky", backfill=100_000)

        async def run() -> Any:
            from connectors._http import HttpClient
            from tests.sandbox.conftest import FAST, Run

            http = HttpClient.create(FAST)
            try:
                connector = make_connector(server, spec, http)
                connector.search_cap = 300  # the sandbox's cap, as 10,000 is Bluesky's
                found = Run()
                async for page in connector.pages(None):
                    found.pages.append(page)
                return found
            finally:
                await http.aclose()

        import asyncio

        found = asyncio.run(run())
        held = set(expected(server, "acme-bluesky", server.now))
        assert len(held) > 600  # more than twice the cap: the run restarts with `until`
        assert set(found.ids) == held and len(found.ids) == len(held)
        assert found.final.complete and found.final.gap is None
        searches = [r for r in server.requests if r.path.endswith("searchPosts")]
        assert any(r.arg("until") for r in searches)
        assert sum(1 for p in found.pages if not p.items) >= 2  # empty pages were paged through
        figure("bluesky search, 2 empty pages per 2 and a 300-post cap", len(held), len(found.ids), None)


def test_bluesky_more_than_three_empty_pages_end_the_run(world: World) -> None:
    with SandboxServer(world, bluesky_empty_pages=5) as server:
        run = collect(server, spec_for(server, "acme-bluesky", backfill=100_000))
        # two full pages, then 3 empty ones are followed; the 4th ends the run, said as a gap
        assert [len(p.items) for p in run.pages] == [100, 100, 0, 0, 0, 0]
        assert not run.final.complete and run.final.gap and "4 empty pages" in run.final.gap
        held = len(expected(server, "acme-bluesky", server.now))
        figure("bluesky search, 5 empty pages in a row (bounded at 3)", held, len(run.ids), run.final.gap)


def test_reddit_listing_cap_is_a_partial_run_with_a_recorded_gap(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = generate_world(7, 12, datetime(2026, 3, 2).astimezone())
    with SandboxServer(world, reddit_listing_cap=1000, require_bluesky_login=False, rate_limits={}) as server:
        monkeypatch.setattr(tracker_collect, "utcnow", lambda: server.now)  # runs at the world's time
        table = next(c for c in server.stream_configs() if c["name"] == "acme-reddit")
        config = write_config(tmp_path, streams=[{**table, "every": "15m", "backfill": 100_000}])
        early = world.end - timedelta(days=70)
        server.set_now(early)
        first = json.loads(cli("--config", config, "collect", "--json").out)[0]
        assert first["status"] == "ok"
        server.set_now(world.end)  # 70 days later: more new posts than the listing holds
        second = json.loads(cli("--config", config, "collect", "--json").out)[0]
        assert second["status"] == "partial" and "coverage gap" in second["error"], second
        status = json.loads(cli("--config", config, "status", "--json").out)["streams"][0]
        (gap,) = status["gaps"]
        held = {external_id(server, p, "acme-reddit"): p for p in world.posts_of("acme-reddit", now=world.end)}
        have = stored(tmp_path / "tracker.db")["acme-reddit"]
        lost = [p for key, p in held.items() if key not in have]
        assert lost, "the cap left posts unread"
        start, until = (datetime.fromisoformat(gap[k].replace("Z", "+00:00")) for k in ("from", "until"))
        assert all(start <= p.created_at < until for p in lost)  # every unread post lies in the gap
        figure("reddit listing capped at 1,000", len(held), len(have), f"{gap['from']} .. {gap['until']}"
               f" ({len(lost)} posts in it)")  # fmt: skip


def test_hackernews_near_miss_words_are_not_mentions(world: World) -> None:
    with SandboxServer(world) as server:
        spec = spec_for(server, "acme-hn", query="acmee")  # one letter off
        run = collect(server, spec)
        assert run.ids == []  # typoTolerance=false, queryType=prefixNone: words only
        import httpx

        tolerant = httpx.get(f"{server.base_url('hackernews')}/api/v1/search_by_date",
                             params={"query": "acmee", "tags": "(story,comment)"}).json()  # fmt: skip
        assert tolerant["nbHits"] > 0  # what Algolia's defaults would have counted
        figure("hacker news query one typo off", 0, len(run.ids), None)
        print(f"        Algolia's default typo tolerance would have matched {tolerant['nbHits']} hits")


@pytest.mark.slow  # ~200 collections per stream
@pytest.mark.parametrize("stream", ["acme-mastodon", "acme-bluesky"])
def test_posts_up_to_the_overlap_late_are_collected(stream: str) -> None:
    world = generate_world(7, 1, datetime(2026, 3, 2).astimezone(), late=timedelta(hours=3), volume=6)
    step, days = timedelta(minutes=30), timedelta(days=2)
    late = [p for p in world.posts_of(stream) if p.visible_at - p.created_at > timedelta(minutes=30)]
    assert max(p.visible_at - p.created_at for p in late) > timedelta(hours=2)  # some beyond the margin
    with SandboxServer(world) as server:
        for overlap in (timedelta(hours=2), timedelta(hours=3)):
            # Collect every 30 minutes through the last two days, then see what arrived late.
            spec = spec_for(server, stream, backfill=100_000,
                            **({} if overlap == timedelta(hours=2) else {"overlap": "3h"}))  # fmt: skip
            moment = world.end - days
            server.set_now(moment)
            cursor = collect(server, spec).final.cursor
            ids: set[str] = set()
            while moment < world.end:
                moment += step
                server.set_now(moment)
                run = collect(server, spec, cursor)
                cursor, ids = run.final.cursor, ids | set(run.ids)
            window = [p for p in late if world.end - days < p.created_at and p.visible_at <= world.end]
            # A run reads back `overlap` from the newest post it stored, at most one interval old.
            within = [p for p in window if p.visible_at - p.created_at <= overlap - step]
            assert within and all(external_id(server, p, stream) in ids for p in within)
            missed = [p for p in window if external_id(server, p, stream) not in ids]
            print(f"\n[late] {stream} overlap {overlap}: {len(within)} posts up to {overlap - step} late, "
                  f"all collected; of {len(window) - len(within)} later ones {len(missed)} missed")
