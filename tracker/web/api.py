"""The JSON API under /api/v1: the CLI's `--json` documents, over HTTP.

Each endpoint calls the same service as the CLI command of the same name and returns
its document unchanged, so scripts can move between the two. Problems with the
input answer 422 naming each field (as `{field, msg, loc}`), an unknown experiment
404, and an operation the experiment's state forbids (concluding a cancelled one) 409.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict, cast

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tracker.errors import UserError
from tracker.experiments import Registry, ValidationError, measure
from tracker.reflection import reflect
from tracker.status import StreamStatus, stream_status
from tracker.store.models import Experiment
from tracker.web import forms
from tracker.web.app import WebContext, actor, context
from tracker.web.queries import FIRST_DAY, LAST_DAY, MAX_ID, parse_filter, search_mentions

router = APIRouter(prefix="/api/v1", tags=["api"])
Ctx = Annotated[WebContext, Depends(context)]
ExpId = Annotated[int, Path(ge=1, le=MAX_ID, description="The experiment's id.")]
DAY: dict[str, Any] = {"format": "date", "examples": ["2026-09-01"]}
# The response_model of a route that returns a TypedDict: mypy checks the TypedDict while FastAPI
# serialises and describes the document as the open object it was (pydantic refuses typing.TypedDict
# before Python 3.12, and /openapi.json stays as it is).
OPEN = dict[str, Any]


class ExperimentIn(BaseModel):
    """The fields of `tracker experiment add`."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    hypothesis: str | None = None
    practice: str | None = Field(None, description="A practice key of the maturity model.")
    metric: str | None = Field(
        None, description="mentions, sentiment, positive_share, engagement or share_of_voice."
    )
    streams: list[str] = Field(default_factory=list, description="The streams the practice is tried on.")
    control_stream: str | None = Field(None, description="A comparable stream left alone (diff-in-diff).")
    control_streams: list[str] = Field(
        default_factory=list,
        description="Several control streams: a synthetic control weighted on the baseline.",
    )
    start: str | None = Field(None, description="First day (YYYY-MM-DD).", json_schema_extra=DAY)
    end: str | None = Field(None, description="Last day, inclusive.", json_schema_extra=DAY)
    expect: str | None = Field(None, description="increase (default) or decrease.")
    owner: str | None = None
    team: str | None = None
    min_effect: float | None = Field(None, description="Smallest effect that matters (default 0.05).")
    baseline_start: str | None = Field(None, json_schema_extra=DAY)
    baseline_end: str | None = Field(None, json_schema_extra=DAY)
    competitors: list[str] = Field(
        default_factory=list,
        description="share_of_voice only: the competitor streams to compare with "
        "(default: the competitor streams on the same platforms).",
    )


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    author: str | None = None


class ConcludeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    learning: str
    decision: str | None = Field(
        None, description="adopt (needs a usable measured verdict), reject, or null (a success adopts)."
    )
    judgement: str | None = Field(
        None, description="Adopt on the team's judgement, saying why (instead of decision)."
    )
    early: bool = Field(False, description="Stop it before its window has ended (needs reason).")
    reason: str | None = Field(None, description="Why it is stopped early.")


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = None


def _problems(exc: ValidationError) -> JSONResponse:
    detail = [{"field": n, "msg": m, "loc": ["body", n], "type": "value_error"} for n, m in exc.problems]
    return JSONResponse({"detail": detail}, 422)


def _registry(ctx: WebContext, request: Request | None = None) -> Registry:
    return Registry(ctx.store, ctx.settings, ctx.model, actor(request) if request is not None else None)


def _exists(ctx: WebContext, exp_id: int) -> None:
    with ctx.store.read() as session:
        if session.get(Experiment, exp_id) is None:
            raise HTTPException(404, f"no experiment with id {exp_id}")


def _call(action: Any, *args: Any, status: int = 200) -> Any:
    """Run a registry action; its refusals become 422 (fields) or 409 (the experiment's state)."""
    try:
        result = action(*args)
    except ValidationError as exc:
        return _problems(exc)
    except UserError as exc:
        raise HTTPException(409, str(exc)) from None
    return JSONResponse(result, status) if status != 200 else result


class StreamsDocument(TypedDict):
    """`/api/v1/streams`: one record per stream, as `tracker status --json`."""

    streams: list[StreamStatus]


@router.get(
    "/streams",
    summary="Streams and their collection health (`tracker status --json`)",
    response_model=OPEN,
)
def streams(ctx: Ctx) -> StreamsDocument:
    return {"streams": stream_status(store=ctx.store, settings=ctx.settings)}


@router.get("/mentions", summary="Mentions, filtered and paginated")
def mentions(
    ctx: Ctx,
    request: Request,
    q: Annotated[
        str | None,
        Query(description='A query: words, "phrases", OR, -word, (groups), acme*, #tag, @handle, '
              "author: platform: lang: stream: sentiment: kind: (README, Searching mentions)."),
    ] = None,
    stream: str | None = None,
    platform: str | None = None,
    sentiment: Annotated[str | None, Query(description="positive, neutral, negative or unscored.")] = None,
    kind: Annotated[str | None, Query(description="mention or own.")] = None,
    since: Annotated[str | None, Query(description="First day (organisation time zone).")] = None,
    until: Annotated[str | None, Query(description="Last day, inclusive.")] = None,
    sort: Annotated[str | None, Query(description="newest (default), oldest or engagement.")] = None,
    page: Annotated[str | None, Query(description="1-based page number.")] = None,
    per_page: Annotated[str | None, Query(description="1 to 200 (default 25).")] = None,
) -> Any:
    found, problems = parse_filter(request.query_params)
    if problems:
        detail = [{"field": n, "msg": m, "loc": ["query", n], "type": "value_error"} for n, m in problems]
        return JSONResponse({"detail": detail}, 422)
    with ctx.store.read() as session:
        return search_mentions(session, ctx.settings, found).as_dict()


@router.get("/experiments", summary="Experiments with status and latest verdict")
def experiments(
    ctx: Ctx,
    status: Annotated[
        str | None, Query(description="planned, running, ended, concluded or cancelled.")
    ] = None,
) -> Any:
    try:
        return _registry(ctx).list_all(status or None)
    except UserError as exc:
        return JSONResponse(
            {"detail": [{"field": "status", "msg": str(exc), "loc": ["query", "status"]}]}, 422
        )


@router.post(
    "/experiments",
    status_code=201,
    summary="Register an experiment (`tracker experiment add`)",
    responses={
        201: {"description": "The experiment, with `warnings` (overlaps)"},
        422: {"description": "Invalid fields"},
    },
)
def create_experiment(ctx: Ctx, request: Request, body: ExperimentIn) -> Any:
    data, problems = forms.experiment_input(body.model_dump())
    try:
        forms.check(data, problems, store=ctx.store, settings=ctx.settings, model=ctx.model)
        record, warnings = _registry(ctx, request).add(data)
    except ValidationError as exc:
        return _problems(exc)
    headers = {"Location": f"/api/v1/experiments/{record['id']}"}
    return JSONResponse({**record, "warnings": warnings}, 201, headers=headers)


@router.get("/experiments/{exp_id}", summary="One experiment, with its result history and notes")
def experiment(ctx: Ctx, exp_id: ExpId) -> Any:
    _exists(ctx, exp_id)
    return _registry(ctx).get(exp_id)


@router.post("/experiments/{exp_id}/measure", summary="Measure it now; returns the result")
def measure_experiment(ctx: Ctx, request: Request, exp_id: ExpId) -> Any:
    _exists(ctx, exp_id)
    (result,) = measure(ctx.store, ctx.settings, [exp_id], actor=actor(request))
    return result


@router.get("/experiments/{exp_id}/results", summary="Every valid measurement, newest first")
def experiment_results(ctx: Ctx, exp_id: ExpId) -> Any:
    _exists(ctx, exp_id)
    return _registry(ctx).get(exp_id)["results"]


@router.post("/experiments/{exp_id}/notes", status_code=201, summary="Add a note to the learning log")
def note(ctx: Ctx, request: Request, exp_id: ExpId, body: NoteIn) -> Any:
    _exists(ctx, exp_id)
    return _call(_registry(ctx, request).note, exp_id, body.text, body.author, status=201)


@router.post("/experiments/{exp_id}/conclude", summary="Close it with the learning; adopt or reject")
def conclude(ctx: Ctx, request: Request, exp_id: ExpId, body: ConcludeIn) -> Any:
    _exists(ctx, exp_id)
    registry = _registry(ctx, request)
    return _call(
        lambda: registry.conclude(
            exp_id, body.learning, body.decision or None, judgement=body.judgement, early=body.early,
            reason=body.reason,
        )
    )


@router.post("/experiments/{exp_id}/cancel", summary="Cancel it (kept, never counted in the reflection)")
def cancel(ctx: Ctx, request: Request, exp_id: ExpId, body: ReasonIn | None = None) -> Any:
    _exists(ctx, exp_id)
    return _call(_registry(ctx, request).cancel, exp_id, body.reason if body else None)


@router.post("/experiments/{exp_id}/reopen", summary="Undo a conclusion or a cancellation, with a reason")
def reopen(ctx: Ctx, request: Request, exp_id: ExpId, body: ReasonIn) -> Any:
    _exists(ctx, exp_id)
    return _call(_registry(ctx, request).reopen, exp_id, body.reason or "")


@router.get("/results", summary="The current result of every measured experiment")
def results(ctx: Ctx) -> list[dict[str, Any]]:
    # the stored payloads as they are (JSON): the response model stays an open object
    return [cast(dict[str, Any], r["result"]) for r in _registry(ctx).list_all() if r["result"] is not None]


@router.get("/reflection", summary="The maturity reflection (`tracker reflect --json`)")
def reflection(
    ctx: Ctx, as_of: Annotated[str | None, Query(description="Reflect as at the end of this day.")] = None
) -> Any:
    from datetime import date

    day = None
    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            day = None
        if day is None or not FIRST_DAY <= day <= LAST_DAY:
            msg = f"expected a day like 2026-09-01 (from {FIRST_DAY} to {LAST_DAY}), got {as_of!r}"
            return JSONResponse({"detail": [{"field": "as_of", "msg": msg, "loc": ["query", "as_of"]}]}, 422)
    return reflect(ctx.store, ctx.settings, ctx.model, as_of=day)
