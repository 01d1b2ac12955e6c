"""The web application: pages for marketers and the JSON API, over the same services as the CLI.

`create_app` wires the layers of `security.py` around two routers (`pages.py`,
`api.py`). Every endpoint is a plain `def`, so FastAPI runs its database work in a
thread pool, and every write goes through the services, which use the store's
short BEGIN IMMEDIATE transactions: the server and `tracker run` share one SQLite
file without "database is locked".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracker import __version__, explain, report
from tracker.config import Settings
from tracker.maturity import Model, load_model
from tracker.reflection import effect_text
from tracker.store.db import Store
from tracker.timeutil import parse_instant, utcnow
from tracker.web import auth, charts
from tracker.web.security import (
    CSRF_FIELD,
    BodyLimit,
    Gate,
    HostCheck,
    ProxyHeaders,
    SecurityHeaders,
    Sessions,
    csrf_token,
    is_api,
)

HERE = Path(__file__).parent
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass
class WebContext:
    """What every request handler needs; one per application."""

    settings: Settings
    store: Store
    model: Model
    require_login: bool
    templates: Jinja2Templates
    throttle: auth.LoginThrottle


def context(request: Request) -> WebContext:
    return cast(WebContext, request.app.state.ctx)


def actor(request: Request) -> str:
    """Who a change is recorded as done by: the signed-in user, `token:NAME`, or (no login
    on loopback) `web@ADDRESS`."""
    identity = request.scope.get("state", {}).get("identity")
    if isinstance(identity, auth.Identity):
        return identity.name
    return f"web@{request.client.host if request.client else 'local'}"


def create_app(
    settings: Settings,
    store: Store,
    *,
    require_login: bool | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
) -> FastAPI:
    """The ASGI application. `require_login` defaults to [web] host not being loopback;
    `allowed_hosts`, when given, refuses requests addressed to any other host name."""
    from tracker.web import alert_pages, api, digest_pages, docs, label_pages, pages, search_pages
    from tracker.web.command import is_loopback

    if require_login is None:
        require_login = not is_loopback(settings.web.host)
    app = FastAPI(
        title=f"{settings.organisation.name} social tracker",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url=None,  # FastAPI's Swagger UI needs a CDN and inline script: tracker/web/docs.py serves it
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = WebContext(
        settings, store, load_model(settings), require_login, _templates(settings), auth.LoginThrottle()
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(search_pages.router)
    app.include_router(label_pages.router)
    app.include_router(pages.router)
    app.include_router(docs.router)
    app.include_router(digest_pages.router)
    app.include_router(alert_pages.router)
    app.include_router(alert_pages.api_router)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    # Added innermost first: a request meets SecurityHeaders, HostCheck, ProxyHeaders,
    # BodyLimit, Sessions, then Gate.
    web = settings.web
    app.add_middleware(Gate, store=store, require_login=require_login, idle=web.session_idle,
                       lifetime=web.session_lifetime, rate=web.rate_limit)  # fmt: skip
    app.add_middleware(Sessions, secret_key=auth.session_key(settings), key_file=auth.key_path(settings),
                       max_age=int(web.session_lifetime.total_seconds()))  # fmt: skip
    app.add_middleware(BodyLimit)
    app.add_middleware(ProxyHeaders, trusted=web.trusted_proxies)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, hosts=allowed_hosts)
    app.add_middleware(SecurityHeaders)
    return app


API_DESCRIPTION = """\
The tracker's data and experiments for scripts. Served without login on 127.0.0.1;
on any other address every call needs `Authorization: Bearer TOKEN` (create one with
`tracker token create`) or a signed-in browser session (which must then send its CSRF
token in `X-CSRF-Token` on POST). Validation errors answer 422 (400 for a body that is
not JSON) with `detail`: a list of `{field, msg, loc}`, one per problem.
"""


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422, with each problem's field named plainly; a body that is not JSON is 400.

    A page whose path does not parse (/experiments/abc) is simply not found.
    """
    if not is_api(request.url.path):
        return await _http_error(request, StarletteHTTPException(404))
    detail = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        names = [
            part for part in loc if part not in ("body", "query", "path", "header") and not part.isdigit()
        ]
        field = names[0] if names else (loc[-1] if loc else "body")
        detail.append(
            {"field": field, "msg": error.get("msg", "invalid"), "loc": loc, "type": error.get("type")}
        )
    status = 400 if any(e["type"] == "json_invalid" for e in detail) else 422
    return JSONResponse({"detail": detail}, status)


ERROR_TITLES = {403: "Refused", 404: "Not found", 405: "Not allowed"}


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """JSON for the API; a page with the navigation for everything else."""
    if is_api(request.url.path):
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    from tracker.web.pages import render

    message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "There is no such page."
    title = ERROR_TITLES.get(exc.status_code, "Something went wrong")
    return render(request, "error.html", exc.status_code, page="", title=title, message=message)


# -- templates --------------------------------------------------------------------------------


def _templates(settings: Settings) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = settings.organisation.zone

    def when(value: str | datetime | None) -> str:
        if value is None:
            return "—"
        moment = parse_instant(value) if isinstance(value, str) else value
        return f"{moment.astimezone(zone):%d %b %Y, %H:%M}"

    def day(value: str | date | None, with_year: bool = True) -> str:
        if value is None:
            return "—"
        d = date.fromisoformat(value) if isinstance(value, str) else value
        return f"{d:%d %b %Y}" if with_year else f"{d:%d %b}"

    def ago(value: str | None) -> str:
        if value is None:
            return "—"
        seconds = (utcnow() - parse_instant(value)).total_seconds()
        future = seconds < 0
        seconds = abs(seconds)
        for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
            if seconds >= size:
                n = int(seconds // size)
                text = f"{n} {unit}{'s' if n != 1 else ''}"
                return f"in {text}" if future else f"{text} ago"
        return "just now"

    env.filters.update(
        when=when,
        ago=ago,
        day=day,
        percent=report.percent,
        metric_value=report.number,
        signed=lambda v, digits=2: "—" if v is None else f"{v:+.{digits}f}",
        thousands=lambda v: f"{v:,}",
        safe_url=safe_url,
        truncate_text=truncate_text,
        label=lambda key: LABELS.get(key, key.replace("_", " ")),
    )
    env.globals.update(
        org=settings.organisation.name,
        version=__version__,
        lift_text=report.lift_text,
        post_share_text=report.post_share_text,
        event_text=report.event_text,
        effect_text=effect_text,
        did_text=explain.diff_in_diff_text,
        score_bar=charts.score_bar,
        METRIC_LABELS=METRIC_LABELS,
        VERDICT_HELP=VERDICT_HELP,
        min_effect_text=min_effect_text,
        csrf_field=lambda request: Markup(
            f'<input type="hidden" name="{CSRF_FIELD}" value="{Markup.escape(csrf_token(request.session))}">'
        ),
    )
    return Jinja2Templates(env=env)


def min_effect_text(metric: str, value: float) -> str:
    """The smallest effect that matters, on the scale the verdict judges it."""
    if metric in report.RELATIVE:
        return f"{value * 100:.3g} %"
    if metric in ("positive_share", "share_of_voice"):
        return f"{value * 100:.3g} percentage points"
    return f"{value:.3g}"


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are rendered as links (never javascript: or data:)."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


def truncate_text(text: str, limit: int = 420) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + " …"


METRIC_LABELS = {
    "mentions": "Mentions per day",
    "sentiment": "Mean sentiment",
    "positive_share": "Share of positive mentions",
    "engagement": "Engagement per own post",
    "share_of_voice": "Share of voice",
}
VERDICT_HELP = {
    "success": "The effect is real and goes the expected way.",
    "failure": "The metric moved the other way, beyond chance.",
    "no_effect": "Whatever the effect is, it is smaller than the minimum that matters.",
    "inconclusive": "Not enough evidence either way: a longer window may tell.",
    "insufficient_data": "Fewer than 7 days with data in a window.",
    "running": "The window has not ended: an interim reading.",
}
LABELS: dict[str, Any] = {
    "experiments": "experiments registered",
    "concluded": "experiments concluded with a learning",
    "measured_share": "share of ended experiments measured",
    "owners": "distinct owners",
    "teams": "distinct teams",
    "platforms": "platforms collected",
    "adopted": "practices adopted",
    "adopted_per_dimension": "adopted practices per dimension",
    "digest_weeks": "weeks with a digest sent",
    "no_effect": "no effect",
    "insufficient_data": "insufficient data",
    "pre_post": "before / after",
    "diff_in_diff": "difference-in-differences",
    "positive_share": "positive share",
    "share_of_voice": "share of voice",
}
