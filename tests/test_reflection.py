"""The reflection: a test model walked from stage 1 to 5 by real experiments, step by step."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import write_config
from tracker.store.db import open_store
from tracker.store.models import (
    CollectionRun,
    DigestSend,
    Experiment,
    ExperimentEvent,
    ExperimentResult,
    Stream,
)

MODEL = """
[[stages]]
key = "dormant"
number = 1
name = "Dormant"
description = "nothing yet"
[stages.requires]

[[stages]]
key = "testing"
number = 2
name = "Testing"
[stages.requires]
experiments = 1

[[stages]]
key = "coordinating"
number = 3
name = "Coordinating"
[stages.requires]
concluded = 1
adopted = ["answers"]

[[stages]]
key = "scaling"
number = 4
name = "Scaling"
[stages.requires]
measured_share = 1.0
owners = 2
platforms = 1

[[stages]]
key = "empowering"
number = 5
name = "Empowering"
[stages.requires]
adopted_per_dimension = { people = 1, strategy = 1 }
digest_weeks = 1

[[practices]]
key = "answers"
name = "Public answers"
dimension = "people"
stage = 2
description = "answer in public"

[[practices]]
key = "calendar"
name = "Content calendar"
dimension = "strategy"
stage = 3
description = "plan"

[[practices]]
key = "dashboards"
name = "Dashboards"
dimension = "technology"
stage = 4
description = "share"
"""


@pytest.fixture
def env(tmp_path: Path, db_url: str, cli: Any) -> dict[str, Any]:
    (tmp_path / "model.toml").write_text(MODEL)
    path = write_config(tmp_path, db_url=db_url, streams=[
        {"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
    ], extra='[maturity]\nmodel = "model.toml"\n')  # fmt: skip
    rng = random.Random(5)
    lines = []
    # 2025-11-17 .. 2026-03-01: +60 % from 2026-02-02 on; the 49 days before the baselines
    # (2026-01-05 on) give a before/after comparison its verdict (tracker/stats.py, "Trends")
    for i in range(-49, 56):
        day = date(2026, 1, 5) + timedelta(days=i)
        for n in range(rng.randint(15, 25) + (12 if i >= 28 else 0)):
            lines.append({"platform": "rss", "external_id": f"m-{day}-{n}", "text": "t", "stream": "brand",
                          "created_at": f"{day}T1{n % 10}:00:00+01:00"})  # fmt: skip
    (tmp_path / "h.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert cli("--config", path, "mentions", "import", tmp_path / "h.jsonl").code == 0
    return {"config": path, "db": db_url, "cli": cli}


def reflect(env: dict[str, Any], as_of: str | None = None) -> dict[str, Any]:
    args = ["--config", env["config"], "reflect", "--json"] + (["--as-of", as_of] if as_of else [])
    result = env["cli"](*args)
    assert result.code == 0, result.err
    return json.loads(result.out)  # type: ignore[no-any-return]


def run(env: dict[str, Any], *args: str) -> str:
    result = env["cli"]("--config", env["config"], *args)
    assert result.code == 0, result.err
    return str(result.out)


def add(env: dict[str, Any], practice: str, owner: str) -> int:
    return int(run(env, "experiment", "add", "--title", f"try {practice}", "--hypothesis", "it helps",
                   "--practice", practice, "--metric", "mentions", "--stream", "brand", "--owner", owner,
                   "--start", "2026-02-02", "--end", "2026-03-01").strip())  # fmt: skip


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T12:00:00+00:00").astimezone(UTC)


def backdate(env: dict[str, Any], exp_id: int, *, created: str, measured: str | None = None,
             concluded: str | None = None) -> None:  # fmt: skip
    """Make an experiment's history happen on given days, so --as-of can replay it."""
    store = open_store(env["db"])
    with store.write() as session:
        values: dict[str, Any] = {"created_at": at(created)}
        if concluded:
            values["concluded_at"] = at(concluded)
            session.execute(update(ExperimentEvent).where(ExperimentEvent.experiment_id == exp_id,
                                                          ExperimentEvent.status == "concluded")
                            .values(at=at(concluded)))  # fmt: skip
        session.execute(update(Experiment).where(Experiment.id == exp_id).values(**values))
        if measured:
            session.execute(update(ExperimentResult).where(ExperimentResult.experiment_id == exp_id)
                            .values(measured_at=at(measured)))  # fmt: skip
    store.close()


def stage(result: dict[str, Any]) -> int:
    return int(result["stage"]["number"])


@pytest.mark.slow
def test_walk_from_dormant_to_empowering(env: dict[str, Any]) -> None:
    first = reflect(env)
    assert stage(first) == 1 and first["moves"] == []
    assert [(s["requirement"], s["needed"], s["have"]) for s in first["next_steps"]] == [
        ("experiments", 1, 0)
    ]
    assert set(first["dimensions"]) == {"people", "objectives", "strategy", "technology"}

    # Step 1: the first experiment makes us "testing".
    one = add(env, "answers", "ana")
    backdate(env, one, created="2026-03-02")
    second = reflect(env)
    assert stage(second) == 2
    assert second["moves"] == [{"date": "2026-03-02", "from": {"key": "dormant", "number": 1, "name": "Dormant"},
                                "to": {"key": "testing", "number": 2, "name": "Testing"},
                                "because": ["experiments"],
                                "reasons": ["1 experiment registered (needed 1)"]}]  # fmt: skip
    steps = {s["requirement"]: s for s in second["next_steps"]}
    assert set(steps) == {"concluded", "adopted"} and steps["adopted"]["practices"] == ["answers"]

    # Step 2: measured a success and concluded without --reject: the practice is adopted.
    run(env, "experiment", "measure", str(one))
    run(env, "experiment", "conclude", str(one), "--learning", "public answers bring mentions")
    backdate(env, one, created="2026-03-02", measured="2026-03-03", concluded="2026-03-05")
    third = reflect(env)
    assert stage(third) == 3
    assert third["moves"][-1]["date"] == "2026-03-05"
    assert third["moves"][-1]["because"] == ["concluded", "adopted", "answers"]
    answers = next(p for p in third["practices"] if p["key"] == "answers")
    assert (answers["adopted"], answers["adopted_on"], answers["successes"], answers["rank"]) == (
        True,
        "2026-03-05",
        1,
        1,
    )
    assert answers["mean_lift"] > 0.3 and answers["moves"] == ["2026-03-05"]

    # Step 3: a success concluded with --reject does not adopt; a second owner and a platform move us on.
    two = add(env, "calendar", "bob")
    run(env, "experiment", "measure", str(two))
    run(env, "experiment", "conclude", str(two), "--learning", "works but too costly", "--reject")
    backdate(env, two, created="2026-03-06", measured="2026-03-07", concluded="2026-03-08")
    store = open_store(env["db"])
    with store.write() as session:
        brand = session.query(Stream).filter_by(name="brand").one()
        session.add(CollectionRun(stream_id=brand.id, started_at=at("2026-03-10"), status="ok"))
    store.close()
    fourth = reflect(env)
    calendar = next(p for p in fourth["practices"] if p["key"] == "calendar")
    assert calendar["successes"] == 1 and calendar["adopted"] is False, "--reject does not adopt"
    assert stage(fourth) == 3, "the platform's run is older than 14 days"
    store = open_store(env["db"])
    with store.write() as session:
        session.add(
            CollectionRun(stream_id=brand.id, started_at=datetime.now(UTC) - timedelta(days=1), status="ok")
        )
    store.close()
    fifth = reflect(env)
    assert stage(fifth) == 4
    assert fifth["moves"][-1]["because"] == ["measured_share", "owners", "platforms"]
    assert {s["requirement"] for s in fifth["next_steps"]} == {"adopted_per_dimension", "digest_weeks"}
    per_dim = next(s for s in fifth["next_steps"] if s["requirement"] == "adopted_per_dimension")
    assert per_dim["practices"] == ["calendar"] and per_dim["have"] == {"people": 1, "strategy": 0}

    # Step 4: --adopt adopts whatever the verdict; a digest sent this week: stage 5.
    three = add(env, "calendar", "cy")
    run(env, "experiment", "measure", str(three))
    run(env, "experiment", "conclude", str(three), "--learning", "cheaper version works", "--adopt")
    store = open_store(env["db"])
    with store.write() as session:
        now = datetime.now(UTC)
        session.add(DigestSend(week="2026-W47", recipient="a@b.example", status="sent", started_at=now,
                               sent_at=now - timedelta(days=1)))  # fmt: skip
    store.close()
    top = reflect(env)
    assert stage(top) == 5 and top["next_steps"] == []
    assert top["moves"][-1]["because"] == ["adopted_per_dimension", "answers", "calendar", "digest_weeks"]
    # The ranking rule: measured successes first (calendar: 2, answers: 1), then the mean effect size.
    assert [p["key"] for p in top["practices"]][:2] == ["calendar", "answers"]
    assert [p["status"] for p in top["practices"]][:3] == ["measured", "measured", "not measured"]

    # Replay: the record as it stood on earlier days.
    assert stage(reflect(env, "2026-03-01")) == 1
    assert stage(reflect(env, "2026-03-04")) == 2, "measured but not yet concluded"
    assert stage(reflect(env, "2026-03-06")) == 3
    early = reflect(env, "2026-03-04")
    assert early["as_of"] == "2026-03-04" and len(early["moves"]) == 1
    text = run(env, "reflect")
    assert (
        "Where we are: stage 5, Empowering" in text
        and "What moved us:" in text
        and "What to try next:" in text
    )


def test_cancelled_experiments_never_count(env: dict[str, Any]) -> None:
    one = add(env, "answers", "ana")
    run(env, "experiment", "cancel", str(one))
    assert stage(reflect(env)) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("experiments = 1", "experimentz = 1"), "stages[1].requires.experimentz: unknown requirement key"),
        (
            ('adopted = ["answers"]', 'adopted = ["nope"]'),
            "stages[2].requires.adopted: 'nope' is not a practice",
        ),
        (("number = 3", "number = 2"), "stages[2].number: 2 is also the number of stages[1]"),
        (('dimension = "strategy"', 'dimension = "vibes"'), "practices[1].dimension: expected one of people"),
        (
            ("measured_share = 1.0", "measured_share = 2"),
            "stages[3].requires.measured_share: expected a share",
        ),
        (("people = 1, strategy", "peeple = 1, strategy"), "adopted_per_dimension.peeple: not a dimension"),
    ],
)
def test_model_validation(tmp_path: Path, cli: Any, change: tuple[str, str], message: str) -> None:
    (tmp_path / "model.toml").write_text(MODEL.replace(*change))
    path = write_config(tmp_path, extra='[maturity]\nmodel = "model.toml"\n')
    result = cli("--config", path, "reflect")
    assert result.code == 2
    assert message in result.err, result.err


def test_the_shipped_model_is_valid_and_forrester_shaped(tmp_path: Path, cli: Any) -> None:
    result = cli("--config", write_config(tmp_path), "reflect", "--json")
    doc = json.loads(result.out)
    assert doc["stage"]["key"] == "dormant"
    from tracker.config import load_settings
    from tracker.maturity import load_model

    model = load_model(load_settings(tmp_path / "tracker.toml"))
    assert [s.key for s in model.stages] == [
        "dormant",
        "testing",
        "coordinating",
        "scaling-optimising",
        "empowering",
    ]
    assert 15 <= len(model.practices) <= 25
    assert {p.dimension for p in model.practices} == {"people", "objectives", "strategy", "technology"}
    assert all(p.description and s.description for p in model.practices for s in model.stages)
    for key in ("always-on-listening", "social-media-policy", "shepherd", "steering-group", "content-calendar",
                "public-customer-answers", "business-outcome-measurement", "shared-listening-dashboards",
                "social-training", "employee-advocacy", "crisis-playbook"):  # fmt: skip
        assert model.practice(key) is not None, key
