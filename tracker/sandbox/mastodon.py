"""Mastodon REST API as a 4.x server answers it (docs.joinmastodon.org/methods).

Served below the platform's base URL, exactly at the real paths:
GET /api/v1/timelines/tag/:hashtag, /api/v1/accounts/lookup?acct=, /api/v1/accounts/:id,
/api/v1/accounts/:id/statuses, /api/v1/statuses/:id and /api/v2/search (needs the
world's token). Timelines page newest-first by snowflake id with `max_id`, `since_id`
and `min_id` (min_id: the page right after it, still newest-first), `limit` (default 20,
at most 40), and a Link header with rel="next" (only when the page is full, as Mastodon
does) and rel="prev"; an empty page has no Link header.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from typing import Any

from tracker.sandbox import reads, rich
from tracker.sandbox.state import Budget, Context
from tracker.sandbox.wire import Request, Response, int_arg, iso_ms, json_response, request_id, url
from tracker.sandbox.world import INSTANCES, Post

LIMIT, MAX_LIMIT = 20, 40
PAGING = ("max_id", "since_id", "min_id")
_STATUSES = re.compile(r"^/api/v1/accounts/([^/]+)/statuses$")


def status_id(post: Post) -> str:
    """A snowflake like Mastodon's: milliseconds since the epoch << 16, plus a sequence."""
    return str((int(post.created_at.timestamp() * 1000) << 16) + post.n % 65536)


def instance_of(post: Post, ctx: Context) -> str:
    if post.role == "owned":
        return ctx.world.accounts.instance
    return post.extra.get("instance", INSTANCES[0])


def status_uri(post: Post, ctx: Context) -> str:
    """The status' ActivityPub id: what the tracker stores as its external_id."""
    suffix = "/activity" if post.kind == "boost" else ""
    return f"https://{instance_of(post, ctx)}/users/{post.author}/statuses/{status_id(post)}{suffix}"


def handle(ctx: Context, req: Request) -> Response:
    req = reads.without_trailing_slash(req)  # Rails routes accept one (Mastodon.py sends /api/v1/instance/)
    if (answer := reads.mastodon(ctx, req)) is not None:  # batch reads, instance, verify_credentials
        return answer
    if req.method != "GET":
        return _error(404, "Record not found")
    if req.path.startswith("/api/v1/timelines/tag/"):
        return _tag_timeline(ctx, req, req.path.rsplit("/", 1)[1])
    if req.path == "/api/v1/accounts/lookup":
        return _lookup(ctx, req)
    if match := _STATUSES.match(req.path):
        return _account_statuses(ctx, req, match.group(1))
    if req.path.startswith("/api/v1/accounts/"):
        return _account(ctx, req, req.path.rsplit("/", 1)[1])
    if req.path.startswith("/api/v1/statuses/"):
        return _status(ctx, req, req.path.rsplit("/", 1)[1])
    if req.path == "/api/v2/search":
        return _search(ctx, req)
    return _error(404, "Record not found")


def rate_headers(budget: Budget) -> dict[str, str]:
    reset = budget.wall_reset.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {
        "x-ratelimit-limit": str(budget.limit),
        "x-ratelimit-remaining": str(budget.remaining),
        "x-ratelimit-reset": reset,
    }


def error(status: int) -> Response:
    """The body Mastodon sends with a status the fault injection asks for."""
    messages = {
        401: "The access token is invalid",
        403: "This action is not allowed",
        404: "Record not found",
        429: "Too many requests",
    }
    return _error(status, messages.get(status, "Internal server error"))


# -- endpoints -----------------------------------------------------------------------------------


def _tag_timeline(ctx: Context, req: Request, tag: str) -> Response:
    access = ctx.settings.mastodon_tag_access
    anonymous = req.bearer() != ctx.world.accounts.mastodon_token
    if access == "disabled" or (access == "authenticated" and anonymous):
        return json_response([], headers=_headers())  # what a 4.5 server restricting them answers
    tag = tag.lower()
    posts = [
        p
        for p in ctx.newest_first.get("mastodon", [])
        if p.kind != "boost" and tag in p.extra.get("tags", "").split()
    ]
    if req.arg("local") in ("true", "1"):
        posts = [p for p in posts if instance_of(p, ctx) == ctx.world.accounts.instance]
    return _timeline(ctx, req, posts)


def _lookup(ctx: Context, req: Request) -> Response:
    acct = (req.arg("acct") or "").strip().lstrip("@")
    username, _, domain = acct.partition("@")
    found = _find_account(ctx, username.lower(), domain.lower() or ctx.world.accounts.instance)
    if found is None:
        return _error(404, "Record not found")
    return json_response(_account_json(ctx, req.now, *found), headers=_headers())


def _account(ctx: Context, req: Request, account_id: str) -> Response:
    found = _account_by_id(ctx, account_id)
    if found is None:
        return _error(404, "Record not found")
    return json_response(_account_json(ctx, req.now, *found), headers=_headers())


def _account_statuses(ctx: Context, req: Request, account_id: str) -> Response:
    found = _account_by_id(ctx, account_id)
    if found is None:
        return _error(404, "Record not found")
    username, domain = found
    posts = [
        p
        for p in ctx.newest_first.get("mastodon", [])
        if p.author == username and instance_of(p, ctx) == domain
    ]
    if req.arg("exclude_reblogs") in ("true", "1"):
        posts = [p for p in posts if p.kind != "boost"]
    if req.arg("exclude_replies") in ("true", "1"):
        posts = [p for p in posts if p.kind != "reply"]
    if req.arg("only_media") in ("true", "1") or req.arg("pinned") in ("true", "1"):
        posts = []
    return _timeline(ctx, req, posts)


def _status(ctx: Context, req: Request, wanted: str) -> Response:
    for post in ctx.visible(ctx.newest_first.get("mastodon", []), req.now):
        if status_id(post) == wanted:
            return json_response(status_json(ctx, post, req.now), headers=_headers())
    return _error(404, "Record not found")


def _search(ctx: Context, req: Request) -> Response:
    """Statuses search: a logged-in user's full-text search, newest first, offset paging."""
    if req.bearer() != ctx.world.accounts.mastodon_token:
        return _error(401, "The access token is invalid")
    query = (req.arg("q") or "").strip()
    if not query:
        return _error(400, "Validation failed: q is missing")
    limit = int_arg(req.arg("limit"), LIMIT, 1, MAX_LIMIT)
    offset = int_arg(req.arg("offset"), 0, 0, 10_000)
    statuses: list[Post] = []
    if req.arg("type") in (None, "statuses"):
        posts = ctx.visible(ctx.matching("mastodon", query), req.now)
        posts = _bounded(posts, _id_arg(req, "min_id"), _id_arg(req, "max_id"), None)
        statuses = [p for p in posts[offset : offset + limit] if not filtered(ctx, p)]
    body = {"accounts": [], "statuses": [status_json(ctx, p, req.now) for p in statuses], "hashtags": []}
    return json_response(body, headers=_headers())


def filtered(ctx: Context, post: Post) -> bool:
    """Whether the `mastodon_filtered` quirk hides this status (a keyword filter, say): the
    same statuses every time, about that share of them."""
    share = ctx.settings.mastodon_filtered
    if share <= 0:
        return False
    digest = hashlib.sha256(f"filtered:{post.n}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


# -- paging --------------------------------------------------------------------------------------


def _timeline(ctx: Context, req: Request, posts: list[Post]) -> Response:
    limit = int_arg(req.arg("limit"), LIMIT, 1, MAX_LIMIT)
    min_id, max_id, since_id = _id_arg(req, "min_id"), _id_arg(req, "max_id"), _id_arg(req, "since_id")
    chosen = _bounded(ctx.visible(posts, req.now), min_id, max_id, since_id)
    # min_id asks for the page right after it: the oldest `limit` newer ones, still newest-first.
    chosen = chosen[-limit:] if min_id is not None else chosen[:limit]
    filtering = ctx.settings.mastodon_filtered > 0
    last = chosen[-1] if chosen else None
    chosen = [p for p in chosen if not filtered(ctx, p)]  # filters apply after the limit, as on Mastodon
    headers = _headers()
    if chosen and last is not None:
        kept = {k: v[0] for k, v in req.query.items() if k not in PAGING and v}
        links = []
        if len(chosen) == limit or filtering:  # a filtering server links on from any non-empty page
            links.append(
                f'<{url(req.base, req.path, {**kept, "max_id": status_id(last)})}>; rel="next"'
            )
        links.append(f'<{url(req.base, req.path, {**kept, "min_id": status_id(chosen[0])})}>; rel="prev"')
        headers["Link"] = ", ".join(links)
    return json_response([status_json(ctx, p, req.now) for p in chosen], headers=headers)


def _bounded(posts: list[Post], min_id: int | None, max_id: int | None, since_id: int | None) -> list[Post]:
    lower = max((v for v in (min_id, since_id) if v is not None), default=None)
    return [
        p
        for p in posts
        if (max_id is None or int(status_id(p)) < max_id) and (lower is None or int(status_id(p)) > lower)
    ]


def _id_arg(req: Request, name: str) -> int | None:
    value = req.arg(name)
    return int(value) if value and value.isdigit() else None


# -- entities ------------------------------------------------------------------------------------


def status_json(ctx: Context, post: Post, now: datetime) -> dict[str, Any]:
    """The Status entity of a post, with every field Mastodon 4.5 sends."""
    counts = ctx.world.engagement(post, now)
    local = instance_of(post, ctx) == ctx.world.accounts.instance
    parent = ctx.world.by_n.get(int(post.extra["of"])) if "of" in post.extra else None
    boost = post.kind == "boost"
    tags = post.extra.get("tags", "").split()
    status: dict[str, Any] = {
        "id": status_id(post),
        "created_at": iso_ms(post.created_at),
        "in_reply_to_id": status_id(parent) if parent and not boost else None,
        "in_reply_to_account_id": _account_id(parent.author, instance_of(parent, ctx))
        if parent and not boost
        else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": None if boost or not post.says_lang else post.lang,
        "uri": status_uri(post, ctx),
        "url": None if boost else f"https://{instance_of(post, ctx)}/@{post.author}/{status_id(post)}",
        "replies_count": 0 if boost else counts.replies,
        "reblogs_count": 0 if boost else counts.reposts,
        "favourites_count": 0 if boost else counts.likes,
        "quotes_count": 0 if boost else counts.quotes,
        "edited_at": None,
        "content": "" if boost else _content(post, parent, tags, ctx),
        "reblog": status_json(ctx, parent, now) if boost and parent else None,
        "account": _account_json(ctx, now, post.author, instance_of(post, ctx)),
        "media_attachments": [],
        "mentions": [_mention(parent, ctx)] if parent and not boost else [],
        "tags": [{"name": t, "url": f"https://{ctx.world.accounts.instance}/tags/{t}"} for t in tags],
        "emojis": [],
        "quote": None,
        "card": None,
        "poll": None,
        "quote_approval": {"automatic": ["public"], "manual": [], "current_user": "automatic"},
    }
    if local:
        status["application"] = {"name": "Web", "website": None}
    rich.mastodon(ctx, post, status, now)  # media, card, poll, emojis, edits (rich.py)
    return status


def _content(post: Post, parent: Post | None, tags: list[str], ctx: Context) -> str:
    """The HTML body: a paragraph, a leading @-mention on replies, hashtag links at the end."""
    text = html.escape(post.text, quote=False)
    if parent is not None:
        who = _account_url(parent.author, instance_of(parent, ctx))
        text = (
            f'<span class="h-card" translate="no"><a href="{who}" class="u-url mention">'
            f"@<span>{parent.author}</span></a></span> {text}"
        )
    home = ctx.world.accounts.instance
    links = " ".join(
        f'<a href="https://{home}/tags/{t}" class="mention hashtag" rel="tag">#<span>{t}</span></a>'
        for t in tags
    )
    return f"<p>{text}{' ' + links if links else ''}</p>"


def _mention(parent: Post, ctx: Context) -> dict[str, str]:
    domain = instance_of(parent, ctx)
    return {
        "id": _account_id(parent.author, domain),
        "username": parent.author,
        "url": _account_url(parent.author, domain),
        "acct": _acct(parent.author, domain, ctx),
    }


def _find_account(ctx: Context, username: str, domain: str) -> tuple[str, str] | None:
    for post in ctx.newest_first.get("mastodon", []):
        if post.author.lower() == username and instance_of(post, ctx) == domain:
            return post.author, domain
    return None


def _account_by_id(ctx: Context, account_id: str) -> tuple[str, str] | None:
    accounts = ctx.world.accounts
    if account_id == accounts.mastodon_id:
        return accounts.mastodon_username, accounts.instance
    for post in ctx.newest_first.get("mastodon", []):
        if _account_id(post.author, instance_of(post, ctx)) == account_id:
            return post.author, instance_of(post, ctx)
    return None


def _account_id(username: str, domain: str) -> str:
    digest = hashlib.sha256(f"{username}@{domain}".encode()).digest()
    return str(109_000_000_000_000_000 + int.from_bytes(digest[:8], "big") % 10**15)


def _account_url(username: str, domain: str) -> str:
    return f"https://{domain}/@{username}"


def _acct(username: str, domain: str, ctx: Context) -> str:
    return username if domain == ctx.world.accounts.instance else f"{username}@{domain}"


def _account_json(ctx: Context, now: datetime, username: str, domain: str) -> dict[str, Any]:
    """The Account entity: the owned account's real counts, stable made-up ones for others."""
    accounts = ctx.world.accounts
    owned = username == accounts.mastodon_username and domain == accounts.instance
    seed = int.from_bytes(hashlib.sha256(f"{username}@{domain}".encode()).digest()[8:12], "big")
    if owned:
        followers, statuses, last = ctx.memo(("mastodon-owned", now), lambda: _own_counts(ctx, now))
    else:
        followers, statuses, last = seed % 2000, 50 + seed % 5000, now.date().isoformat()
    avatar = f"https://{domain}/avatars/original/missing.png"
    return {
        "id": accounts.mastodon_id if owned else _account_id(username, domain),
        "username": username,
        "acct": _acct(username, domain, ctx),
        "display_name": ctx.world.brand if owned else username.replace("_", " ").title(),
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": True,
        "group": False,
        "created_at": f"{2017 + seed % 8}-0{1 + seed % 9}-1{seed % 10}T00:00:00.000Z",
        "note": f"<p>The official account of {ctx.world.brand}.</p>" if owned else "",
        "url": _account_url(username, domain),
        "uri": f"https://{domain}/users/{username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "avatar_description": "",
        "header": f"https://{domain}/headers/original/missing.png",
        "header_static": f"https://{domain}/headers/original/missing.png",
        "header_description": "",
        "followers_count": followers,
        "following_count": 150 + seed % 700,
        "statuses_count": statuses,
        "last_status_at": last,
        "hide_collections": None,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": [],
    }


def _own_counts(ctx: Context, now: datetime) -> tuple[int, int, str | None]:
    own = [p for p in ctx.visible(ctx.newest_first.get("mastodon", []), now) if p.role == "owned"]
    last = own[0].created_at.date().isoformat() if own else None
    return ctx.world.followers("mastodon", now), len(own), last


def _headers() -> dict[str, str]:
    return {
        "Cache-Control": "private, no-store",
        "Vary": "Authorization, Origin",
        "X-Request-Id": request_id(),
    }


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status, _headers())
