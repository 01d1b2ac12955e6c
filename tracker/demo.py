"""`tracker demo`: the whole mission offline, against the sandbox, in under a minute.

It starts the simulated social API in-process on a free loopback port, writes a
workspace whose config points every stream at it (and names the sandbox's seed
and port, so `tracker sandbox serve --config DIR/tracker.toml` serves the same
world again), collects through the real connectors, registers the sandbox's
experiments with their practices, measures them, concludes the ended ones with
learnings, reflects, and writes the digest. The summary says which measured
verdicts agree with the truth the sandbox injected.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tracker.config import Settings, load_settings
from tracker.errors import UserError

Echo = Callable[[str], None]


@dataclass
class DemoReport:
    directory: Path
    seconds: float = 0.0
    collected: int = 0
    stage: str = ""
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def agreeing(self) -> int:
        return sum(1 for v in self.verdicts if v["consistent"])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_workspace(directory: Path, server: Any, *, seed: int, weeks: int) -> Path:
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


def run_demo(directory: Path, *, weeks: int, seed: int, echo: Echo, progress: bool) -> DemoReport:
    """Build the whole demo workspace; return what it produced."""
    from tracker.sandbox.server import SandboxServer
    from tracker.sandbox.world import generate_world

    if weeks < 4:
        raise UserError("--weeks: the demo needs at least 4 weeks (experiments need a baseline)")
    started = time.perf_counter()
    report = DemoReport(directory=directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from tracker.cli_messages import os_problem

        raise UserError(f"--dir: {os_problem(exc, 'cannot create')}") from None
    for stale in ("tracker.db", "tracker.db-wal", "tracker.db-shm"):
        (directory / stale).unlink(missing_ok=True)
    world = generate_world(seed, weeks)
    # The demo's feeds list the whole history, so its first read of them is the full record.
    with SandboxServer(world, require_bluesky_login=False, rate_limits={}, feed_size=100_000) as server:
        echo(
            f"sandbox: {len(world.posts):,} posts over {weeks} weeks on 127.0.0.1:{server.port} (seed {seed})"
        )
        os.environ.update(server.secrets())
        config = write_workspace(directory, server, seed=seed, weeks=weeks)
        settings = load_settings(config)
        from tracker.store.db import open_store

        store = open_store(settings.database_url)
        try:
            report.collected = _collect(settings, store, echo, progress)
            report.verdicts = _experiments(settings, store, world, echo)
            report.stage = _reflect(settings, store)
            report.files = _digests(settings, store, directory)
        finally:
            store.close()
    report.files["config"] = config
    report.seconds = time.perf_counter() - started
    return report


def _collect(settings: Settings, store: Any, echo: Echo, progress: bool) -> int:
    from tracker.collect import collect

    echo(f"collecting {len(settings.streams)} streams through the real connectors ...")
    reports = asyncio.run(collect(settings=settings, store=store, streams=list(settings.streams)))
    failed = [r for r in reports if r.status != "ok"]
    for r in failed:
        echo(f"  {r.stream}: {r.status}: {r.error}")
    if failed:
        raise UserError(f"the demo's collection failed for {len(failed)} stream(s): see above")
    return sum(r.new for r in reports)


def _experiments(settings: Settings, store: Any, world: Any, echo: Echo) -> list[dict[str, Any]]:
    """Register the sandbox's experiments, measure them, conclude the ended ones."""
    from tracker.experiments import ExperimentInput, Registry, measure
    from tracker.maturity import load_model

    registry = Registry(store, settings, load_model(settings))
    truth = {}
    for exp in world.experiments:
        record, _ = registry.add(ExperimentInput(
            title=exp.title, hypothesis=exp.hypothesis, practice=exp.practice, metric=exp.metric,
            streams=[exp.stream], control_stream=exp.control_stream, start=exp.start, end=exp.end,
            expect=exp.expect, owner=exp.owner or None, team=exp.team or None,
        ))  # fmt: skip
        truth[record["id"]] = exp
    results = measure(store, settings, list(truth))
    today = datetime.now(settings.organisation.zone).date()
    verdicts = []
    for result in results:
        exp = truth[result["id"]]
        consistent = result["verdict"] in exp.consistent_verdicts(today)
        verdicts.append({"id": result["id"], "title": exp.title, "metric": exp.metric, "truth": exp.effect,
                         "verdict": result["verdict"], "consistent": consistent, "lift": result["lift_rel"],
                         "lift_abs": result["lift_abs"]})  # fmt: skip
        if result["verdict"] not in ("running", "insufficient_data"):
            decision = None if result["verdict"] == "success" else "reject"
            registry.conclude(result["id"], _learning(result["verdict"], exp), decision)
    echo(f"measured {len(results)} experiments; {sum(v['consistent'] for v in verdicts)} verdicts agree "
         "with the injected truth")  # fmt: skip
    return verdicts


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
    from tracker.digest.command import write_digest_files

    return write_digest_files(settings, store, directory)


def summary(report: DemoReport) -> list[str]:
    d = report.directory
    config = report.files["config"]
    lines = [
        f"done in {report.seconds:.1f} s: {report.collected:,} mentions collected, {report.stage}",
        f"  workspace:  {d}/",
        f"  config:     {config}",
        f"  database:   {d / 'tracker.db'}",
    ]
    for key in ("html", "eml"):
        if key in report.files:
            lines.append(f"  digest:     {report.files[key]}")
    lines.append(f"verdicts against the injected truth ({report.agreeing} of {len(report.verdicts)} agree):")
    for v in report.verdicts:
        truth = "no effect" if v["truth"] == 0 else f"true effect {v['truth']:+g}"
        mark = "ok " if v["consistent"] else "NO "
        lines.append(f"  {mark} #{v['id']} {v['title']} ({v['metric']}): {v['verdict']} — {truth}")
    lines += [
        "next:",
        f"  tracker --config {config} reflect",
        f"  tracker --config {config} experiment list",
        f"  tracker --config {config} sandbox serve     # serve the same world again, then:",
        f"  tracker --config {config} collect           #   (in another terminal) collect from it",
        f"  tracker --config {config} serve             # the web interface on http://127.0.0.1:8000",
    ]
    return lines
