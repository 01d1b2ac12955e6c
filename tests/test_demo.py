"""`tracker demo`: the whole mission offline, and a workspace that stays usable afterwards."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tracker.errors import UserError

TRACKER = [sys.executable, "-m", "tracker"]


def test_the_demo_refuses_a_workspace_it_did_not_create(tmp_path: Path, cli: Any) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "tracker.toml").write_text("[organisation]\nname = \"Ours\"\n")
    (work / "tracker.db").write_bytes(b"13,355 mentions")
    before = {p.name: p.read_bytes() for p in work.iterdir()}
    result = cli("demo", "--dir", work, "--weeks", "6")
    assert result.code == 2 and "holds a workspace the demo did not create" in result.err
    assert "--force" in result.err and "Traceback" not in result.err
    assert {p.name: p.read_bytes() for p in work.iterdir()} == before, "nothing touched"
    assert not list(tmp_path.glob(".*demo-building")), "nothing built beside it either"


def test_a_demo_workspace_is_replaced_only_once_the_new_one_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker import demo

    work = tmp_path / "demo"
    work.mkdir()
    (work / demo.MARKER).write_text("built by `tracker demo`\n")
    (work / "tracker.toml").write_text("# the old demo\n")
    (work / "tracker.db").write_bytes(b"old")
    demo.check_target(work, force=False)  # a demo workspace: no refusal
    other = tmp_path / "other"
    other.mkdir()
    (other / "tracker.db").write_bytes(b"theirs")
    with pytest.raises(UserError):
        demo.check_target(other, force=False)
    demo.check_target(other, force=True)

    def broken(directory: Path, **_: Any) -> Any:
        (directory / "tracker.toml").write_text("# half built\n")
        raise UserError("the demo's collection failed for 1 stream(s): see above")

    monkeypatch.setattr(demo, "_build", broken)
    with pytest.raises(UserError):
        demo.run_demo(work, weeks=6, seed=1, echo=lambda _: None, progress=False)
    assert (work / "tracker.toml").read_text() == "# the old demo\n" and (work / "tracker.db").read_bytes() == b"old"
    assert not list(tmp_path.glob(".*demo-building")), "the half-built one is removed"


def test_detection_is_reported_honestly() -> None:
    from tracker.demo import detection, detection_counts

    assert detection("success", 0.6, "increase") == "found"
    assert detection("inconclusive", 0.6, "increase") == "missed", "not an agreement"
    assert detection("no_effect", 0.6, "increase") == "missed"
    assert detection("inconclusive", 0.0, "increase") == "correctly null"
    assert detection("success", 0.0, "increase") == "false claim"
    assert detection("failure", 0.6, "increase") == "false claim"
    assert detection("running", 0.6, "increase") == "running"
    rows = [{"truth": t, "outcome": detection(v, t, "increase")} for v, t in
            [("success", 0.6), ("success", 0.2), ("success", 0.6), ("inconclusive", 0.15), ("inconclusive", 0.35),
             ("no_effect", 0.0), ("inconclusive", 0.0), ("inconclusive", 0.0)]]  # fmt: skip
    assert detection_counts(rows).line == (
        "real effects found: 3 of 5; false claims: 0 of 3 null experiments; missed: 2 (inconclusive)"
    )


def test_an_engagement_experiment_is_measured_once_its_last_posts_reach_the_fixed_age() -> None:
    """The simulated team measures the Monday after a window; an engagement experiment waits until
    its window's last posts are experiments.engagement_age old (posts younger than that are left
    out of the measurement, and a window ending on a Sunday lost its weekend)."""
    from dataclasses import replace
    from datetime import UTC, date, datetime, timedelta
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from tracker.demo import _schedule
    from tracker.sandbox.world import Experiment

    zone = ZoneInfo("Europe/Vienna")
    world = SimpleNamespace(zone=zone, start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2027, 1, 1, tzinfo=UTC))
    exp = Experiment(key="k", title="t", hypothesis="h", practice="p", metric="engagement", stream="s",
                     platform="mastodon", role="owned", start=date(2026, 11, 6), end=date(2026, 11, 15),
                     expect="increase", effect=0.6)  # fmt: skip
    when = _schedule(exp, world, timedelta(hours=48))
    last_post = datetime(2026, 11, 16, tzinfo=zone)  # the window's end
    assert when["measured"] == datetime(2026, 11, 18, 6, tzinfo=zone)  # 48 hours later, at 06:00
    assert when["measured"] - last_post >= timedelta(hours=48)
    assert when["concluded"] > when["measured"]
    mentions = _schedule(replace(exp, metric="mentions"), world, timedelta(hours=48))
    assert mentions["measured"] == datetime(2026, 11, 16, 6, tzinfo=zone)  # the Monday after
    assert _schedule(exp, world, timedelta(hours=1))["measured"] == mentions["measured"]
    spring = replace(exp, start=date(2027, 3, 18), end=date(2027, 3, 27))  # clocks go forward on the 28th
    late = SimpleNamespace(zone=zone, start=world.start, end=datetime(2027, 6, 1, tzinfo=UTC))
    measured = _schedule(spring, late, timedelta(hours=54))["measured"]
    assert measured - datetime(2027, 3, 28, tzinfo=zone) >= timedelta(hours=54), "54 real hours, not wall-clock ones"
    ended = SimpleNamespace(zone=zone, start=world.start, end=datetime(2026, 11, 17, tzinfo=UTC))
    assert _schedule(exp, ended, timedelta(hours=48))["measured"] == ended.end  # never after the world's end


@pytest.mark.slow
def test_demo_builds_a_workspace_whose_verdicts_match_the_truth(tmp_path: Path) -> None:
    workspace = tmp_path / "demo"
    result = subprocess.run([*TRACKER, "demo", "--dir", str(workspace), "--weeks", "6", "--seed", "3"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr  # how fast: bench/sandbox_bench.py
    out = result.stdout
    assert "detection against the injected truth: real effects found: " in out
    outcome_lines = [line for line in out.splitlines() if line.startswith(("  found ", "  missed ", "  correctly null",
                                                                           "  false claim", "  running "))]  # fmt: skip
    assert len(outcome_lines) == 8 and not [line for line in outcome_lines if "false claim" in line], out
    for name in ("tracker.toml", "tracker.db", "digest.html", "digest.eml", ".tracker-demo"):
        assert (workspace / name).is_file(), name
    assert "Content-Type: multipart/alternative" in (workspace / "digest.eml").read_text()
    config = workspace / "tracker.toml"
    text = config.read_text()
    assert "[sandbox]" in text and "seed = 3" in text
    assert "mastodon_filtered = 0.1" in text and 'late = "3h"' in text, "the quirks its sandbox served"

    # One stage everywhere: the summary, reflect, the digest's data and the web's maturity page.
    summary_stage = re.search(r"^done in .* runs, stage (\d+), (.+)$", out, re.MULTILINE)
    assert summary_stage, out
    reflect = subprocess.run(
        [*TRACKER, "--config", str(config), "reflect", "--json"], capture_output=True, text=True
    )
    assert reflect.returncode == 0, reflect.stderr
    now = json.loads(reflect.stdout)
    digest = json.loads(subprocess.run([*TRACKER, "--config", str(config), "digest", "--json"],
                                       capture_output=True, text=True).stdout)  # fmt: skip
    stage = (now["stage"]["number"], now["stage"]["name"])
    assert stage == (int(summary_stage[1]), summary_stage[2])
    assert (digest["maturity"]["stage"]["number"], digest["maturity"]["stage"]["name"]) == stage
    assert digest["health"]["runs"] >= 13, "the digest's week counts the demo's collection runs"
    import asyncio

    import httpx

    from tracker.config import load_settings
    from tracker.store.db import open_store
    from tracker.web.app import create_app

    settings = load_settings(config)
    store = open_store(settings.database_url)

    async def maturity_page() -> str:
        transport = httpx.ASGITransport(app=create_app(settings, store, require_login=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            return (await client.get("/maturity")).text

    try:
        page = asyncio.run(maturity_page())
    finally:
        store.close()
    current = re.search(r'<li class="current">\s*<span class="step">(\d+)</span>\s*<span class="step-name">([^<]+)<',
                        page)  # fmt: skip
    assert current and (int(current[1]), current[2]) == stage

    # The history is dated inside the simulated weeks: the first week knows fewer experiments.
    listed = json.loads(subprocess.run([*TRACKER, "--config", str(config), "experiment", "list", "--json"],
                                       capture_output=True, text=True).stdout)  # fmt: skip
    assert listed and all(e["verdict"] for e in listed)
    first_day = min(e["baseline"]["start"] for e in listed)
    early = json.loads(subprocess.run([*TRACKER, "--config", str(config), "reflect", "--json", "--as-of",
                                       listed[0]["start"]], capture_output=True, text=True).stdout)  # fmt: skip
    known = lambda r: sum(p["experiments"] for p in r["practices"])  # noqa: E731
    assert known(early) < known(now) and early["as_of"] > first_day
    assert all(m["date"] < now["as_of"] for m in now["moves"]), "moves happened in the simulated weeks"
    assert len({m["date"] for m in now["moves"]}) >= 2, "a history with moves on different dates"
    assert "adopted on the team's judgement" in out
    assert all(e["created_at"] < e["start"] for e in listed), "registered before their windows"

    # The workspace stays usable: serve the same world again, and collect from it.
    server = subprocess.Popen([*TRACKER, "--config", str(config), "sandbox", "serve"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert "sandbox: seed 3" in first, first
        collect = subprocess.run([*TRACKER, "--config", str(config), "collect"], capture_output=True, text=True,
                                 timeout=120, env=os.environ.copy())  # fmt: skip
        assert collect.returncode == 0, collect.stdout + collect.stderr
        # the table's rows; lines after it say which known posts were read again (their age came)
        rows = [line.split() for line in collect.stdout.splitlines()[1:] if ": read " not in line]
        assert rows and all(row[-1] == "ok" for row in rows)
        assert sum(int(row[2]) for row in rows) == 0, (
            "the same world: nothing new after the demo's collection"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0
