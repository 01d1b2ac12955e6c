"""The shared HTTP policy: retries, backoff, Retry-After, rate-limit headers, deadlines, limits.

Every test injects a fake clock and sleep (sleeps are recorded and advance the clock),
so nothing really waits.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors._http import HttpClient, HttpPolicy, parse_retry_after, rate_limit
from connectors.base import (
    AuthRequired,
    ConnectorError,
    NotFound,
    PayloadError,
    RateLimited,
    Unavailable,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
URL = "https://api.example.org/v1/things?token=s3cret"
POLICY = HttpPolicy(retries=3, backoff_base=1.0, backoff_cap=60.0)
Handler = Callable[[httpx.Request], Any]


class FakeTime:
    """A clock that only moves when the client sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def call(
    handler: Handler,
    action: Callable[[HttpClient], Awaitable[Any]] | None = None,
    *,
    fake: FakeTime | None = None,
    policy: HttpPolicy = POLICY,
    jitter: Callable[[], float] = lambda: 1.0,
    deadline: float | None = None,
) -> Any:
    """Run `action` (default: one GET of URL) against `handler` with a fake clock."""
    fake = fake or FakeTime()

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as raw:
            http = HttpClient(client=raw, policy=policy, sleep=fake.sleep, clock=fake.clock, jitter=jitter)
            if deadline is not None:
                http = http.for_run(deadline)
            if action is None:
                return await http.request("GET", URL)
            return await action(http)

    return asyncio.run(go())


class Script:
    """Answers (or raises) from a list, one per request, and records request times."""

    def __init__(self, fake: FakeTime, *answers: httpx.Response | type[Exception] | int) -> None:
        self.fake = fake
        self.answers = list(answers)
        self.times: list[float] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(self.fake.now)
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, type):
            raise answer("simulated", request=request)  # type: ignore[call-arg]
        if isinstance(answer, int):
            return httpx.Response(answer)
        return answer


def recorded_headers(name: str) -> tuple[httpx.Headers, datetime]:
    """A fixture's recorded response headers and the moment (its Date header) they were sent."""
    data = json.loads((FIXTURES / name).read_text())
    headers = httpx.Headers(data["response_headers"])
    return headers, parsedate_to_datetime(headers["date"])


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(status: int) -> None:
    fake = FakeTime()
    script = Script(fake, status, status, 200)
    response = call(script, fake=fake)
    assert response.status_code == 200
    assert len(script.requests) == 3
    assert len(fake.sleeps) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_give_up_after_the_retries(status: int) -> None:
    fake = FakeTime()
    script = Script(fake, status)
    with pytest.raises(Unavailable, match=f"HTTP {status} \\(gave up after 4 tries\\)") as caught:
        call(script, fake=fake)
    assert len(script.requests) == POLICY.retries + 1
    assert len(fake.sleeps) == POLICY.retries
    assert "s3cret" not in str(caught.value) and "api.example.org" in str(caught.value)


@pytest.mark.parametrize(
    ("error", "what"), [(httpx.ConnectError, "cannot connect"), (httpx.ReadTimeout, "no answer in time")]
)
def test_connect_errors_and_read_timeouts_are_retried(error: type[Exception], what: str) -> None:
    fake = FakeTime()
    script = Script(fake, error, error, 200)
    assert call(script, fake=fake).status_code == 200
    assert len(script.requests) == 3

    fake = FakeTime()
    script = Script(fake, error)
    with pytest.raises(Unavailable, match=what) as caught:
        call(script, fake=fake)
    assert len(script.requests) == POLICY.retries + 1
    assert "s3cret" not in str(caught.value)


def test_429_retry_after_seconds_is_honoured() -> None:
    fake = FakeTime()
    script = Script(fake, httpx.Response(429, headers={"Retry-After": "7"}), 200)
    assert call(script, fake=fake).status_code == 200
    assert fake.sleeps[0] >= 7
    assert script.times[1] - script.times[0] >= 7


def test_429_retry_after_http_date_is_honoured() -> None:
    when = (datetime.now(UTC) + timedelta(seconds=120)).replace(microsecond=0)
    fake = FakeTime()
    script = Script(
        fake, httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)}), 200
    )
    assert call(script, fake=fake).status_code == 200
    at_least = (when - datetime.now(UTC)).total_seconds()  # measured after: never more than was due
    assert at_least <= fake.sleeps[0] <= 120


def test_503_retry_after_is_honoured_too() -> None:
    fake = FakeTime()
    script = Script(fake, httpx.Response(503, headers={"Retry-After": "20"}), 200)
    assert call(script, fake=fake).status_code == 200
    assert fake.sleeps == [20]


def test_429_gives_up_as_rate_limited() -> None:
    fake = FakeTime()
    with pytest.raises(RateLimited, match="HTTP 429"):
        call(Script(fake, 429), fake=fake)
    assert len(fake.sleeps) == POLICY.retries


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Wed, 01 May 2024 10:02:00 GMT", now) == 120
    assert parse_retry_after("Wed, 01 May 2024 09:00:00 GMT", now) == 0  # in the past: no wait
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# -- errors that are not retried --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"), [(400, ConnectorError), (401, AuthRequired), (403, AuthRequired), (404, NotFound)]
)
def test_client_errors_are_not_retried_and_carry_the_message(status: int, error: type[Exception]) -> None:
    fake = FakeTime()
    script = Script(fake, httpx.Response(status, json={"error": "no"}))
    messages = {status: "needs a token: set token_env"}

    async def action(http: HttpClient) -> Any:
        return await http.request("GET", URL, errors=messages)

    with pytest.raises(error) as caught:
        call(script, action, fake=fake)
    assert type(caught.value) is error
    assert str(caught.value) == f"HTTP {status} from api.example.org/v1/things: needs a token: set token_env"
    assert len(script.requests) == 1 and fake.sleeps == []


@pytest.mark.parametrize(
    ("status", "error", "default"),
    [
        (401, AuthRequired, "refused access without credentials"),
        (404, NotFound, "not found"),
        (410, ConnectorError, "HTTP 410"),
    ],
)
def test_client_errors_without_a_message_still_say_what_happened(
    status: int, error: type[Exception], default: str
) -> None:
    fake = FakeTime()
    with pytest.raises(error, match=default) as caught:
        call(Script(fake, status), fake=fake)
    assert "s3cret" not in str(caught.value)
    assert fake.sleeps == []


# -- backoff ------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = HttpPolicy(retries=6, backoff_base=1.0, backoff_cap=8.0)
    fake = FakeTime()
    with pytest.raises(Unavailable):
        call(Script(fake, 503), fake=fake, policy=policy, jitter=lambda: 1.0)
    assert fake.sleeps == [1, 2, 4, 8, 8, 8]

    fake = FakeTime()
    with pytest.raises(Unavailable):
        call(Script(fake, 503), fake=fake, policy=policy, jitter=lambda: 0.0)
    assert fake.sleeps == [0.5, 1, 2, 4, 4, 4]  # jitter never takes a wait below half


def test_backoff_is_jittered() -> None:
    draws = iter([0.0, 0.5, 1.0])
    fake = FakeTime()
    with pytest.raises(Unavailable):
        call(Script(fake, 502), fake=fake, jitter=lambda: next(draws))
    assert fake.sleeps == [0.5, 1.5, 4.0]  # base 1, 2, 4 each spread by its draw


def test_random_jitter_spreads_waits_within_bounds() -> None:
    fake = FakeTime()
    policy = HttpPolicy(retries=12, backoff_base=2.0, backoff_cap=2.0)
    with pytest.raises(Unavailable):
        call(Script(fake, 500), fake=fake, policy=policy, jitter=random.Random(7).random)
    assert all(1.0 <= s <= 2.0 for s in fake.sleeps)
    assert len(set(fake.sleeps)) > 1  # random.random draws: not one fixed wait


# -- rate-limit headers ---------------------------------------------------------------------


def test_reddit_spent_budget_makes_the_next_request_wait_for_the_reset() -> None:
    fake = FakeTime()
    spent = {"X-Ratelimit-Used": "100", "X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "30"}
    script = Script(fake, httpx.Response(200, headers=spent), 200)
    other: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "other.example.org":
            other.append(fake.now)
            return httpx.Response(200)
        return script(request)

    async def action(http: HttpClient) -> Any:
        await http.request("GET", URL)
        assert fake.sleeps == []  # the answer itself is fine; only the next request waits
        await http.request("GET", "https://other.example.org/")  # another origin: no wait
        assert fake.sleeps == []
        await http.request("GET", URL)

    call(handler, action, fake=fake)
    assert fake.sleeps == [30]
    assert script.times == [1000.0, 1030.0]
    assert other == [1000.0]


def test_reddit_budget_left_does_not_wait() -> None:
    headers, _ = recorded_headers("reddit/r_popular_hot_limit100_2026.headers.json")
    fake = FakeTime()
    script = Script(fake, httpx.Response(200, headers=headers), 200)

    async def action(http: HttpClient) -> Any:
        await http.request("GET", URL)
        return await http.request("GET", URL)

    call(script, action, fake=fake)
    assert fake.sleeps == []


def test_rate_limit_headers_of_each_platform() -> None:
    headers, now = recorded_headers("reddit/r_popular_hot_limit100_2026.headers.json")
    assert rate_limit(headers, now) == (997.0, 15.0)  # Reddit: float remaining, reset in seconds

    headers, now = recorded_headers("mastodon/status_mastodon_social_110446223051565765.headers.json")
    remaining, reset = rate_limit(headers, now)  # Mastodon: reset is an ISO 8601 time
    assert remaining == 294
    assert reset == pytest.approx(47.996774)  # 23:15:00.996774Z - Date 23:14:13

    headers, now = recorded_headers("bluesky/getPosts_single.headers.json")
    remaining, reset = rate_limit(headers, now)  # Bluesky: RateLimit-Reset is a Unix time
    assert remaining == 2989
    assert reset == pytest.approx(1747676784 - now.timestamp())
    assert reset is not None and 0 < reset <= 300  # inside its 300 s window ("3000;w=300")

    assert rate_limit(httpx.Headers({}), now) == (None, None)
    assert rate_limit(httpx.Headers({"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "?"}), now) == (
        None,
        None,
    )


def test_mastodon_spent_budget_waits_until_the_iso_reset() -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    spent = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    fake = FakeTime()
    script = Script(fake, httpx.Response(200, headers=spent), 200)

    async def action(http: HttpClient) -> Any:
        await http.request("GET", URL)
        return await http.request("GET", URL)

    call(script, action, fake=fake)
    (wait,) = fake.sleeps
    assert 55 < wait <= 60


def test_bluesky_spent_budget_waits_until_the_unix_reset() -> None:
    reset = int(datetime.now(UTC).timestamp()) + 90
    spent = {"RateLimit-Limit": "3000", "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)}
    fake = FakeTime()
    script = Script(fake, httpx.Response(200, headers=spent), 200)

    async def action(http: HttpClient) -> Any:
        await http.request("GET", URL)
        return await http.request("GET", URL)

    call(script, action, fake=fake)
    (wait,) = fake.sleeps
    assert 85 < wait <= 90


# -- deadlines ----------------------------------------------------------------------------------


def test_retry_after_past_the_deadline_raises_instead_of_waiting() -> None:
    fake = FakeTime()
    script = Script(fake, httpx.Response(429, headers={"Retry-After": "60"}), 200)
    with pytest.raises(RateLimited, match="deadline"):
        call(script, fake=fake, deadline=10)
    assert fake.sleeps == []
    assert len(script.requests) == 1


def test_retry_after_within_the_deadline_is_waited_for() -> None:
    fake = FakeTime()
    script = Script(fake, httpx.Response(429, headers={"Retry-After": "5"}), 200)
    assert call(script, fake=fake, deadline=10).status_code == 200
    assert fake.sleeps == [5]


def test_spent_budget_past_the_deadline_raises_before_sending() -> None:
    fake = FakeTime()
    spent = {"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "30"}
    script = Script(fake, httpx.Response(200, headers=spent), 200)

    async def action(http: HttpClient) -> Any:
        await http.request("GET", URL)
        return await http.request("GET", URL)

    with pytest.raises(RateLimited, match="deadline"):
        call(script, action, fake=fake, deadline=10)
    assert len(script.requests) == 1 and fake.sleeps == []


def test_for_run_shares_the_origin_state() -> None:
    fake = FakeTime()
    spent = {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "30"}
    script = Script(fake, httpx.Response(200, headers=spent), 200)

    async def action(http: HttpClient) -> Any:
        first, second = http.for_run(300), http.for_run(300)
        await first.request("GET", URL)  # one run spends the budget...
        await second.request("GET", URL)  # ...the next run of that origin waits
        return first.requests, second.requests, http.requests

    assert call(script, action, fake=fake) == (1, 1, 0), "each run counts its own requests"
    assert fake.sleeps == [30]


# -- payloads -----------------------------------------------------------------------------------


def test_get_json_decodes() -> None:
    async def action(http: HttpClient) -> Any:
        return await http.get_json(URL)

    data, response = call(lambda r: httpx.Response(200, json={"ok": [1, 2]}), action)
    assert data == {"ok": [1, 2]} and response.status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"ok": [1, 2', "application/json", "invalid JSON"),
        (b"\xff\xfe garbage", "application/json", "invalid JSON"),
        (b"<!DOCTYPE html><html><body>Blocked</body></html>", "text/html; charset=utf-8", "HTML page"),
        (b"<html><body>Blocked</body></html>", "application/json", "HTML page"),
    ],
)
def test_get_json_bad_payloads_raise_payload_error(body: bytes, content_type: str, message: str) -> None:
    fake = FakeTime()
    script = Script(fake, httpx.Response(200, content=body, headers={"Content-Type": content_type}))

    async def action(http: HttpClient) -> Any:
        return await http.get_json(URL)

    with pytest.raises(PayloadError, match=message) as caught:
        call(script, action, fake=fake)
    assert "api.example.org/v1/things" in str(caught.value) and "s3cret" not in str(caught.value)
    assert len(script.requests) == 1  # a bad body is not retried


# -- client setup -------------------------------------------------------------------------------


def test_user_agent_is_sent() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["User-Agent"])
        return httpx.Response(200)

    async def go(policy: HttpPolicy | None) -> None:
        http = HttpClient.create(policy, transport=httpx.MockTransport(handler))
        try:
            await http.request("GET", URL)
        finally:
            await http.aclose()

    asyncio.run(go(HttpPolicy(user_agent="social-tracker/9.9 (+https://example.org/bot)")))
    asyncio.run(go(None))
    assert seen[0] == "social-tracker/9.9 (+https://example.org/bot)"
    assert seen[1].startswith("social-tracker")


def test_per_origin_concurrency_is_limited() -> None:
    policy = HttpPolicy(per_origin=2)
    active = {"a.example.org": 0, "b.example.org": 0}
    peak = dict(active)

    async def action(http: HttpClient) -> Any:
        full = asyncio.Event()
        release = asyncio.Event()

        async def handler(request: httpx.Request) -> httpx.Response:
            host = request.url.host
            active[host] += 1
            peak[host] = max(peak[host], active[host])
            if sum(active.values()) == 2 * policy.per_origin:
                full.set()
            await release.wait()
            active[host] -= 1
            return httpx.Response(200)

        holder["handler"] = handler
        tasks = [
            asyncio.create_task(http.request("GET", f"https://{host}/item/{n}"))
            for host in active
            for n in range(5)
        ]
        await asyncio.wait_for(full.wait(), timeout=1)
        for _ in range(20):  # let any task that could slip past the limit do so
            await asyncio.sleep(0)
        assert active == {"a.example.org": 2, "b.example.org": 2}
        release.set()
        return await asyncio.gather(*tasks)

    holder: dict[str, Any] = {}

    async def dispatch(request: httpx.Request) -> httpx.Response:
        response: httpx.Response = await holder["handler"](request)
        return response

    responses = call(dispatch, action, policy=policy)
    assert len(responses) == 10 and all(r.status_code == 200 for r in responses)
    assert peak == {"a.example.org": 2, "b.example.org": 2}  # each origin held to 2, both at once


# -- error details ------------------------------------------------------------------------------


def test_client_errors_carry_status_and_platform_code() -> None:
    body = {"error": "ExpiredToken", "message": "Token has expired"}
    with pytest.raises(ConnectorError) as info:
        call(lambda r: httpx.Response(400, json=body))
    assert (info.value.status, info.value.code) == (400, "ExpiredToken")
    with pytest.raises(AuthRequired) as auth:
        call(lambda r: httpx.Response(401, text="<html>no</html>"))
    assert (auth.value.status, auth.value.code) == (401, None)


def test_a_5xx_backoff_past_the_deadline_is_unavailable_not_rate_limited() -> None:
    fake = FakeTime()
    with pytest.raises(Unavailable, match="would pass the run's deadline"):
        call(Script(fake, 503), fake=fake, deadline=0.5)


def test_transport_errors_that_are_not_retried_become_connector_errors() -> None:
    def redirect_forever(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": str(request.url)})

    async def go() -> None:
        http = HttpClient.create(POLICY, transport=httpx.MockTransport(redirect_forever))
        try:
            await http.request("GET", URL)
        finally:
            await http.aclose()

    with pytest.raises(ConnectorError, match="too many redirects"):
        asyncio.run(go())
