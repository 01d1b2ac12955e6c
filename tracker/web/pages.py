"""Server-rendered pages for marketers: overview, mentions, experiments, maturity, sources, login.

Every POST goes through `csrf_protect` (a router dependency): a form without the
session's token is refused with 403 before its handler runs. After a successful
POST the browser is redirected (303) to a page that shows the outcome, with a
one-shot message kept in the session.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tracker import accounts, audit
from tracker.config import StreamConfig
from tracker.errors import UserError
from tracker.experiments import STATUSES, ExperimentRecord, Registry, ValidationError, known_searches, measure
from tracker.metrics import METRICS
from tracker.reflection import reflect
from tracker.report import lift_text
from tracker.samples import MIN_ITEMS
from tracker.status import StreamStatus, stream_status
from tracker.store.enums import Role, RunStatus
from tracker.store.models import Experiment
from tracker.timeutil import parse_instant, utcnow
from tracker.web import auth, charts, forms, queries
from tracker.web.app import WebContext, actor, context
from tracker.web.security import CSRF_FIELD, SAFE_METHODS, csrf_ok

if TYPE_CHECKING:  # alert_pages imports this module (render)
    from tracker.web.alert_pages import AlertBanner


async def csrf_protect(request: Request) -> None:
    """Refuse a form POST whose csrf_token is missing or is not this session's."""
    if request.method in SAFE_METHODS:
        return
    submitted = (await request.form()).get(CSRF_FIELD)
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
            "admin": bool(identity and identity.admin) or not ctx.require_login,
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


def _registry(ctx: WebContext, request: Request | None = None) -> Registry:
    return Registry(ctx.store, ctx.settings, ctx.model, actor(request) if request is not None else None)


# -- overview ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: Ctx) -> HTMLResponse:
    today = queries.today(ctx.settings)
    first = today - timedelta(days=55)
    with ctx.store.read() as session:
        rows = queries.weeks(session, ctx.settings, today)
        points = queries.daily_series(session, ctx.settings, first, today)
        spikes = queries.spikes(session, ctx.settings, first, today)
        shown = queries.chart_streams(session, ctx.settings)
        top = queries.top_mentions(
            session, ctx.settings, today - timedelta(days=7), today - timedelta(days=1)
        )
    experiments = _registry(ctx).summaries()
    reflection = reflect(ctx.store, ctx.settings, ctx.model)
    totals = {
        "this": sum(r.this["mentions"] or 0 for r in rows if r.role != Role.COMPETITOR),
        "last": sum(r.last["mentions"] or 0 for r in rows if r.role != Role.COMPETITOR),
    }
    return render(
        request,
        "overview.html",
        **_alert_banner(ctx),
        today=today,
        week=(today - timedelta(days=7), today - timedelta(days=1)),
        rows=rows,
        totals=totals,
        chart=charts.daily_chart(
            points,
            _spikes_shown(spikes, shown),
            [
                (
                    f"Experiment #{e['id']} {e['title']}",
                    date.fromisoformat(e["start"]),
                    date.fromisoformat(e["end"]),
                )
                for e in experiments
                if e["status"] != "cancelled"
            ],
        ),
        points=points,
        spikes=spikes,
        top=top,
        reflection=reflection,
        running=[e for e in experiments if e["status"] == "running"],
        awaiting=[e for e in experiments if e["status"] == "ended"],
        today_count=points[-1].mentions if points else 0,
        engagement_age=_hours(ctx.settings.experiments.engagement_age),
        min_items=MIN_ITEMS,
    )


def _spikes_shown(spikes: list[queries.Spike], shown: set[str]) -> dict[date, list[str]]:
    """The chart's spike marks: only days on which a stream the chart adds up spiked, named."""
    marks: dict[date, list[str]] = defaultdict(list)
    for s in spikes:
        if s.stream in shown:
            marks[s.day].append(f"{s.stream} ({s.mentions}, usually {s.usual:.0f})")
    return dict(marks)


def _hours(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:g} hours" if hours != 1 else "1 hour"


# -- mentions ---------------------------------------------------------------------------------


# Parameters the mentions page has no field for (a link or a typed URL sets them): a bad value
# is said above the results, with what is shown instead.
UNSHOWN = {
    "platform": "showing every platform",
    "kind": "showing posts of every kind",
    "page": "showing the first page",
    "per_page": f"showing {queries.PER_PAGE} per page",
}


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
        notices=[f"{name}: {message}; {UNSHOWN[name]}" for name, message in problems if name in UNSHOWN],
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
        searches = sorted(known_searches(session))
    return render(
        request,
        "experiment_new.html",
        status,
        page="experiments",
        values=defaultdict(str, values),
        errors=defaultdict(list, errors),
        streams=streams,
        searches=searches,
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
        record, warnings = _registry(ctx, request).add(data)
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


def _experiment_or_404(ctx: WebContext, exp_id: int) -> ExperimentRecord:
    if not 1 <= exp_id <= queries.MAX_ID:
        raise HTTPException(404, f"There is no experiment #{exp_id}.")
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


def _refused(request: Request, exp_id: int, exc: UserError, values: dict[str, str],
             anchor: str | None = None) -> Response:  # fmt: skip
    """Back to the experiment, with the problems beside the fields and the text kept."""
    problems = exc.problems if isinstance(exc, ValidationError) else [("form", str(exc))]
    request.session["form_errors"] = forms.problems_by_field(problems)
    request.session["form_values"] = values
    return redirect(f"/experiments/{exp_id}#{anchor or ('conclude' if 'learning' in values else 'notes')}")


@router.post("/experiments/{exp_id}/notes")
def add_note(request: Request, ctx: Ctx, exp_id: int, text: Annotated[str, Form()] = "") -> Response:
    _experiment_or_404(ctx, exp_id)
    author = request.scope["state"]["identity"].name if request.scope["state"].get("identity") else None
    try:
        _registry(ctx, request).note(exp_id, text, author)
    except UserError as exc:
        return _refused(request, exp_id, exc, {"text": text})
    flash(request, "Note added.")
    return redirect(f"/experiments/{exp_id}#notes")


def _author(request: Request) -> str | None:
    identity = request.scope.get("state", {}).get("identity")
    return identity.name if identity else None


def _conclusion_args(decision: str, judgement: str) -> tuple[str | None, str | None]:
    """The form's choice as (decision, judgement): "judgement" adopts on the team's judgement."""
    if decision == "judgement":
        return None, judgement
    return decision or None, None


@router.post("/experiments/{exp_id}/conclude")
def conclude(request: Request, ctx: Ctx, exp_id: int, learning: Annotated[str, Form()] = "",
             decision: Annotated[str, Form()] = "", judgement: Annotated[str, Form()] = "",
             early: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
             confirm: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    """Two steps, like `experiment conclude`'s rules: check and ask for confirmation, then conclude."""
    record = _experiment_or_404(ctx, exp_id)
    values = {"learning": learning, "decision": decision, "judgement": judgement, "early": early,
              "reason": reason}  # fmt: skip
    chosen, judged = _conclusion_args(decision, judgement)
    registry = _registry(ctx, request)
    try:
        if confirm != "yes":
            plan = registry.check_conclude(exp_id, learning, chosen, judgement=judged, early=bool(early),
                                           reason=reason)  # fmt: skip
            return render(request, "experiment_confirm.html", page="experiments", e=record, action="conclude",
                          plan=plan, values=values)  # fmt: skip
        done = registry.conclude(exp_id, learning, chosen, judgement=judged, early=bool(early), reason=reason,
                                 author=_author(request))  # fmt: skip
    except UserError as exc:
        return _refused(request, exp_id, exc, values)
    outcome = {"evidence": "the practice is adopted on the evidence",
               "judgement": "the practice is adopted on the team's judgement"}  # fmt: skip
    said = outcome.get(done["adopted_by"] or "", "the practice is not adopted")
    flash(request, f"Experiment concluded: {said}.")
    return redirect(f"/experiments/{exp_id}")


@router.post("/experiments/{exp_id}/reopen")
def reopen(request: Request, ctx: Ctx, exp_id: int, reason: Annotated[str, Form()] = "") -> Response:
    _experiment_or_404(ctx, exp_id)
    try:
        _registry(ctx, request).reopen(exp_id, reason, author=_author(request))
    except UserError as exc:
        return _refused(request, exp_id, exc, {"reopen_reason": reason}, anchor="history")
    flash(request, "Experiment reopened: its earlier conclusion is kept in its history.")
    return redirect(f"/experiments/{exp_id}")


@router.post("/experiments/{exp_id}/measure")
def measure_now(request: Request, ctx: Ctx, exp_id: int) -> Response:
    _experiment_or_404(ctx, exp_id)
    (result,) = measure(ctx.store, ctx.settings, [exp_id], actor=actor(request))
    flash(request, f"Measured: {result['verdict'].replace('_', ' ')}, {lift_text(result)}.")
    return redirect(f"/experiments/{exp_id}")


@router.post("/experiments/{exp_id}/cancel")
def cancel(request: Request, ctx: Ctx, exp_id: int, reason: Annotated[str, Form()] = "",
           confirm: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    record = _experiment_or_404(ctx, exp_id)
    if record["status"] == "concluded":
        flash(request, f"experiment {exp_id} is concluded: it cannot be cancelled (reopen it first)", "error")
        return redirect(f"/experiments/{exp_id}")
    if confirm != "yes":
        return render(request, "experiment_confirm.html", page="experiments", e=record, action="cancel",
                      plan=None, values={"reason": reason})  # fmt: skip
    try:
        _registry(ctx, request).cancel(exp_id, reason, author=_author(request))
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
            day = None
        if day is None or not queries.FIRST_DAY <= day <= queries.LAST_DAY:
            day = None
            bounds = f"from {queries.FIRST_DAY} to {queries.LAST_DAY}"
            errors["as_of"] = [f"expected a day like 2026-09-01 ({bounds}), got {as_of!r}"]
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
    streams = [{**stream, "health": health(stream, ctx.settings.stream(stream["name"]))}
               for stream in stream_status(store=ctx.store, settings=ctx.settings)]  # fmt: skip
    return render(request, "sources.html", streams=streams)


def health(stream: StreamStatus, conf: StreamConfig | None) -> str:
    """One word for a stream's state: healthy, late (no run for 3 intervals), partial, failing..."""
    run = stream["last_run"]
    if conf is None:
        return "imported"
    if run is None:
        return "never collected"
    if run["status"] != RunStatus.OK:
        words: dict[str, str] = {RunStatus.FAILED: "failing", RunStatus.PARTIAL: "partial"}
        return words.get(run["status"], run["status"])
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
    account = ctx.throttle.account(name)
    tried = name.strip()[:100]
    if ctx.throttle.blocked(client) or ctx.throttle.blocked(account):
        if ctx.throttle.report_block(f"{client} {account}"):
            audit.record_now(ctx.store, tried or "?", "login.blocked", f"user:{tried}", client=client)
        return render(request, "login.html", 429, target=_next(next), name=name,
                      error="Too many failed attempts: wait a few minutes, then try again.")  # fmt: skip
    found = auth.check_password(ctx.store, name.strip(), password)
    if found is None:
        ctx.throttle.failed(client)
        ctx.throttle.failed(account)
        audit.record_now(ctx.store, tried or "?", "login.failure", f"user:{tried}", client=client)
        return render(request, "login.html", 401, target=_next(next), name=name,
                      error="That name and password do not match.")  # fmt: skip
    ctx.throttle.succeeded(client)
    _sign_in(request, ctx, found[0])
    return redirect(_next(next))


def _sign_in(request: Request, ctx: WebContext, user_id: int) -> None:
    """A new server-side session, and a fresh cookie (and CSRF token) naming only its id."""
    client = request.client.host if request.client else None
    sid = accounts.start_session(
        ctx.store, user_id, client=client, user_agent=request.headers.get("user-agent")
    )
    request.session.clear()
    request.session["sid"] = sid


def _identity(request: Request) -> auth.Identity | None:
    found = request.scope.get("state", {}).get("identity")
    return found if isinstance(found, auth.Identity) else None


@router.post("/logout")
def logout(request: Request, ctx: Ctx) -> Response:
    identity = _identity(request)
    if identity is not None and identity.session_id is not None:
        client = request.client.host if request.client else None
        accounts.end_session(ctx.store, identity.session_id, actor=identity.name, client=client)
    request.session.clear()
    return redirect("/login")


# -- account and audit ------------------------------------------------------------------------


def _own(request: Request) -> auth.Identity:
    identity = _identity(request)
    if identity is None or identity.user_id is None or identity.session_id is None:
        raise HTTPException(
            404, "Accounts are used only when the tracker is served beyond 127.0.0.1 (with login)."
        )
    return identity


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, ctx: Ctx) -> HTMLResponse:
    me = _own(request)
    web = ctx.settings.web
    return render(
        request,
        "account.html",
        me=me,
        sessions=accounts.user_sessions(
            ctx.store, me.user_id or 0, idle=web.session_idle, lifetime=web.session_lifetime
        ),
        tokens=accounts.list_tokens(ctx.store, user_id=me.user_id),
        errors=defaultdict(list, request.session.pop("form_errors", {})),
    )


@router.post("/account/password")
def change_password(
    request: Request,
    ctx: Ctx,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    me = _own(request)
    problems: list[tuple[str, str]] = []
    if auth.check_password(ctx.store, me.name, current) is None:
        problems.append(("current", "this is not your current password"))
    elif new != confirm:
        problems.append(("confirm", "the two new passwords differ"))
    else:
        try:
            auth.add_user(ctx.store, me.name, new, actor=me.name)  # ends every session of the user
        except UserError as exc:
            problems.append(("new", str(exc).removeprefix("password: ")))
    if problems:
        request.session["form_errors"] = forms.problems_by_field(problems)
        return redirect("/account#password")
    _sign_in(request, ctx, me.user_id or 0)
    flash(request, "Password changed: every other session of yours has ended.")
    return redirect("/account")


@router.post("/account/sessions/{session_id}/end")
def end_own_session(request: Request, ctx: Ctx, session_id: int) -> Response:
    me = _own(request)
    client = request.client.host if request.client else None
    if not accounts.end_session(ctx.store, session_id, actor=me.name, reason="ended by its user",
                                client=client, user_id=me.user_id):  # fmt: skip
        raise HTTPException(404, "There is no such open session of yours.")
    flash(request, "Session ended.")
    return redirect("/account#sessions")


@router.post("/account/tokens/{token_id}/revoke")
def revoke_own_token(request: Request, ctx: Ctx, token_id: int) -> Response:
    me = _own(request)
    try:
        accounts.revoke_token(ctx.store, token_id, actor=me.name, user_id=me.user_id)
    except UserError:
        raise HTTPException(404, "There is no such token of yours.") from None
    flash(request, "Token revoked: it is refused from now on.")
    return redirect("/account#tokens")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, ctx: Ctx) -> HTMLResponse:
    identity = _identity(request)
    if ctx.require_login and (identity is None or not identity.admin):
        raise HTTPException(403, "Only admins see the audit log (`tracker user add NAME --admin`).")
    return render(request, "audit.html", events=list(reversed(audit.events(ctx.store, limit=500))))


def _alert_banner(ctx: WebContext) -> AlertBanner:
    from tracker.web.alert_pages import alert_banner

    return alert_banner(ctx)
