"""Sentiment on the web: one-click labels, the "label 20 more" queue, and each language's figures.

`POST /mentions/{id}/label` (CSRF-protected like every form POST) labels a mention and goes
back to the page it came from; `/sentiment` shows, per language, the labels, the newest
model's cross-validated macro-F1 and per-class F1, the scorer in use and the labels still
needed, and `/sentiment?lang=de` the 20 unlabelled mentions the model is least sure about.
`/mentions/{id}` is one mention with its label buttons (forms: they work without
JavaScript), its scorer and, once labelled irrelevant, what that teaches its streams'
filters; `/sentiment/exclusions?stream=NAME` is that proposal in full (tracker/label_filters.py):
terms, their measured effect and the config line to add (the config is never changed here).
The work is in tracker/labels.py (the same as `tracker label ...`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from tracker import label_filters, labels
from tracker.errors import UserError
from tracker.mentions import mention_record
from tracker.store.models import Label, Mention
from tracker.store.queries import mention_streams
from tracker.web.app import WebContext, context
from tracker.web.pages import csrf_protect, flash, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
Ctx = Annotated[WebContext, Depends(context)]


@router.get("/sentiment", response_class=HTMLResponse)
def sentiment_page(request: Request, ctx: Ctx) -> HTMLResponse:
    found = labels.status(ctx.store, ctx.settings)
    lang = labels.primary(request.query_params.get("lang"))
    todo = labels.queue(ctx.store, lang, 20) if lang else []
    return render(
        request,
        "sentiment.html",
        page="sentiment",
        figures=found,
        lang=lang,
        queue=todo,
        choices=labels.LABELS,
        irrelevant=label_filters.streams_with_irrelevant(ctx.store),
    )


@router.get("/mentions/{mention_id:int}", response_class=HTMLResponse)
def mention_page(request: Request, ctx: Ctx, mention_id: int) -> HTMLResponse:
    with ctx.store.read() as session:
        mention = session.get(Mention, mention_id)
        if mention is None:
            raise HTTPException(
                404,
                f"There is no mention #{mention_id}: it was never collected, or its id is mistyped.",
            )
        streams = mention_streams(session, [mention_id]).get(mention_id, [])
        record: dict[str, Any] = {
            **mention_record(mention, streams),
            "id": mention.id,
            "deleted_at": mention.deleted_at.isoformat() if mention.deleted_at else None,
            "scorer": mention.sentiment_scorer or (labels.VADER if mention.sentiment is not None else None),
        }
        lang = labels.primary(mention.lang)
        found = session.scalar(
            select(Label.label)
            .where(
                (Label.mention_id == mention_id)
                | ((Label.lang == (lang or "")) & (Label.text_hash == labels.text_hash(mention.text)))
            )
            .limit(1)
        )
    teaches = []
    if found == "irrelevant":
        teaches = [label_filters.suggest(ctx.store, ctx.settings, name) for name in streams]
    return render(
        request,
        "mention.html",
        page="mentions",
        m=record,
        label=found,
        choices=labels.LABELS,
        teaches=teaches,
        zone=str(ctx.settings.organisation.zone),
    )


@router.get("/sentiment/exclusions", response_class=HTMLResponse)
def exclusions_page(request: Request, ctx: Ctx) -> HTMLResponse:
    name = request.query_params.get("stream") or ""
    known = {s.name for s in ctx.settings.streams}
    known |= {n for n, _ in label_filters.streams_with_irrelevant(ctx.store)}
    if name not in known:
        raise HTTPException(404, f"There is no stream named {name!r} in the configuration.")
    return render(
        request,
        "exclusions.html",
        page="sentiment",
        item=label_filters.suggest(ctx.store, ctx.settings, name),
    )


@router.post("/mentions/{mention_id}/label")
def label_mention(
    request: Request,
    ctx: Ctx,
    mention_id: int,
    label: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/mentions",
) -> Response:
    try:
        labels.label_mention(ctx.store, mention_id, label, source="web")
    except UserError as exc:
        if str(exc).startswith("no mention"):
            raise HTTPException(404, f"There is no mention #{mention_id}.") from None
        flash(request, str(exc), "error")
    else:
        teaches = " It also teaches the stream's filter: the Sentiment page proposes exclusions."
        flash(request, f"Labelled {label}." + (teaches if label == "irrelevant" else ""))
    # Only a path of this site (never another site's address).
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/mentions")
