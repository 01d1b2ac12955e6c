"""`/digest`: the weekly digest as the email shows it, with links to its PDF and CSV.

`/digest?week=YYYY-Www` (default: the last complete week) is the browser preview of
`tracker digest --out digest.html`, with a bar on top: the weeks before and after,
"Download PDF" (`/digest.pdf`, the same HTML printed) and "Download CSV"
(`/digest.csv`, the per-stream table). The digest's HTML is written for mail clients,
with inline styles, so this one page is served with `style-src 'unsafe-inline'`
(security.DIGEST_CSP); scripts stay forbidden.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape

from tracker.digest.message import Rendered, preview_html
from tracker.digest.service import builder, file_bytes
from tracker.digest.weeks import Week, last_complete_week, parse_week
from tracker.errors import UserError
from tracker.timeutil import utcnow
from tracker.web.app import WebContext, context

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(context)]
WeekParam = Annotated[str | None, Query(max_length=16)]


def _week(ctx: WebContext, week: str | None) -> Week:
    now = utcnow()
    latest = last_complete_week(now, ctx.settings.organisation.zone)
    if not week:
        return latest
    try:
        target = parse_week(week)
    except UserError as exc:
        raise HTTPException(
            404, f"There is no digest for that week: {str(exc).removeprefix('--week: ')}."
        ) from None
    if target.start > latest.next.start:
        raise HTTPException(404, f"The week {target.label} has not started yet.")
    return target


def _build(ctx: WebContext, target: Week) -> Rendered:
    return builder(ctx.settings, ctx.store, target, utcnow())()


BAR = """<div style="font-family:system-ui,sans-serif;background:#172033;color:#fff;padding:10px 14px;\
display:flex;flex-wrap:wrap;gap:10px 18px;align-items:center;font-size:14px">\
<a href="/" style="color:#fff;text-decoration:none;font-weight:700">&larr; Tracker</a>\
<a href="/digest?week={prev}" style="color:#c9d3e3">&lsaquo; {prev}</a>\
<strong>Digest {label}</strong>{next_link}\
<a class="download-pdf" href="/digest.pdf?week={label}" \
style="color:#fff;background:#2f6fed;padding:4px 10px;border-radius:6px;text-decoration:none">\
Download PDF</a>\
<a class="download-csv" href="/digest.csv?week={label}" style="color:#c9d3e3">Download CSV</a></div>"""


# On a phone the email's 664 px column shrinks to the screen; what cannot scrolls in its frame.
FRAME = '<div class="digest-frame" style="overflow-x:auto;max-width:100%">'
NARROW = (
    "<style>@media (max-width: 700px) { table[width='664'] { width: 100% !important; } "
    "img { max-width: 100% !important; height: auto !important; } }</style>"
)


@router.get("/digest", response_class=HTMLResponse)
def digest_page(ctx: Ctx, week: WeekParam = None) -> HTMLResponse:
    target = _week(ctx, week)
    rendered = _build(ctx, target)
    html = preview_html(rendered)
    latest = last_complete_week(utcnow(), ctx.settings.organisation.zone)
    following = target.next
    next_link = (
        f'<a href="/digest?week={following.label}" style="color:#c9d3e3">{following.label} &rsaquo;</a>'
        if following.start <= latest.start
        else ""
    )
    bar = BAR.format(prev=escape(target.previous.label), label=escape(target.label), next_link=next_link)
    page = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + bar + FRAME, html, count=1)
    page = page.replace("</body>", "</div></body>", 1).replace("</head>", NARROW + "</head>", 1)
    return HTMLResponse(page, headers={"X-Digest-Page": "1"})


@router.get("/digest.pdf")
def digest_pdf(ctx: Ctx, week: WeekParam = None) -> Response:
    target = _week(ctx, week)
    try:
        content = file_bytes(ctx.settings, _build(ctx, target), "pdf")
    except UserError as exc:
        raise HTTPException(503, f"The PDF cannot be made on this server: {exc}") from None
    name = f"digest-{target.label}.pdf"
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.get("/digest.csv")
def digest_csv(ctx: Ctx, week: WeekParam = None) -> Response:
    target = _week(ctx, week)
    content = file_bytes(ctx.settings, _build(ctx, target), "csv")
    name = f"digest-{target.label}.csv"
    return Response(content, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
