"""`tracker.toml` -> frozen, validated settings.

The whole file is validated at once and every problem is reported on its own line,
naming the key (`streams[2].every: expected a duration like "15m", got "soon"`).
Secrets never live in the file: keys ending in `_env` name an environment variable,
which is read only when the secret is needed (`resolve_secret`), and never printed.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import SECRET, TEXT, URL, StreamKeys
from tracker.errors import ConfigError, UserError
from tracker.store.enums import Role
from tracker.timeutil import parse_duration, parse_instant

if TYPE_CHECKING:
    from tracker.sandbox.episodes import Episode

CONFIG_ENV = "TRACKER_CONFIG"
DEFAULT_CONFIG_NAME = "tracker.toml"

SLUG = re.compile(r"^[a-z0-9-]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
ROLES = tuple(Role)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SECURITY = ("starttls", "ssl", "none")
BUILTIN_CONNECTORS = ("mastodon", "bluesky", "hackernews", "reddit", "rss")

# The keys every stream has. Each connector declares its own (its selectors of SPEC §4 and
# the rest) in a light module of its package (connectors/<name>/settings.py), found through
# the `tracker.stream_keys` entry points: see stream_keys().
GENERIC_STREAM_KEYS = (
    "name", "connector", "base_url", "every", "role", "include", "exclude", "languages",
    "backfill", "run_timeout", "refresh_days", "overlap",
    "refresh_ages", "filter",
)  # fmt: skip
ALERT_KEYS = (
    "name", "streams", "kind", "window", "min_mentions", "threshold", "min_scored", "query", "runs",
    "gap", "to", "webhook", "webhook_secret_env", "format", "cooldown", "quiet_hours", "search",
)  # fmt: skip
ALERT_KINDS = ("spike", "sentiment_drop", "keyword", "collection")

# Every key the code accepts, by section (streams: and each connector's own, see stream_keys());
# tests check each is documented in the example file.
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "organisation": ("name", "timezone"),
    "database": ("url",),
    "collection": ("per_origin", "connect_timeout", "read_timeout", "retries", "backoff", "max_response_mb"),
    "logging": ("level", "file"),
    "digest": ("to", "from", "weekday", "time"),
    "smtp": ("host", "port", "security", "username", "password_env", "timeout"),
    "web": ("host", "port", "session_idle", "session_lifetime", "trusted_proxies", "rate_limit"),
    "maturity": ("model",),
    "experiments": ("engagement_age",),
    "sentiment": ("min_macro_f1", "min_labels", "retrain_after"),
    "sandbox": ("seed", "weeks", "port", "end", "brand", "competitor", "bluesky_login",
                "mastodon_filtered", "bluesky_empty_pages", "bluesky_search_cap", "reddit_listing_cap",
                "login_limits", "mastodon_tag_access", "deleted_share", "late", "episodes"),
    "streams": GENERIC_STREAM_KEYS,
    "alerts": ALERT_KEYS,
}
EPISODE_KEYS = ("kind", "at", "after", "stream", "posts", "span", "keyword")  # [[sandbox.episodes]]
# Keys people write by mistake instead of the `_env` form.
SECRET_KEYS = {"password", "token", "app_password", "client_secret", "client_id", "api_key"}


# Ages at which every stream reads its known posts again (engagement at fixed ages).
DEFAULT_REFRESH_AGES = tuple(timedelta(hours=h) for h in (1, 24, 48, 168))


@dataclass(frozen=True)
class Organisation:
    name: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class StreamConfig:
    """One thing to listen to (`[[streams]]`)."""

    name: str
    connector: str
    every: timedelta
    role: str = Role.BRAND
    base_url: str | None = None
    # The connector's own keys as given (see connectors.base.StreamKeys): text and URL values,
    # and the `*_env` keys with the names of their environment variables.
    selectors: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    filter: str | None = None  # a query of tracker/query.py that collected items must match
    backfill: int = 200
    run_timeout: timedelta = timedelta(minutes=5)
    refresh_days: int = 14
    overlap: timedelta | None = None  # None: the connector's default (2 h Mastodon/Bluesky, else 30 min)
    refresh_ages: tuple[timedelta, ...] = DEFAULT_REFRESH_AGES
    index: int = 0

    @property
    def key(self) -> str:
        """How errors name this stream's keys: `streams[N]`."""
        return f"streams[{self.index}]"


@dataclass(frozen=True)
class CollectionConfig:
    per_origin: int = 4
    connect_timeout: timedelta = timedelta(seconds=10)
    read_timeout: timedelta = timedelta(seconds=30)
    retries: int = 4
    backoff: timedelta = timedelta(seconds=1)
    max_response_mb: int = 20  # a response body larger than this (decompressed) is refused


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    file: Path | None = None


@dataclass(frozen=True)
class DigestConfig:
    to: tuple[str, ...]
    sender: str
    weekday: str = "mon"
    time: time = time(8, 0)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    timeout: timedelta = timedelta(seconds=30)


@dataclass(frozen=True)
class ExperimentsConfig:
    engagement_age: timedelta = timedelta(hours=48)


@dataclass(frozen=True)
class SentimentConfig:
    """When a language's own model is trusted to score (tracker/labels.py)."""

    min_macro_f1: float = 0.60  # cross-validated macro-F1 a model must reach
    min_labels: int = 300  # labelled mentions (positive/neutral/negative) a model needs
    retrain_after: int = 50  # `tracker run` retrains a language after this many new labels


class SandboxSwitches(TypedDict):
    """The sandbox's quirk switches, as keyword arguments of tracker.sandbox.server.serve / SandboxServer."""

    mastodon_filtered: float
    bluesky_empty_pages: int
    bluesky_search_cap: int
    reddit_listing_cap: int | None
    login_limits: bool
    mastodon_tag_access: str
    deleted_share: float


@dataclass(frozen=True)
class SandboxConfig:
    """The simulated world a demo workspace was built on (`tracker sandbox serve` serves it again).

    Its defaults are the sandbox's everywhere (`[sandbox]`, `tracker demo`, `tracker sandbox
    serve`, `python -m tracker.sandbox`): SANDBOX_DEFAULTS is the one place they are set."""

    seed: int = 42
    weeks: int = 12
    port: int = 0
    end: datetime | None = None
    brand: str = "Acme"
    competitor: str = "Globex"
    bluesky_login: bool = True
    # The real platforms' quirks (issue 15), each off by default; see tracker.sandbox.server.SandboxServer.
    mastodon_filtered: float = 0.0  # share of statuses a server-side filter drops from a page
    bluesky_empty_pages: int = 0  # empty pages (with a cursor) before every second search page
    bluesky_search_cap: int = 10_000  # posts searchPosts serves of one query
    reddit_listing_cap: int | None = None  # posts a Reddit listing serves at most (None: no cap)
    login_limits: bool = False  # createSession limited as on Bluesky (30 per 5 minutes, 300 a day)
    mastodon_tag_access: str = "public"  # "authenticated": tag timelines empty without a token
    deleted_share: float = 0.0  # share of posts their authors delete after a while
    late: timedelta | None = None  # the longest lag of late posts (None: 20 minutes)
    # alert episodes injected on a schedule (tracker/sandbox/episodes.py); any makes the clock live
    episodes: tuple[Episode, ...] = ()

    def switches(self) -> SandboxSwitches:
        """The quirks as keyword arguments of tracker.sandbox.server.serve / SandboxServer."""
        return {
            "mastodon_filtered": self.mastodon_filtered,
            "bluesky_empty_pages": self.bluesky_empty_pages,
            "bluesky_search_cap": self.bluesky_search_cap,
            "reddit_listing_cap": self.reddit_listing_cap,
            "login_limits": self.login_limits,
            "mastodon_tag_access": self.mastodon_tag_access,
            "deleted_share": self.deleted_share,
        }


SANDBOX_DEFAULTS = SandboxConfig()


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    session_idle: timedelta = timedelta(hours=12)
    session_lifetime: timedelta = timedelta(days=7)
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks whose X-Forwarded-For is believed
    rate_limit: tuple[int, int] = (600, 60)  # API calls per token or session, per that many seconds


@dataclass(frozen=True)
class AlertConfig:
    """One alert (`[[alerts]]`): a condition on some streams and where to say it holds."""

    name: str
    kind: str
    streams: tuple[str, ...]  # stream names, roles already resolved
    window: timedelta
    min_mentions: int = 10
    threshold: float = 5.0
    min_scored: int = 10
    query: str | None = None
    runs: int = 3
    search: str | None = None  # a saved search's name: only the mentions matching it count
    gap: timedelta = timedelta(hours=2)
    to: tuple[str, ...] = ()
    webhook: str | None = None
    webhook_secret_env: str | None = None
    format: str = "json"
    cooldown: timedelta = timedelta(hours=6)
    quiet_hours: tuple[time, time] | None = None
    index: int = 0


ALERT_WINDOWS = {"spike": timedelta(hours=1), "sentiment_drop": timedelta(hours=6),
                 "keyword": timedelta(hours=1), "collection": timedelta(hours=1)}  # fmt: skip
ALERT_THRESHOLDS = {"spike": 5.0, "sentiment_drop": 0.2, "keyword": 0.0, "collection": 0.0}


@dataclass(frozen=True)
class Settings:
    """The validated configuration; passed down explicitly, never read at import time."""

    path: Path
    organisation: Organisation
    database_url: str
    streams: tuple[StreamConfig, ...] = ()
    collection: CollectionConfig = field(default_factory=CollectionConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    digest: DigestConfig | None = None
    smtp: SmtpConfig | None = None
    web: WebConfig = field(default_factory=WebConfig)
    maturity_model: Path | None = None
    experiments: ExperimentsConfig = field(default_factory=ExperimentsConfig)
    sandbox: SandboxConfig | None = None
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    alerts: tuple[AlertConfig, ...] = ()

    @property
    def directory(self) -> Path:
        return self.path.parent

    def stream(self, name: str) -> StreamConfig | None:
        return next((s for s in self.streams if s.name == name), None)


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """`--config PATH`, else `$TRACKER_CONFIG`, else `./tracker.toml`."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path.cwd() / DEFAULT_CONFIG_NAME


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Find, read and validate the configuration; raise ConfigError/UserError when it is not usable."""
    path = find_config(explicit)
    if not path.exists():
        how = "--config" if explicit else (CONFIG_ENV if os.environ.get(CONFIG_ENV) else "./")
        raise UserError(
            f"no configuration at {path} (looked via {how}): "
            "run `tracker init` to write one, or pass --config PATH"
        )
    fix = "point --config at your tracker.toml, or write one with `tracker init`"
    raw = read_toml(path, "configuration", fix)
    try:
        return parse_settings(raw, path.resolve())
    except RecursionError:
        raise UserError(f"configuration {path} nests arrays or tables too deeply to be read: {fix}") from None


def read_toml(path: Path, what: str, fix: str) -> dict[str, Any]:
    """A TOML file's tables; every way it can be unreadable is one line naming the file and `fix`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not a text file (not UTF-8): {fix}") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}: {fix}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path.name}: not valid TOML: {exc}"], str(path)) from None
    except RecursionError:
        raise UserError(f"{what} {path} nests arrays or tables too deeply to be read: {fix}") from None


def parse_settings(raw: Mapping[str, Any], path: Path) -> Settings:
    """Validate a parsed TOML document as a whole; raise ConfigError listing every problem."""
    v = _Validator()
    v.unknown_keys(raw, SECTION_KEYS.keys(), "")
    org = v.section(raw, "organisation")
    db = v.section(raw, "database")
    settings = Settings(
        path=path,
        organisation=Organisation(
            name=v.string(org, "organisation.name", required=True) or "",
            timezone=v.timezone(org, "organisation.timezone") or "UTC",
        ),
        database_url=_database_url(v.database_url(db), path.parent),
        streams=v.streams(raw.get("streams", [])),
        collection=v.collection(v.section(raw, "collection")),
        logging=v.logging(v.section(raw, "logging"), path.parent),
        digest=v.digest(raw),
        smtp=v.smtp(raw),
        web=v.web(v.section(raw, "web")),
        maturity_model=v.maturity(v.section(raw, "maturity"), path.parent),
        sandbox=v.sandbox(raw),
        experiments=ExperimentsConfig(
            engagement_age=v.duration(
                v.section(raw, "experiments"), "experiments.engagement_age", timedelta(hours=48)
            ),
        ),
        sentiment=v.sentiment(v.section(raw, "sentiment")),
    )
    settings = replace(settings, alerts=v.alerts(raw.get("alerts", []), settings))
    if v.problems:
        raise ConfigError(v.problems, str(path))
    return settings


def resolve_secret(env_name: str | None, key: str) -> str | None:
    """Read a secret from the environment variable named by a `*_env` key.

    The error names the key and the variable, never a value.
    """
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise UserError(f"{key}: environment variable {env_name} is not set (it holds the secret)")
    return value


def _database_url(url: str | None, base: Path) -> str:
    """Relative SQLite paths are relative to the config file's folder."""
    if not url:
        return f"sqlite:///{base / 'tracker.db'}"
    prefix = "sqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("/"):
            return prefix + str(base / rest)
    return url


class _Validator:
    """Collects every problem instead of stopping at the first one."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    @cached_property
    def known_connectors(self) -> frozenset[str]:
        """Read once per config: each read scans every installed distribution's entry points."""
        return known_connectors()

    # -- generic shapes --------------------------------------------------------------------

    def section(self, raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            self.add(name, "expected a table ([" + name + "])")
            return {}
        self.unknown_keys(value, SECTION_KEYS[name], name + ".")
        return value

    def unknown_keys(self, table: Mapping[str, Any], known: Any, prefix: str) -> None:
        known = tuple(known)
        for key in table:
            if key in known:
                continue
            if key in SECRET_KEYS:
                self.add(
                    prefix + key,
                    f"secrets are not written in the file; put it in an environment variable "
                    f"and name that variable with {key}_env",
                )
                continue
            near = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            what = "key" if prefix else "section"
            self.add(prefix + key, f"unknown {what}{hint}")

    def string(self, table: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
        value = table.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                self.add(key, "required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(key, f"expected a non-empty string, got {value!r}")
            return None
        return value

    def integer(self, table: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.add(key, f"expected a whole number from {lo} to {hi}, got {value!r}")
            return default
        return value

    def duration(self, table: Mapping[str, Any], key: str, default: timedelta) -> timedelta:
        value = table.get(key.rsplit(".", 1)[-1])
        if value is None:
            return default
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return parse_duration(value)
        except ValueError:
            self.add(key, f'expected a duration like "15m" (s, m, h, d), got {value!r}')
            return default

    def choice(self, table: Mapping[str, Any], key: str, options: tuple[str, ...], default: str) -> str:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if value not in options:
            self.add(key, f"expected one of {', '.join(options)}, got {value!r}")
            return default
        return str(value)

    def strings(
        self, table: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None = None
    ) -> tuple[str, ...]:
        value = table.get(key.rsplit(".", 1)[-1], [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
            self.add(key, f"expected a list of non-empty strings, got {value!r}")
            return ()
        for item in value:
            if pattern and not pattern.match(item):
                self.add(key, f"{item!r} is not valid here")
        return tuple(value)

    def query(self, table: Mapping[str, Any], key: str) -> str | None:
        """A query of the query language, checked now so a typo is reported with its position."""
        from tracker.query import QueryError, parse

        value = self.string(table, key)
        if value is None:
            return None
        try:
            parse(value)
        except QueryError as exc:
            self.add(key, str(exc))
            return None
        return value

    def env_name(self, table: Mapping[str, Any], key: str) -> str | None:
        name = self.string(table, key)
        if name is not None and not ENV_NAME.match(name):
            self.add(key, f"expected the name of an environment variable (like MY_TOKEN), got {name!r}")
            return None
        return name

    def url(self, table: Mapping[str, Any], key: str) -> str | None:
        value = self.string(table, key)
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            self.add(key, f"expected an http:// or https:// URL, got {value!r}")
            return None
        if value is not None and _has_userinfo(value):
            where = ("webhook_secret_env (its HMAC signature is how a receiver checks the sender)"
                     if key.endswith(".webhook") else
                     "the connector's token_env, app_password_env or client_secret_env key")  # fmt: skip
            self.add(key, "credentials do not belong in a URL (they would reach logs and errors): "
                          f"remove `user:password@` and name an environment variable in {where}")  # fmt: skip
            return None
        return value.rstrip("/") if value and key.endswith(("base_url", "auth_url")) else value

    def database_url(self, table: Mapping[str, Any]) -> str | None:
        url = self.string(table, "database.url")
        if url is not None and not url.startswith("sqlite") and _has_password(url):
            self.add(
                "database.url",
                "a password does not belong in the URL (it would reach logs and errors): remove it and "
                "set the environment variable PGPASSWORD (or use ~/.pgpass), as secrets elsewhere are "
                "named by *_env keys, never written here",
            )
            return None
        return url

    def timezone(self, table: Mapping[str, Any], key: str) -> str | None:
        name = self.string(table, key)
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.add(key, f'unknown time zone {name!r} (use an IANA name like "Europe/Vienna")')
            return None
        return name

    # -- sections --------------------------------------------------------------------------

    def streams(self, raw: Any) -> tuple[StreamConfig, ...]:
        if not isinstance(raw, list):
            self.add("streams", "expected [[streams]] tables")
            return ()
        streams: list[StreamConfig] = []
        seen: set[str] = set()
        for index, table in enumerate(raw):
            stream = self.stream(index, table)
            if stream is None:
                continue
            if stream.name in seen:
                self.add(f"streams[{index}].name", f"{stream.name!r} is used by another stream")
            seen.add(stream.name)
            streams.append(stream)
        return tuple(streams)

    def stream(self, index: int, table: Any) -> StreamConfig | None:
        k = f"streams[{index}]"
        if not isinstance(table, dict):
            self.add(k, "expected a table")
            return None
        own = stream_keys()
        self.unknown_keys(table, GENERIC_STREAM_KEYS + tuple(own), k + ".")
        name = self.string(table, f"{k}.name", required=True)
        if name is not None and not SLUG.match(name):
            self.add(f"{k}.name", f"expected a slug of a-z, 0-9 and '-', got {name!r}")
        connector = self.connector(table, k)
        text = {key: self.string(table, f"{k}.{key}") for key, kind in own.items() if kind == TEXT}
        envs = {key: self.env_name(table, f"{k}.{key}") for key, kind in own.items() if kind == SECRET}
        stream = StreamConfig(
            name=name or f"stream-{index}",
            connector=connector or "",
            every=self.duration(table, f"{k}.every", timedelta(minutes=15)),
            role=self.choice(table, f"{k}.role", ROLES, Role.BRAND),
            base_url=self.url(table, f"{k}.base_url"),
            selectors=_given(own, {**text, **self.urls(table, k, own)}),  # URLs checked here, in key order
            secrets=_given(own, envs),
            include=self.strings(table, f"{k}.include"),
            exclude=self.strings(table, f"{k}.exclude"),
            languages=self.strings(table, f"{k}.languages", LANG),
            filter=self.query(table, f"{k}.filter"),
            backfill=self.integer(table, f"{k}.backfill", 200, 1, 1_000_000),
            run_timeout=self.duration(table, f"{k}.run_timeout", timedelta(minutes=5)),
            refresh_days=self.integer(table, f"{k}.refresh_days", 14, 0, 365),
            overlap=self.duration(table, f"{k}.overlap", timedelta(0)) if "overlap" in table else None,
            refresh_ages=self.ages(table, f"{k}.refresh_ages"),
            index=index,
        )
        if "every" not in table:
            self.add(f"{k}.every", 'required: a collection interval like "15m"')
        elif stream.every < timedelta(seconds=10):
            self.add(f"{k}.every", "must be at least 10s")
        declared = connector_keys().get(connector or "")
        if declared is not None:
            self.connector_rules(table, stream, declared, own)
        return stream

    def urls(self, table: Mapping[str, Any], k: str, own: Mapping[str, str]) -> dict[str, str | None]:
        return {key: self.url(table, f"{k}.{key}") for key, kind in own.items() if kind == URL}

    def ages(self, table: Mapping[str, Any], key: str) -> tuple[timedelta, ...]:
        """refresh_ages: durations after posting, each under a year; [] turns the refresh off."""
        value = table.get(key.rsplit(".", 1)[-1])
        if value is None:
            return DEFAULT_REFRESH_AGES
        ages: list[timedelta] = []
        for item in value if isinstance(value, list) else [None]:
            try:
                if not isinstance(item, str):
                    raise ValueError(item)
                age = parse_duration(item)
            except ValueError:
                self.add(key, f'expected a list of ages like ["1h", "24h", "48h", "7d"], got {value!r}')
                return DEFAULT_REFRESH_AGES
            if age > timedelta(days=365):
                self.add(key, f"{item!r} is more than a year: posts are read again at most a year on")
                return DEFAULT_REFRESH_AGES
            ages.append(age)
        return tuple(sorted(set(ages)))

    def connector(self, table: Mapping[str, Any], k: str) -> str | None:
        name = self.string(table, f"{k}.connector", required=True)
        if name is None:
            return None
        known = self.known_connectors
        if name not in known:
            self.add(f"{k}.connector", f"unknown connector {name!r} (known: {', '.join(sorted(known))})")
            return None
        return name

    def connector_rules(
        self, table: Mapping[str, Any], s: StreamConfig, declared: StreamKeys, own: Mapping[str, str]
    ) -> None:
        """The connector's own checks: one selector, no other connector's keys, its rules."""
        k, c, selectors = s.key, s.connector, declared.selectors
        given = [sel for sel in selectors if table.get(sel) is not None]
        if len(given) != 1:
            options = " or ".join(selectors)
            self.add(f"{k}.{selectors[0]}", f"the {c} connector needs exactly one of {options}")
        allowed = set(GENERIC_STREAM_KEYS) | set(selectors) | set(declared.keys)
        for key in table:
            if key in own and key not in allowed:
                self.add(f"{k}.{key}", f"not used by the {c} connector")
        for key, message in declared.rules({**dict(s.selectors), **dict(s.secrets)}):
            self.add(f"{k}.{key}", message)

    def collection(self, t: Mapping[str, Any]) -> CollectionConfig:
        return CollectionConfig(
            per_origin=self.integer(t, "collection.per_origin", 4, 1, 64),
            connect_timeout=self.duration(t, "collection.connect_timeout", timedelta(seconds=10)),
            read_timeout=self.duration(t, "collection.read_timeout", timedelta(seconds=30)),
            retries=self.integer(t, "collection.retries", 4, 0, 10),
            backoff=self.duration(t, "collection.backoff", timedelta(seconds=1)),
            max_response_mb=self.integer(t, "collection.max_response_mb", 20, 1, 10_000),
        )

    def logging(self, t: Mapping[str, Any], base: Path) -> LoggingConfig:
        file = self.string(t, "logging.file")
        return LoggingConfig(
            level=self.choice(t, "logging.level", ("debug", "info", "warning", "error"), "info"),
            file=(base / file) if file else None,
        )

    def digest(self, raw: Mapping[str, Any]) -> DigestConfig | None:
        if "digest" not in raw:
            return None
        t = self.section(raw, "digest")
        to = self.strings(t, "digest.to", EMAIL)
        if not to:
            self.add("digest.to", "required: at least one recipient address")
        sender = self.string(t, "digest.from", required=True)
        if sender and not EMAIL.match(sender):
            self.add("digest.from", f"expected an email address, got {sender!r}")
        return DigestConfig(
            to=to,
            sender=sender or "",
            weekday=self.choice(t, "digest.weekday", WEEKDAYS, "mon"),
            time=self.clock(t, "digest.time"),
        )

    def clock(self, t: Mapping[str, Any], key: str) -> time:
        value = t.get("time", "08:00")
        match = re.match(r"^(\d{1,2}):(\d{2})$", value) if isinstance(value, str) else None
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            self.add(key, f'expected a time of day like "08:00", got {value!r}')
            return time(8, 0)
        return time(int(match[1]), int(match[2]))

    def smtp(self, raw: Mapping[str, Any]) -> SmtpConfig | None:
        if "smtp" not in raw:
            return None
        t = self.section(raw, "smtp")
        config = SmtpConfig(
            host=self.string(t, "smtp.host", required=True) or "",
            port=self.integer(t, "smtp.port", 587, 1, 65535),
            security=self.choice(t, "smtp.security", SECURITY, "starttls"),
            username=self.string(t, "smtp.username"),
            password_env=self.env_name(t, "smtp.password_env"),
            timeout=self.duration(t, "smtp.timeout", timedelta(seconds=30)),
        )
        if config.username and not config.password_env:
            self.add("smtp.password_env", "a username needs a password: name its variable here")
        return config

    def instant(self, value: Any, key: str, example: str) -> datetime | None:
        """A TOML datetime (naive: UTC) or an ISO 8601 string with offset, as aware UTC."""
        try:
            if isinstance(value, datetime):
                return value if value.tzinfo else value.replace(tzinfo=UTC)
            return parse_instant(str(value))
        except ValueError:
            self.add(key, f"expected a timestamp with offset like {example}, got {value!r}")
            return None

    def sandbox(self, raw: Mapping[str, Any]) -> SandboxConfig | None:
        if "sandbox" not in raw:
            return None
        t = self.section(raw, "sandbox")
        end = t.get("end")
        moment = None if end is None else self.instant(end, "sandbox.end", "2026-11-27T00:00:00+01:00")
        flags = {}
        for name, default in (("bluesky_login", True), ("login_limits", False)):
            flags[name] = t.get(name, default)
            if not isinstance(flags[name], bool):
                self.add(f"sandbox.{name}", f"expected true or false, got {flags[name]!r}")
                flags[name] = default
        shares = {}
        for name in ("mastodon_filtered", "deleted_share"):
            value = t.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                self.add(f"sandbox.{name}", f"expected a share from 0 to 1 (for example 0.1), got {value!r}")
                value = 0.0
            shares[name] = float(value)
        cap = None
        if "reddit_listing_cap" in t:
            cap = self.integer(t, "sandbox.reddit_listing_cap", 1000, 1, 10**9)
        late = self.duration(t, "sandbox.late", timedelta(-1)) if "late" in t else None
        if late == timedelta(-1):  # not a duration: said above
            late = None
        elif late is not None and not timedelta(0) < late <= timedelta(days=7):
            self.add("sandbox.late", f'expected a duration from 1s to 7d like "3h", got {t["late"]!r}')
            late = None
        return SandboxConfig(
            episodes=self.episodes(t.get("episodes", [])),
            seed=self.integer(t, "sandbox.seed", SANDBOX_DEFAULTS.seed, 0, 2**31),
            weeks=self.integer(t, "sandbox.weeks", SANDBOX_DEFAULTS.weeks, 1, 104),
            port=self.integer(t, "sandbox.port", SANDBOX_DEFAULTS.port, 0, 65535),
            end=moment,
            brand=self.string(t, "sandbox.brand") or SANDBOX_DEFAULTS.brand,
            competitor=self.string(t, "sandbox.competitor") or SANDBOX_DEFAULTS.competitor,
            bluesky_login=flags["bluesky_login"],
            mastodon_filtered=shares["mastodon_filtered"],
            bluesky_empty_pages=self.integer(t, "sandbox.bluesky_empty_pages", 0, 0, 100),
            bluesky_search_cap=self.integer(t, "sandbox.bluesky_search_cap", 10_000, 1, 10**9),
            reddit_listing_cap=cap,
            login_limits=flags["login_limits"],
            mastodon_tag_access=self.choice(
                t, "sandbox.mastodon_tag_access", ("public", "authenticated"), "public"
            ),
            deleted_share=shares["deleted_share"],
            late=late,
        )

    def episodes(self, raw: Any) -> tuple[Episode, ...]:
        """`[[sandbox.episodes]]`: kind, at (a timestamp) or after (a duration after the server
        starts), and optionally stream, posts, span and keyword."""
        if raw == []:  # none: loading a config never imports the sandbox server (the demo's has [sandbox])
            return ()
        from tracker.sandbox.episodes import KINDS, Episode

        if not isinstance(raw, list):
            self.add("sandbox.episodes", "expected [[sandbox.episodes]] tables")
            return ()
        found = []
        for index, t in enumerate(raw):
            k = f"sandbox.episodes[{index}]"
            if not isinstance(t, dict):
                self.add(k, "expected a table like {kind = \"spike\", after = \"2m\"}")
                continue
            self.unknown_keys(t, EPISODE_KEYS, k + ".")
            if "kind" not in t:
                self.add(f"{k}.kind", f"required: one of {', '.join(KINDS)}")
            kind = self.choice(t, f"{k}.kind", KINDS, "spike")
            at, after = None, None
            if ("at" in t) == ("after" in t):
                self.add(k, 'give its start as at (a timestamp) or after (like "2m" after the server starts)')
            elif "at" in t:
                at = self.instant(t["at"], f"{k}.at", "2026-12-02T10:00:00Z")
            else:
                after = self.duration(t, f"{k}.after", timedelta(minutes=1))
            stream = self.string(t, f"{k}.stream") or None
            if stream is not None and not SLUG.match(stream):
                self.add(f"{k}.stream", f"expected a sandbox stream name like acme-bluesky, got {stream!r}")
            keyword = self.string(t, f"{k}.keyword") or "outage"
            if "keyword" in t and kind != "keyword":
                self.add(f"{k}.keyword", f"only keyword episodes name a keyword (this one is {kind})")
            found.append(Episode(
                kind, at=at, after=after, stream=stream,
                posts=self.integer(t, f"{k}.posts", 1, 1, 10_000) if "posts" in t else None,
                span=self.duration(t, f"{k}.span", timedelta(minutes=10)) if "span" in t else None,
                keyword=keyword,
            ))  # fmt: skip
        return tuple(found)

    def sentiment(self, t: Mapping[str, Any]) -> SentimentConfig:
        floor = t.get("min_macro_f1", 0.60)
        if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0 <= floor <= 1:
            self.add("sentiment.min_macro_f1", "must be a number from 0 to 1 (for example 0.60)")
            floor = 0.60
        return SentimentConfig(
            min_macro_f1=float(floor),
            min_labels=self.integer(t, "sentiment.min_labels", 300, 10, 1_000_000),
            retrain_after=self.integer(t, "sentiment.retrain_after", 50, 1, 1_000_000),
        )

    def web(self, t: Mapping[str, Any]) -> WebConfig:
        proxies = self.strings(t, "web.trusted_proxies")
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError:
                self.add(
                    "web.trusted_proxies", f"expected IP addresses or networks like 10.0.0.0/8, got {proxy!r}"
                )
        return WebConfig(
            host=self.string(t, "web.host") or "127.0.0.1",
            port=self.integer(t, "web.port", 8000, 1, 65535),
            session_idle=self.duration(t, "web.session_idle", timedelta(hours=12)),
            session_lifetime=self.duration(t, "web.session_lifetime", timedelta(days=7)),
            trusted_proxies=tuple(p.strip() for p in proxies),
            rate_limit=self.rate(t, "web.rate_limit", (600, 60)),
        )

    def rate(self, t: Mapping[str, Any], key: str, default: tuple[int, int]) -> tuple[int, int]:
        value = t.get(key.rsplit(".", 1)[-1])
        if value is None:
            return default
        match = re.match(r"^\s*(\d{1,7})\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$", str(value))
        if not isinstance(value, str) or not match or int(match[1]) < 1:
            self.add(key, f'expected a rate like "600/min" (per sec, min or hour), got {value!r}')
            return default
        return int(match[1]), {"s": 1, "m": 60, "h": 3600}[match[2][0]]

    def maturity(self, t: Mapping[str, Any], base: Path) -> Path | None:
        model = self.string(t, "maturity.model")
        if model is None:
            return None
        path = base / model
        if not path.is_file():
            self.add("maturity.model", f"no file at {path}")
        return path


    def alerts(self, raw: Any, settings: Settings) -> tuple[AlertConfig, ...]:
        if not isinstance(raw, list):
            self.add("alerts", "expected [[alerts]] tables")
            return ()
        found: list[AlertConfig] = []
        for index, table in enumerate(raw):
            k = f"alerts[{index}]"
            if not isinstance(table, dict):
                self.add(k, "expected a table")
                continue
            alert = self.alert(k, index, table, settings)
            if any(a.name == alert.name for a in found):
                self.add(f"{k}.name", f"{alert.name!r} is used by another alert")
            found.append(alert)
        return tuple(found)

    def alert(self, k: str, index: int, t: Mapping[str, Any], settings: Settings) -> AlertConfig:
        self.unknown_keys(t, ALERT_KEYS, k + ".")
        name = self.string(t, f"{k}.name", required=True) or f"alert-{index}"
        if "name" in t and not SLUG.match(name):
            self.add(f"{k}.name", f"expected a slug of a-z, 0-9 and '-', got {name!r}")
        if "kind" not in t:
            self.add(f"{k}.kind", f"required: one of {', '.join(ALERT_KINDS)}")
        kind = self.choice(t, f"{k}.kind", ALERT_KINDS, "spike")
        threshold = t.get("threshold", ALERT_THRESHOLDS[kind])
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
            self.add(f"{k}.threshold", f"expected a number of 0 or more, got {threshold!r}")
            threshold = ALERT_THRESHOLDS[kind]
        to = self.strings(t, f"{k}.to", EMAIL)
        webhook = self.url(t, f"{k}.webhook")
        if not to and not webhook and "to" not in t and "webhook" not in t:  # a bad value is said above
            self.add(f"{k}.to", "an alert needs somewhere to go: email addresses in to, a webhook, or both")
        if to and (settings.digest is None or settings.smtp is None):
            self.add(f"{k}.to", "emails are sent from [digest] from over [smtp]: add both sections")
        secret = self.env_name(t, f"{k}.webhook_secret_env")
        if secret and not webhook:
            self.add(f"{k}.webhook_secret_env", "signs webhook requests: set webhook too")
        query = self.query(t, f"{k}.query")
        search = self.string(t, f"{k}.search")
        if search is not None and kind == "collection":
            self.add(f"{k}.search", "a collection alert watches streams, not mentions: drop search")
        if kind == "keyword" and query is None and "query" not in t and search is None:
            self.add(
                f"{k}.query",
                "required for a keyword alert (or search, a saved search), "
                'like \'outage OR breach OR "data leak"\'',
            )
        elif kind != "keyword" and "query" in t:
            self.add(f"{k}.query", f"only keyword alerts have a query (this one is {kind})")
        window = self.duration(t, f"{k}.window", ALERT_WINDOWS[kind])
        if not timedelta(minutes=5) <= window <= timedelta(days=7):
            self.add(f"{k}.window", "expected from 5m to 7d")
            window = ALERT_WINDOWS[kind]
        return AlertConfig(
            name=name,
            kind=kind,
            streams=self.alert_streams(t, f"{k}.streams", settings),
            window=window,
            min_mentions=self.integer(t, f"{k}.min_mentions", 10, 1, 1_000_000),
            threshold=float(threshold),
            min_scored=self.integer(t, f"{k}.min_scored", 10, 2, 1_000_000),
            query=query,
            runs=self.integer(t, f"{k}.runs", 3, 1, 1000),
            search=" ".join(search.split()) if search else None,
            gap=self.duration(t, f"{k}.gap", timedelta(hours=2)),
            to=to,
            webhook=webhook,
            webhook_secret_env=secret,
            format=self.choice(t, f"{k}.format", ("json", "slack"), "json"),
            cooldown=self.duration(t, f"{k}.cooldown", timedelta(hours=6)),
            quiet_hours=self.quiet_hours(t, f"{k}.quiet_hours"),
            index=index,
        )

    def alert_streams(self, t: Mapping[str, Any], key: str, settings: Settings) -> tuple[str, ...]:
        """Stream names and roles, resolved to names; default every brand and owned stream."""
        given = self.strings(t, key) if "streams" in t else (Role.BRAND, Role.OWNED)
        names: list[str] = []
        known = [s.name for s in settings.streams]
        for item in given:
            if item in ROLES:
                having = [s.name for s in settings.streams if s.role == item]
                if not having and "streams" in t:
                    self.add(key, f"{item!r}: no configured stream has the role {item}")
                names += having
            elif item in known:
                names.append(item)
            else:
                near = difflib.get_close_matches(item, known + list(ROLES), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                roles = ", ".join(ROLES)
                self.add(key, f"{item!r} is neither a configured stream nor a role ({roles}){hint}")
        if not names and "streams" not in t and settings.streams:
            self.add(key, "watches no stream: no stream has the role brand or owned, so name the streams "
                          "(or roles) it watches")  # fmt: skip
        return tuple(dict.fromkeys(names))

    def quiet_hours(self, t: Mapping[str, Any], key: str) -> tuple[time, time] | None:
        value = t.get("quiet_hours")
        if value is None:
            return None
        span = r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$"
        match = re.match(span, value) if isinstance(value, str) else None
        if not match or int(match[1]) > 23 or int(match[3]) > 23 or int(match[2]) > 59 or int(match[4]) > 59:
            self.add(key, f'expected a span of the day like "22:00-07:00", got {value!r}')
            return None
        start, end = time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
        if start == end:
            self.add(key, "start and end are the same: leave quiet_hours out to send at any time")
            return None
        return start, end


def _has_userinfo(url: str) -> bool:
    """True when an http(s) URL carries `user@` or `user:password@` before its host."""
    authority = re.split(r"[/?#]", url.split("://", 1)[-1], maxsplit=1)[0]
    return "@" in authority


def _has_password(url: str) -> bool:
    authority = re.split(r"[/?#]", url.split("://", 1)[-1], maxsplit=1)[0]
    return "@" in authority and ":" in authority.rsplit("@", 1)[0]


def _given(own: Mapping[str, str], values: Mapping[str, str | None]) -> tuple[tuple[str, str], ...]:
    """The keys that were given (and valid), in the order the connectors declare them."""
    return tuple((key, value) for key in own if (value := values.get(key)) is not None)


def connector_keys() -> dict[str, StreamKeys]:
    """Each registered connector's own stream keys, read from its light settings module
    (`tracker.stream_keys` entry points) without importing the connector: tracker/registry.py."""
    from tracker.registry import stream_keys

    return stream_keys()


def stream_keys() -> dict[str, str]:
    """Every key a [[streams]] table may hold beside GENERIC_STREAM_KEYS, with its kind (text, url,
    secret), over all registered connectors, selectors first (problems are reported in this order);
    a key several connectors declare has the first one's kind."""
    kinds: dict[str, str] = {}
    declared = list(connector_keys().values())
    for keys in declared:
        kinds.update({key: keys.keys[key] for key in keys.selectors if key not in kinds})
    for keys in declared:
        kinds.update({key: kind for key, kind in keys.keys.items() if key not in kinds})
    return kinds


def known_connectors() -> frozenset[str]:
    """Built-in connector names plus those registered in the `tracker.connectors` entry points."""
    from tracker.registry import GROUP, registered

    return frozenset(BUILTIN_CONNECTORS) | {ep.name for ep in registered(GROUP)}
