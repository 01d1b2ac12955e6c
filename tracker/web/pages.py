"""Server-rendered pages for marketers: overview, mentions, experiments, maturity, sources, login.

Every POST goes through `csrf_protect` (a router dependency): a form without the
session's token is refused with 403 before its handler runs. After a successful
POST the browser is redirected (303) to a page that shows the outcome, with a
one-shot message kept in the session.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tracker.config import StreamConfig
from tracker.errors import UserError
from tracker.experiments import STATUSES, Registry, ValidationError, measure
from tracker.metrics import METRICS
from tracker.reflection import reflect
from tracker.report import lift_text
from tracker.status import stream_status
from tracker.store.models import Experiment
from tracker.timeutil import parse_instant, utcnow
from tracker.web import auth, charts, forms, queries
from tracker.web.app import WebContext, context
from tracker.web.security import SAFE_METHODS, csrf_ok


async def csrf_protect(request: Request) -> None:
    """Refuse a form POST whose csrf_token is missing or is not this session's."""
    if request.method in SAFE_METHODS:
        return
    submitted = (await request.form()).get("csrf_token")
    if not csrf_ok(request.session, submitted):
        raise HTTPException(
            403, "This form has expired or was not sent from this site: reload it and try again."
        )


router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
Ctx = Annotated[WebContext, Depends(context)]


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    ctx = context(request)
    identity = request.scope.get("state", {}).get("identity")
    values.setdefault("page", template.removesuffix(".html"))
    return ctx.templates.TemplateResponse(
        request,
        template,
        {
            "user": identity.name if identity else None,
            "require_login": ctx.require_login,
            "flashes": request.session.pop("flash", []),
            **values,
        },
        status_code=status,
    )


def flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "text": text})


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _registry(ctx: WebContext) -> Registry:
    return Registry(ctx.store, ctx.settings, ctx.model)


# -- overview ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: Ctx) -> HTMLResponse:
    today = queries.today(ctx.settings)
    first = today - timedelta(days=55)
    with ctx.store.read() as session:
        rows = queries.weeks(session, ctx.settings, today)
        points = queries.daily_series(session, ctx.settings, first, today)
        spikes = queries.spikes(session, ctx.settings, first, today)
        top = queries.top_mentions(
            session, ctx.settings, today - timedelta(days=7), today - timedelta(days=1)
        )
    experiments = _registry(ctx).list_all()
    reflection = reflect(ctx.store, ctx.settings, ctx.model)
    totals = {
        "this": sum(r.this["mentions"] or 0 for r in rows if r.role != "competitor"),
        "last": sum(r.last["mentions"] or 0 for r in rows if r.role != "competitor"),
    }
    return render(
        request,
        "overview.html",
        today=today,
        week=(today - timedelta(days=7), today - timedelta(days=1)),
        rows=rows,
        totals=totals,
        chart=charts.daily_chart(points, {s.day for s in spikes}),
        points=points,
        spikes=spikes,
        top=top,
        reflection=reflection,
        running=[e for e in experiments if e["status"] == "running"],
        awaiting=[e for e in experiments if e["status"] == "ended"],
        today_count=points[-1].mentions if points else 0,
        engagement_age=_hours(ctx.settings.experiments.engagement_age),
    )


def _hours(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:g} hours" if hours != 1 else "1 hour"


# -- mentions ---------------------------------------------------------------------------------


@router.get("/mentions", response_class=HTMLResponse)
def mentions(request: Request, ctx: Ctx) -> HTMLResponse:
    found, problems = queries.parse_filter(request.query_params)
    with ctx.store.read() as session:
        result = queries.search_mentions(session, ctx.settings, found)
        streams = queries.stream_names(session)
        platforms = queries.platforms(session)
    if found.stream and found.stream not in streams:
        problems.append(("stream", f"unknown stream {found.stream!r}"))

    def link(**changes: Any) -> str:
        return "/mentions?" + urlencode(found.params(**changes))

    return render(
        request,
        "mentions.html",
        f=found,
        result=result,
        errors=forms.problems_by_field(problems),
        streams=streams,
        platforms=platforms,
        link=link,
        sentiments=queries.SENTIMENTS,
        export_query=urlencode(found.params(page=1)),
        save_query=urlencode({"q": found.q or ""}),
    )


# -- experiments ------------------------------------------------------------------------------


@router.get("/experiments", response_class=HTMLResponse)
def experiments(request: Request, ctx: Ctx, status: str | None = None) -> HTMLResponse:
    everything = _registry(ctx).list_all()
    counts = {s: sum(1 for e in everything if e["status"] == s) for s in STATUSES}
    shown = [e for e in everything if status in (None, "", e["status"])]
    return render(
        request,
        "experiments.html",
        experiments=list(reversed(shown)),
        counts=counts,
        total=len(everything),
        current=status or None,
        statuses=STATUSES,
        practices={p.key: p.name for p in ctx.model.practices},
        lift_text=lift_text,
    )


def _form_page(request: Request, ctx: WebContext, values: dict[str, Any], errors: dict[str, list[str]],
               status: int = 200) -> HTMLResponse:  # fmt: skip
    """The registration form; `values` and `errors` may lack any field (it renders empty)."""
    with ctx.store.read() as session:
        streams = sorted(set(queries.stream_names(session)) | {s.name for s in ctx.settings.streams})
    return render(
        request,
        "experiment_new.html",
        status,
        page="experiments",
        values=defaultdict(str, values),
        errors=defaultdict(list, errors),
        streams=streams,
        practices=ctx.model.practices,
        metrics=METRICS,
    )


@router.get("/experiments/new", response_class=HTMLResponse)
def new_experiment(request: Request, ctx: Ctx) -> HTMLResponse:
    today = queries.today(ctx.settings)
    start = today + timedelta(days=(7 - today.weekday()) % 7 or 7)  # next Monday
    defaults = {"start": start.isoformat(), "end": (start + timedelta(days=27)).isoformat(),
                "expect": "increase", "min_effect": "0.05", "streams": []}  # fmt: skip
    return _form_page(request, ctx, defaults, {})


@router.post("/experiments", response_class=HTMLResponse)
async def create_experiment(request: Request) -> Response:
    form = await request.form()
    values: dict[str, Any] = {name: str(form.get(name) or "") for name in forms.FIELD_NAMES}
    values["streams"] = [str(s) for s in form.getlist("streams")]
    return await _run(request, _create, values)


def _create(request: Request, values: dict[str, Any]) -> Response:
    ctx = context(request)
    data, problems = forms.experiment_input(values)
    try:
        forms.check(data, problems, store=ctx.store, settings=ctx.settings, model=ctx.model)
        record, warnings = _registry(ctx).add(data)
    except ValidationError as exc:
        return _form_page(request, ctx, values, forms.problems_by_field(exc.problems), 400)
    flash(request, f"Experiment #{record['id']} registered.")
    for warning in warnings:
        flash(request, f"Note: {warning}", "warn")
    return redirect(f"/experiments/{record['id']}")


async def _run(request: Request, handler: Any, *args: Any) -> Response:
    """Run a blocking form handler in the thread pool (the form itself was read asynchronously)."""
    from starlette.concurrency import run_in_threadpool

    response: Response = await run_in_threadpool(handler, request, *args)
    return response


def _experiment_or_404(ctx: WebContext, exp_id: int) -> dict[str, Any]:
    with ctx.store.read() as session:
        if session.get(Experiment, exp_id) is None:
            raise HTTPException(404, f"There is no experiment #{exp_id}.")
    return _registry(ctx).get(exp_id)


@router.get("/experiments/{exp_id}", response_class=HTMLResponse)
def experiment(request: Request, ctx: Ctx, exp_id: int) -> HTMLResponse:
    record = _experiment_or_404(ctx, exp_id)
    result = record["result"]
    practice = ctx.model.practice(record["practice"])
    errors = request.session.pop("form_errors", {})
    return render(
        request,
        "experiment.html",
        page="experiments",
        e=record,
        result=result,
        chart=charts.experiment_chart(result) if result else None,
        practice=practice,
        errors=defaultdict(list, errors),
        values=defaultdict(str, request.session.pop("form_values", {})),
        lift_text=lift_text,
    )


def _refused(request: Request, exp_id: int, exc: UserError, values: dict[str, str]) -> Response:
    """Back to the experiment, with the problems beside the fields and the text kept."""
    problems = exc.problems if isinstance(exc, ValidationError) else [("form", str(exc))]
    request.session["form_errors"] = forms.problems_by_field(problems)
    request.session["form_values"] = values
    return redirect(f"/experiments/{exp_id}#{'conclude' if 'learning' in values else 'notes'}")


@router.post("/experiments/{exp_id}/notes")
def add_note(request: Request, ctx: Ctx, exp_id: int, text: Annotated[str, Form()] = "") -> Response:
    _experiment_or_404(ctx, exp_id)
    author = request.scope["state"]["identity"].name if request.scope["state"].get("identity") else None
    try:
        _registry(ctx).note(exp_id, text, author)
    except UserError as exc:
        return _refused(request, exp_id, exc, {"text": text})
    flash(request, "Note added.")
    return redirect(f"/experiments/{exp_id}#notes")


@router.post("/experiments/{exp_id}/conclude")
def conclude(request: Request, ctx: Ctx, exp_id: int, learning: Annotated[str, Form()] = "",
             decision: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    _experiment_or_404(ctx, exp_id)
    try:
        record = _registry(ctx).conclude(exp_id, learning, decision or None)
    except UserError as exc:
        return _refused(request, exp_id, exc, {"learning": learning, "decision": decision})
    outcome = {"adopt": "the practice is adopted", "reject": "the practice is not adopted"}
    flash(
        request,
        f"Experiment concluded: {outcome.get(record['decision'] or '', 'the verdict decides adoption')}.",
    )
    return redirect(f"/experiments/{exp_id}")


@router.post("/experiments/{exp_id}/measure")
def measure_now(request: Request, ctx: Ctx, exp_id: int) -> Response:
    _experiment_or_404(ctx, exp_id)
    (result,) = measure(ctx.store, ctx.settings, [exp_id])
    flash(request, f"Measured: {result['verdict'].replace('_', ' ')}, {lift_text(result)}.")
    return redirect(f"/experiments/{exp_id}")


@router.post("/experiments/{exp_id}/cancel")
def cancel(request: Request, ctx: Ctx, exp_id: int) -> Response:
    _experiment_or_404(ctx, exp_id)
    try:
        _registry(ctx).cancel(exp_id)
    except UserError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, "Experiment cancelled: it is kept, and no longer counts in the reflection.")
    return redirect(f"/experiments/{exp_id}")


# -- maturity and sources ---------------------------------------------------------------------


@router.get("/maturity", response_class=HTMLResponse)
def maturity(request: Request, ctx: Ctx, as_of: str | None = None) -> HTMLResponse:
    errors: dict[str, list[str]] = {}
    day = None
    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            errors["as_of"] = [f"expected a day like 2026-09-01, got {as_of!r}"]
    result = reflect(ctx.store, ctx.settings, ctx.model, as_of=day)
    practices = {p.key: p.name for p in ctx.model.practices}
    return render(
        request,
        "maturity.html",
        r=result,
        stages=ctx.model.stages,
        practices=practices,
        as_of=as_of or "",
        errors=errors,
        tried=[p for p in result["practices"] if p["experiments"] or p["adopted"]],
        untried=[p for p in result["practices"] if not p["experiments"] and not p["adopted"]],
    )


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, ctx: Ctx) -> HTMLResponse:
    streams = stream_status(store=ctx.store, settings=ctx.settings)
    for stream in streams:
        stream["health"] = health(stream, ctx.settings.stream(stream["name"]))
    return render(request, "sources.html", streams=streams)


def health(stream: dict[str, Any], conf: StreamConfig | None) -> str:
    """One word for a stream's state: healthy, late (no run for 3 intervals), partial, failing..."""
    run = stream["last_run"]
    if conf is None:
        return "imported"
    if run is None:
        return "never collected"
    if run["status"] != "ok":
        return {"failed": "failing", "partial": "partial"}.get(run["status"], str(run["status"]))
    age = utcnow() - parse_instant(run["started_at"])
    return "late" if age > 3 * conf.every + timedelta(minutes=5) else "healthy"


# -- login ------------------------------------------------------------------------------------


def _next(target: str | None) -> str:
    """Only a path on this site (never //host or an absolute URL)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx, next: str | None = None) -> Response:
    if not ctx.require_login:
        return redirect("/")
    return render(request, "login.html", target=_next(next), error=None, name="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not ctx.require_login:
        return redirect("/")
    client = request.client.host if request.client else "?"
    if ctx.throttle.blocked(client):
        return render(request, "login.html", 429, target=_next(next), name=name,
                      error="Too many failed attempts: wait a few minutes, then try again.")  # fmt: skip
    found = auth.check_password(ctx.store, name.strip(), password)
    if found is None:
        ctx.throttle.failed(client)
        return render(request, "login.html", 401, target=_next(next), name=name,
                      error="That name and password do not match.")  # fmt: skip
    ctx.throttle.succeeded(client)
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
    request.session.update(uid=found[0], pw=found[1])
    return redirect(_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return redirect("/login")
