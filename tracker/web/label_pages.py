"""Sentiment on the web: one-click labels, the "label 20 more" queue, and each language's figures.

`POST /mentions/{id}/label` (CSRF-protected like every form POST) labels a mention and goes
back to the page it came from; `/sentiment` shows, per language, the labels, the newest
model's cross-validated macro-F1 and per-class F1, the scorer in use and the labels still
needed, and `/sentiment?lang=de` the 20 unlabelled mentions the model is least sure about.
The work is in tracker/labels.py (the same as `tracker label ...`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from tracker import labels
from tracker.errors import UserError
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
            raise HTTPException(404, str(exc)) from None
        flash(request, str(exc), "error")
    else:
        flash(request, f"Labelled {label}.")
    # Only a path of this site (never another site's address).
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/mentions")
