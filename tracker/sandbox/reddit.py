"""Reddit's search listing, anonymous (www.reddit.com) and with application-only OAuth.

The anonymous host serves GET /search.json and /r/{sub}/search.json (without `.json`
it answers an HTML page, as the site does) and POST /api/v1/access_token (HTTP basic
auth with the world's client id and secret, grant_type=client_credentials ->
{access_token, token_type, expires_in, scope}). The OAuth host serves /search and
/r/{sub}/search for a valid `Authorization: bearer` token (401 otherwise).

Listing parameters: q, sort (new, relevance, top, comments, hot), t, limit (default 25,
at most 100), after / before (fullnames), raw_json (without it text is HTML-escaped),
restrict_sr (on /r/{sub}: only that subreddit), type (link: t3 posts; others: nothing).
A generic or missing User-Agent is throttled with 429, as Reddit does; with
`block_anonymous_reddit` every anonymous listing is refused with 403.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from tracker.sandbox import reads, rich
from tracker.sandbox.state import Budget, Context
from tracker.sandbox.wire import Request, Response, html_response, int_arg, json_response, page
from tracker.sandbox.world import SUBREDDITS, Post

TOKEN_SECONDS = 86400
_SEARCH = re.compile(r"^(?:/r/([A-Za-z0-9_]+))?/search(\.json)?/?$")
_GENERIC = re.compile(
    r"^(|python-\w+/.*|curl/.*|Go-http-client/.*|Java/.*|okhttp/.*|axios/.*|node-fetch.*|Mozilla/5\.0)$"
)
_TIMES = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 31 * 86400, "year": 366 * 86400}


def fullname(post: Post) -> str:
    return f"t3_{_base36(int('1l000000', 36) + post.n * 7)}"


def handle_www(ctx: Context, req: Request) -> Response:
    if _GENERIC.match(req.headers.get("user-agent", "")):
        return html_response(page("Too Many Requests", "Please use a descriptive User-Agent."), 429)
    if req.path == "/api/v1/access_token":
        return _access_token(ctx, req)
    if (answer := reads.reddit(ctx, req, www=True)) is not None:  # /api/info.json, /comments/{id}.json
        if ctx.settings.block_anonymous_reddit:
            return html_response(page("Blocked", "You've been blocked by network security."), 403)
        return answer
    match = _SEARCH.match(req.path)
    if match is None:
        return _error(404, "Not Found")
    if not match.group(2):
        return html_response(page("reddit", "The front page of the internet."))
    if ctx.settings.block_anonymous_reddit:
        return html_response(page("Blocked", "You've been blocked by network security."), 403)
    return _listing(ctx, req, match.group(1))


def handle_oauth(ctx: Context, req: Request) -> Response:
    if _GENERIC.match(req.headers.get("user-agent", "")):
        return html_response(page("Too Many Requests", "Please use a descriptive User-Agent."), 429)
    if ctx.sessions.check("reddit", "access", _bearer(req)) != "ok":
        return _error(401, "Unauthorized")
    if (answer := reads.reddit(ctx, req, www=False)) is not None:  # /api/info, /comments/{id}
        return answer
    match = _SEARCH.match(req.path)
    if match is None:
        return _error(404, "Not Found")
    return _listing(ctx, req, match.group(1))


def rate_headers(budget: Budget) -> dict[str, str]:
    return {
        "x-ratelimit-used": str(budget.used),
        "x-ratelimit-remaining": f"{budget.remaining:.1f}",
        "x-ratelimit-reset": str(int(budget.reset + 0.999)),
    }


def error(status: int) -> Response:
    if status >= 500:
        return html_response(page("reddit is down", "Our CDN was unable to reach our servers."), status)
    return _error(
        status, {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "Too Many Requests")
    )


# -- OAuth ---------------------------------------------------------------------------------------


def _access_token(ctx: Context, req: Request) -> Response:
    if req.method != "POST":
        return _error(405, "Method Not Allowed")
    accounts = ctx.world.accounts
    if _basic(req) != (accounts.reddit_client_id, accounts.reddit_client_secret):
        return _error(401, "Unauthorized")
    form = parse_qs(req.body.decode(errors="replace"))
    grant = form.get("grant_type", [""])[0]
    if grant == "password":  # a script app logging in as its account
        login = (form.get("username", [""])[0], form.get("password", [""])[0])
        if login != (USERNAME, password(ctx)):
            return json_response({"error": "invalid_grant"})
    elif grant != "client_credentials":
        return json_response({"error": "unsupported_grant_type"})
    token = ctx.sessions.issue(
        "reddit", "access", accounts.reddit_client_id, TOKEN_SECONDS, prefix="eyJhbGciOiJSUzI1NiIsImtpZCI6"
    )
    return json_response(
        {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS, "scope": "*"}
    )


USERNAME = "acme_social"  # the script app's account (grant_type=password)


def password(ctx: Context) -> str:
    """The script app account's password: derived from the world's client secret."""
    secret = ctx.world.accounts.reddit_client_secret
    return hashlib.sha256(f"reddit-password:{secret}".encode()).hexdigest()[:24]


def _basic(req: Request) -> tuple[str, str] | None:
    scheme, _, value = req.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _bearer(req: Request) -> str | None:
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# -- listings ------------------------------------------------------------------------------------


def _listing(ctx: Context, req: Request, subreddit: str | None) -> Response:
    if req.method != "GET":
        return _error(405, "Method Not Allowed")
    known = {name for name, _ in SUBREDDITS} | {"de", "all"}
    if subreddit is not None and subreddit.lower() not in known:
        return _error(404, "Not Found")
    posts = _search(ctx, req, subreddit)
    if ctx.settings.reddit_listing_cap is not None:  # Reddit lists about 1,000 posts, no more
        posts = posts[: ctx.settings.reddit_listing_cap]
    limit = int_arg(req.arg("limit"), 25, 1, 100)
    chosen, more_after, more_before = _page(posts, req.arg("after"), req.arg("before"), limit)
    raw = req.arg("raw_json") == "1"
    paged = bool(req.arg("after") or req.arg("before"))
    data: dict[str, Any] = {
        "after": fullname(chosen[-1]) if chosen and more_after else None,
        "dist": len(chosen),
        "facets": {},
        "modhash": "",
        "geo_filter": "",
        "children": [{"kind": "t3", "data": thing(ctx, p, req.now, raw=raw)} for p in chosen],
        "before": fullname(chosen[0]) if chosen and paged and more_before else None,
    }
    return json_response({"kind": "Listing", "data": data}, headers=_headers())


def _search(ctx: Context, req: Request, subreddit: str | None) -> list[Post]:
    query = (req.arg("q") or "").strip()
    if not query or req.arg("type", "link") not in ("link", "t3"):
        return []
    posts = ctx.visible(ctx.matching("reddit", query), req.now)
    restrict = req.arg("restrict_sr", "") in ("1", "true", "on")
    if subreddit and subreddit.lower() != "all" and restrict:
        posts = [p for p in posts if p.extra.get("subreddit", "").lower() == subreddit.lower()]
    sort = req.arg("sort") or "relevance"
    span = _TIMES.get(req.arg("t") or "all")
    if span is not None and sort != "new":
        posts = [p for p in posts if (req.now - p.created_at).total_seconds() <= span]
    if sort in ("top", "relevance", "hot"):
        posts = sorted(posts, key=lambda p: ctx.world.engagement(p, req.now).likes, reverse=True)
    elif sort == "comments":
        posts = sorted(posts, key=lambda p: ctx.world.engagement(p, req.now).replies, reverse=True)
    return posts


def _page(
    posts: list[Post], after: str | None, before: str | None, limit: int
) -> tuple[list[Post], bool, bool]:
    """(the page, more after it, more before it); an unknown anchor gives an empty page, as on Reddit."""
    names = [fullname(p) for p in posts]
    if after:
        if after not in names:
            return [], False, False
        start = names.index(after) + 1
        return posts[start : start + limit], start + limit < len(posts), True
    if before:
        if before not in names:
            return [], False, False
        end = names.index(before)
        start = max(0, end - limit)
        return posts[start:end], True, start > 0
    return posts[:limit], limit < len(posts), False


def thing(ctx: Context, post: Post, now: datetime, *, raw: bool = True) -> dict[str, Any]:
    """A t3 link's `data` with the field set Reddit sends today."""
    counts = ctx.world.engagement(post, now)
    ident = fullname(post)[3:]
    sub = post.extra.get("subreddit", "technology")
    slug = "_".join(re.findall(r"[a-z0-9]+", post.title.lower()))[:50].strip("_")
    permalink = f"/r/{sub}/comments/{ident}/{slug}/"
    is_self = bool(post.text)
    link = f"https://www.reddit.com{permalink}" if is_self else f"https://news.example/{ident}"
    esc = (lambda s: s) if raw else (lambda s: html.escape(s, quote=False))
    score = counts.likes
    digest = hashlib.sha256(post.author.encode()).hexdigest()
    selftext_html = f'<!-- SC_OFF --><div class="md"><p>{html.escape(post.text)}</p>\n</div><!-- SC_ON -->'
    data: dict[str, Any] = {
        "approved_at_utc": None,
        "subreddit": sub,
        "selftext": esc(post.text),
        "author_fullname": f"t2_{digest[:10]}",
        "saved": False,
        "mod_reason_title": None,
        "gilded": 0,
        "clicked": False,
        "title": esc(post.title),
        "link_flair_richtext": [],
        "subreddit_name_prefixed": f"r/{sub}",
        "hidden": False,
        "pwls": 6,
        "link_flair_css_class": None,
        "downs": 0,
        "thumbnail_height": None,
        "top_awarded_type": None,
        "hide_score": (now - post.created_at).total_seconds() < 3600,
        "name": f"t3_{ident}",
        "quarantine": False,
        "link_flair_text_color": "dark",
        "upvote_ratio": 0.92 if score > 2 else 1.0,
        "author_flair_background_color": None,
        "subreddit_type": "public",
        "ups": score,
        "total_awards_received": 0,
        "media_embed": {},
        "thumbnail_width": None,
        "author_flair_template_id": None,
        "is_original_content": False,
        "user_reports": [],
        "secure_media": None,
        "is_reddit_media_domain": False,
        "is_meta": False,
        "category": None,
        "secure_media_embed": {},
        "link_flair_text": None,
        "can_mod_post": False,
        "score": score,
        "approved_by": None,
        "is_created_from_ads_ui": False,
        "author_premium": False,
        "thumbnail": "self" if is_self else "default",
        "edited": False,
        "author_flair_css_class": None,
        "author_flair_richtext": [],
        "gildings": {},
        "content_categories": None,
        "is_self": is_self,
        "mod_note": None,
        "created": post.created_at.timestamp(),
        "link_flair_type": "text",
        "wls": 6,
        "removed_by_category": None,
        "banned_by": None,
        "author_flair_type": "text",
        "domain": f"self.{sub}" if is_self else "news.example",
        "allow_live_comments": False,
        "selftext_html": esc(selftext_html) if is_self else None,
        "likes": None,
        "suggested_sort": None,
        "banned_at_utc": None,
        "url_overridden_by_dest": None if is_self else link,
        "view_count": None,
        "archived": False,
        "no_follow": score < 2,
        "is_crosspostable": True,
        "pinned": False,
        "over_18": False,
        "all_awardings": [],
        "awarders": [],
        "media_only": False,
        "can_gild": False,
        "spoiler": False,
        "locked": False,
        "author_flair_text": None,
        "treatment_tags": [],
        "visited": False,
        "removed_by": None,
        "num_reports": None,
        "distinguished": None,
        "subreddit_id": f"t5_{_base36(int(hashlib.sha256(sub.encode()).hexdigest()[:8], 16))}",
        "author_is_blocked": False,
        "mod_reason_by": None,
        "removal_reason": None,
        "link_flair_background_color": "",
        "id": ident,
        "is_robot_indexable": True,
        "report_reasons": None,
        "author": post.author,
        "discussion_type": None,
        "num_comments": counts.replies,
        "send_replies": True,
        "contest_mode": False,
        "mod_reports": [],
        "author_patreon_flair": False,
        "author_flair_text_color": None,
        "permalink": permalink,
        "stickied": False,
        "url": link,
        "subreddit_subscribers": 50_000 + len(sub) * 12_345,
        "created_utc": post.created_at.timestamp(),
        "num_crossposts": 0,
        "media": None,
        "is_video": False,
    }
    rich.reddit(ctx, post, data, now)  # edits, images and galleries (rich.py)
    return data


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def _headers() -> dict[str, str]:
    return {
        "cache-control": "private, s-maxage=0, max-age=0, must-revalidate, no-store",
        "x-ua-compatible": "IE=edge",
        "server": "snooserv",
    }


def _error(status: int, message: str) -> Response:
    return json_response({"message": message, "error": status}, status, _headers())
