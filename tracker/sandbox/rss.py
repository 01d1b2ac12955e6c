"""News feeds: Google-Alerts-style Atom and RSS 2.0, with ETag / Last-Modified and 304s.

Below the rss base URL: `/{subject}.atom` and `/{subject}.xml` (the same entries about
the brand or the competitor, in Atom and in RSS 2.0) and `/blog.xml` / `/blog.atom` (the
brand's own blog). A feed holds its newest `feed_size` entries visible at the server's
"now", so older ones roll off as on a real feed. Every answer has a strong ETag (of the
body) and Last-Modified (the newest entry); If-None-Match, else If-Modified-Since,
answers 304 with no body when nothing changed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

from tracker.sandbox.state import Context
from tracker.sandbox.wire import Request, Response, etag, html_response, http_date, iso_s, page
from tracker.sandbox.world import Post

ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"


def entry_id(post: Post, fmt: str) -> str:
    """The entry's id as the connector stores it: Atom <id>, RSS <guid>."""
    if fmt == "atom":
        number = int(hashlib.sha256(str(post.n).encode()).hexdigest()[:16], 16)
        return f"tag:google.com,2013:googlealerts/feed:{number}"
    return link(post)


def link(post: Post) -> str:
    site = f"blog.{post.author}.example" if post.role == "owned" else post.extra.get("site", "news.example")
    return f"https://{site}/{post.created_at:%Y/%m/%d}/{post.n}"


def handle(ctx: Context, req: Request) -> Response:
    name, _, fmt = req.path.lstrip("/").rpartition(".")
    subjects = {ctx.world.brand_slug: ctx.world.brand, ctx.world.competitor_slug: ctx.world.competitor}
    if req.method != "GET" or fmt not in ("xml", "atom") or (name not in subjects and name != "blog"):
        return html_response(page("404 Not Found", "No feed here."), 404)
    posts = [
        p
        for p in ctx.visible(ctx.newest_first.get("rss", []), req.now)
        if (p.role == "owned" if name == "blog" else name in p.subjects and p.role != "owned")
    ][: ctx.settings.feed_size]
    title = f"{ctx.world.brand} blog" if name == "blog" else f"Google Alert - {subjects[name]}"
    modified = posts[0].created_at if posts else ctx.world.start
    if fmt == "atom":
        body, kind = _atom(ctx, name, title, posts, modified, subjects.get(name)), ATOM
    else:
        body, kind = _rss(ctx, req, title, posts, modified), RSS
    headers = {
        "Content-Type": kind,
        "ETag": etag(body),
        "Last-Modified": http_date(modified),
        "Cache-Control": "private, max-age=0",
    }
    if _unchanged(req, headers["ETag"], modified):
        return Response(304, b"", {k: v for k, v in headers.items() if k != "Content-Type"})
    return Response(200, body, headers)


def error(status: int) -> Response:
    return html_response(page(f"{status} Error", "The feed is not available."), status)


def _unchanged(req: Request, tag: str, modified: datetime) -> bool:
    match = req.headers.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or tag in tags
    since = req.headers.get("if-modified-since")
    if since:
        try:
            return modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _atom(
    ctx: Context, name: str, title: str, posts: list[Post], modified: datetime, bold: str | None
) -> bytes:
    feed_id = int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)
    entries = "".join(_atom_entry(p, bold) for p in posts)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:idx="urn:atom-extension:indexing">'
        f"<id>tag:google.com,2005:reader/user/04175468913983673025/state/com.google/alerts/{feed_id}</id>"
        f"<title>{escape(title)}</title>"
        f'<link href="https://www.google.com/alerts/feeds/04175468913983673025/{feed_id}" rel="self"></link>'
        f"<updated>{iso_s(modified)}</updated>{entries}</feed>"
    ).encode()


def _atom_entry(post: Post, bold: str | None) -> str:
    title, content = escape(post.title), escape(post.text)
    if bold:  # Google Alerts bolds the matched words (HTML inside the escaped text)
        title = title.replace(bold, f"&lt;b&gt;{bold}&lt;/b&gt;")
        content = content.replace(bold, f"&lt;b&gt;{bold}&lt;/b&gt;")
    target = quote(link(post), safe=":/")
    redirect = f"https://www.google.com/url?rct=j&amp;sa=t&amp;url={target}&amp;ct=ga&amp;cd=CAIyHGU4ZTJkZjQ3OTVkYmIzMTc6Y28uanA6ZW46SlA&amp;usg=AFQjCNHUcRGtHY1ygcMDkVS68IgpYs7Wpg"
    when = iso_s(post.created_at)
    return (
        f'<entry><id>{entry_id(post, "atom")}</id><title type="html">{title}</title>'
        f'<link href="{redirect}"></link><published>{when}</published><updated>{when}</updated>'
        f'<content type="html">{content}</content><author><name></name></author></entry>'
    )


def _rss(ctx: Context, req: Request, title: str, posts: list[Post], modified: datetime) -> bytes:
    items = "".join(
        f"<item><title>{escape(p.title)}</title><link>{link(p)}</link>"
        f'<guid isPermaLink="true">{entry_id(p, "xml")}</guid><pubDate>{http_date(p.created_at)}</pubDate>'
        f"<dc:creator>{escape(p.author)}</dc:creator><description>{escape(p.text)}</description></item>"
        for p in posts
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>{escape(title)}</title><link>https://news.example/</link>"
        f'<atom:link href="{escape(req.base + req.path)}" rel="self" type="application/rss+xml"/>'
        f"<description>{escape(title)}</description><language>en-us</language>"
        f"<lastBuildDate>{http_date(modified)}</lastBuildDate>{items}</channel></rss>"
    ).encode()
