"""Types shared by every connector and by the store's ingest.

A connector turns one stream's platform API into pages of normalised items. It
never touches the database: the tracker stores each page, together with the cursor
the page carries, in one transaction, so a crash can only repeat work, never skip it.

Paging model, the same on every platform: a run reads newest-first and stops when
it reaches what is already known (the cursor's high-water mark, less an overlap
margin so late-indexed posts are not skipped), when it has paged back `backfill`
items, when the platform has no more pages, or at the run's deadline. Only the
final page carries the advanced cursor: a run that dies half-way leaves the old
cursor, so the next run pages over the same ground again (upserts are idempotent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from connectors._http import HttpClient

KINDS = ("mention", "own")
Cursor = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Item:
    """One collected post in the normalised fields of SPEC §4.

    Engagement figures are None when the platform does not report them (never 0 for
    "unknown"). `date_estimated` marks a created_at that is the moment the item was
    first seen, its source having given no usable date. `sentiment` is set only when
    the source already scored the text
    (an import file); otherwise the store scores it. `raw` is the platform's payload.
    """

    platform: str
    external_id: str
    text: str
    created_at: datetime
    url: str | None = None
    author: str | None = None
    lang: str | None = None
    kind: str = "mention"
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    sentiment: float | None = None
    raw: dict[str, Any] | None = None
    streams: tuple[str, ...] = field(default=())
    date_estimated: bool = False  # created_at is when it was first seen: the source gave no date

    @property
    def engagement(self) -> int:
        """likes + reposts + replies + quotes, unknown figures counted as 0."""
        return sum(v or 0 for v in (self.likes, self.reposts, self.replies, self.quotes))


class MappingError(ValueError):
    """A raw platform object that cannot be turned into an Item (missing or mistyped field)."""


@dataclass(frozen=True)
class StreamSpec:
    """What a connector needs to know of one stream; built by the tracker from its config.

    `selectors` holds the stream's selector and connector-specific keys (hashtag,
    account, query, url, tags, subreddit, user_agent, identifier, auth_url, ...).
    `secrets` holds the values of its `*_env` keys, resolved from the environment
    (token, app_password, client_id, client_secret); they must never be logged.
    """

    name: str
    connector: str
    role: str = "brand"
    base_url: str | None = None
    selectors: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    backfill: int = 200
    refresh_days: int = 14
    overlap: timedelta | None = None  # how far behind the known point a run reads again (None: default)

    @property
    def owned(self) -> bool:
        return self.role == "owned"


TEXT, URL, SECRET = "text", "url", "secret"  # the kinds of a connector's own stream keys
Rules = Callable[[Mapping[str, str]], Iterable[tuple[str, str]]]


def no_rules(values: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    return ()


@dataclass(frozen=True)
class StreamKeys:
    """The keys a connector reads from its [[streams]] tables, beside the keys every stream has.

    Declared by the connector in a light module of its package (the built-ins'
    `connectors/<name>/settings.py`, importing nothing heavy) registered in the
    `tracker.stream_keys` entry points, or else as its class's `stream_keys`: the tracker's
    config checks them and builds the StreamSpec from them.
    `selectors`: what a stream follows; exactly one must be given, and the first names the
    problem when none is. `keys`: each of the connector's own keys (selectors included) with
    its kind: TEXT (a non-empty string, in StreamSpec.selectors), URL (http:// or https://, in
    StreamSpec.selectors) or SECRET (a `*_env` key naming an environment variable; its value
    reaches StreamSpec.secrets under the key without `_env`). `rules` checks the given values
    together (a key that was missing or invalid is absent) and returns (key, message) problems.
    """

    selectors: tuple[str, ...]
    keys: Mapping[str, str]
    rules: Rules = no_rules


@dataclass(frozen=True)
class ContractCase:
    """What the shared connector contract suite (tests/connectors/test_contract.py) needs of a
    connector: the selectors of a stream it can run, and the platform's answer to that stream
    when nothing matches (`empty_body`, sent with `empty_type`).

    Declared in the connector's package (`connectors/<name>/contract.py` for the built-ins) and
    found through the `tracker.connector_contracts` entry points, so the suite runs over every
    registered connector, a third-party one exactly as a built-in. Pure data: nothing heavy is
    imported to read it.
    """

    selectors: Mapping[str, str]
    empty_body: str
    empty_type: str = "application/json"


@dataclass
class Page:
    """One page of a run, stored in one transaction with its cursor.

    `rejected` lists why raw items on the page could not be mapped (they are counted
    and reported, never stored, and the tracker keeps the old cursor so the next run
    reads them again). `poison` lists items rejected for what they are (a time beyond
    year 9999, a date more than a day ahead): counted and reported as rejected too, but
    they never hold the cursor back, since reading them again cannot help. `gap`, on
    the final page, says why the run could not reach everything since the last one (a
    platform's listing cap): the run is then partial and the period a coverage gap.
    `warning` is a line for `status` about a run that went through but may see nothing
    (a server that wants login for what the stream reads). `cursor` is None except on the final page of a run,
    where it is the connector's new opaque state. `final` marks the last page; on it,
    `complete` says the run reached known items (or the beginning of the platform's
    history) so the whole gap since the previous run is covered, and `capped` says
    it stopped at `backfill`.
    """

    items: list[Item] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)
    cursor: Cursor | None = None
    final: bool = False
    complete: bool = False
    capped: bool = False
    requests: int = 1
    gap: str | None = None
    warning: str | None = None


@dataclass(frozen=True)
class AccountStats:
    """Counts of an owned account, recorded each run."""

    account: str
    followers: int | None
    following: int | None = None
    posts: int | None = None


class ConnectorError(Exception):
    """A run of one stream failed; the message says what to do and never holds a secret.

    `status` is the HTTP status when the failure was an HTTP answer, and `code` the
    platform's own error name when it gave one (Bluesky's "ExpiredToken", say), so a
    connector can tell an expired token from a refused one without reading messages.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AuthRequired(ConnectorError):
    """401/403: the platform wants credentials the stream does not have (or rejects them)."""


class NotFound(ConnectorError):
    """404: the account, tag or feed does not exist."""


class PayloadError(ConnectorError):
    """The whole answer is unusable: invalid JSON, an HTML page with status 200, a wrong shape."""


class RateLimited(ConnectorError):
    """429 (or the platform's rate-limit headers) beyond what the run's deadline allows waiting for."""


class Unavailable(ConnectorError):
    """Connect errors, timeouts and 5xx that outlasted the retries."""


@dataclass(frozen=True)
class Known:
    """A stored item the tracker asks its connector to read again (engagement at fixed ages).

    `raw` is the payload stored with it (the platform's local ids live there, e.g. a
    Mastodon status id on the stream's instance); None when it was imported without one.
    """

    external_id: str
    created_at: datetime
    raw: dict[str, Any] | None = None


@dataclass
class Refreshed:
    """One batch of a refresh: fresh readings of known items and the ones the platform lost.

    `items` are the items as the platform shows them now (new figures, edited text);
    `deleted` the external ids it answered for as gone (404, left out of a batch answer,
    or shown as "[deleted]"/"[removed]"). A known item in neither list was not read
    (its batch failed, or the platform cannot tell): the tracker asks again later.
    """

    items: list[Item] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    requests: int = 1


class Connector(Protocol):
    """What every connector provides; registered in the `tracker.connectors` entry points.

    A connector with keys of its own declares them as a StreamKeys in the `tracker.stream_keys`
    entry points (a light module, so loading a config does not import the connector) or as a
    class attribute `stream_keys`; one without either accepts only the keys every stream has.
    """

    platform: ClassVar[str]

    def __init__(self, spec: StreamSpec, http: HttpClient) -> None: ...

    def pages(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Yield the run's pages newest-first; the last one has final=True and the new cursor."""
        ...

    async def account_stats(self) -> AccountStats | None:
        """Follower counts of an owned stream's account; None for streams without one."""
        ...


class Refresher(Protocol):
    """The optional method of a connector that can read known items again in batches.

    A connector without it (RSS: a feed has no way to ask for one entry) is skipped by
    the tracker's refresh. Batches are as large as the platform allows (Bluesky getPosts
    25 uris, Reddit /api/info 100 fullnames, ...); each is yielded as soon as it is read,
    so a run that stops half-way keeps what it read.
    """

    def refresh(self, known: Sequence[Known]) -> AsyncIterator[Refreshed]: ...
