"""The sandbox's posts after they are written: engagement that grows over days for every post,
and (switched on) posts their authors delete, gone as each platform shows a deleted post.
Also the batch-read endpoints a refresh uses."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tracker.sandbox import SandboxServer, World
from tracker.sandbox.bluesky import post_uri
from tracker.sandbox.lifecycle import DELETE_AFTER, DELETE_WITHIN, deleted_at
from tracker.sandbox.mastodon import status_id
from tracker.sandbox.reddit import fullname
from tracker.sandbox.world import Post

AGES = (timedelta(hours=1), timedelta(hours=24), timedelta(hours=48), timedelta(days=7))


def total(world: World, post: Post, age: timedelta) -> int:
    c = world.engagement(post, post.created_at + age)
    return c.likes + c.reposts + c.replies + c.quotes


def test_every_posts_engagement_grows_over_days(world: World) -> None:
    for stream in ("acme-mastodon", "acme-bluesky", "acme-hn", "acme-reddit", "acme-owned-mastodon"):
        posts = [p for p in world.posts_of(stream) if p.kind != "comment"]
        readings = [[total(world, p, age) for age in AGES] for p in posts]
        assert all(r == sorted(r) for r in readings), stream  # never shrinks
        grew = [r for r in readings if r[0] < r[2]]
        assert len(grew) > len(posts) / 2, (stream, len(grew), len(posts))  # most still grow after 1 h


def test_deletions_are_off_unless_switched_on(server: SandboxServer, world: World) -> None:
    assert all(deleted_at(server.context, p) is None for p in world.posts)


def test_a_share_of_posts_is_deleted_and_gone_from_every_answer(world: World) -> None:
    with SandboxServer(world, deleted_share=0.1) as server:
        when = {p.n: deleted_at(server.context, p) for p in world.posts}
        deleted = [p for p in world.posts if when[p.n] is not None]
        assert 0.05 * len(world.posts) < len(deleted) < 0.15 * len(world.posts)
        assert all(DELETE_AFTER <= when[p.n] - p.created_at <= DELETE_WITHIN for p in deleted)  # type: ignore[operator]
        server.set_now(world.end + timedelta(days=7))
        masto = next(p for p in deleted if p.platform == "mastodon")
        base = server.base_url("mastodon")
        assert httpx.get(f"{base}/api/v1/statuses/{status_id(masto)}").status_code == 404
        assert httpx.get(f"{base}/api/v1/statuses", params={"id[]": [status_id(masto)]}).json() == []
        sky = next(p for p in deleted if p.platform == "bluesky" and p.kind == "post")
        answer = httpx.get(
            server.base_url("bluesky") + "/xrpc/app.bsky.feed.getPosts", params={"uris": post_uri(sky)}
        )
        assert answer.json() == {"posts": []}
        red = next(p for p in deleted if p.platform == "reddit")
        info = httpx.get(
            server.base_url("reddit") + "/api/info.json",
            params={"id": fullname(red), "raw_json": 1},
            headers={"User-Agent": "test/1.0 (by /u/acme)"},
        ).json()
        [child] = info["data"]["children"]
        assert child["data"]["author"] == "[deleted]" and child["data"]["removed_by_category"] == "deleted"
        search = httpx.get(
            server.base_url("reddit") + "/search.json",
            params={"q": "acme", "sort": "new", "limit": 100},
            headers={"User-Agent": "test/1.0 (by /u/acme)"},
        ).json()
        assert fullname(red) not in {c["data"]["name"] for c in search["data"]["children"]}


def test_the_control_endpoint_switches_deletions(server: SandboxServer, world: World) -> None:
    answer = httpx.post(f"{server.url}/_sandbox/deletions", json={"share": 0.2})
    assert answer.json() == {"deleted_share": 0.2}
    assert any(deleted_at(server.context, p) for p in world.posts)
    assert httpx.post(f"{server.url}/_sandbox/deletions", json={"share": 3}).status_code == 400
    httpx.post(f"{server.url}/_sandbox/deletions", json={"share": 0})
    assert all(deleted_at(server.context, p) is None for p in world.posts)


def test_one_post_can_be_deleted_at_a_moment(server: SandboxServer, world: World) -> None:
    post = next(p for p in world.posts_of("acme-mastodon"))
    server.delete(post, post.created_at + timedelta(hours=2))
    base = server.base_url("mastodon")
    server.set_now(post.created_at + timedelta(hours=1))
    assert httpx.get(f"{base}/api/v1/statuses/{status_id(post)}").status_code == 200
    server.set_now(post.created_at + timedelta(hours=3))
    assert httpx.get(f"{base}/api/v1/statuses/{status_id(post)}").status_code == 404


@pytest.mark.parametrize("count, status", [(20, 200), (21, 422)])
def test_mastodon_batch_reads_take_twenty_ids(
    server: SandboxServer, world: World, count: int, status: int
) -> None:
    posts = world.posts_of("acme-mastodon")[-count:]
    answer = httpx.get(
        server.base_url("mastodon") + "/api/v1/statuses", params={"id[]": [status_id(p) for p in posts]}
    )
    assert answer.status_code == status
    if status == 200:
        assert [s["id"] for s in answer.json()] == [status_id(p) for p in posts]
