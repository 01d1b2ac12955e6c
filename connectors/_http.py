"""The one place HTTP policy lives: timeouts, User-Agent, retries, rate limits, deadlines.

Every connector request goes through `HttpClient.request`. It retries connect
errors, timeouts, 429, 500, 502, 503 and 504 with capped exponential backoff and
jitter; obeys `Retry-After` and the platforms' rate-limit headers (never sending
more than the platform allows: an origin whose budget is spent waits for its reset);
limits concurrent requests per origin; and never waits past the run's deadline.
Other 4xx are not retried: they raise a ConnectorError whose message says what to do.
Sleeping and the clock are injectable, so tests never really wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.base import (
    AuthRequired,
    ConnectorError,
    NotFound,
    PayloadError,
    RateLimited,
    Unavailable,
)

log = logging.getLogger("tracker.http")

MB = 1_000_000
THREAD_PARSE = 1 * MB  # bodies above this are decoded in a thread, so the run's deadline can interrupt
MAX_REDIRECTS = 5
INFLATE = {"gzip": 31, "x-gzip": 31, "deflate": 15}  # zlib wbits per Content-Encoding
INFLATE_STEP = 256 * 1024
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
RETRY_ERRORS = (
    httpx.ConnectError,
    httpx.TimeoutException,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts and retry budget; the defaults are what the product ships with."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 4
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    per_origin: int = 4
    user_agent: str = "social-tracker"
    max_response: int = 20 * MB  # bytes of a body after decompression; larger answers are refused


@dataclass
class _Origin:
    """What we know of one (scheme, host, port): its concurrency slot and rate-limit state."""

    slots: asyncio.Semaphore
    blocked_until: float = 0.0


@dataclass
class HttpClient:
    """A shared httpx.AsyncClient with the product's HTTP policy; `for_run` adds a deadline."""

    client: httpx.AsyncClient
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.monotonic  # for waits and deadlines
    # The time connectors reason with (refresh windows); the sandbox pins it to its world's "now".
    # Rate-limit headers are read against the real clock (`_wall`), which the server's answers use.
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    jitter: Callable[[], float] = random.random
    deadline: float | None = None
    origins: dict[str, _Origin] = field(default_factory=dict)
    counter: list[int] = field(default_factory=lambda: [0])
    # Logged-in sessions the connectors keep between runs (a worker's client lives for days):
    # shared by every `for_run` view, never logged (the tokens' reprs are hidden).
    sessions: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def create(
        cls,
        policy: HttpPolicy | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> HttpClient:
        """Build the shared client: timeouts, User-Agent, connection limits from the policy."""
        policy = policy or HttpPolicy()
        timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        client = httpx.AsyncClient(
            timeout=timeout,
            headers={"User-Agent": policy.user_agent},
            transport=transport,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        return cls(client=client, policy=policy, **kwargs)

    def for_run(self, seconds: float) -> HttpClient:
        """A view of this client whose requests and waits end `seconds` from now.

        It shares the connection pool and the per-origin limits and rate-limit state
        (all streams on one origin share the platform's budget) but counts its own requests.
        """
        return replace(self, deadline=self.clock() + seconds, counter=[0])

    @property
    def requests(self) -> int:
        return self.counter[0]

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- requests --------------------------------------------------------------------------

    async def get_json(self, url: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        """GET and decode JSON; an HTML page or invalid JSON raises PayloadError.

        A large body is decoded in a worker thread: the event loop (and with it the
        run's deadline) is not held while megabytes are parsed.
        """
        response = await self.request("GET", url, **kwargs)
        if len(response.content) > THREAD_PARSE:
            return await asyncio.to_thread(decode_json, response), response
        return decode_json(response), response

    async def request(
        self,
        method: str,
        url: str,
        *,
        errors: Mapping[int, str] | None = None,
        login: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; raise a ConnectorError subclass for what cannot be retried.

        `errors` maps status codes to the message a person should read (e.g. 401:
        "needs a token: set token_env"). The body is read up to the policy's
        `max_response` bytes (after decompression) and refused beyond.

        `login` marks a request that carries credentials in its body (a password):
        redirects are followed only on the same origin (never re-sending the password
        elsewhere); a 429 is raised at once with `errors[429]` (a login limit is the
        account's, so it neither blocks the origin for other requests nor is waited for).
        """
        origin = _origin_key(url)
        state = self._origin(origin)
        attempt = 0
        while True:
            await self._wait_until(state.blocked_until, f"rate limit of {origin}")
            try:
                async with state.slots:
                    self.counter[0] += 1
                    response = await self._send(method, url, origin, login=login, **kwargs)
            except httpx.TooManyRedirects:
                raise ConnectorError(f"{origin}: too many redirects") from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                why = "not http or https" if isinstance(exc, httpx.UnsupportedProtocol) else "not a valid URL"
                raise ConnectorError(f"{origin}: cannot request this address ({why})") from None
            except httpx.DecodingError:
                raise PayloadError(f"{origin}: the answer could not be decoded") from None
            except RETRY_ERRORS as exc:
                what = _describe(exc)
                if attempt >= self.policy.retries:
                    raise Unavailable(
                        f"{origin}: {what} (gave up after {attempt + 1} tries){_local_hint(exc, origin)}"
                    ) from None
                await self._backoff(attempt, None, f"{origin}: {what}", limited=False)
                attempt += 1
                continue
            if not login:  # a login's limit is the account's, not the origin's
                self._note_rate_limit(state, response)
            if response.status_code < 400:
                return response
            if response.status_code not in RETRY_STATUS or (login and response.status_code == 429):
                raise _client_error(response, errors or {})
            if attempt >= self.policy.retries:
                cls = RateLimited if response.status_code == 429 else Unavailable
                raise cls(f"{origin}: HTTP {response.status_code} (gave up after {attempt + 1} tries)")
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall())
            if retry_after is not None:
                state.blocked_until = max(state.blocked_until, self.clock() + retry_after)
            why = f"{origin}: HTTP {response.status_code}"
            await self._backoff(attempt, retry_after, why, limited=response.status_code == 429)
            attempt += 1

    async def _send(
        self, method: str, url: str, origin: str, *, login: bool, **kwargs: Any
    ) -> httpx.Response:
        """One exchange: the request, same-origin redirects only when `login`, the capped body."""
        auth = kwargs.pop("auth", httpx.USE_CLIENT_DEFAULT)
        request = self.client.build_request(method, url, timeout=self._timeout(), **kwargs)
        for _ in range(MAX_REDIRECTS + 1):
            follow = False if login else self.client.follow_redirects
            response = await self.client.send(request, auth=auth, stream=True, follow_redirects=follow)
            try:
                await self._read(response, origin)
            finally:
                await response.aclose()
            target = response.next_request if login else None
            if target is None:
                return response
            if _origin_key(str(target.url)) != origin:
                raise ConnectorError(
                    f"{origin}: the login answered with a redirect to {_origin_key(str(target.url))}; "
                    "it was not followed, so the credentials were not sent there (check auth_url)"
                )
            request = target
        raise httpx.TooManyRedirects("too many redirects", request=request)

    async def _read(self, response: httpx.Response, origin: str) -> None:
        """Read the body into `response.content`, never more than max_response bytes decoded.

        The cap is checked as the bytes arrive (a 1 MB gzip that inflates to 1 GB, or a
        500 MB feed, ends here with a clear error in bounded memory); so is the deadline.
        """
        cap = self.policy.max_response
        where = f"{response.request.url.host}{response.request.url.path}"
        too_big = PayloadError(f"response from {where} larger than {_size(cap)}: not read (the limit is "
                               "collection.max_response_mb)")  # fmt: skip
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap and "content-encoding" not in response.headers:
            raise too_big
        chunks: list[bytes] = []
        total = 0
        encoding = response.headers.get("content-encoding", "").strip().lower()
        wbits = INFLATE.get(encoding)
        if wbits is None or response.is_stream_consumed:  # (an in-memory answer: a test transport)
            body = response.aiter_bytes()
        else:
            body = _inflate(response.aiter_raw(), wbits, where)
        async for chunk in body:
            total += len(chunk)
            if total > cap:
                raise too_big
            chunks.append(chunk)
            if self.deadline is not None and self.clock() > self.deadline:
                raise Unavailable(f"{origin}: the answer was still arriving at the run's deadline")
        response._content = b"".join(chunks)

    # -- waiting ---------------------------------------------------------------------------

    def _origin(self, key: str) -> _Origin:
        state = self.origins.get(key)
        if state is None:
            state = self.origins[key] = _Origin(asyncio.Semaphore(self.policy.per_origin))
        return state

    def _timeout(self) -> httpx.Timeout:
        read = self.policy.read_timeout
        if self.deadline is not None:
            read = max(0.001, min(read, self.deadline - self.clock()))
        return httpx.Timeout(read, connect=min(self.policy.connect_timeout, read))

    async def _backoff(self, attempt: int, retry_after: float | None, why: str, *, limited: bool) -> None:
        base = min(self.policy.backoff_cap, self.policy.backoff_base * 2**attempt)
        delay = base * (0.5 + self.jitter() / 2)  # "equal jitter": spread, but never near zero
        if retry_after is not None:
            delay = max(delay, retry_after)
        log.info("retrying in %.1fs after %s", delay, why)
        await self._wait_until(self.clock() + delay, why, RateLimited if limited else Unavailable)

    async def _wait_until(self, moment: float, why: str, error: type[ConnectorError] = RateLimited) -> None:
        delay = moment - self.clock()
        if delay <= 0:
            return
        if self.deadline is not None and moment > self.deadline:
            raise error(f"{why}: waiting {delay:.0f}s would pass the run's deadline")
        await self.sleep(delay)

    def _note_rate_limit(self, state: _Origin, response: httpx.Response) -> None:
        """When the platform says the budget is spent, hold the origin until its reset."""
        remaining, reset = rate_limit(response.headers, self._wall())
        if remaining is not None and remaining < 1 and reset is not None:
            state.blocked_until = max(state.blocked_until, self.clock() + reset)

    def _wall(self) -> datetime:
        return datetime.now(UTC)


async def _inflate(raw: AsyncIterator[bytes], wbits: int, where: str) -> AsyncIterator[bytes]:
    """Decompress gzip/deflate in steps of at most INFLATE_STEP bytes (httpx's own decoder
    inflates each network chunk whole: 64 kB of a bomb become 64 MB at once)."""
    unpack = zlib.decompressobj(wbits)
    started = False
    try:
        async for data in raw:
            if not started and wbits == 15 and data[:1] and (data[0] & 0x0F) != 8:
                unpack = zlib.decompressobj(-15)  # "deflate" sent raw, without the zlib header
            started = started or bool(data)
            while data:
                out = unpack.decompress(data, INFLATE_STEP)
                data = unpack.unconsumed_tail
                if out:
                    yield out
                if unpack.eof:
                    return
        yield unpack.flush()
    except zlib.error:
        raise PayloadError(f"{where}: the answer could not be decoded (broken compression)") from None


def _size(limit: int) -> str:
    return f"{limit / MB:g} MB"


def _origin_key(url: str) -> str:
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.scheme}://{parsed.host}:{port}"


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect: connection refused" if _refused(exc) else "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection broken (the server closed it or answered garbled)"
    if isinstance(exc, httpx.WriteError):
        return "connection broken while sending the request"
    return "connection broken while reading the answer"


def _refused(exc: Exception) -> bool:
    text = str(exc).lower()
    # anyio reports a refused connection to every address of the host this way.
    return any(word in text for word in ("refused", "connect call failed", "all connection attempts failed"))


LOOPBACK = ("127.", "localhost", "[::1]")


def _local_hint(exc: Exception, origin: str) -> str:
    """A refused loopback address is most often the sandbox not running."""
    host = httpx.URL(origin).host if "://" in origin else origin
    if isinstance(exc, httpx.ConnectError) and (host.startswith(LOOPBACK) or host == "::1"):
        return ": is `tracker sandbox serve` running?"
    return ""


def _client_error(response: httpx.Response, errors: Mapping[int, str]) -> ConnectorError:
    status = response.status_code
    where = f"{response.request.url.host}{response.request.url.path}"
    message = errors.get(status)
    text = f"HTTP {status} from {where}" + (f": {message}" if message else "")
    code = _error_code(response)
    if status in (401, 403):
        if not message:
            text += ": the platform refused access without credentials"
        return AuthRequired(text, status=status, code=code)
    if status == 404:
        return NotFound(text if message else text + ": not found", status=status, code=code)
    if status == 429:
        return RateLimited(text, status=status, code=code)
    return ConnectorError(text, status=status, code=code)


def _error_code(response: httpx.Response) -> str | None:
    """The platform's error name from a JSON error body ({"error": "ExpiredToken", ...})."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and len(code) <= 100 else None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def rate_limit(headers: httpx.Headers, now: datetime) -> tuple[float | None, float | None]:
    """(remaining, seconds until reset) from any platform's rate-limit headers.

    Reddit: X-Ratelimit-Remaining (a float) and X-Ratelimit-Reset (seconds).
    Mastodon: X-RateLimit-Remaining and X-RateLimit-Reset (an ISO 8601 time).
    Bluesky: RateLimit-Remaining and RateLimit-Reset (Unix seconds).
    """
    remaining_text = headers.get("x-ratelimit-remaining") or headers.get("ratelimit-remaining")
    reset_text = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
    try:
        remaining = float(remaining_text) if remaining_text is not None else None
    except ValueError:
        remaining = None
    return remaining, _reset_seconds(reset_text, now)


def _reset_seconds(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    if number > 1_000_000_000:  # a Unix time, not a delta
        return max(0.0, number - now.timestamp())
    return max(0.0, number)


def decode_json(response: httpx.Response) -> Any:
    """The JSON body, or PayloadError naming what came instead."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    body = response.content
    head = body.lstrip()[:1]
    where = f"{response.request.url.host}{response.request.url.path}"
    if kind in ("text/html", "application/xhtml+xml") or head == b"<":
        raise PayloadError(
            f"{where} answered with an HTML page instead of JSON (HTTP {response.status_code})"
        )
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError(f"{where} answered with invalid JSON ({exc.__class__.__name__})") from None
