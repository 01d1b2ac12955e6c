"""The JSON API under /api/v1 through ASGITransport: documents, validation naming fields, OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.web.support import World

pytestmark = pytest.mark.anyio

GOOD: dict[str, Any] = {
    "title": "Reply to every mention", "hypothesis": "Replies lift the tone", "practice": "public-customer-answers",
    "metric": "sentiment", "streams": ["acme-mastodon"], "start": "2026-06-29", "end": "2026-07-26",
}  # fmt: skip


async def test_streams_mentions_and_reflection(client: httpx.AsyncClient, world: World) -> None:
    streams = (await client.get("/api/v1/streams")).json()["streams"]
    assert [s["name"] for s in streams][:2] == ["acme-mastodon", "acme-bluesky"]
    assert streams[1]["last_error"]["error"].startswith("bluesky search needs")
    page = (await client.get("/api/v1/mentions", params={"stream": "acme-news", "per_page": 10})).json()
    assert page["page"] == 1 and page["per_page"] == 10 and page["has_next"] is True
    assert len(page["mentions"]) == 10 and page["total"] > 10 and page["total_capped"] is False
    first = page["mentions"][0]
    for field in ("id", "platform", "external_id", "url", "author", "text", "lang", "created_at", "kind", "likes",
                  "reposts", "replies", "quotes", "engagement", "sentiment", "sentiment_label", "streams"):  # fmt: skip
        assert field in first, field
    assert all(m["streams"] == ["acme-news"] for m in page["mentions"])
    times = [m["created_at"] for m in page["mentions"]]
    assert times == sorted(times, reverse=True)
    second = (
        await client.get("/api/v1/mentions", params={"stream": "acme-news", "per_page": 10, "page": 2})
    ).json()
    assert {m["id"] for m in second["mentions"]}.isdisjoint({m["id"] for m in page["mentions"]})
    found = (
        await client.get("/api/v1/mentions", params={"q": "offline mode", "sentiment": "positive"})
    ).json()
    assert found["total"] > 0 and all("offline mode" in m["text"] for m in found["mentions"])
    bad = await client.get("/api/v1/mentions", params={"sort": "random", "per_page": "1000"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["detail"]} == {"sort", "per_page"}
    reflection = (await client.get("/api/v1/reflection")).json()
    assert reflection["stage"]["key"] == "testing"
    assert set(reflection["dimensions"]) == {"people", "objectives", "strategy", "technology"}
    assert (await client.get("/api/v1/reflection", params={"as_of": "x"})).json()["detail"][0][
        "field"
    ] == "as_of"


async def test_experiment_lifecycle(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/experiments", json={**GOOD, "owner": "ana", "control_stream": "acme-news",
                                                             "expect": "decrease", "min_effect": 0.1})  # fmt: skip
    assert created.status_code == 201, created.text
    record = created.json()
    assert created.headers["location"] == f"/api/v1/experiments/{record['id']}"
    assert record["title"] == GOOD["title"] and record["streams"] == ["acme-mastodon"]
    assert (
        record["control_stream"] == "acme-news"
        and record["expect"] == "decrease"
        and record["min_effect"] == 0.1
    )
    assert record["baseline"] == {"start": "2026-06-01", "end": "2026-06-28"} and record["status"] == "ended"
    assert [w for w in record["warnings"] if "overlaps" in w] == []  # (the power check may warn)
    exp_id = record["id"]
    overlapping = (await client.post("/api/v1/experiments", json=GOOD)).json()
    assert any(f"overlaps experiment {exp_id}" in w for w in overlapping["warnings"])

    assert (await client.get(f"/api/v1/experiments/{exp_id}")).json()["results"] == []
    result = (await client.post(f"/api/v1/experiments/{exp_id}/measure")).json()
    assert result["id"] == exp_id and result["method"] == "diff_in_diff"
    for key in ("metric", "baseline", "treatment", "lift_abs", "lift_rel", "ci_low", "ci_high", "ci_abs_low",
                "ci_abs_high", "verdict", "excluded_days", "measured_at"):  # fmt: skip
        assert key in result, key
    assert (await client.get(f"/api/v1/experiments/{exp_id}/results")).json()[0]["measured_at"] == result[
        "measured_at"
    ]
    assert exp_id in [r["id"] for r in (await client.get("/api/v1/results")).json()]

    noted = await client.post(
        f"/api/v1/experiments/{exp_id}/notes", json={"text": "quiet summer", "author": "ana"}
    )
    assert noted.status_code == 201 and noted.json()["notes"][0]["text"] == "quiet summer"
    empty = await client.post(f"/api/v1/experiments/{exp_id}/notes", json={"text": " "})
    assert empty.status_code == 422 and empty.json()["detail"][0]["field"] == "text"
    bad_decision = await client.post(
        f"/api/v1/experiments/{exp_id}/conclude", json={"learning": "x", "decision": "maybe"}
    )
    assert bad_decision.status_code == 422 and bad_decision.json()["detail"][0]["field"] == "decision"
    no_evidence = await client.post(
        f"/api/v1/experiments/{exp_id}/conclude", json={"learning": "Summer is quiet", "decision": "adopt"}
    )
    assert no_evidence.status_code == 422 and no_evidence.json()["detail"][0]["field"] == "adopt"
    assert "--judgement TEXT" in no_evidence.json()["detail"][0]["msg"]
    done = await client.post(f"/api/v1/experiments/{exp_id}/conclude", json={
        "learning": "Summer is quiet", "judgement": "replies are cheap and customers thanked us"})  # fmt: skip
    assert (
        done.status_code == 200
        and done.json()["status"] == "concluded"
        and done.json()["decision"] == "adopt"
        and done.json()["adopted_by"] == "judgement"
    )
    again = await client.post(f"/api/v1/experiments/{exp_id}/conclude", json={"learning": "again"})
    assert again.status_code == 409 and "already concluded" in again.json()["detail"]
    listed = (await client.get("/api/v1/experiments", params={"status": "concluded"})).json()
    assert exp_id in [r["id"] for r in listed]
    reopened = await client.post(f"/api/v1/experiments/{exp_id}/reopen", json={"reason": "wrong window"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "ended"
    assert [e["status"] for e in reopened.json()["events"]] == ["concluded", "reopened"]
    assert (await client.post(f"/api/v1/experiments/{exp_id}/reopen", json={"reason": "x"})).status_code == 409
    assert (await client.get("/api/v1/experiments", params={"status": "odd"})).status_code == 422
    assert (await client.post(f"/api/v1/experiments/{overlapping['id']}/cancel")).json()[
        "status"
    ] == "cancelled"
    for path in ("/api/v1/experiments/999", "/api/v1/experiments/999/results"):
        missing = await client.get(path)
        assert missing.status_code == 404 and missing.json()["detail"] == "no experiment with id 999"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"title": " "}, "title", "must not be empty"),
        ({"hypothesis": ""}, "hypothesis", "must not be empty"),
        ({"practice": "astrology"}, "practice", "unknown practice 'astrology'"),
        ({"metric": "vibes"}, "metric", "unknown metric 'vibes'"),
        ({"streams": ["nowhere"]}, "streams", "unknown stream 'nowhere'"),
        ({"streams": []}, "streams", "name at least one stream"),
        ({"control_stream": "acme-mastodon"}, "control_stream", "must not be one of the experiment's streams"),
        ({"start": "2026-07-26", "end": "2026-06-29"}, "end", "2026-06-29 is before start 2026-07-26"),
        ({"start": "next monday"}, "start", "expected a day like 2026-09-01"),
        ({"expect": "sideways"}, "expect", "expected increase or decrease"),
        ({"min_effect": 50}, "min_effect", "expected a number from 0 to 10"),
        ({"baseline_start": "2026-06-01"}, "baseline_end", "give both baseline_start and baseline_end"),
        ({"baseline_start": "2026-06-01", "baseline_end": "2026-07-01"}, "baseline_end", "the baseline must end before"),
        ({"streams": "acme-mastodon"}, "streams", "valid list"),
        ({"min_effect": "big"}, "min_effect", "valid number"),
        ({"stream": "acme-mastodon"}, "stream", "Extra inputs are not permitted"),
    ],
)  # fmt: skip
async def test_invalid_experiments_are_422_naming_the_field(
    local_client: httpx.AsyncClient, change: dict[str, Any], field: str, message: str
) -> None:
    response = await local_client.post("/api/v1/experiments", json={**GOOD, **change})
    assert response.status_code == 422, response.text
    problems = {e["field"]: e["msg"] for e in response.json()["detail"]}
    assert field in problems and message in problems[field], problems
    listed = (await local_client.get("/api/v1/experiments")).json()
    assert not [e for e in listed if e["title"] == GOOD["title"]], "nothing was stored"


async def test_a_body_that_is_not_json_is_400(local_client: httpx.AsyncClient) -> None:
    client = local_client
    broken = await client.post(
        "/api/v1/experiments", content=b"{title:", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    form = await client.post("/api/v1/experiments", data={"title": "x"})
    assert form.status_code in (400, 422), "a form post is not taken for JSON"


async def test_openapi_describes_the_api(local_client: httpx.AsyncClient) -> None:
    client = local_client
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in ("/api/v1/streams", "/api/v1/mentions", "/api/v1/experiments", "/api/v1/experiments/{exp_id}",
                 "/api/v1/experiments/{exp_id}/measure", "/api/v1/experiments/{exp_id}/notes",
                 "/api/v1/experiments/{exp_id}/conclude", "/api/v1/results", "/api/v1/reflection"):  # fmt: skip
        assert path in paths, path
    assert (
        "post" in paths["/api/v1/experiments"] and "201" in paths["/api/v1/experiments"]["post"]["responses"]
    )
    fields = spec["components"]["schemas"]["ExperimentIn"]["properties"]
    assert set(GOOD) | {"control_stream", "control_streams", "expect", "owner", "team", "min_effect", "baseline_start",
                        "baseline_end", "competitors"} == set(fields)  # fmt: skip
    assert not [p for p in paths if not p.startswith("/api/v1/")], "pages are not in the API description"
    # Swagger UI from this machine, without inline script (tests/web/test_docs.py).
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "<script>" not in docs.text
