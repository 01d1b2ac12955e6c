"""Endpoints that read known posts again, and those real client libraries call first.

Each platform module hands a request here first (`mastodon(ctx, req)`, ...); None means
"not one of these", and the platform module answers as before.

Mastodon: GET /api/v1/statuses?id[]= (4.3+: at most 20 ids, 422 beyond; ids not shown are
left out), GET /api/v1/instance and /api/v2/instance (the server's version and limits:
Mastodon.py reads them before its first call), GET /api/v1/accounts/verify_credentials
(the token's account, with `source`).
Bluesky: app.bsky.feed.getPostThread (uri, depth, parentHeight; 400 NotFound for a post not shown).
Reddit: GET /api/info (/api/info.json on www): up to 100 fullnames, a deleted post still
listed as "[deleted]"; GET /comments/{id} and /r/{sub}/comments/{id}/{slug} (.json on www):
[the post's listing, its comments' listing].
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from tracker.sandbox.lifecycle import gone
from tracker.sandbox.state import Context
from tracker.sandbox.wire import Request, Response, json_response
from tracker.sandbox.world import Post

MASTODON_VERSION = "4.5.2"
STATUSES_LIMIT = 20
REDDIT_INFO_LIMIT = 100
_COMMENTS = re.compile(r"^(?:/r/[A-Za-z0-9_]+)?/comments/([a-z0-9]+)(?:/[^/]*)?/?(\.json)?$")


# -- Mastodon ------------------------------------------------------------------------------------


def without_trailing_slash(req: Request) -> Request:
    """The request with its path's trailing slash dropped, as Rails routes it."""
    path = req.path.rstrip("/")
    return req if path == req.path or not path else replace(req, path=path)


def mastodon(ctx: Context, req: Request) -> Response | None:
    if req.method != "GET":
        return None
    if req.path == "/api/v1/statuses":
        return _statuses(ctx, req)
    if req.path == "/api/v1/instance":
        return json_response(_instance_v1(ctx, req))
    if req.path == "/api/v2/instance":
        return json_response(_instance_v2(ctx, req))
    if req.path == "/api/v1/accounts/verify_credentials":
        return _verify_credentials(ctx, req)
    return None


def _statuses(ctx: Context, req: Request) -> Response:
    from tracker.sandbox import mastodon as m

    ids = list(dict.fromkeys(req.query.get("id[]", []) + req.query.get("id", [])))
    if len(ids) > STATUSES_LIMIT:
        return json_response({"error": "Validation failed: too many ids"}, 422)
    shown = {m.status_id(p): p for p in ctx.visible(ctx.newest_first.get("mastodon", []), req.now)}
    found = [m.status_json(ctx, shown[i], req.now) for i in ids if i in shown]
    return json_response(found)


def _instance_v1(ctx: Context, req: Request) -> dict[str, Any]:
    domain = ctx.world.accounts.instance
    return {
        "uri": domain,
        "title": f"{ctx.world.brand} sandbox",
        "short_description": "A simulated Mastodon server of the social-tracker sandbox.",
        "description": "Every post here is made up, from a seeded world.",
        "email": f"admin@{domain}",
        "version": MASTODON_VERSION,
        "urls": {"streaming_api": f"wss://{domain}"},
        "stats": {
            "user_count": 400,
            "status_count": len(ctx.newest_first.get("mastodon", [])),
            "domain_count": 5,
        },
        "thumbnail": f"https://{domain}/packs/media/images/preview.png",
        "languages": ["en"],
        "registrations": False,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": _configuration(),
        "contact_account": None,
        "rules": [],
    }


def _instance_v2(ctx: Context, req: Request) -> dict[str, Any]:
    domain = ctx.world.accounts.instance
    tags = ctx.settings.mastodon_tag_access
    return {
        "domain": domain,
        "title": f"{ctx.world.brand} sandbox",
        "version": MASTODON_VERSION,
        "source_url": "https://github.com/mastodon/mastodon",
        "description": "A simulated Mastodon server of the social-tracker sandbox.",
        "usage": {"users": {"active_month": 400}},
        "thumbnail": {"url": f"https://{domain}/packs/media/images/preview.png"},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            **_configuration(),
            "urls": {"streaming": f"wss://{domain}", "status": None},
            "vapid": {"public_key": ""},
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "translation": {"enabled": False},
            "timelines_access": {
                "live_feeds": {"local": "public", "remote": "public"},
                # Mastodon 4.5: "authenticated" makes tag timelines need a token (switchable).
                "hashtag_feeds": {"local": tags, "remote": tags},
                "trending_link_feeds": {"local": "public", "remote": "public"},
            },
        },
        "registrations": {"enabled": False, "approval_required": False, "message": None, "url": None},
        "api_versions": {"mastodon": 7},
        "contact": {"email": f"admin@{domain}", "account": None},
        "rules": [],
    }


def _configuration() -> dict[str, Any]:
    return {
        "statuses": {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23},
        "media_attachments": {
            "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "video/mp4"],
            "image_size_limit": 16777216,
            "image_matrix_limit": 33177600,
            "video_size_limit": 103809024,
            "video_frame_rate_limit": 120,
            "video_matrix_limit": 8294400,
        },
        "polls": {
            "max_options": 4,
            "max_characters_per_option": 50,
            "min_expiration": 300,
            "max_expiration": 2629746,
        },
    }


def _verify_credentials(ctx: Context, req: Request) -> Response:
    from tracker.sandbox import mastodon as m

    accounts = ctx.world.accounts
    if req.bearer() != accounts.mastodon_token:
        return json_response({"error": "The access token is invalid"}, 401)
    account = m._account_json(ctx, req.now, accounts.mastodon_username, accounts.instance)
    account["source"] = {
        "privacy": "public",
        "sensitive": False,
        "language": "en",
        "note": f"The official account of {ctx.world.brand}.",
        "fields": [],
        "follow_requests_count": 0,
        "hide_collections": False,
        "discoverable": True,
        "indexable": True,
    }
    account["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
    return json_response(account)


# -- Bluesky -------------------------------------------------------------------------------------


def bluesky(ctx: Context, req: Request) -> Response | None:
    if req.path.removeprefix("/xrpc/") != "app.bsky.feed.getPostThread":
        return None
    from tracker.sandbox import bluesky as b

    uri = req.arg("uri") or ""
    shown = {b.post_uri(p): p for p in ctx.visible(ctx.newest_first.get("bluesky", []), req.now)}
    post = shown.get(uri)
    if post is None or post.kind == "repost":
        return json_response({"error": "NotFound", "message": f"Post not found: {uri}"}, 400)
    height = _clamp(req.arg("parentHeight"), 80, 0, 1000)
    thread: dict[str, Any] = {
        "$type": "app.bsky.feed.defs#threadViewPost",
        "post": b.post_view(ctx, post, req.now),
    }
    node, parent = thread, b.parent_of(ctx, post)
    while parent is not None and height > 0:
        view = {"$type": "app.bsky.feed.defs#threadViewPost", "post": b.post_view(ctx, parent, req.now)}
        node["parent"] = view
        node, parent, height = view, b.parent_of(ctx, parent), height - 1
    if _clamp(req.arg("depth"), 6, 0, 1000) > 0:
        replies = [p for p in shown.values() if (up := b.parent_of(ctx, p)) is not None and up.n == post.n]
        thread["replies"] = [
            {
                "$type": "app.bsky.feed.defs#threadViewPost",
                "post": b.post_view(ctx, p, req.now),
                "replies": [],
            }
            for p in sorted(replies, key=lambda p: p.created_at)
        ]
    thread.setdefault("replies", [])
    return json_response({"thread": thread, "threadgate": None})


def _clamp(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = default
    return max(low, min(high, number))


# -- Reddit --------------------------------------------------------------------------------------


def reddit(ctx: Context, req: Request, *, www: bool) -> Response | None:
    if req.method != "GET":
        return None
    if req.path in (("/api/info.json", "/api/info/.json") if www else ("/api/info", "/api/info/")):
        return _info(ctx, req)
    match = _COMMENTS.match(req.path)
    if match is not None and bool(match.group(2)) == www:
        return _comments(ctx, req, match.group(1))
    return None


def _reddit_posts(ctx: Context, now: datetime) -> dict[str, Post]:
    """Every Reddit post written by `now` (deleted ones too: Reddit still answers for them)."""
    from tracker.sandbox import reddit as r

    return {r.fullname(p): p for p in ctx.newest_first.get("reddit", []) if p.visible_at <= now}


def _info(ctx: Context, req: Request) -> Response:
    names = [n.strip() for n in (req.arg("id") or "").split(",") if n.strip()]
    if len(names) > REDDIT_INFO_LIMIT:
        return json_response({"message": "Bad Request", "error": 400}, 400)
    posts = _reddit_posts(ctx, req.now)
    children = [{"kind": "t3", "data": thing(ctx, posts[n], req)} for n in names if n in posts]
    return json_response(_listing(children))


def _comments(ctx: Context, req: Request, ident: str) -> Response:
    post = _reddit_posts(ctx, req.now).get(f"t3_{ident}")
    if post is None:
        return json_response({"message": "Not Found", "error": 404}, 404)
    return json_response([_listing([{"kind": "t3", "data": thing(ctx, post, req)}]), _listing([])])


def thing(ctx: Context, post: Post, req: Request) -> dict[str, Any]:
    """A post's data as /api/info shows it: once deleted, "[deleted]" author and body."""
    from tracker.sandbox import reddit as r

    data = r.thing(ctx, post, req.now, raw=req.arg("raw_json") == "1")
    if gone(ctx, post, req.now):
        data.update(
            author="[deleted]",
            author_fullname=None,
            selftext="[deleted]" if data.get("is_self") else "",
            selftext_html=None,
            removed_by_category="deleted",
        )
    return data


def _listing(children: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {
            "after": None,
            "dist": len(children),
            "modhash": "",
            "geo_filter": "",
            "children": children,
            "before": None,
        },
    }


_REDDIT_ROOT = re.compile(r"^/(?:api/info|comments/|r/[A-Za-z0-9_]+/(?:comments|search)|search)")


def reddit_at_root(platforms: Sequence[Any], path: str) -> tuple[Any, str] | None:
    """Reddit's paths at the server's root, for clients that cannot keep a base path (PRAW and
    prawcore join every path onto the host): /api/v1/access_token is the www host's, the API
    paths (/api/info, /comments/..., /r/{sub}/search) the OAuth host's."""
    keys = {p.key: p for p in platforms}
    if path == "/api/v1/access_token":
        return keys["reddit"], path
    if _REDDIT_ROOT.match(path):
        return keys["reddit-oauth"], path
    return None
