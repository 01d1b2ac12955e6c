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
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.errors import ConfigError, UserError
from tracker.store.enums import Role
from tracker.timeutil import parse_duration, parse_instant

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

# Per built-in connector: the selectors of SPEC §4 (exactly one must be given) and the
# other connector-specific keys it accepts. Generic stream keys are accepted everywhere.
SELECTORS: dict[str, tuple[str, ...]] = {
    "mastodon": ("hashtag", "account", "query"),
    "bluesky": ("query", "account"),
    "hackernews": ("query",),
    "reddit": ("query",),
    "rss": ("url",),
}
CONNECTOR_KEYS: dict[str, tuple[str, ...]] = {
    "mastodon": ("token_env",),
    "bluesky": ("identifier", "app_password_env", "auth_url"),
    "hackernews": ("tags",),
    "reddit": ("subreddit", "user_agent", "client_id_env", "client_secret_env", "auth_url", "username",
               "password_env"),
    "rss": (),
}
GENERIC_STREAM_KEYS = (
    "name", "connector", "base_url", "every", "role", "include", "exclude", "languages",
    "backfill", "run_timeout", "refresh_days", "overlap",
    "refresh_ages", "filter",
)  # fmt: skip
ALL_SELECTORS = ("hashtag", "account", "query", "url")
ALL_CONNECTOR_KEYS = tuple(sorted({k for keys in CONNECTOR_KEYS.values() for k in keys}))
STREAM_KEYS = GENERIC_STREAM_KEYS + ALL_SELECTORS + ALL_CONNECTOR_KEYS
ALERT_KEYS = (
    "name", "streams", "kind", "window", "min_mentions", "threshold", "min_scored", "query", "runs",
    "gap", "to", "webhook", "webhook_secret_env", "format", "cooldown", "quiet_hours", "search",
)  # fmt: skip
ALERT_KINDS = ("spike", "sentiment_drop", "keyword", "collection")

# Every key the code accepts, by section; tests check each is documented in the example file.
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
                "login_limits", "mastodon_tag_access", "deleted_share", "late"),
    "streams": STREAM_KEYS,
    "alerts": ALERT_KEYS,
}
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
    hashtag: str | None = None
    account: str | None = None
    query: str | None = None
    url: str | None = None
    tags: str | None = None
    subreddit: str | None = None
    user_agent: str | None = None
    token_env: str | None = None
    identifier: str | None = None
    app_password_env: str | None = None
    auth_url: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    username: str | None = None  # reddit script app: the account whose password grant is used
    password_env: str | None = None
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

    def switches(self) -> dict[str, Any]:
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
            self.add(key, "credentials do not belong in a URL (they would reach logs and errors): "
                          "remove `user:password@` and name an environment variable with the "
                          "connector's token_env, app_password_env or client_secret_env key")  # fmt: skip
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
        self.unknown_keys(table, STREAM_KEYS, k + ".")
        name = self.string(table, f"{k}.name", required=True)
        if name is not None and not SLUG.match(name):
            self.add(f"{k}.name", f"expected a slug of a-z, 0-9 and '-', got {name!r}")
        connector = self.connector(table, k)
        text_keys = (
            "hashtag", "account", "query", "tags", "subreddit", "user_agent", "identifier", "username",
        )  # fmt: skip
        env_keys = ("token_env", "app_password_env", "client_id_env", "client_secret_env", "password_env")
        text = {key: self.string(table, f"{k}.{key}") for key in text_keys}
        envs = {key: self.env_name(table, f"{k}.{key}") for key in env_keys}
        stream = StreamConfig(
            name=name or f"stream-{index}",
            connector=connector or "",
            every=self.duration(table, f"{k}.every", timedelta(minutes=15)),
            role=self.choice(table, f"{k}.role", ROLES, Role.BRAND),
            base_url=self.url(table, f"{k}.base_url"),
            url=self.url(table, f"{k}.url"),
            auth_url=self.url(table, f"{k}.auth_url"),
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
            **text,
            **envs,
        )
        if "every" not in table:
            self.add(f"{k}.every", 'required: a collection interval like "15m"')
        elif stream.every < timedelta(seconds=10):
            self.add(f"{k}.every", "must be at least 10s")
        if connector in SELECTORS:
            self.connector_rules(table, stream)
        return stream

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
        known = known_connectors()
        if name not in known:
            self.add(f"{k}.connector", f"unknown connector {name!r} (known: {', '.join(sorted(known))})")
            return None
        return name

    def connector_rules(self, table: Mapping[str, Any], s: StreamConfig) -> None:
        k, c = s.key, s.connector
        given = [sel for sel in SELECTORS[c] if table.get(sel) is not None]
        if len(given) != 1:
            options = " or ".join(SELECTORS[c])
            self.add(f"{k}.{SELECTORS[c][0]}", f"the {c} connector needs exactly one of {options}")
        allowed = set(GENERIC_STREAM_KEYS) | set(SELECTORS[c]) | set(CONNECTOR_KEYS[c])
        for key in table:
            if key in STREAM_KEYS and key not in allowed:
                self.add(f"{k}.{key}", f"not used by the {c} connector")
        if c == "mastodon" and s.query and not s.token_env:
            self.add(f"{k}.token_env", "mastodon search (query) needs a token: set token_env")
        if c == "bluesky" and bool(s.identifier) != bool(s.app_password_env):
            self.add(f"{k}.app_password_env", "identifier and app_password_env go together")
        if c == "reddit":
            if not s.user_agent:
                self.add(f"{k}.user_agent", "required: Reddit asks for a descriptive User-Agent")
            if bool(s.client_id_env) != bool(s.client_secret_env):
                self.add(f"{k}.client_secret_env", "client_id_env and client_secret_env go together")
            if bool(s.username) != bool(s.password_env):
                self.add(f"{k}.password_env", "username and password_env go together (a script app's login)")
            elif s.username and not s.client_id_env:
                self.add(f"{k}.client_id_env", "username needs the script app's client_id_env and secret")

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

    def sandbox(self, raw: Mapping[str, Any]) -> SandboxConfig | None:
        if "sandbox" not in raw:
            return None
        t = self.section(raw, "sandbox")
        end = t.get("end")
        moment = None
        if end is not None:
            try:
                if isinstance(end, datetime):
                    moment = end if end.tzinfo else end.replace(tzinfo=UTC)
                else:
                    moment = parse_instant(str(end))
            except ValueError:
                self.add(
                    "sandbox.end",
                    f"expected a timestamp with offset like 2026-11-27T00:00:00+01:00, got {end!r}",
                )
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
        if not to and not webhook:
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
        given = self.strings(t, key) if "streams" in t else ("brand", "owned")
        names: list[str] = []
        known = [s.name for s in settings.streams]
        for item in given:
            if item in ROLES:
                names += [s.name for s in settings.streams if s.role == item]
            elif item in known:
                names.append(item)
            else:
                near = difflib.get_close_matches(item, known + list(ROLES), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                roles = ", ".join(ROLES)
                self.add(key, f"{item!r} is neither a configured stream nor a role ({roles}){hint}")
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


def known_connectors() -> frozenset[str]:
    """Built-in connector names plus those registered in the `tracker.connectors` entry points."""
    from importlib.metadata import entry_points

    return frozenset(BUILTIN_CONNECTORS) | {ep.name for ep in entry_points(group="tracker.connectors")}
