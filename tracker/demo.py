"""`tracker demo`: the whole mission offline, against the sandbox, in under a minute.

It starts the simulated social API in-process on a free loopback port, writes a
workspace whose config points every stream at it (and names the sandbox's seed
and port, so `tracker sandbox serve --config DIR/tracker.toml` serves the same
world again), collects through the real connectors, registers the sandbox's
experiments with their practices, measures them, concludes the ended ones with
learnings, reflects, and writes the digest.

Everything is dated inside the simulated weeks, so the workspace agrees with
itself: the team collects every Monday, registers each experiment three days
before its window, notes it halfway, measures it the Monday after it ended and
concludes it that morning (`_schedule`); `reflect --as-of` replays that history.
The summary reports detection honestly, per experiment: `found` (a real effect
claimed the right way), `missed` (a real effect not claimed), `correctly null` (no
effect, none claimed) or `false claim`.

A folder holding a workspace the demo did not create is refused unless --force;
the new workspace is built beside it and moved in only once complete.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from tracker.config import Settings, load_settings
from tracker.errors import UserError

if TYPE_CHECKING:
    from tracker.results import MeasurementResult

Echo = Callable[[str], None]


@dataclass
class DemoReport:
    directory: Path
    seconds: float = 0.0
    collected: int = 0
    runs: int = 0
    stage: str = ""
    verdicts: list[Detection] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def agreeing(self) -> int:
        return sum(1 for v in self.verdicts if v["consistent"])

    @property
    def detection(self) -> DetectionCounts:
        return detection_counts(self.verdicts)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


# The real platforms' quirks the demo's sandbox switches on (issue 15); the connectors meet each one.
DEMO_QUIRKS: dict[str, Any] = {
    "mastodon_filtered": 0.1,  # filtered short pages on Mastodon search and timelines
    "bluesky_empty_pages": 1,  # an empty page with a cursor before every second search page
    "deleted_share": 0.01,  # posts their authors delete after a while
}
DEMO_LATE = timedelta(hours=3)  # posts show up late by up to 3 h


def write_workspace(directory: Path, server: Any, *, seed: int, weeks: int,
                    late: timedelta | None = None) -> Path:  # fmt: skip
    """tracker.toml for the demo: the sandbox's streams, and how to serve that world again."""
    world = server.world
    lines = [
        "# Written by `tracker demo`: every stream points at the local sandbox below.",
        "# Serve that world again with: tracker sandbox serve --config tracker.toml",
        "",
        "[organisation]",
        f"name = {toml_value(world.brand)}",
        f"timezone = {toml_value(world.timezone)}",
        "",
        "[database]",
        'url = "sqlite:///tracker.db"',
        "",
        "[sandbox]",
        f"seed = {seed}",
        f"weeks = {weeks}",
        f"port = {server.port}",
        f"end = {toml_value(world.end.isoformat())}",
        f"brand = {toml_value(world.brand)}",
        f"competitor = {toml_value(world.competitor)}",
        "bluesky_login = false",
        *[f"{name} = {toml_value(getattr(server.settings, name))}" for name in DEMO_QUIRKS],
        *([f"late = {toml_value(_duration(late))}"] if late is not None else []),
        "",
    ]
    for stream in server.stream_configs():
        lines.append("[[streams]]")
        stream.setdefault("every", "30m")
        for key, value in stream.items():
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tracker.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _duration(span: timedelta) -> str:
    """A duration as the config writes it: "3h", "90m", "45s"."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


MARKER = ".tracker-demo"  # written into every workspace the demo builds
DEMO_FILES = ("tracker.toml", "tracker.db", "digest.html", "digest.eml", "alert.eml", MARKER)
WORKSPACE_FILES = ("tracker.toml", "tracker.db")


def is_demo_workspace(directory: Path) -> bool:
    """A folder the demo built: its marker, or (older demos) its config's first line."""
    if (directory / MARKER).is_file():
        return True
    config = directory / "tracker.toml"
    try:
        with config.open(encoding="utf-8") as f:
            return f.readline().startswith("# Written by `tracker demo`")
    except OSError:
        return False


def check_target(directory: Path, *, force: bool) -> None:
    """Refuse (nothing touched) a folder holding a workspace the demo did not create, unless --force."""
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--dir: {directory} is a file, not a folder")
    held = [name for name in WORKSPACE_FILES if (directory / name).exists()]
    if held and not force and not is_demo_workspace(directory):
        raise UserError(
            f"--dir: {directory} holds a workspace the demo did not create ({', '.join(held)}); nothing was "
            "touched: choose another --dir, or add --force to replace its tracker.toml and tracker.db"
        )


def run_demo(
    directory: Path, *, weeks: int, seed: int, echo: Echo, progress: bool, force: bool = False
) -> DemoReport:
    """Build the whole demo workspace in a folder beside `directory`, then move it in; return what it
    produced. The old workspace is replaced only once the new one is complete."""
    import shutil

    if weeks < 4:
        raise UserError("--weeks: the demo needs at least 4 weeks (experiments need a baseline)")
    check_target(directory, force=force)
    started = time.perf_counter()
    staging = directory.parent / f".{directory.name}.demo-building"
    if staging.exists():
        if not (staging / MARKER).is_file():
            raise UserError(f"{staging} was not made by the demo: remove it, or choose another --dir")
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        from tracker.oserrors import os_problem

        exc.filename = str(directory)  # the folder the user named, not the demo's staging folder beside it
        raise UserError(f"--dir: {os_problem(exc, 'cannot create')}") from None
    (staging / MARKER).write_text("built by `tracker demo`: `tracker demo --dir` may replace this folder's "
                                  "workspace\n", encoding="utf-8")  # fmt: skip
    try:
        report = _build(staging, weeks=weeks, seed=seed, echo=echo, progress=progress)
        _move_in(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.directory = directory
    report.files = {key: directory / path.name for key, path in report.files.items()}
    report.seconds = time.perf_counter() - started
    return report


def _move_in(staging: Path, directory: Path) -> None:
    """Replace the demo's files in `directory` with the complete new ones (the database last but one)."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("tracker.db-wal", "tracker.db-shm"):  # the old database's, never the new one's
        (directory / stale).unlink(missing_ok=True)
    for name in (*[n for n in DEMO_FILES if n != MARKER], MARKER):
        if (staging / name).exists():
            os.replace(staging / name, directory / name)


def _build(directory: Path, *, weeks: int, seed: int, echo: Echo, progress: bool) -> DemoReport:
    from tracker.sandbox.server import SandboxServer
    from tracker.sandbox.world import generate_world

    report = DemoReport(directory=directory)
    world = generate_world(seed, weeks, late=DEMO_LATE)
    # The demo's feeds list the whole history, so its first read of them is the full record.
    with SandboxServer(world, require_bluesky_login=False, rate_limits={}, feed_size=100_000,
                       **DEMO_QUIRKS) as server:  # fmt: skip
        echo(
            f"sandbox: {len(world.posts):,} posts over {weeks} weeks on 127.0.0.1:{server.port} (seed {seed})"
        )
        os.environ.update(server.secrets())
        config = write_workspace(directory, server, seed=seed, weeks=weeks, late=DEMO_LATE)
        settings = load_settings(config)
        from tracker.store.db import open_store

        with open_store(settings.database_url, settings.organisation.timezone) as store:
            report.collected, report.runs = _collect(settings, store, server, world, echo, progress)
            report.verdicts = _experiments(settings, store, world, echo)
            report.stage = _reflect(settings, store)
            alert = _alert(settings, store, world, directory)  # first: the digest may list it
            report.files = {**_digests(settings, store, directory), **alert}
    report.files["config"] = config
    return report


def collection_moments(world: Any) -> list[datetime]:
    """When the demo's simulated team collected: every Monday at 05:00 (world time) after the world's
    first day, and once at the world's end."""
    zone = world.zone
    first = world.start.astimezone(zone).date()
    monday = first + timedelta(days=7 - first.weekday())
    moments = []
    while (moment := datetime.combine(monday, dtime(5), zone).astimezone(UTC)) < world.end:
        moments.append(moment)
        monday += timedelta(days=7)
    return [*moments, world.end]


@contextmanager
def _clock(server: Any, moment: datetime) -> Iterator[None]:
    """Collect as at `moment`: the sandbox serves what existed then, and the runs are dated then.

    The demo replays its twelve weeks in seconds; the collector's clock (`tracker.collect.utcnow`)
    runs from `moment` while it does, so runs, first-seen times and coverage fall in the weeks.
    """
    from tracker import collect as collect_module

    real = getattr(collect_module, "utcnow")  # noqa: B009 - swapped back below
    began = time.monotonic()
    server.set_now(moment)

    def simulated() -> datetime:
        return moment + timedelta(seconds=time.monotonic() - began)

    setattr(collect_module, "utcnow", simulated)  # noqa: B010 - a module attribute, swapped back below
    try:
        yield
    finally:
        setattr(collect_module, "utcnow", real)  # noqa: B010


def _collect(settings: Settings, store: Any, server: Any, world: Any, echo: Echo,
             progress: bool) -> tuple[int, int]:  # fmt: skip
    from tracker.collect import collect

    moments = collection_moments(world)
    echo(f"collecting {len(settings.streams)} streams through the real connectors, as every Monday "
         f"of the {len(moments) - 1} simulated weeks ...")  # fmt: skip
    new = runs = 0
    for moment in moments:
        with _clock(server, moment):
            reports = asyncio.run(collect(settings=settings, store=store, streams=list(settings.streams)))
        failed = [r for r in reports if r.status != "ok"]
        for r in failed:
            echo(f"  {r.stream}: {r.status}: {r.error}")
        if failed:
            raise UserError(f"the demo's collection failed for {len(failed)} stream(s): see above")
        new += sum(r.new for r in reports)
        runs += len(reports)
    return new, runs


def _at(day: date, hour: int, zone: Any) -> datetime:
    return datetime.combine(day, dtime(hour), zone).astimezone(UTC)


def _schedule(exp: Any, world: Any, age: timedelta = timedelta(hours=48)) -> dict[str, datetime]:
    """When the simulated team registered, noted, measured and concluded an experiment: registered
    three days before its window, a note halfway, measured the Monday after it ended (06:00) and
    concluded that morning (10:00); nothing later than the world's end (then: at its end).

    An engagement experiment is measured once its window's last posts are `age` old (the fixed
    age its engagement is read at, experiments.engagement_age), at 06:00 of the day they are: on
    the Monday after a window ending on a Sunday, the weekend's posts were younger than 48 hours
    and left out, and a window with few posting days came out "insufficient data"."""
    zone, end = world.zone, world.end
    monday = exp.end + timedelta(days=7 - exp.end.weekday())
    measured = _at(monday, 6, zone)
    if exp.metric == "engagement":
        # in UTC: an aware datetime plus a timedelta adds wall-clock time (an hour short across a DST change)
        settled = (_at(exp.end + timedelta(days=1), 0, zone) + age).astimezone(zone)
        day = settled.date() if settled.time() <= dtime(6) else settled.date() + timedelta(days=1)
        measured = max(measured, _at(day, 6, zone))
    return {
        "registered": max(world.start, min(_at(exp.start - timedelta(days=3), 9, zone), end)),
        "note": min(_at(exp.start + timedelta(days=exp.days // 2), 12, zone), end),
        "measured": min(measured, end),
        "concluded": min(measured + timedelta(hours=4), end + timedelta(seconds=1)),
    }


def _experiments(settings: Settings, store: Any, world: Any, echo: Echo) -> list[Detection]:
    """Register the sandbox's experiments, note, measure and conclude them on their simulated days."""
    from sqlalchemy import update

    from tracker.experiments import ExperimentInput, Registry, measure
    from tracker.maturity import load_model
    from tracker.store.models import Experiment

    registry = Registry(store, settings, load_model(settings))
    zone = settings.organisation.zone
    verdicts: list[Detection] = []
    for exp in world.experiments:
        when = _schedule(exp, world, settings.experiments.engagement_age)
        record, _ = registry.add(ExperimentInput(
            title=exp.title, hypothesis=exp.hypothesis, practice=exp.practice, metric=exp.metric,
            streams=[exp.stream], control_stream=exp.control_stream, start=exp.start, end=exp.end,
            expect=exp.expect, owner=exp.owner or None, team=exp.team or None,
        ))  # fmt: skip
        exp_id = record["id"]
        with store.write() as session:  # registered on its simulated day
            registered = {"created_at": when["registered"], "updated_at": when["registered"]}
            session.execute(update(Experiment).where(Experiment.id == exp_id).values(**registered))
        if when["note"] > when["registered"]:
            registry.note(exp_id, f"Halfway through: the {exp.practice.replace('-', ' ')} trial is under way "
                          f"on {exp.stream}.", exp.owner or None, now=when["note"])  # fmt: skip
        (result,) = measure(store, settings, [exp_id], now=when["measured"])
        measured_on = when["measured"].astimezone(zone).date()
        verdicts.append(_detection(exp_id, exp, result, measured_on))
        if result["verdict"] not in ("running", "insufficient_data"):
            decision = None if result["verdict"] == "success" else "reject"
            registry.conclude(exp_id, _learning(result["verdict"], exp), decision, now=when["concluded"],
                              author=exp.owner or None)  # fmt: skip
    found = detection_counts(verdicts)
    echo(f"measured {len(verdicts)} experiments: {found.line}")
    if world.experiments:
        _shepherd(registry, store, settings, world, echo)
    return verdicts


def _shepherd(registry: Any, store: Any, settings: Settings, world: Any, echo: Echo) -> None:
    """The team's own trial beside the sandbox's: a shepherd coordinating the pockets, on the brand's
    Mastodon mentions in the first block (no effect was injected there). Unless it is measured a
    success, the team adopts it on its judgement, recorded as such (`adopted_by: "judgement"`); it is
    not part of the detection table, whose truth is the sandbox's."""
    from sqlalchemy import update

    from tracker.experiments import ExperimentInput, measure
    from tracker.store.models import Experiment

    first = world.experiments[0]
    when = _schedule(replace(first, metric="mentions"), world)  # its own metric, not the first's
    record, _ = registry.add(ExperimentInput(
        title="A shepherd for the social pockets", practice="shepherd", metric="mentions",
        hypothesis="A senior marketer connecting the teams' trials makes more people talk about us",
        streams=[f"{world.brand_slug}-mastodon"], start=first.start, end=first.end, owner="Mara Lind",
        team="marketing",
    ))  # fmt: skip
    exp_id = record["id"]
    with store.write() as session:
        registered = {"created_at": when["registered"], "updated_at": when["registered"]}
        session.execute(update(Experiment).where(Experiment.id == exp_id).values(**registered))
    (result,) = measure(store, settings, [exp_id], now=when["measured"])
    if result["verdict"] in ("running", "insufficient_data"):
        return
    success = result["verdict"] == "success"
    registry.conclude(
        exp_id,
        "a shepherd did not change how much people talk about us, but the teams now share one log",
        None,
        judgement=None if success else "the teams asked to keep a coordinator: no more repeated trials",
        now=when["concluded"],
        author="Mara Lind",
    )
    how = "on the evidence" if success else "on the team's judgement"
    echo(f"and #{exp_id} {record['title']}: {result['verdict'].replace('_', ' ')}; adopted {how}")


OUTCOMES = ("found", "missed", "correctly null", "false claim", "running", "too little data")


def detection(verdict: str, effect: float, expect: str) -> str:
    """What a verdict says about the injected truth: found, missed, correctly null or false claim."""
    if verdict == "running":
        return "running"
    if verdict == "insufficient_data":
        return "too little data"
    claims = verdict in ("success", "failure")
    if effect == 0:
        return "false claim" if claims else "correctly null"
    if not claims:
        return "missed"
    right_way = (effect > 0) == (expect == "increase")
    return "found" if (verdict == "success") == right_way else "false claim"


class Detection(TypedDict):
    """One sandbox experiment's measured verdict against the effect injected (`bench/demo_detection.py
    --json` writes them)."""

    id: int
    title: str
    metric: str
    truth: float  # the injected effect; 0: none
    verdict: str
    consistent: bool  # a verdict the injected effect allows on the day it was measured
    outcome: str  # one of OUTCOMES
    lift: float | None
    lift_abs: float | None
    measured_on: str


def _detection(exp_id: int, exp: Any, result: MeasurementResult, measured_on: date) -> Detection:
    outcome = detection(result["verdict"], exp.effect, exp.expect)
    consistent = result["verdict"] in exp.consistent_verdicts(measured_on)
    return {"id": exp_id, "title": exp.title, "metric": exp.metric, "truth": exp.effect,
            "verdict": result["verdict"], "consistent": consistent,
            "outcome": outcome, "lift": result["lift_rel"], "lift_abs": result["lift_abs"],
            "measured_on": measured_on.isoformat()}  # fmt: skip


@dataclass(frozen=True)
class DetectionCounts:
    """How many experiments had each outcome, and the honest one-line summary of them."""

    outcomes: dict[str, int]  # each of OUTCOMES -> how many experiments had it
    real: int  # experiments with an injected effect and a settled verdict
    null: int  # experiments without one, with a settled verdict
    line: str


def detection_counts(verdicts: Sequence[Detection]) -> DetectionCounts:
    """Counts per outcome and the honest one-line summary."""
    counts = {o: sum(1 for v in verdicts if v["outcome"] == o) for o in OUTCOMES}
    real = [v for v in verdicts if v["truth"] != 0 and v["outcome"] not in ("running", "too little data")]
    null = [v for v in verdicts if v["truth"] == 0 and v["outcome"] not in ("running", "too little data")]
    false_null = sum(1 for v in null if v["outcome"] == "false claim")
    wrong_way = sum(1 for v in real if v["outcome"] == "false claim")
    missed = counts["missed"]
    line = (
        f"real effects found: {counts['found']} of {len(real)}; "
        f"false claims: {false_null} of {len(null)} null experiments; missed: {missed}"
        + (" (inconclusive)" if missed else "")
        + (f"; effects claimed the wrong way: {wrong_way}" if wrong_way else "")
    )
    for key, label in (("running", "still running"), ("too little data", "too little data")):
        if counts[key]:
            line += f"; {label}: {counts[key]}"
    return DetectionCounts(outcomes=counts, real=len(real), null=len(null), line=line)


def _learning(verdict: str, exp: Any) -> str:
    practice, metric = exp.practice.replace("-", " "), exp.metric.replace("_", " ")
    return {
        "success": f"{practice} moved {metric} as hoped: keep doing it",
        "failure": f"{practice} moved {metric} the wrong way: stop",
        "no_effect": f"no effect of {practice} on {metric} worth the effort",
    }.get(verdict, f"the data could not tell whether {practice} works: try it longer")


def _reflect(settings: Settings, store: Any) -> str:
    from tracker.maturity import load_model
    from tracker.reflection import snapshot

    result = snapshot(store, settings, load_model(settings))
    return f"stage {result['stage']['number']}, {result['stage']['name']}"


def _digests(settings: Settings, store: Any, directory: Path) -> dict[str, Path]:
    from tracker.digest.service import write_digest_files

    return write_digest_files(settings, store, directory)


def _alert(settings: Settings, store: Any, world: Any, directory: Path) -> dict[str, Path]:
    from tracker.demo_alert import write_demo_alert

    path = write_demo_alert(settings, store, world, directory)
    return {"alert": path} if path else {}


def summary(report: DemoReport) -> list[str]:
    d = report.directory
    config = report.files["config"]
    lines = [
        f"done in {report.seconds:.1f} s: {report.collected:,} mentions collected in {report.runs:,} runs, "
        f"{report.stage}",
        f"  workspace:  {d}/",
        f"  config:     {config}",
        f"  database:   {d / 'tracker.db'}",
    ]
    for key in ("html", "eml"):
        if key in report.files:
            lines.append(f"  digest:     {report.files[key]}")
    if "alert" in report.files:
        lines.append(f"  alert:      {report.files['alert']}   (tracker alerts history)")
    lines.append(f"detection against the injected truth: {report.detection.line}")
    for v in report.verdicts:
        truth = "no effect" if v["truth"] == 0 else f"true effect {v['truth']:+g}"
        lines.append(f"  {v['outcome']:<15} #{v['id']} {v['title']} ({v['metric']}): "
                     f"{v['verdict'].replace('_', ' ')}; {truth}")  # fmt: skip
    lines += [
        "next:",
        f"  tracker --config {config} reflect",
        f"  tracker --config {config} experiment list",
        f"  tracker --config {config} sandbox serve     # serve the same world again, then:",
        f"  tracker --config {config} collect           #   (in another terminal) collect from it",
        f"  tracker --config {config} serve             # the web interface on http://127.0.0.1:8000",
    ]
    return lines
