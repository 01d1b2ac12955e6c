"""Bluesky's XRPC endpoints: the public AppView and the entryway (PDS) that logs people in.

Both are served at `/xrpc/{nsid}` below their base URLs. The AppView answers
app.bsky.feed.searchPosts, app.bsky.feed.getAuthorFeed, app.bsky.feed.getPosts and
app.bsky.actor.getProfile anonymously, except searchPosts when the server requires a
login for it (the default, as the real public AppView answers 403 since 2025). The
entryway answers com.atproto.server.createSession (the world's handle or DID and app
password), refreshSession and getSession, and proxies the app.bsky.* calls for a valid
access token (missing: 401 AuthMissing; expired: 400 ExpiredToken; unknown: 401 InvalidToken).

searchPosts pages with an offset cursor ("25", "50", ...), sorts by sortAt (the earlier of
createdAt and indexedAt; `sort=latest`, or likes with `sort=top`) and filters on it with
`since` (inclusive) and `until` (exclusive). getAuthorFeed pages with a sortAt-timestamp
cursor and shows the account's posts, replies and reposts (reasonRepost).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime
from typing import Any

from tracker.sandbox import reads, rich
from tracker.sandbox.state import Budget, Context
from tracker.sandbox.wire import (
    Request,
    Response,
    html_response,
    int_arg,
    iso_ms,
    json_response,
    page,
    parse_time,
)
from tracker.sandbox.world import Post, did_of

S32 = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable, as TIDs use
REPOST = "app.bsky.feed.defs#reasonRepost"
PIN = "app.bsky.feed.defs#reasonPin"
APP_METHODS = (
    "app.bsky.feed.searchPosts",
    "app.bsky.feed.getAuthorFeed",
    "app.bsky.feed.getPosts",
    "app.bsky.actor.getProfile",
)


def handle_appview(ctx: Context, req: Request) -> Response:
    nsid = req.path.removeprefix("/xrpc/")
    if (answer := reads.bluesky(ctx, req)) is not None:  # getPostThread
        return answer
    if nsid not in APP_METHODS:
        return _error(404, "XRPCNotSupported", "XRPCNotSupported")
    anonymous = ctx.sessions.check("bluesky", "access", req.bearer()) != "ok"
    if nsid == "app.bsky.feed.searchPosts" and ctx.settings.require_bluesky_login and anonymous:
        # What the real public AppView's proxy answers since 2025: an HTML 403 page.
        return html_response(page("403 Forbidden", "Request forbidden by administrative rules."), 403)
    return _app(ctx, req, nsid)


def handle_entryway(ctx: Context, req: Request) -> Response:
    nsid = req.path.removeprefix("/xrpc/")
    if nsid == "com.atproto.server.createSession":
        return _create_session(ctx, req)
    if nsid == "com.atproto.server.refreshSession":
        return _refresh_session(ctx, req)
    if nsid == "com.atproto.server.getSession":
        refused = _refused(ctx, req)
        return refused or json_response(_session_info(ctx, req))
    if nsid == "app.bsky.feed.getPostThread":
        return _refused(ctx, req) or reads.bluesky(ctx, req) or _app(ctx, req, nsid)
    if nsid not in APP_METHODS:
        return _error(404, "XRPCNotSupported", "XRPCNotSupported")
    return _refused(ctx, req) or _app(ctx, req, nsid)


def rate_headers(budget: Budget) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(budget.limit),
        "RateLimit-Remaining": str(budget.remaining),
        "RateLimit-Reset": str(int(budget.wall_reset.timestamp())),
        "RateLimit-Policy": f"{budget.limit};w={round(budget.window)}",
    }


def error(status: int) -> Response:
    names = {
        400: "InvalidRequest",
        401: "AuthMissing",
        403: "Forbidden",
        404: "NotFound",
        429: "RateLimitExceeded",
    }
    name = names.get(status, "InternalServerError")
    message = {401: "Authentication Required", 429: "Rate Limit Exceeded"}.get(status, name)
    return _error(status, name, message)


# -- identities ----------------------------------------------------------------------------------


def tid(post: Post) -> str:
    """A record key like the AT Protocol's TIDs: microseconds << 10 | clock id, base32-sortable."""
    value = (int(post.created_at.timestamp() * 1_000_000) << 10) | (post.n % 1024)
    return "".join(S32[(value >> shift) & 31] for shift in range(60, -1, -5))


def post_uri(post: Post) -> str:
    collection = "app.bsky.feed.repost" if post.kind == "repost" else "app.bsky.feed.post"
    return f"at://{did_of(post.author)}/{collection}/{tid(post)}"


def _cid(uri: str) -> str:
    digest = hashlib.sha256(uri.encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


# -- the app.bsky methods ------------------------------------------------------------------------


def _app(ctx: Context, req: Request, nsid: str) -> Response:
    if nsid == "app.bsky.feed.searchPosts":
        return _search(ctx, req)
    if nsid == "app.bsky.feed.getAuthorFeed":
        return _author_feed(ctx, req)
    if nsid == "app.bsky.feed.getPosts":
        return _get_posts(ctx, req)
    return _profile(ctx, req)


def _search(ctx: Context, req: Request) -> Response:
    query = (req.arg("q") or "").strip()
    if not query:
        return _error(400, "InvalidRequest", 'Error: Params must have the property "q"')
    limit = _limit(req, 25)
    if limit is None:
        return _error(400, "InvalidRequest", "Error: limit must be between 1 and 100")
    since, until = parse_time(req.arg("since")), parse_time(req.arg("until"))
    posts = [
        p
        for p in ctx.visible(ctx.matching("bluesky", query), req.now)
        if (since is None or _sort_at(p) >= since) and (until is None or _sort_at(p) < until)
    ]
    if author := req.arg("author"):
        posts = [p for p in posts if author.lower() in (p.author.lower(), did_of(p.author))]
    if lang := req.arg("lang"):
        posts = [p for p in posts if p.says_lang and (p.lang or "").split("-")[0] == lang.split("-")[0]]
    if req.arg("sort") == "top":
        posts = sorted(posts, key=lambda p: ctx.world.engagement(p, req.now).likes, reverse=True)
    raw_cursor, gaps = req.arg("cursor") or "", 0
    if raw_cursor.startswith("e") and "." in raw_cursor:  # "e2.300": the 2nd empty page before 300
        head, _, raw_cursor = raw_cursor.partition(".")
        gaps = int_arg(head[1:], 0, 0, 100)
    offset = int_arg(raw_cursor or None, 0, 0, 100_000)
    settings = ctx.settings
    empty_here = offset and offset // limit % 2 == 0
    if settings.bluesky_empty_pages and empty_here and gaps < settings.bluesky_empty_pages:
        # what the AppView does when every hit of a page is dropped after the search (taken
        # down, blocked): an empty page that still carries a cursor
        return json_response({"posts": [], "cursor": f"e{gaps + 1}.{offset}"}, headers=_headers())
    cap = settings.bluesky_search_cap
    chunk = posts[offset : min(offset + limit, cap)]
    body: dict[str, Any] = {"posts": [post_view(ctx, p, req.now) for p in chunk]}
    if offset + limit < min(len(posts), cap):  # one query's result set ends at the cap
        body["cursor"] = str(offset + limit)
    return json_response(body, headers=_headers())


def _author_feed(ctx: Context, req: Request) -> Response:
    handle = _resolve(ctx, req.arg("actor"))
    if handle is None:
        return _error(400, "InvalidRequest", "Profile not found")
    limit = _limit(req, 50)
    if limit is None:
        return _error(400, "InvalidRequest", "Error: limit must be between 1 and 100")
    feed = [p for p in ctx.visible(ctx.newest_first.get("bluesky", []), req.now) if p.author == handle]
    kind = req.arg("filter") or "posts_with_replies"
    if kind in ("posts_no_replies", "posts_and_author_threads"):
        feed = [p for p in feed if p.kind != "reply"]
    elif kind == "posts_with_media":
        feed = []
    before = parse_time(req.arg("cursor"))
    if before is not None:
        feed = [p for p in feed if _feed_time(p) < before]
    chunk = feed[:limit]
    items = [_feed_item(ctx, p, req.now) for p in chunk]
    if req.arg("includePins") == "true" and before is None and (pinned := _pinned(ctx, handle, req.now)):
        items.insert(0, {"post": post_view(ctx, pinned, req.now), "reason": {"$type": PIN}})
    body: dict[str, Any] = {"feed": items}
    if len(feed) > limit:
        body["cursor"] = iso_ms(_feed_time(chunk[-1]))
    return json_response(body, headers=_headers())


def _get_posts(ctx: Context, req: Request) -> Response:
    wanted = set(req.query.get("uris", []))
    posts = [p for p in ctx.visible(ctx.newest_first.get("bluesky", []), req.now) if post_uri(p) in wanted]
    return json_response({"posts": [post_view(ctx, p, req.now) for p in posts]}, headers=_headers())


def _profile(ctx: Context, req: Request) -> Response:
    handle = _resolve(ctx, req.arg("actor"))
    if handle is None:
        return _error(400, "InvalidRequest", "Profile not found")
    profile = _author(ctx, handle)
    accounts = ctx.world.accounts
    if handle == accounts.bluesky_handle:
        own = ctx.memo(("bluesky-posts", req.now), lambda: _own_posts(ctx, req.now))
        followers, follows, posts = ctx.world.followers("bluesky", req.now), 180, own
    else:
        seed = int.from_bytes(hashlib.sha256(handle.encode()).digest()[:4], "big")
        followers, follows, posts = seed % 3000, 100 + seed % 900, 40 + seed % 4000
    profile.update(
        {
            "description": f"The official account of {ctx.world.brand}."
            if handle == accounts.bluesky_handle
            else "",
            "banner": f"https://cdn.bsky.example/img/banner/plain/{did_of(handle)}/banner@jpeg",
            "followersCount": followers,
            "followsCount": follows,
            "postsCount": posts,
            "indexedAt": iso_ms(ctx.world.start),
            "pinnedPost": None,
        }
    )
    profile["associated"] = {
        "lists": 0,
        "feedgens": 0,
        "starterPacks": 0,
        "labeler": False,
        "chat": {"allowIncoming": "following"},
    }
    if profile["pinnedPost"] is None:
        del profile["pinnedPost"]
    return json_response(profile, headers=_headers())


# -- sessions ------------------------------------------------------------------------------------


def _create_session(ctx: Context, req: Request) -> Response:
    if req.method != "POST":
        return _error(400, "InvalidRequest", "Expected POST")
    body = req.json()
    if not isinstance(body, dict) or not body.get("identifier") or not body.get("password"):
        return _error(
            400, "InvalidRequest", 'Error: Input must have the property "identifier" and "password"'
        )
    accounts = ctx.world.accounts
    identifier = str(body["identifier"]).strip().lstrip("@").lower()
    limited = _login_limited(ctx, identifier, req.now)
    if limited is not None:
        return limited
    if (
        identifier not in (accounts.bluesky_handle, accounts.bluesky_did)
        or body["password"] != accounts.bluesky_password
    ):
        return _error(401, "AuthenticationRequired", "Invalid identifier or password")
    return json_response({**_tokens(ctx), **_session_info(ctx, req)})


LOGIN_LIMITS = ((30, 300.0), (300, 86400.0))  # createSession per account: 30 per 5 minutes, 300 a day


def _login_limited(ctx: Context, account: str, now: datetime) -> Response | None:
    """The 429 Bluesky's entryway answers past its login limits (with `login_limits`), else None."""
    if not ctx.settings.login_limits:
        return None
    with ctx._lock:
        times = [t for t in ctx.logins.get(account, []) if (now - t).total_seconds() < 86400]
        for limit, window in LOGIN_LIMITS:
            recent = [t for t in times if (now - t).total_seconds() < window]
            if len(recent) >= limit:
                reset = min(recent).timestamp() + window
                response = _error(429, "RateLimitExceeded", "Rate Limit Exceeded")
                response.headers.update({
                    "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(int(reset)), "RateLimit-Policy": f"{limit};w={int(window)}",
                    "Retry-After": str(max(1, int(reset - now.timestamp()))),
                })  # fmt: skip
                return response
        ctx.logins[account] = [*times, now]
    return None


def _refresh_session(ctx: Context, req: Request) -> Response:
    token = req.bearer()
    state = ctx.sessions.check("bluesky", "refresh", token)
    if state == "expired":
        return _error(400, "ExpiredToken", "Token has expired")
    if state != "ok" or token is None:
        return _error(401 if state == "missing" else 400, "InvalidToken", "Token could not be verified")
    ctx.sessions.revoke(token)
    info = _session_info(ctx, req)
    return json_response({**_tokens(ctx), "handle": info["handle"], "did": info["did"], "active": True})


def _refused(ctx: Context, req: Request) -> Response | None:
    state = ctx.sessions.check("bluesky", "access", req.bearer())
    if state == "missing":
        return _error(401, "AuthMissing", "Authentication Required")
    if state == "expired":
        return _error(400, "ExpiredToken", "Token has expired")
    if state == "invalid":
        return _error(401, "InvalidToken", "Token could not be verified")
    return None


def _tokens(ctx: Context) -> dict[str, str]:
    did = ctx.world.accounts.bluesky_did
    ttl = ctx.settings.token_ttl
    access = ctx.sessions.issue(
        "bluesky", "access", did, ttl, prefix=_jwt_head(did, "com.atproto.appPass", ttl)
    )
    long = max(ttl, 90 * 86400.0)
    refresh = ctx.sessions.issue(
        "bluesky", "refresh", did, long, prefix=_jwt_head(did, "com.atproto.refresh", long)
    )
    ctx.sessions.pair(access, refresh)
    return {"accessJwt": access, "refreshJwt": refresh}


def _jwt_head(did: str, scope: str, ttl: float) -> str:
    """The header and claims of a JWT as the PDS issues it (iat and exp in Unix seconds, which
    clients such as the atproto SDK read to refresh in time); the signature part is random."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    issued = int(time.time())
    claims = {"scope": scope, "sub": did, "aud": "did:web:bsky.sandbox.example", "iat": issued,
              "exp": issued + int(ttl)}  # fmt: skip
    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(claims)}."


def _session_info(ctx: Context, req: Request) -> dict[str, Any]:
    accounts = ctx.world.accounts
    did = accounts.bluesky_did
    return {
        "handle": accounts.bluesky_handle,
        "did": did,
        "email": f"social@{accounts.bluesky_handle}",
        "emailConfirmed": True,
        "emailAuthFactor": False,
        "active": True,
        "didDoc": {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "alsoKnownAs": [f"at://{accounts.bluesky_handle}"],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": req.base,  # this entryway, as the client addressed it
                }
            ],
        },
    }


# -- views ---------------------------------------------------------------------------------------


def post_view(ctx: Context, post: Post, now: datetime) -> dict[str, Any]:
    """app.bsky.feed.defs#postView with every field the AppView sends."""
    counts = ctx.world.engagement(post, now)
    uri = post_uri(post)
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", "createdAt": iso_ms(post.created_at)}
    if post.says_lang and post.lang:
        record["langs"] = [post.lang]
    parent = _parent(ctx, post)
    if parent is not None:
        ref = {"cid": _cid(post_uri(parent)), "uri": post_uri(parent)}
        record["reply"] = {"parent": ref, "root": ref}
    record["text"] = post.text
    view = {
        "uri": uri,
        "cid": _cid(uri),
        "author": _author(ctx, post.author),
        "record": record,
        "replyCount": counts.replies,
        "repostCount": counts.reposts,
        "likeCount": counts.likes,
        "quoteCount": counts.quotes,
        "indexedAt": iso_ms(post.visible_at),
        "viewer": {"threadMuted": False, "embeddingDisabled": False},
        "labels": [],
    }
    rich.bluesky(ctx, post, record, view, now)  # embeds, facets, labels, replies (rich.py)
    return view


def _feed_item(ctx: Context, post: Post, now: datetime) -> dict[str, Any]:
    if post.kind == "repost":
        original = ctx.world.by_n[int(post.extra["of"])]
        uri = post_uri(post)
        reason = {
            "$type": REPOST,
            "by": _author(ctx, post.author),
            "uri": uri,
            "cid": _cid(uri),
            "indexedAt": iso_ms(post.created_at),
        }
        return {"post": post_view(ctx, original, now), "reason": reason}
    item: dict[str, Any] = {"post": post_view(ctx, post, now)}
    parent = _parent(ctx, post)
    if parent is not None:
        view = post_view(ctx, parent, now) | {"$type": "app.bsky.feed.defs#postView"}
        item["reply"] = {"root": view, "parent": view}
    return item


def _author(ctx: Context, handle: str) -> dict[str, Any]:
    did = did_of(handle)
    owned = handle == ctx.world.accounts.bluesky_handle
    name = ctx.world.brand if owned else handle.split(".")[0].replace("-", " ").title()
    return {
        "did": did,
        "handle": handle,
        "displayName": name,
        "avatar": f"https://cdn.bsky.example/img/avatar/plain/{did}/avatar@jpeg",
        "associated": {"chat": {"allowIncoming": "following"}},
        "viewer": {"muted": False, "blockedBy": False},
        "labels": [],
        "createdAt": "2023-09-19T15:47:01.417Z",
    }


def parent_of(ctx: Context, post: Post) -> Post | None:
    """The post a reply answers (None for a post that is not a reply)."""
    return _parent(ctx, post)


def _parent(ctx: Context, post: Post) -> Post | None:
    return ctx.world.by_n.get(int(post.extra["of"])) if post.kind == "reply" and "of" in post.extra else None


def _resolve(ctx: Context, actor: str | None) -> str | None:
    """The handle of an actor given as a handle or DID, when the world knows it."""
    if not actor:
        return None
    actor = actor.strip().lstrip("@").lower()
    if actor in (ctx.world.accounts.bluesky_handle, ctx.world.accounts.bluesky_did):
        return ctx.world.accounts.bluesky_handle
    for post in ctx.newest_first.get("bluesky", []):
        if actor in (post.author, did_of(post.author)):
            return post.author
    return None


def _pinned(ctx: Context, handle: str, now: datetime) -> Post | None:
    own = [
        p
        for p in ctx.visible(ctx.newest_first.get("bluesky", []), now)
        if p.author == handle and p.kind == "post"
    ]
    return own[-1] if own else None


def _own_posts(ctx: Context, now: datetime) -> int:
    handle = ctx.world.accounts.bluesky_handle
    return sum(1 for p in ctx.visible(ctx.newest_first.get("bluesky", []), now) if p.author == handle)


def _sort_at(post: Post) -> datetime:
    return min(post.created_at, post.visible_at)


def _feed_time(post: Post) -> datetime:
    """Where an item sits in an author feed: a repost at its own time, a post at its sortAt."""
    return post.created_at if post.kind == "repost" else _sort_at(post)


def _limit(req: Request, default: int) -> int | None:
    value = req.arg("limit")
    if value is None:
        return default
    return int(value) if value.isdigit() and 1 <= int(value) <= 100 else None


def _headers() -> dict[str, str]:
    return {"Access-Control-Allow-Origin": "*", "X-Powered-By": "Express"}


def _error(status: int, name: str, message: str) -> Response:
    return json_response({"error": name, "message": message}, status, _headers())
