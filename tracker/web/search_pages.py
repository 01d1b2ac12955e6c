"""Downloads of the current mention search, and saved searches on the web.

`/mentions/export.csv` and `/mentions/export.jsonl` take the mention list's own query
parameters and stream every match (all pages, in the list's order) from one read
transaction, batch by batch: memory stays flat however many mentions match. CSV cells
that a spreadsheet would run as a formula are prefixed with a quote.

`/searches` lists the saved searches (with their last 7 days against the 7 before) and
creates them; `/searches/{id}` shows one: daily chart, top mentions, rename, delete.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from tracker import saved_searches
from tracker.errors import UserError
from tracker.web import charts, queries
from tracker.web.app import WebContext, context
from tracker.web.pages import csrf_protect, flash, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
Ctx = Annotated[WebContext, Depends(context)]
TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


@router.get("/mentions/export.{fmt}")
def export(request: Request, ctx: Ctx, fmt: str) -> Response:
    from tracker.search import iter_csv, iter_jsonl, iter_matches

    if fmt not in TYPES:
        raise HTTPException(404, "Downloads are .csv or .jsonl.")
    found, problems = queries.parse_filter(request.query_params)
    if problems:
        lines = [f"{name}: {message}" for name, message in problems]
        return PlainTextResponse("\n".join(lines) + "\n", 400)
    write = iter_csv if fmt == "csv" else iter_jsonl

    def body() -> Iterator[bytes]:
        with ctx.store.read() as session:
            for chunk in write(iter_matches(session, ctx.settings, found)):
                yield chunk.encode("utf-8")

    name = f"mentions-{queries.today(ctx.settings).isoformat()}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(body(), media_type=TYPES[fmt], headers=headers)


# -- saved searches ---------------------------------------------------------------------------


@router.get("/searches", response_class=HTMLResponse)
def searches(request: Request, ctx: Ctx) -> HTMLResponse:
    today = queries.today(ctx.settings)
    rows = [
        saved_searches.figures(ctx.store, ctx.settings, s, today, top=0)
        for s in saved_searches.all_searches(ctx.store)
    ]
    values = request.session.pop("search_values", {"name": "", "query": request.query_params.get("q", "")})
    errors = request.session.pop("search_errors", {})
    return render(request, "searches.html", page="searches", rows=rows, values=values, errors=errors)


@router.post("/searches")
def create_search(
    request: Request, ctx: Ctx, name: Annotated[str, Form()] = "", query: Annotated[str, Form()] = ""
) -> Response:
    try:
        found = saved_searches.add(ctx.store, name, query)
    except UserError as exc:
        request.session["search_values"] = {"name": name, "query": query}
        field = "name" if str(exc).startswith(("name:", "a saved search")) else "query"
        request.session["search_errors"] = {field: [str(exc)]}
        return redirect("/searches#new")
    flash(request, f"Saved search {found.name!r} created.")
    return redirect(f"/searches/{found.id}")


def _search_or_404(ctx: WebContext, search_id: int) -> saved_searches.Search:
    try:
        return saved_searches.find(ctx.store, search_id)
    except UserError:
        raise HTTPException(404, f"There is no saved search #{search_id}.") from None


@router.get("/searches/{search_id}", response_class=HTMLResponse)
def search(request: Request, ctx: Ctx, search_id: int) -> HTMLResponse:
    found = _search_or_404(ctx, search_id)
    result = saved_searches.figures(ctx.store, ctx.settings, found, queries.today(ctx.settings))
    points = [
        queries.DailyPoint(date.fromisoformat(d["day"]), d["mentions"], d["sentiment"])
        for d in result["daily"]
    ]
    week = (date.fromisoformat(result["week"]["start"]), date.fromisoformat(result["week"]["end"]))
    link = "/mentions?" + urlencode({"q": found.query, "since": week[0].isoformat()})
    return render(
        request,
        "search.html",
        page="searches",
        s=result,
        chart=charts.daily_chart(points),
        week=week,
        previous=(week[0] - timedelta(days=7), week[0] - timedelta(days=1)),
        list_link=link,
        errors=request.session.pop("search_errors", {}),
    )


@router.post("/searches/{search_id}/rename")
def rename_search(request: Request, ctx: Ctx, search_id: int, name: Annotated[str, Form()] = "",
                  query: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    _search_or_404(ctx, search_id)
    try:
        found = saved_searches.update(ctx.store, search_id, name=name, query=query or None)
    except UserError as exc:
        request.session["search_errors"] = {"form": [str(exc)]}
        return redirect(f"/searches/{search_id}#edit")
    flash(request, f"Saved search is now {found.name!r}.")
    return redirect(f"/searches/{search_id}")


@router.post("/searches/{search_id}/delete")
def delete_search(request: Request, ctx: Ctx, search_id: int) -> Response:
    found = _search_or_404(ctx, search_id)
    saved_searches.remove(ctx.store, search_id)
    flash(request, f"Saved search {found.name!r} deleted; its mentions stay.")
    return redirect("/searches")
