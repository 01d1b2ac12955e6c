"""The `tracker` command: a thin shell over the services.

Conventions for every command: `--config PATH` (here or before the command),
`--json` on commands that print data (one JSON document on stdout, nothing else),
exit 0 on success, 1 when the operation ran and something failed, 2 for bad usage,
config or input. Nothing a user can cause ends in a traceback (`--debug` shows one).
Service modules are imported inside the commands so `tracker --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, get_args

import typer

from tracker import __version__
from tracker.errors import ConfigError, TrackerError, UserError

if TYPE_CHECKING:
    from tracker.config import Settings
    from tracker.experiments import ExperimentFields
    from tracker.store.db import Store

app = typer.Typer(
    help="Social listening and experimentation tracker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True, rich_markup_mode=None)
mentions_app = typer.Typer(help="Import and export mentions.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(db_app, name="db")
app.add_typer(mentions_app, name="mentions")
experiment_app = typer.Typer(
    help="Register, measure and conclude experiments.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(experiment_app, name="experiment")
user_app = typer.Typer(
    help="Web users (needed when serving beyond 127.0.0.1).", no_args_is_help=True, rich_markup_mode=None
)
token_app = typer.Typer(help="API tokens for scripts.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
sandbox_app = typer.Typer(
    help="The simulated social API the demo and the tests use.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(sandbox_app, name="sandbox")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: $TRACKER_CONFIG, else ./tracker.toml).", dir_okay=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


class _State:
    config: Path | None = None
    debug: bool = False
    database: str | None = None  # the database a command opened, for messages about it
    interrupt_said: bool = False  # a command said itself what Ctrl-C left (mentions import)


state = _State()

INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C: 128 + SIGINT, as shells give it


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tracker {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    config: ConfigOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Social listening and experimentation tracker."""
    state.config = config
    state.debug = debug


def settings_for(config: Path | None) -> Settings:
    from tracker.config import load_settings

    return load_settings(config or state.config)


def store_for(settings: Settings) -> Store:
    from tracker.store.db import open_store

    state.database = settings.database_url
    return open_store(
        settings.database_url, settings.organisation.timezone, settings.experiments.engagement_age
    )


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")


def fail(message: str, code: int = 2) -> NoReturn:
    from tracker.terminal import clean

    typer.echo(clean(f"error: {message}", newlines=False), err=True)
    raise typer.Exit(code)


# -- init / db --------------------------------------------------------------------------------


@app.command()
def init(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR", help="Where to write tracker.toml (default: $TRACKER_CONFIG, else here)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="The organisation's name.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing tracker.toml.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Write a commented starter tracker.toml and create its empty database."""
    from tracker.config import find_config, load_settings
    from tracker.starter import write_starter

    path = config or state.config or (directory / "tracker.toml" if directory else find_config(None))
    write_starter(path, name=name, force=force)
    settings = load_settings(path)
    store_for(settings).close()
    typer.echo(f"wrote {path}\ncreated the database at {_db_label(settings)}")
    typer.echo(f"next: edit the [[streams]] in {path}, then `tracker --config {path} collect`")


def _db_label(settings: Settings) -> str:
    from tracker.store.db import redact_url

    return redact_url(settings.database_url)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply pending schema migrations (every command also creates an empty database)."""
    from tracker.store.db import Store, current_revision, upgrade

    settings = settings_for(config)
    with Store(settings.database_url) as store:
        before = current_revision(store.engine)
        upgrade(store, settings.organisation.timezone, settings.experiments.engagement_age)
        after = current_revision(store.engine)
    if before == after:
        typer.echo(f"database is up to date (revision {after})")
    else:
        typer.echo(f"upgraded the database from {before or 'empty'} to {after}")


@db_app.command("check")
def db_check(
    repair: Annotated[
        bool, typer.Option("--repair", help="Rebuild the daily aggregates from the raw mentions.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Check the daily aggregates against the raw mentions (exit 1 naming what differs)."""
    from tracker.db_check import check

    settings = settings_for(config)
    store = store_for(settings)
    try:
        lines, ok = check(
            store, settings.organisation.zone, settings.experiments.engagement_age, repair=repair
        )
    finally:
        store.close()
    for line in lines:
        typer.echo(line)
    if not ok:
        raise typer.Exit(1)


# -- mentions ---------------------------------------------------------------------------------


@mentions_app.command("import")
def mentions_import(
    file: Annotated[Path, typer.Argument(help="A JSONL or CSV file with the fields of a mention.")],
    stream: Annotated[str | None, typer.Option("--stream", help="Add this stream to every line.")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the file name).")
    ] = None,
    create_streams: Annotated[
        bool, typer.Option("--create-streams", help="Create import streams for names not known yet.")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import mentions; bad lines are rejected by number, good lines stored (exit 1 if any bad)."""
    from tracker.mentions import ImportReport, detect_format, import_file

    if not file.is_file():
        fail(f"{file}: no such file")
    kind = detect_format(file, fmt)
    settings = settings_for(config)
    report = ImportReport()
    size = file.stat().st_size
    try:
        with store_for(settings) as store, _progress(size, f"importing {file.name}") as advance:
            import_file(
                store=store,
                settings=settings,
                path=file,
                fmt=kind,
                stream=stream,
                progress=advance,
                create_streams=create_streams,
                require_stream=True,
                report=report,
            )
    except KeyboardInterrupt:
        state.interrupt_said = True
        rejected = f", {len(report.rejected)} rejected" if report.rejected else ""
        typer.echo(
            f"stopped after reading {report.lines} lines: {report.counts.stored} stored "
            f"({report.counts.text()}){rejected}; import the same file again to store the rest "
            "(the lines already stored come back unchanged)",
            err=True,
        )
        raise
    if as_json:
        print_json(report.as_dict())
    else:
        typer.echo(f"{report.lines} lines: {report.counts.text()}, {len(report.rejected)} rejected")
        for number, reason in report.rejected[:50]:
            typer.echo(f"line {number}: {reason}", err=True)
        if len(report.rejected) > 50:
            typer.echo(
                f"... and {len(report.rejected) - 50} more rejected lines (--json lists them all)", err=True
            )
    if report.rejected:
        raise typer.Exit(1)


@mentions_app.command("export")
def mentions_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    stream: Annotated[
        list[str] | None, typer.Option("--stream", help="Only mentions of this stream (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="First day (YYYY-MM-DD, organisation time zone).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day, inclusive.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="Only mentions matching this query (as `mentions search`).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Export mentions in the normalised fields, oldest first."""
    from tracker.mentions import export
    from tracker.query import parse
    from tracker.timeutil import parse_export_day

    if query is not None:
        parse(query)  # a bad query is refused before any file is written
    first, last = parse_export_day(since, "--since"), parse_export_day(until, "--until")
    settings = settings_for(config)
    with store_for(settings) as store:
        if out is None:
            from tracker.terminal import CleanWriter, is_terminal

            export(
                store=store,
                settings=settings,
                out=CleanWriter(sys.stdout) if is_terminal() else sys.stdout,  # type: ignore[arg-type]
                fmt=fmt,
                streams=stream or (),
                since=first,
                until=last,
                matching=query,
            )
            return
        partial = out.with_name(out.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as handle:
            count = export(
                store=store,
                settings=settings,
                out=handle,
                fmt=fmt,
                streams=stream or (),
                since=first,
                until=last,
                matching=query,
            )
        partial.replace(out)  # a reader never sees half a file
        typer.echo(f"wrote {count} mentions to {out}", err=True)


# -- collection -------------------------------------------------------------------------------


@app.command()
def collect(
    stream: Annotated[
        list[str] | None, typer.Option("--stream", help="Only this stream (repeatable).")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one collection of every stream (or the named ones) now, due or not."""
    import asyncio

    from tracker.collect import collect as run_collect
    from tracker.collect import select_streams
    from tracker.logs import setup_logging

    settings = settings_for(config)
    chosen = select_streams(settings, stream or [])
    if not chosen:
        fail("no streams are configured: add [[streams]] to the configuration")
    setup_logging(settings, quiet=True)
    with store_for(settings) as store:
        reports = asyncio.run(run_collect(settings=settings, store=store, streams=chosen))
    if as_json:
        print_json([r.as_dict() for r in reports])
    else:
        width = max(len("stream"), *(len(r.stream) for r in reports))
        typer.echo(
            f"{'stream':<{width}}  {'fetched':>7}  {'new':>5}  {'updated':>7}  {'rejected':>8}  status"
        )
        for r in reports:
            counts = f"{r.fetched:>7}  {r.new:>5}  {r.updated:>7}  {r.rejected:>8}"
            typer.echo(f"{r.stream:<{width}}  {counts}  {r.status}")
        for r in reports:
            if r.error:
                typer.echo(f"{r.stream}: {r.status}: {r.error}", err=True)
            for reason in r.rejections[:5]:
                typer.echo(f"{r.stream}: rejected {reason}", err=True)
            if r.refreshed:
                typer.echo(f"{r.stream}: read {r.refreshed} known posts again ({r.deleted} deleted since)")
            if r.refresh_error:
                typer.echo(f"{r.stream}: refresh: {r.refresh_error}", err=True)
    if any(r.status not in ("ok", "skipped") for r in reports):
        raise typer.Exit(1)


@app.command()
def run(config: ConfigOpt = None) -> None:
    """Run the scheduler in the foreground: collect every stream at its interval.

    SIGINT/SIGTERM stop it cleanly (the write in progress finishes). Log lines go
    to stderr, and to [logging] file when set.
    """
    from tracker.logs import setup_logging
    from tracker.scheduler import run_worker

    settings = settings_for(config)
    setup_logging(settings)
    with store_for(settings) as store:
        run_worker(settings, store)


@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Per stream: last run, its outcome and counts, last error, coverage, next run, followers."""
    from tracker.digest.job import next_digest_time
    from tracker.digest.send import delivery_status
    from tracker.status import stream_status
    from tracker.timeutil import iso_z, utcnow

    settings = settings_for(config)
    with store_for(settings) as store:
        streams = stream_status(store=store, settings=settings)
        digests = delivery_status(store)
    upcoming = next_digest_time(settings, utcnow())
    if as_json:
        print_json(
            {"streams": streams, "digests": digests, "next_digest": iso_z(upcoming) if upcoming else None}
        )
        return
    from tracker.cli_format import status_lines

    for line in status_lines(streams, digests, upcoming, settings.organisation.zone):
        typer.echo(line)


# -- experiments ------------------------------------------------------------------------------

TitleOpt = Annotated[str | None, typer.Option("--title", help="A short name for the trial.")]
HypothesisOpt = Annotated[
    str | None, typer.Option("--hypothesis", help="What you expect to happen, and why.")
]
PracticeOpt = Annotated[
    str | None, typer.Option("--practice", help="The practice tried (a key of the maturity model).")
]
MetricOpt = Annotated[
    str | None,
    typer.Option("--metric", help="mentions, sentiment, positive_share, engagement or share_of_voice."),
]
StreamsOpt = Annotated[
    list[str] | None, typer.Option("--stream", help="A stream the practice is tried on (repeatable).")
]
ControlOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--control-stream",
        help="A comparable stream left alone: measures by difference-in-differences "
        "(repeatable: several make a synthetic control weighted on the baseline).",
    ),
]
StartOpt = Annotated[str | None, typer.Option("--start", help="First day of the trial (YYYY-MM-DD).")]
EndOpt = Annotated[str | None, typer.Option("--end", help="Last day of the trial, inclusive.")]
ExpectOpt = Annotated[str | None, typer.Option("--expect", help="increase (default) or decrease.")]
OwnerOpt = Annotated[str | None, typer.Option("--owner", help="Who runs it.")]
TeamOpt = Annotated[str | None, typer.Option("--team", help="Which team runs it.")]
MinEffectOpt = Annotated[
    float | None,
    typer.Option(
        "--min-effect",
        help="Smallest effect that matters (default 0.05; relative for mentions and engagement).",
    ),
]
BaseStartOpt = Annotated[
    str | None,
    typer.Option(
        "--baseline-start", help="First day of the baseline (default: as long as the trial, right before it)."
    ),
]
BaseEndOpt = Annotated[str | None, typer.Option("--baseline-end", help="Last day of the baseline.")]
CompetitorsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--competitors",
        help="share_of_voice: the competitor streams to compare with (repeatable or comma-separated; "
        "default: the competitor streams on the same platforms).",
    ),
]

SearchOpt = Annotated[
    str | None,
    typer.Option(
        "--search",
        help="A saved search (`tracker search list`): only the mentions matching it count; "
        "without --stream, in every stream but the competitors' ('' on edit removes it).",
    ),
]


# The `experiment add`/`edit` options taken as they are, and those that are days.
TextOption = Literal["title", "hypothesis", "practice", "metric", "expect", "owner", "team", "search"]
DayOption = Literal["start", "end", "baseline_start", "baseline_end"]
TEXT_OPTIONS: tuple[TextOption, ...] = get_args(TextOption)
DAY_OPTIONS: tuple[DayOption, ...] = get_args(DayOption)


def _experiment_fields(options: dict[str, Any]) -> ExperimentFields:
    """The given `experiment add`/`edit` options as ExperimentInput fields (days parsed).

    Every problem (a bad day) is raised at once, as the service's own validation does.
    """
    from tracker.experiments import ValidationError, parse_day

    problems: list[tuple[str, str]] = []
    fields: ExperimentFields = {}
    for text in TEXT_OPTIONS:
        if options.get(text) is not None:
            fields[text] = options[text]
    for day in DAY_OPTIONS:
        if options.get(day) is not None:
            fields[day] = parse_day(options[day], day, problems)
    if options.get("min_effect") is not None:
        fields["min_effect"] = options["min_effect"]
    if streams := options.get("stream"):
        fields["streams"] = list(streams)
    if controls := options.get("control_stream"):
        fields["control_stream"], fields["control_streams"] = controls[0], list(controls)
    if competitors := options.get("competitors"):
        fields["competitors"] = [n.strip() for v in competitors for n in v.split(",") if n.strip()]
    if problems:
        raise ValidationError(problems)
    return fields


def _registry(config: Path | None) -> tuple[Any, Any]:
    from tracker.experiments import Registry
    from tracker.maturity import load_model

    settings = settings_for(config)
    model = load_model(settings)
    store = store_for(settings)
    return Registry(store, settings, model), store


@experiment_app.command("add")
def experiment_add(
    title: TitleOpt = None,
    hypothesis: HypothesisOpt = None,
    practice: PracticeOpt = None,
    metric: MetricOpt = None,
    stream: StreamsOpt = None,
    control_stream: ControlOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    expect: ExpectOpt = None,
    owner: OwnerOpt = None,
    team: TeamOpt = None,
    min_effect: MinEffectOpt = None,
    baseline_start: BaseStartOpt = None,
    baseline_end: BaseEndOpt = None,
    competitors: CompetitorsOpt = None,
    search: SearchOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an experiment: a practice tried on streams over a window; prints what was registered."""
    from tracker.experiments import ExperimentInput

    values = _experiment_fields(locals())
    registry, store = _registry(config)
    with store:
        record, warnings = registry.add(ExperimentInput(**values))
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        print_json({**record, "warnings": warnings})
    else:
        from tracker.cli_format import registered_lines

        # SPEC §5: standard output is the new id alone, so `id=$(tracker experiment add ...)` works;
        # what was registered is said to the person on standard error.
        typer.echo(str(record["id"]))
        for line in registered_lines(record):
            typer.echo(line, err=True)


@experiment_app.command("edit")
def experiment_edit(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="The experiment's id.")],
    title: TitleOpt = None,
    hypothesis: HypothesisOpt = None,
    practice: PracticeOpt = None,
    metric: MetricOpt = None,
    stream: StreamsOpt = None,
    control_stream: ControlOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    expect: ExpectOpt = None,
    owner: OwnerOpt = None,
    team: TeamOpt = None,
    min_effect: MinEffectOpt = None,
    baseline_start: BaseStartOpt = None,
    baseline_end: BaseEndOpt = None,
    competitors: CompetitorsOpt = None,
    search: SearchOpt = None,
    amend: Annotated[
        bool, typer.Option("--amend", help="Change the plan of a started experiment (needs --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the plan is amended.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an experiment (same checks as add); a changed window or streams voids its results.

    Once it has started, its plan (window, baseline, metric, streams, controls, expect)
    changes only with --amend --reason TEXT; its later results are then post hoc.
    """
    values = _experiment_fields(locals())
    if reason is not None and not amend:
        fail("--reason goes with --amend")
    registry, store = _registry(config)
    with store:
        record, warnings = registry.edit(experiment_id, values, amend=amend, reason=reason)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        print_json(record)
    else:
        typer.echo(f"experiment {record['id']} updated ({record['status']})")


@experiment_app.command("cancel")
def experiment_cancel(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="The experiment's id.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why it is cancelled (kept with it).")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an experiment: it is kept, and never counted in the reflection."""
    registry, store = _registry(config)
    with store:
        record = registry.cancel(experiment_id, reason)
    print_json(record) if as_json else typer.echo(f"experiment {experiment_id} cancelled")


@experiment_app.command("list")
def experiment_list(
    status_filter: Annotated[
        str | None, typer.Option("--status", help="planned, running, ended, concluded or cancelled.")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List experiments with their status and latest verdict."""
    registry, store = _registry(config)
    with store:
        records = registry.list_all(status_filter)
    if as_json:
        print_json(records)
        return
    if not records:
        typer.echo("no experiments yet: register one with `tracker experiment add`")
        return
    from tracker.cli_format import experiment_table

    for line in experiment_table(records):
        typer.echo(line)


@experiment_app.command("show")
def experiment_show(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="The experiment's id.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an experiment: fields, status, result, measurement history and notes."""
    registry, store = _registry(config)
    with store:
        record = registry.get(experiment_id)
    if as_json:
        print_json(record)
        return
    from tracker.cli_format import localise_times
    from tracker.report import experiment_text
    from tracker.terminal import clean

    typer.echo(clean(localise_times(experiment_text(record), registry.settings.organisation.zone)))


@experiment_app.command("measure")
def experiment_measure(
    experiment_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="The experiment's id.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Measure every experiment that is not cancelled.")
    ] = False,
    exclude_days: Annotated[
        str | None,
        typer.Option(
            "--exclude-days",
            help="Confirm days as not covered (e.g. possible outages): 2026-07-01,2026-07-03..2026-07-05.",
        ),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute results from the collected data; prints one result per experiment."""
    from tracker.experiments import measure

    if (experiment_id is None) == (not all_):
        fail("give an experiment ID or --all (not both)")
    if exclude_days is not None and experiment_id is None:
        fail("--exclude-days needs an experiment ID")
    settings = settings_for(config)
    with store_for(settings) as store:
        if exclude_days is not None:
            from tracker.exclusions import exclude

            exclude(store, settings, experiment_id, exclude_days)  # type: ignore[arg-type]
        results = measure(store, settings, None if all_ else [experiment_id])  # type: ignore[list-item]
    if as_json:
        print_json(results)
        return
    from tracker.report import result_line

    for result in results:
        typer.echo(result_line(result))


@experiment_app.command("plan")
def experiment_plan(
    metric: Annotated[str, typer.Option("--metric", help="The metric the experiment would judge.")],
    stream: Annotated[list[str], typer.Option("--stream", help="A stream it would run on (repeatable).")],
    control_stream: ControlOpt = None,
    days: Annotated[int, typer.Option("--days", help="Planned window length in days.")] = 28,
    effect: Annotated[
        float | None,
        typer.Option(
            "--effect", help="Target effect (default 0.2 relative, 0.05 for score and share metrics)."
        ),
    ] = None,
    expect: ExpectOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How small an effect a window can detect on these streams, and the window a target effect needs."""
    from tracker.cli_plan import plan_command

    plan_command(settings_for(config), metric, stream, control_stream or [], days, effect, expect, as_json)


@experiment_app.command("note")
def experiment_note(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="The experiment's id.")],
    text: Annotated[str, typer.Argument(help="What you observed or learned.")],
    author: Annotated[str | None, typer.Option("--author", help="Who writes it.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a dated note to an experiment's learning log."""
    registry, store = _registry(config)
    with store:
        record = registry.note(experiment_id, text, author)
    print_json(record) if as_json else typer.echo(f"note added to experiment {experiment_id}")


@experiment_app.command("conclude")
def experiment_conclude(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="The experiment's id.")],
    learning: Annotated[str, typer.Option("--learning", help="What the team learned.")],
    adopt: Annotated[
        bool, typer.Option("--adopt", help="Adopt the practice on its measured verdict (needs a usable one).")
    ] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Do not adopt it, even after a success.")] = False,
    judgement: Annotated[
        str | None,
        typer.Option("--judgement", help="Adopt on the team's judgement, saying why (instead of --adopt)."),
    ] = None,
    early: Annotated[
        bool, typer.Option("--early", help="Stop it before its window has ended (needs --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is stopped early.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close an experiment with its learning; a measured success adopts its practice unless --reject."""
    from tracker.lifecycle import SENTENCE_CHARS, SENTENCE_WORDS, is_sentence

    if adopt and reject:
        fail("--adopt and --reject exclude each other")
    registry, store = _registry(config)
    with store:
        decision = "adopt" if adopt else "reject" if reject else None
        record = registry.conclude(
            experiment_id, learning, decision, judgement=judgement, early=early, reason=reason
        )
    if not is_sentence(learning):
        typer.echo(
            "warning: the reflection counts a learning written as a sentence "
            f"(at least {SENTENCE_CHARS} characters and {SENTENCE_WORDS} words); this one is not counted",
            err=True,
        )
    if as_json:
        print_json(record)
        return
    adopted = {"evidence": "; its practice is adopted on the evidence",
               "judgement": "; its practice is adopted on the team's judgement"}  # fmt: skip
    typer.echo(f"experiment {experiment_id} concluded{adopted.get(record['adopted_by'] or '', '')}")


@experiment_app.command("reopen")
def experiment_reopen(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="The experiment's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is reopened.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Undo a conclusion or a cancellation; the event of the change keeps what it said."""
    registry, store = _registry(config)
    with store:
        record = registry.reopen(experiment_id, reason)
    print_json(record) if as_json else typer.echo(f"experiment {experiment_id} reopened ({record['status']})")


@app.command()
def practices(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """The maturity model's practices: the keys `experiment add --practice` takes."""
    from tracker.maturity import load_model

    model = load_model(settings_for(config))
    rows: list[dict[str, Any]] = [{"key": p.key, "name": p.name, "dimension": p.dimension, "stage": p.stage,
                                   "description": p.description} for p in model.practices]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    width = max((len(r["key"]) for r in rows), default=3)
    typer.echo(f"{'KEY':<{width}}  STAGE  {'DIMENSION':<10}  NAME")
    for r in rows:
        typer.echo(f"{r['key']:<{width}}  {r['stage']:>5}  {r['dimension']:<10}  {r['name']}")


# -- reflection -------------------------------------------------------------------------------


@app.command()
def reflect(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Reflect on the data as it stood at the end of this day.")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Where the organisation stands on the maturity stages, what moved it, what to try next."""
    from tracker.maturity import load_model
    from tracker.reflection import reflect as run_reflect
    from tracker.reflection import review_text
    from tracker.timeutil import parse_export_day

    day = parse_export_day(as_of, "--as-of")
    settings = settings_for(config)
    model = load_model(settings)
    with store_for(settings) as store:
        result = run_reflect(store, settings, model, as_of=day)
    if as_json:
        print_json(result)
    else:
        typer.echo(review_text(result))


# -- digest -----------------------------------------------------------------------------------


@app.command()
def digest(
    week: Annotated[
        str | None, typer.Option("--week", help="ISO week YYYY-Www (default: the last complete week).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the digest: .eml (the message), .html (preview), .pdf (printed), .csv (per stream).",
        ),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Send it by email to [digest] to, over [smtp].")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Send again to recipients who already have this week's digest.")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the weekly review digest; write it, print it, or send it (once per week and recipient)."""
    from tracker.digest.command import run_digest

    settings = settings_for(config)
    with store_for(settings) as store:
        code = run_digest(settings, store, week=week, out=out, send=send, force=force, as_json=as_json)
    if code:
        raise typer.Exit(code)


# -- web ----------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: [web] host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port (default: [web] port, 8000).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the web interface and the JSON API (login required beyond 127.0.0.1)."""
    from tracker.web.command import serve as run_server

    settings = settings_for(config)
    with store_for(settings) as store:
        run_server(settings, store, host=host or settings.web.host, port=port or settings.web.port)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    admin: Annotated[
        bool | None, typer.Option("--admin/--no-admin", help="May see the audit log (the first user is one).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Add a web user (or set a new password); the password is prompted, never an argument."""
    from tracker.web.auth import add_user

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = settings_for(config)
    with store_for(settings) as store:
        created = add_user(store, name, password, admin=admin)
    typer.echo(f"user {name} {'added' if created else 'updated'}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "script",
    expires: Annotated[
        str | None, typer.Option("--expires", help='Refused after this long, like "90d" (default: never).')
    ] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Only reads: every write gets 403.")] = False,
    user: Annotated[
        str | None, typer.Option("--user", help="The web user it belongs to (listed on their Account page).")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token (shown once) for scripts: send it as `Authorization: Bearer TOKEN`."""
    from tracker.accounts import create_token, parse_expiry

    lifetime = parse_expiry(expires)
    settings = settings_for(config)
    with store_for(settings) as store:
        token, record = create_token(store, name, expires=lifetime, read_only=read_only, user=user)
    if as_json:
        print_json({**record, "token": token})
    else:
        typer.echo(token)


from tracker import cli_accounts  # noqa: E402  (its commands join the groups above)

cli_accounts.register(app, user_app, token_app)


# -- demo and sandbox ---------------------------------------------------------------------------


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to build the demo workspace.")] = Path(
        "tracker-demo"
    ),
    weeks: Annotated[int, typer.Option("--weeks", help="Weeks of simulated history (at least 4).")] = 12,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the simulated world (default 42).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a workspace the demo did not create in --dir.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Run the whole product offline against a local simulated social API, in under a minute."""
    from tracker.config import SANDBOX_DEFAULTS
    from tracker.demo import run_demo, summary

    seed = SANDBOX_DEFAULTS.seed if seed is None else seed
    report = run_demo(
        directory.resolve(),
        weeks=weeks,
        seed=seed,
        echo=typer.echo,
        progress=sys.stdout.isatty(),
        force=force,
    )
    for line in summary(report):
        typer.echo(line)


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=0, max=65535, help="Port on 127.0.0.1 (default: [sandbox] port, else free)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the world (default: [sandbox] seed, else 42).")
    ] = None,
    weeks: Annotated[
        int | None, typer.Option("--weeks", help="Weeks of history (default: [sandbox] weeks, else 12).")
    ] = None,
    config: ConfigOpt = None,
    deleted_share: Annotated[
        float | None,
        typer.Option(
            "--deleted-share",
            min=0.0,
            max=1.0,
            help="Share of posts their authors delete (0..1; default: [sandbox] deleted_share, else 0).",
        ),
    ] = None,
    episode: Annotated[
        list[str] | None,
        typer.Option(
            "--episode",
            help="Inject an alert episode: KIND[:STREAM]@WHEN, KIND spike, sentiment_drop or keyword, "
            "WHEN +2m (after the server starts) or a timestamp; repeatable, added to [sandbox] episodes.",
        ),
    ] = None,
) -> None:
    """Serve the simulated platforms on 127.0.0.1 until Ctrl-C; with a demo's config, its same world
    (and its quirks: [sandbox] mastodon_filtered, bluesky_empty_pages, late, deleted_share ...)."""
    from tracker.config import SANDBOX_DEFAULTS, find_config
    from tracker.sandbox.episodes import EpisodeError, parse_episode
    from tracker.sandbox.server import serve as serve_sandbox

    sandbox = SANDBOX_DEFAULTS
    if config or state.config or find_config(None).exists():  # --config, $TRACKER_CONFIG, ./tracker.toml
        sandbox = settings_for(config).sandbox or SANDBOX_DEFAULTS
    episodes = list(sandbox.episodes)
    for text in episode or []:
        try:
            episodes.append(parse_episode(text))
        except ValueError as exc:
            fail(f"--episode: {exc}")
    switches = sandbox.switches()
    if deleted_share is not None:
        switches["deleted_share"] = deleted_share
    try:
        serve_sandbox(
            seed if seed is not None else sandbox.seed,
            weeks if weeks is not None else sandbox.weeks,
            port if port is not None else sandbox.port,
            end=sandbox.end,
            require_bluesky_login=sandbox.bluesky_login,
            brand=sandbox.brand,
            competitor=sandbox.competitor,
            out=typer.echo,
            late=sandbox.late,
            episodes=episodes,
            **switches,
        )
    except EpisodeError as exc:  # raised before anything is served
        fail(str(exc))


# -- helpers ----------------------------------------------------------------------------------


class _progress:
    """A progress bar on a terminal, nothing otherwise; yields a function taking a position."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = total, label
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not sys.stdout.isatty():
            return None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda position: self.bar.update(task, completed=position)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _problem_lines(exc: UserError) -> list[str]:
    """One line per problem; experiment fields are named as their CLI options."""
    problems = getattr(exc, "problems", None)
    if not problems:
        return [str(exc)]
    names = {"streams": "--stream", "text": "TEXT", "decision": "--adopt/--reject"}
    return [f"{names.get(name, '--' + name.replace('_', '-'))}: {message}" for name, message in problems]


# Registers the `label` sub-app (sentiment labels and per-language models).
# Registers `mentions search` and the `search` sub-app (they import the apps above).
from tracker import cli_alerts as _cli_alerts  # noqa: E402, F401
from tracker import cli_labels as _cli_labels  # noqa: E402, F401
from tracker import cli_search as _cli_search  # noqa: E402, F401


def main() -> None:
    """Console entry point: maps errors to exit codes, never shows a traceback unless --debug.

    Usage errors and failures that are not the product's own are put in words by
    tracker.cli_messages (and tracker.failures for the database file), in one place for
    every command.
    """
    from tracker import cli_messages
    from tracker.terminal import clean

    debug = "--debug" in sys.argv[1:]
    cli_messages.humanise_help()
    state.interrupt_said = False
    try:
        code = app(prog_name="tracker", standalone_mode=False)
        if code == INTERRUPTED and not state.interrupt_said:  # Typer returns Ctrl-C as exit code 130
            typer.echo("interrupted", err=True)
    except ConfigError as exc:
        typer.echo(f"error: invalid configuration{' in ' + exc.source if exc.source else ''}:", err=True)
        for problem in exc.problems:
            typer.echo(clean(problem, newlines=False), err=True)
        sys.exit(exc.exit_code)
    except UserError as exc:
        for line in _problem_lines(exc):
            typer.echo(clean(f"error: {line}", newlines=False), err=True)
        sys.exit(exc.exit_code)
    except TrackerError as exc:
        typer.echo(clean(f"error: {exc}"), err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("interrupted", err=True)
        sys.exit(INTERRUPTED)
    except Exception as exc:
        if cli_messages.is_usage_error(exc):
            if type(exc).__name__ == "NoArgsIsHelpError":
                typer.echo(str(getattr(exc, "message", "")), err=True)
                sys.exit(2)
            for line in cli_messages.usage_lines(exc):
                typer.echo(line, err=True)
            sys.exit(2)
        if debug:
            raise
        from tracker.failures import explain

        known = explain(exc, state.database)
        if known is not None:
            typer.echo(clean(f"error: {known}", newlines=False), err=True)
            sys.exit(1)
        for line in cli_messages.failure_lines(exc) or cli_messages.unexpected_lines(exc):
            typer.echo(clean(line, newlines=False), err=True)
        sys.exit(2 if isinstance(exc, OSError) else 1)
    sys.exit(code if isinstance(code, int) else 0)
