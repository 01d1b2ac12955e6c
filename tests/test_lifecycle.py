"""The experiment lifecycle with evidence (issue 14, items 1 and 7): every rule, every refusal.

Each refusal exits 2 and changes nothing (the experiment's record is the same before
and after); every change of status is an event with its time and reason.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tracker.store.db import open_store
from tracker.store.models import CollectionRun, Stream
from tracker.timeutil import utcnow

TODAY = utcnow().date()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


@pytest.fixture
def env(tmp_path: Path, db_url: str, cli: Any) -> dict[str, Any]:
    path = write_config(tmp_path, db_url=db_url, timezone="UTC", streams=[
        {"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
        {"name": "quiet", "connector": "hackernews", "query": "nobody-says-this", "every": "1h"},
    ])  # fmt: skip
    rng = random.Random(14)
    lines = []
    for i in range(-105, 0):  # 105 days up to yesterday (49 before the baseline): +60 % over the last 28 days
        d = TODAY + timedelta(days=i)
        for n in range(rng.randint(15, 25) + (12 if i >= -28 else 0)):
            lines.append({"platform": "rss", "external_id": f"m-{d}-{n}", "text": "t", "stream": "brand",
                          "created_at": f"{d}T1{n % 10}:00:00Z"})  # fmt: skip
    (tmp_path / "h.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert cli("--config", path, "mentions", "import", tmp_path / "h.jsonl").code == 0
    return {"config": path, "db": db_url, "cli": cli}


def run(env: dict[str, Any], *args: str) -> str:
    result = env["cli"]("--config", env["config"], *args)
    assert result.code == 0, result.err
    return str(result.out)


def show(env: dict[str, Any], exp_id: int) -> dict[str, Any]:
    return json.loads(run(env, "experiment", "show", str(exp_id), "--json"))  # type: ignore[no-any-return]


def add(env: dict[str, Any], *, stream: str, start: int, end: int, practice: str = "shepherd",
        owner: str = "ana") -> int:  # fmt: skip
    return int(run(env, "experiment", "add", "--title", f"try {practice}", "--hypothesis", "it helps",
                   "--practice", practice, "--metric", "mentions", "--stream", stream, "--owner", owner,
                   "--start", day(start), "--end", day(end)).strip())  # fmt: skip


def refused(env: dict[str, Any], exp_id: int, *args: str) -> str:
    """Run a command that must be refused: exit 2, one clear line, and nothing changed."""
    before = show(env, exp_id)
    result = env["cli"]("--config", env["config"], *args)
    assert result.code == 2, (result.out, result.err)
    assert result.err.startswith("error: ") and "Traceback" not in result.err, result.err
    assert show(env, exp_id) == before, "a refusal changes nothing"
    return str(result.err)


@pytest.mark.slow
def test_every_lifecycle_rule(env: dict[str, Any]) -> None:
    learning = "the shepherd connected three teams"
    # A running experiment cannot be concluded before its window ends, unless stopped early with a reason.
    running = add(env, stream="brand", start=-3, end=10)
    err = refused(env, running, "experiment", "conclude", str(running), "--learning", learning)
    assert f"the window runs until {day(10)}; use --early with a reason to stop it now" in err
    err = refused(env, running, "experiment", "conclude", str(running), "--learning", learning, "--early")
    assert "--reason" in err
    run(env, "experiment", "conclude", str(running), "--learning", learning, "--early",
        "--reason", "the campaign was pulled by legal")  # fmt: skip
    record = show(env, running)
    assert record["status"] == "concluded" and record["adopted_by"] is None
    (event,) = record["events"]
    assert (event["status"], event["previous"], event["early"], event["reason"]) == (
        "concluded", "running", True, "the campaign was pulled by legal")  # fmt: skip
    assert event["at"].endswith("Z")

    # Concluded: it cannot be concluded again or cancelled; reopen needs a reason and keeps the old learning.
    refused(env, running, "experiment", "conclude", str(running), "--learning", learning, "--early",
            "--reason", "again")  # fmt: skip
    assert "reopen" in refused(env, running, "experiment", "cancel", str(running))
    refused(env, running, "experiment", "reopen", str(running), "--reason", " ")
    run(env, "experiment", "reopen", str(running), "--reason", "legal cleared the campaign")
    record = show(env, running)
    assert record["status"] == "running" and record["learning"] is None
    assert [e["status"] for e in record["events"]] == ["concluded", "reopened"]
    assert record["events"][1]["learning"] == learning and record["events"][1]["previous"] == "concluded"
    refused(env, running, "experiment", "reopen", str(running), "--reason", "it is not closed")

    # Cancel with a reason, refused conclusion while cancelled, reopen undoes the cancellation.
    run(env, "experiment", "cancel", str(running), "--reason", "budget moved to Q3")
    assert "reopen" in refused(env, running, "experiment", "conclude", str(running), "--learning", learning,
                               "--early", "--reason", "stop")  # fmt: skip
    run(env, "experiment", "reopen", str(running), "--reason", "budget is back")
    record = show(env, running)
    assert [(e["status"], e["reason"]) for e in record["events"]][-2:] == [
        ("cancelled", "budget moved to Q3"), ("reopened", "budget is back")]  # fmt: skip

    # --adopt needs a usable measured verdict: not measured, then measured on no data at all.
    quiet = add(env, stream="quiet", start=-28, end=-1, practice="shepherd")
    err = refused(env, quiet, "experiment", "conclude", str(quiet), "--learning", learning, "--adopt")
    assert "--judgement TEXT" in err and "not been measured" in err
    run(env, "experiment", "measure", str(quiet))
    err = refused(env, quiet, "experiment", "conclude", str(quiet), "--learning", learning, "--adopt")
    assert "--judgement TEXT" in err
    refused(env, quiet, "experiment", "conclude", str(quiet), "--learning", learning, "--judgement", "x")
    refused(env, quiet, "experiment", "conclude", str(quiet), "--learning", learning, "--adopt",
            "--judgement", "we trust the shepherd anyway")  # fmt: skip
    out = run(env, "experiment", "conclude", str(quiet), "--learning", learning,
              "--judgement", "the teams asked to keep the shepherd")  # fmt: skip
    assert "adopted on the team's judgement" in out
    record = show(env, quiet)
    assert (
        record["adopted_by"] == "judgement" and record["judgement"] == "the teams asked to keep the shepherd"
    )
    text = run(env, "experiment", "show", str(quiet))
    assert "adopted on the team's judgement" in text and "history:" in text

    # A measured success adopts on the evidence; --adopt on a usable verdict too.
    measured = add(env, stream="brand", start=-28, end=-1, practice="content-calendar", owner="bo")
    run(env, "experiment", "measure", str(measured))
    assert show(env, measured)["verdict"] == "success"
    run(env, "experiment", "conclude", str(measured), "--learning", "planning ahead brings more mentions",
        "--adopt")  # fmt: skip
    assert show(env, measured)["adopted_by"] == "evidence"

    reflection = json.loads(run(env, "reflect", "--json"))
    by_key = {p["key"]: p for p in reflection["practices"]}
    assert by_key["shepherd"]["adopted_by"] == "judgement" and by_key["shepherd"]["status"] == "not measured"
    assert by_key["content-calendar"]["adopted_by"] == "evidence"
    assert by_key["content-calendar"]["effects"][0]["unit"] == "%"
    text = run(env, "reflect")
    assert "A shepherd who coordinates" in text and "judgement" in text
    year, week, _ = TODAY.isocalendar()
    digest = json.loads(run(env, "digest", "--week", f"{year}-W{week:02d}", "--json"))
    concluded = {e["id"]: e for e in digest["experiments"]["concluded"]}
    assert concluded[quiet]["adopted_by"] == "judgement" and concluded[measured]["adopted_by"] == "evidence"
    text = " ".join(run(env, "digest", "--week", f"{year}-W{week:02d}").split())
    assert "(adopted on the team's judgement)" in text


def test_reopening_is_replayed_by_the_reflection(env: dict[str, Any]) -> None:
    one = add(env, stream="brand", start=-28, end=-1, practice="content-calendar")
    run(env, "experiment", "measure", str(one))
    run(env, "experiment", "conclude", str(one), "--learning", "planning ahead brings more mentions")
    assert json.loads(run(env, "reflect", "--json"))["practices"][0]["adopted"] is True
    run(env, "experiment", "reopen", str(one), "--reason", "the numbers were double counted")
    after = json.loads(run(env, "reflect", "--json"))
    calendar = next(p for p in after["practices"] if p["key"] == "content-calendar")
    assert calendar["adopted"] is False, "a reopened conclusion no longer adopts"


def _stage_after(env: dict[str, Any], count: int, *, game: bool) -> dict[str, Any]:
    """Register `count` experiments on a stream with zero mentions (windows ended) and one collection
    run; with `game`, measure them and try to conclude each with the learning "x" and --adopt."""
    ids = [add(env, stream="quiet", start=-28, end=-1, practice=p, owner=f"owner-{i}")
           for i, p in enumerate(["shepherd", "steering-group", "business-outcome-measurement",
                                  "social-training", "employee-advocacy"][:count])]  # fmt: skip
    store = open_store(env["db"])
    with store.write() as session:
        stream = session.query(Stream).filter_by(name="quiet").one()
        session.add(CollectionRun(stream_id=stream.id, started_at=utcnow(), status="ok"))
    store.close()
    if game:
        run(env, "experiment", "measure", "--all")
        for exp_id in ids:
            result = env["cli"]("--config", env["config"], "experiment", "conclude", str(exp_id),
                                "--learning", "x", "--adopt")  # fmt: skip
            assert result.code == 2 and "--judgement" in result.err, result.err
            # Without --adopt the conclusion is taken, but a learning of "x" is not counted.
            result = env["cli"]("--config", env["config"], "experiment", "conclude", str(exp_id),
                                "--learning", "x")  # fmt: skip
            assert result.code == 0 and "not counted" in result.err, result.err
    return json.loads(run(env, "reflect", "--json"))  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_stages_cannot_be_gamed(tmp_path: Path, cli: Any) -> None:
    """Five zero-mention experiments, "inconclusive 0 -> 0", concluded with "x" (and --adopt tried):
    no stage and no score beyond what registering them alone earns, on the shipped model."""
    results = []
    for game in (False, True):
        directory = tmp_path / ("game" if game else "plain")
        directory.mkdir()
        url = f"sqlite:///{directory / 'tracker.db'}"
        path = write_config(directory, db_url=url, timezone="UTC", streams=[
            {"name": "quiet", "connector": "hackernews", "query": "nobody-says-this", "every": "1h"},
        ])  # fmt: skip
        results.append(_stage_after({"config": path, "db": url, "cli": cli}, 5, game=game))
    plain, gamed = results
    assert plain["stage"]["number"] == 2, "registering experiments and one collection run: Testing"
    assert gamed["stage"] == plain["stage"]
    assert {k: d["score"] for k, d in gamed["dimensions"].items()} == {
        k: d["score"] for k, d in plain["dimensions"].items()
    }
    assert all(not p["adopted"] for p in gamed["practices"])
    assert all(p["status"] == "not measured" for p in gamed["practices"])

    # Plain language: practices by name, requirements in words with the right numbers; keys only in JSON.
    advice = [s["advice"] for s in plain["next_steps"]]
    keys = [p["key"] for p in plain["practices"]] + ["measured_share", "digest_weeks", "adopted_per_dimension"]
    assert not [k for k in keys if "-" in k or "_" in k for a in advice if k in a], advice
    assert any(a.startswith("adopt A shepherd who coordinates: run an experiment on it, measure it") for a in advice)
    assert "conclude 2 more ended experiments with a learning written as a sentence" in advice
    assert "measure 3 more ended experiments with enough data (0 of 5 have a usable verdict, 50% needed)" in advice
    assert "have 2 more owners run an experiment to a measured result (set --owner)" in advice
    (move,) = plain["moves"]
    assert move["reasons"] == ["5 experiments registered (needed 2)",
                               "1 platform collected in the last 14 days (needed 1)"]
