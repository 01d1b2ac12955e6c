"""A seeded, realistic history of a brand on five platforms, with experiments whose truth is known.

`generate_world(seed, weeks, end)` builds, deterministically for a seed:

- a brand ("Acme") and a competitor ("Globex"), each mentioned on Mastodon (a hashtag),
  Bluesky, Hacker News, Reddit (a search query) and in a news feed (RSS/Atom);
- the brand's owned accounts: a Mastodon account and a Bluesky handle whose own posts
  collect engagement (plus boosts/reposts of other people's posts, which are not
  mentions), and the brand's blog feed;
- daily volumes per stream drawn from a gamma-Poisson (negative binomial) around a
  weekday pattern (quieter weekends), so daily counts are over-dispersed as real social
  data is (variance several times the mean); post times follow a daily rhythm;
- mostly English texts with positive, neutral and negative wording (VADER scores them
  accordingly, see texts.py), some in German, French, Spanish, Portuguese or Japanese;
- final engagement per post that a reader sees grow with the post's age (a saturating
  curve, ~90 % after two days), so re-reads see growth;
- a few posts that become visible minutes after they were written (federation and
  search-index lag, always within the connectors' 30-minute overlap);
- one negative spike day on some brand streams (a small crisis) away from every experiment;
- `experiments`: registered-experiment specs whose effect was injected into the data of
  their stream inside their window only. Some are real (+60 % mentions, +0.2 sentiment,
  ...), some have no effect at all, one is still running at the world's end, so the
  measured verdicts of a demo can be checked against `Experiment.effect`.

Mean mentions a day (before the weekday pattern and the gamma noise): brand 26 Mastodon,
30 Bluesky, 12 Hacker News, 16 Reddit, 4 news; competitor 16, 20, 8, 10, 3; own posts 3.5
(Mastodon), 4 (Bluesky) and 0.4 blog posts, mostly on working days. About 13,000 posts for
12 weeks; 4 % of mentions name both brands (both streams find them).

Days are days in the organisation's time zone; the world covers `weeks * 7` days ending
with the day of `end` (or the day before, when `end` is a midnight). Nothing after `end`
exists. Generating 12 weeks takes a fraction of a second.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from tracker.sandbox import texts

DEFAULT_TIMEZONE = "Europe/Vienna"
PLATFORMS = ("mastodon", "bluesky", "hackernews", "reddit", "rss")
METRICS = ("mentions", "sentiment", "positive_share", "engagement", "share_of_voice")
RELATIVE_METRICS = ("mentions", "engagement")  # effects on these are relative; the others absolute
PRACTICES = (
    "always-on-listening",
    "social-media-policy",
    "shepherd",
    "steering-group",
    "content-calendar",
    "public-customer-answers",
    "business-outcome-measurement",
    "shared-listening-dashboards",
    "social-training",
    "employee-advocacy",
    "crisis-playbook",
    "community-management",
    "influencer-outreach",
    "paid-amplification",
    "social-customer-care",
)

# Monday .. Sunday, normalised to a mean of 1 below: quieter weekends.
WEEKDAY = (1.08, 1.15, 1.15, 1.10, 1.00, 0.62, 0.55)
OWN_WEEKDAY = (1.25, 1.25, 1.25, 1.25, 1.2, 0.45, 0.35)  # a team posts on working days
DISPERSION = 10.0  # gamma shape of the daily rate: variance = mean + mean^2 / DISPERSION
# Relative activity per local hour: quiet nights, busy office hours and evenings.
HOURS = (
    0.25,
    0.15,
    0.1,
    0.1,
    0.15,
    0.3,
    0.6,
    1.0,
    1.4,
    1.6,
    1.6,
    1.5,
    1.4,
    1.5,
    1.6,
    1.6,
    1.5,
    1.4,
    1.3,
    1.2,
    1.0,
    0.8,
    0.55,
    0.35,
)
GROWTH_HOURS = 18.0  # engagement reaches 1 - 1/e of its final value after this long
COMPARISON_SHARE = 0.04  # mentions that name both the brand and the competitor

LANGS = {
    "mastodon": (("en", 0.8), ("de", 0.1), ("fr", 0.04), ("es", 0.03), ("ja", 0.03)),
    "bluesky": (("en", 0.85), ("pt", 0.05), ("ja", 0.05), ("de", 0.05)),
    "hackernews": (("en", 1.0),),
    "reddit": (("en", 0.95), ("de", 0.05)),
    "rss": (("en", 1.0),),
}
# Share of posts whose payload leaves the language out (Mastodon null, Bluesky no langs).
LANG_MISSING = {"mastodon": 0.1, "bluesky": 0.15}
# Mean final (likes, reposts, replies, quotes) of a mention, and of an own post.
ENGAGEMENT = {
    "mastodon": (3.0, 1.0, 0.8, 0.1),
    "bluesky": (5.0, 1.2, 1.0, 0.3),
    "hackernews": (12.0, 0.0, 6.0, 0.0),
    "reddit": (25.0, 0.0, 9.0, 0.0),
    "rss": (0.0, 0.0, 0.0, 0.0),
}
OWN_ENGAGEMENT = {"mastodon": (30.0, 9.0, 4.0, 1.0), "bluesky": (45.0, 11.0, 6.0, 2.0)}
TONE_MIX = {  # (positive, neutral, negative)
    "brand": (0.42, 0.33, 0.25),
    "competitor": (0.36, 0.36, 0.28),
    "owned": (0.6, 0.35, 0.05),
    "spike": (0.1, 0.2, 0.7),
}
SUBREDDITS = (
    ("technology", 0.25),
    ("sysadmin", 0.25),
    ("devops", 0.2),
    ("selfhosted", 0.15),
    ("programming", 0.15),
)
INSTANCES = ("mastodon.example", "fosstodon.example", "hachyderm.example", "social.example")
NEWS_SITES = ("news.example", "techdaily.example", "itwire.example", "biz.example")
_SYLLABLES = (
    "river",
    "otter",
    "maple",
    "quartz",
    "ember",
    "nova",
    "pixel",
    "cedar",
    "harbor",
    "lumen",
    "fjord",
    "basil",
    "cobalt",
    "delta",
    "echo",
    "fable",
    "gale",
    "hazel",
    "iris",
    "juniper",
    "kelp",
    "lark",
    "moss",
    "nimbus",
    "opal",
    "pebble",
    "quill",
    "rook",
    "sage",
    "tundra",
)


@dataclass(frozen=True)
class StreamDef:
    """One stream the world answers, as a tracker config would list it (base_url aside).

    `selectors` are the connector's keys (hashtag, query, account, url); an rss `url`
    is a feed name relative to the sandbox's rss base URL (SandboxServer.stream_configs
    resolves it). `subject` is the brand's or competitor's slug the stream listens for.
    """

    name: str
    platform: str
    role: str  # brand | competitor | owned
    subject: str
    selectors: Mapping[str, str]
    mean_daily: float


@dataclass(frozen=True)
class Experiment:
    """A registered experiment and the truth injected into the world for it.

    `effect` is the true effect injected in [start, end] on `stream`: relative for the
    mentions and engagement metrics (0.6 = +60 %), absolute for sentiment (mean VADER
    compound), positive_share and share_of_voice (0.2 = +0.2). 0 means no effect at all.
    Days are in the world's time zone; the baseline is the same number of days right
    before start. An experiment whose end is after the world's end is still running.
    """

    key: str
    title: str
    hypothesis: str
    practice: str
    metric: str
    stream: str
    platform: str
    role: str
    start: date
    end: date
    expect: str
    effect: float
    control_stream: str | None = None
    owner: str = ""
    team: str = ""

    @property
    def real(self) -> bool:
        return self.effect != 0

    @property
    def truth(self) -> str:
        """ "effect" when an effect was injected, "none" when the data has none."""
        return "effect" if self.real else "none"

    @property
    def relative(self) -> bool:
        return self.metric in RELATIVE_METRICS

    def consistent_verdicts(self, as_of: date) -> frozenset[str]:
        """The verdicts (SPEC §6) a measurement on `as_of` may give without contradicting the truth.

        Before the window has ended only "running". With a real effect "success" when it
        goes the expected way ("failure" otherwise), or "inconclusive" when noise hides it;
        with no effect "no_effect" or "inconclusive". A verdict outside this set is wrong.
        """
        if as_of <= self.end:
            return frozenset({"running"})
        if not self.real:
            return frozenset({"no_effect", "inconclusive"})
        right_way = (self.effect > 0) == (self.expect == "increase")
        return frozenset({"success" if right_way else "failure", "inconclusive"})

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def baseline_start(self) -> date:
        return self.start - timedelta(days=self.days)

    @property
    def baseline_end(self) -> date:
        return self.start - timedelta(days=1)


@dataclass(frozen=True)
class Accounts:
    """The brand's owned accounts and the (fake) credentials the sandbox accepts."""

    instance: str  # the sandbox Mastodon server's own domain
    mastodon_username: str
    mastodon_id: str
    mastodon_token: str
    bluesky_handle: str
    bluesky_did: str
    bluesky_password: str
    reddit_client_id: str
    reddit_client_secret: str
    followers: Mapping[str, tuple[int, float]]  # platform -> (followers at start, growth per day)

    @property
    def mastodon_acct(self) -> str:
        return f"{self.mastodon_username}@{self.instance}"


@dataclass(frozen=True)
class Spike:
    """A day on which some streams had a multiple of their usual volume, mostly negative."""

    day: date
    streams: tuple[str, ...]
    factor: float


@dataclass(frozen=True, slots=True)
class Post:
    """One post of the world; platforms render it in their own shape.

    `kind`: post (a mention or own post), reply (an own reply), boost (Mastodon reblog by
    the owned account), repost (Bluesky repost by the owned account), story / comment
    (Hacker News), entry (a feed entry). `subjects` are the slugs the text names.
    Engagement figures are the final ones; `World.engagement` gives them at a moment.
    """

    n: int
    platform: str
    stream: str
    role: str
    kind: str
    subjects: frozenset[str]
    created_at: datetime
    visible_at: datetime
    author: str
    lang: str | None
    says_lang: bool
    tone: str
    text: str
    title: str
    likes: int
    reposts: int
    replies: int
    quotes: int
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def own(self) -> bool:
        """An owned account's own post (kind "own" in the tracker); boosts and reposts are not."""
        return self.role == "owned" and self.kind in ("post", "reply")


@dataclass(frozen=True)
class Counts:
    likes: int
    reposts: int
    replies: int
    quotes: int


@dataclass(frozen=True)
class World:
    """Everything the sandbox serves; see the module docstring."""

    seed: int
    weeks: int
    timezone: str
    start: datetime  # the first day's local midnight, as aware UTC
    end: datetime  # "now" of the world: nothing is created after it
    days: tuple[date, ...]
    brand: str
    competitor: str
    accounts: Accounts
    streams: tuple[StreamDef, ...]
    posts: tuple[Post, ...]
    experiments: tuple[Experiment, ...]
    spikes: tuple[Spike, ...]
    by_n: Mapping[int, Post] = field(repr=False)

    @property
    def brand_slug(self) -> str:
        return slug(self.brand)

    @property
    def competitor_slug(self) -> str:
        return slug(self.competitor)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def stream(self, name: str) -> StreamDef:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(f"no stream {name!r} in the world")

    def day_of(self, moment: datetime) -> date:
        """The local day of a moment in the world's time zone."""
        return moment.astimezone(self.zone).date()

    def posts_of(self, name: str, *, now: datetime | None = None) -> list[Post]:
        """The posts a stream finds (what a complete collection stores), oldest first.

        Brand and competitor streams find every post on their platform naming their
        subject (comparisons name both); an owned stream finds the account's own posts
        (boosts and reposts excluded). `now` keeps only posts visible by then.
        """
        stream = self.stream(name)
        found = [p for p in self.posts if p.platform == stream.platform and _finds(stream, p)]
        return found if now is None else [p for p in found if p.visible_at <= now]

    def daily_counts(self, name: str) -> dict[date, int]:
        """Posts per local day found by a stream, every day of the world listed (zeros too)."""
        counts = dict.fromkeys(self.days, 0)
        for post in self.posts_of(name):
            counts[self.day_of(post.created_at)] += 1
        return counts

    def engagement(self, post: Post, now: datetime) -> Counts:
        """The post's figures as a reader sees them at `now` (they grow and saturate)."""
        age = (now - post.created_at).total_seconds()
        share = 0.0 if age <= 0 else 1.0 - math.exp(-age / (GROWTH_HOURS * 3600))
        return Counts(
            *(math.floor(v * share + 0.5) for v in (post.likes, post.reposts, post.replies, post.quotes))
        )

    def followers(self, platform: str, now: datetime) -> int:
        """The owned account's follower count at `now`."""
        base, per_day = self.accounts.followers[platform]
        days = max(0.0, (now - self.start).total_seconds() / 86400)
        return base + int(per_day * days)

    def post(self, n: int) -> Post:
        return self.by_n[n]


def slug(name: str) -> str:
    """The lower-case letters and digits of a name: "Acme Corp" -> "acmecorp"."""
    return "".join(c for c in name.lower() if c.isalnum()) or "brand"


def _finds(stream: StreamDef, post: Post) -> bool:
    if stream.role == "owned":
        return post.stream == stream.name and post.own
    return stream.subject in post.subjects and post.kind not in ("boost", "repost")


def renumbered(world: World, offset: int, *, at: Callable[[datetime], datetime] | None = None) -> World:
    """The same world with every post number shifted by `offset` and, with `at`, every post time
    (and the world's start and end) mapped through it.

    Several worlds served side by side (tests and benchmarks with many streams) then give
    distinct platform ids: Hacker News, Reddit and feed ids are made from the number.
    `at` moves or squeezes the timeline, say `lambda t: start + (t - start) / 90` for a
    benchmark that runs 90 times faster than real time against a live clock.
    """

    def moved(moment: datetime) -> datetime:
        return moment if at is None else at(moment)

    def shifted(p: Post) -> Post:
        extra = p.extra if "of" not in p.extra else {**p.extra, "of": str(int(p.extra["of"]) + offset)}
        return replace(p, n=p.n + offset, created_at=moved(p.created_at), visible_at=moved(p.visible_at),
                       extra=MappingProxyType(dict(extra)))  # fmt: skip

    posts = tuple(shifted(p) for p in world.posts)
    return replace(world, posts=posts, by_n=MappingProxyType({p.n: p for p in posts}),
                   start=moved(world.start), end=moved(world.end))  # fmt: skip


# -- generation ---------------------------------------------------------------------------------


def generate_world(
    seed: int,
    weeks: int = 12,
    end: datetime | None = None,
    *,
    brand: str = "Acme",
    competitor: str = "Globex",
    timezone: str = DEFAULT_TIMEZONE,
    volume: float = 1.0,
    late: timedelta | None = None,
) -> World:
    """The world of `seed`: the same seed, weeks, end and names give the same world.

    `end` defaults to today's local midnight (so the last day is yesterday, complete);
    a naive `end` is taken as UTC. `volume` scales every mention stream's daily mean
    (1.0: 15-30 mentions a day per brand platform). `late` stretches the lag of the 3 %
    of posts that show up late to as much as that (say 3 h: remote Mastodon statuses
    that federate hours late, Bluesky posts the search indexes late); by default they
    are at most 20 minutes late. The same draws are made either way, so only those
    posts' visible_at differ.
    """
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    zone = ZoneInfo(timezone)
    end = _end(end, zone)
    days = _days(end, weeks, zone)
    start = datetime.combine(days[0], time(), zone).astimezone(UTC)
    brand_slug, competitor_slug = slug(brand), slug(competitor)
    if brand_slug == competitor_slug:
        raise ValueError("brand and competitor need different names")
    streams = _streams(brand_slug, competitor_slug, volume)
    experiments = _experiments(days, brand_slug, competitor_slug, streams)
    spikes = _spikes(days, brand_slug, experiments)
    builder = _Builder(seed, zone, days, end, brand, competitor, streams, experiments, spikes)
    builder.late = late
    posts = builder.build()
    return World(
        seed=seed,
        weeks=weeks,
        timezone=timezone,
        start=start,
        end=end,
        days=days,
        brand=brand,
        competitor=competitor,
        accounts=_accounts(seed, brand_slug),
        streams=streams,
        posts=posts,
        experiments=experiments,
        spikes=spikes,
        by_n=MappingProxyType({p.n: p for p in posts}),
    )


def _end(end: datetime | None, zone: ZoneInfo) -> datetime:
    if end is None:
        today = datetime.now(zone).date()
        return datetime.combine(today, time(), zone).astimezone(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return end.astimezone(UTC).replace(microsecond=0)


def _days(end: datetime, weeks: int, zone: ZoneInfo) -> tuple[date, ...]:
    local = end.astimezone(zone)
    last = local.date() if local.time() > time() else local.date() - timedelta(days=1)
    first = last - timedelta(days=weeks * 7 - 1)
    return tuple(first + timedelta(days=i) for i in range(weeks * 7))


def _streams(b: str, c: str, volume: float) -> tuple[StreamDef, ...]:
    def s(name: str, platform: str, role: str, subject: str, key: str, value: str, mean: float) -> StreamDef:
        scaled = mean if role == "owned" else mean * volume
        return StreamDef(name, platform, role, subject, MappingProxyType({key: value}), scaled)

    return (
        s(f"{b}-mastodon", "mastodon", "brand", b, "hashtag", b, 26),
        s(f"{b}-bluesky", "bluesky", "brand", b, "query", b, 30),
        s(f"{b}-hn", "hackernews", "brand", b, "query", b, 12),
        s(f"{b}-reddit", "reddit", "brand", b, "query", b, 16),
        s(f"{b}-news", "rss", "brand", b, "url", f"{b}.atom", 4),
        s(f"{c}-mastodon", "mastodon", "competitor", c, "hashtag", c, 16),
        s(f"{c}-bluesky", "bluesky", "competitor", c, "query", c, 20),
        s(f"{c}-hn", "hackernews", "competitor", c, "query", c, 8),
        s(f"{c}-reddit", "reddit", "competitor", c, "query", c, 10),
        s(f"{c}-news", "rss", "competitor", c, "url", f"{c}.xml", 3),
        s(f"{b}-owned-mastodon", "mastodon", "owned", b, "account", f"{b}@{INSTANCES[0]}", 3.5),
        s(f"{b}-owned-bluesky", "bluesky", "owned", b, "account", f"{b}.example", 4),
        s(f"{b}-blog", "rss", "owned", b, "url", "blog.xml", 0.4),
    )


def _accounts(seed: int, b: str) -> Accounts:
    rng = random.Random(f"{seed}:accounts")
    return Accounts(
        instance=INSTANCES[0],
        mastodon_username=b,
        mastodon_id=str(109_000_000_000_000_000 + rng.randrange(10**15)),
        mastodon_token=_token(rng, 43),
        bluesky_handle=f"{b}.example",
        bluesky_did=did_of(f"{b}.example"),
        bluesky_password="-".join(_token(rng, 4).lower() for _ in range(4)),
        reddit_client_id=_token(rng, 22),
        reddit_client_secret=_token(rng, 30),
        followers=MappingProxyType(
            {"mastodon": (1000 + rng.randrange(500), 4.0), "bluesky": (2200 + rng.randrange(800), 6.5)}
        ),
    )


def _token(rng: random.Random, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(length))


def did_of(handle: str) -> str:
    """A stable did:plc for a handle (24 base32 characters, as real PLC DIDs have)."""
    digest = hashlib.sha256(handle.encode()).digest()
    return "did:plc:" + _base32(int.from_bytes(digest[:15], "big"), 24)


def _base32(number: int, length: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz234567") -> str:
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 32)
        chars.append(alphabet[rest])
    return "".join(reversed(chars))


# -- experiments ----------------------------------------------------------------------------------

# key, block, stream suffix, metric, effect, practice, expect, control suffix, owner, team, title, hypothesis
# fmt: off
_PLAN: tuple[tuple[str, int, str, str, float, str, str, str | None, str, str, str, str], ...] = (
    ("calendar", 1, "owned-mastodon", "engagement", 0.6, "content-calendar", "increase", "owned-bluesky",
     "Mara Lind", "social", "Content calendar for Mastodon",
     "Planning posts a week ahead raises engagement per post on our Mastodon account"),
    ("policy", 1, "reddit", "positive_share", 0.0, "social-media-policy", "increase", "competitor-reddit",
     "Jonas Berg", "communications", "Publish a social media policy",
     "A public social media policy for staff makes Reddit threads about us more positive"),
    ("advocacy", 2, "bluesky", "mentions", 0.6, "employee-advocacy", "increase", "competitor-bluesky",
     "Ana Sousa", "marketing", "Employee advocacy on Bluesky",
     "Colleagues sharing our news on Bluesky brings more mentions"),
    ("answers", 2, "mastodon", "sentiment", 0.2, "public-customer-answers", "increase", "competitor-mastodon",
     "Lee Park", "support", "Answer customers in public on Mastodon",
     "Answering questions in public on Mastodon improves the tone of mentions"),
    ("boost", 2, "owned-bluesky", "engagement", 0.0, "paid-amplification", "increase", None,
     "Ana Sousa", "marketing", "Paid amplification of Bluesky posts",
     "Paying to amplify our Bluesky posts raises engagement per post"),
    ("influencers", 3, "hn", "share_of_voice", 0.0, "influencer-outreach", "increase", None,
     "Mara Lind", "marketing", "Influencer outreach on Hacker News",
     "Briefing well-known developers wins us share of voice on Hacker News"),
    ("care", 3, "reddit", "positive_share", 0.15, "social-customer-care", "increase", "competitor-reddit",
     "Lee Park", "support", "Social customer care on Reddit",
     "A support rota answering on Reddit within hours raises the share of positive posts"),
    ("community", -1, "mastodon", "mentions", 0.35, "community-management", "increase", "competitor-mastodon",
     "Jonas Berg", "social", "Weekly community thread on Mastodon",
     "A weekly community thread under our hashtag brings more mentions"),
)
# fmt: on


def _experiments(
    days: tuple[date, ...], b: str, c: str, streams: tuple[StreamDef, ...]
) -> tuple[Experiment, ...]:
    """Experiments laid out in blocks of L days (L = 21 for 12 weeks) ending at the world's end.

    Block k's window is days [off + kL, off + (k+1)L) and its baseline the block before.
    Experiments on one stream that change the same thing (volume, tone, engagement) never
    share days, so each one's baseline is clean of the others' effects.
    The last one starts L/3 days before the end and is still running. Worlds shorter than
    four weeks get none (windows would be under a week).
    """
    length = min(21, len(days) // 4)
    if length < 7:
        return ()
    offset = len(days) - 4 * length
    platforms = {s.name: s.platform for s in streams}
    roles = {s.name: s.role for s in streams}
    found = []
    for key, block, suffix, metric, effect, practice, expect, control, owner, team, title, why in _PLAN:
        first = offset + block * length if block >= 0 else len(days) - length // 3
        start = days[first]
        stream = f"{b}-{suffix}"
        found.append(
            Experiment(
                key=key,
                title=title,
                hypothesis=why,
                practice=practice,
                metric=metric,
                stream=stream,
                platform=platforms[stream],
                role=roles[stream],
                start=start,
                end=start + timedelta(days=length - 1),
                expect=expect,
                effect=effect,
                control_stream=_control(control, b, c),
                owner=owner,
                team=team,
            )
        )
    return tuple(found)


def _control(suffix: str | None, b: str, c: str) -> str | None:
    """The control stream of a plan line: "competitor-<x>" is the competitor's <x>, else the brand's."""
    if suffix is None:
        return None
    kind, _, rest = suffix.partition("-")
    return f"{c}-{rest}" if kind == "competitor" else f"{b}-{suffix}"


def _spikes(days: tuple[date, ...], b: str, experiments: tuple[Experiment, ...]) -> tuple[Spike, ...]:
    """One negative spike day in the last two weeks, on the brand's Mastodon, Bluesky and Reddit
    streams that have no experiment window or baseline on that day (a share-of-voice experiment
    keeps its whole platform clear). None when every such stream is busy every day."""
    candidates = {f"{b}-mastodon": "mastodon", f"{b}-bluesky": "bluesky", f"{b}-reddit": "reddit"}
    busy: dict[str, set[date]] = {name: set() for name in candidates}
    for exp in experiments:
        span = {exp.baseline_start + timedelta(days=i) for i in range(2 * exp.days)}
        for name, platform in candidates.items():
            if exp.stream == name or (exp.metric == "share_of_voice" and exp.platform == platform):
                busy[name] |= span
    best: tuple[date, tuple[str, ...]] | None = None
    for day in days[-14:-2] if len(days) >= 14 else ():
        free = tuple(name for name in candidates if day not in busy[name])
        if free and (best is None or len(free) >= len(best[1])):
            best = (day, free)
    return () if best is None else (Spike(day=best[0], streams=best[1], factor=3.0),)


# -- the builder ---------------------------------------------------------------------------------


@dataclass
class _Draft:
    platform: str
    stream: str
    role: str
    kind: str
    subjects: frozenset[str]
    created_at: datetime
    visible_at: datetime
    author: str
    lang: str | None
    says_lang: bool
    tone: str
    text: str
    title: str = ""
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)
    extra: dict[str, str] = field(default_factory=dict)
    of: _Draft | None = None  # the original of a boost/repost, the parent of a reply


class _Builder:
    """Draws every stream's posts day by day; one random generator per stream."""

    def __init__(
        self,
        seed: int,
        zone: ZoneInfo,
        days: tuple[date, ...],
        end: datetime,
        brand: str,
        competitor: str,
        streams: tuple[StreamDef, ...],
        experiments: tuple[Experiment, ...],
        spikes: tuple[Spike, ...],
    ) -> None:
        self.seed, self.zone, self.days, self.end = seed, zone, days, end
        self.late: timedelta | None = None  # the longest lag of late posts (None: 20 minutes)
        self.names = {slug(brand): brand, slug(competitor): competitor}
        self.streams, self.experiments, self.spikes = streams, experiments, spikes
        self.means = {(s.platform, s.role): s.mean_daily for s in streams}
        self.drafts: list[_Draft] = []
        self.mentions: dict[tuple[str, date], list[_Draft]] = {}  # brand mentions per platform and day

    def build(self) -> tuple[Post, ...]:
        for stream in self.streams:
            if stream.role != "owned":
                self._mentions(stream)
        for stream in self.streams:
            if stream.role == "owned":
                self._owned(stream)
        return self._finish()

    # -- what the experiments and spikes change --------------------------------------------------

    def _active(self, stream: str, day: date, metrics: Iterable[str]) -> list[Experiment]:
        return [
            e
            for e in self.experiments
            if e.stream == stream and e.metric in metrics and e.start <= day <= e.end
        ]

    def _volume_factor(self, stream: StreamDef, day: date) -> float:
        factor = 1.0
        for exp in self._active(stream.name, day, ("mentions", "share_of_voice")):
            factor *= 1 + exp.effect if exp.metric == "mentions" else self._sov_factor(stream, exp.effect)
        for spike in self.spikes:
            if spike.day == day and stream.name in spike.streams:
                factor *= spike.factor
        return factor

    def _sov_factor(self, stream: StreamDef, effect: float) -> float:
        """The brand volume multiplier that moves its share of voice by `effect` (absolute)."""
        brand = self.means[(stream.platform, "brand")]
        rival = self.means[(stream.platform, "competitor")]
        target = min(0.95, max(0.05, brand / (brand + rival) + effect))
        return target * rival / ((1 - target) * brand)

    def _mix(self, stream: StreamDef, day: date) -> tuple[float, float, float]:
        if any(s.day == day and stream.name in s.streams for s in self.spikes):
            return TONE_MIX["spike"]
        pos, neu, neg = TONE_MIX[stream.role]
        for exp in self._active(stream.name, day, ("sentiment", "positive_share")):
            pos, neu, neg = _shift(pos, neu, neg, exp)
        return pos, neu, neg

    def _appeal_factor(self, stream: StreamDef, day: date) -> float:
        factor = 1.0
        for exp in self._active(stream.name, day, ("engagement",)):
            factor *= 1 + exp.effect
        return factor

    # -- drawing ----------------------------------------------------------------------------------

    def _rng(self, what: str) -> random.Random:
        return random.Random(f"{self.seed}:{what}")

    def _mentions(self, stream: StreamDef) -> None:
        rng = self._rng(stream.name)
        other = next(s for s in self.names if s != stream.subject)
        authors = _authors(rng, stream.platform, 400)
        weights = list(
            itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(authors)))
        )  # a few post a lot
        for day in self.days:
            rate = stream.mean_daily * _weekday(day, WEEKDAY) * rng.gammavariate(DISPERSION, 1 / DISPERSION)
            mix = self._mix(stream, day)
            for moment in self._moments(rng, day, _poisson(rng, rate * self._volume_factor(stream, day))):
                author = rng.choices(authors, cum_weights=weights)[0]
                both = rng.random() < COMPARISON_SHARE
                draft = self._mention(rng, stream, moment, author, _pick(rng, mix), other if both else None)
                self.drafts.append(draft)
                if stream.role == "brand":
                    self.mentions.setdefault((stream.platform, day), []).append(draft)

    def _mention(
        self,
        rng: random.Random,
        stream: StreamDef,
        moment: datetime,
        author: str,
        tone: str,
        other: str | None,
    ) -> _Draft:
        platform = stream.platform
        lang = _choose(rng, LANGS[platform])
        name = self.names[stream.subject]
        other_name = self.names[other] if other else None
        text = texts.sentence(rng, name, tone, lang, other=other_name)
        subjects = frozenset({stream.subject, other} if other else {stream.subject})
        draft = _Draft(
            platform=platform,
            stream=stream.name,
            role=stream.role,
            kind="post",
            subjects=subjects,
            created_at=moment,
            visible_at=moment + _lag(rng, self.late),
            author=author,
            lang=lang,
            says_lang=platform in LANG_MISSING and rng.random() >= LANG_MISSING[platform],
            tone=tone,
            text=text,
        )
        self._shape(rng, draft, name, other_name)
        draft.counts = _counts(rng, ENGAGEMENT[platform], 1.0)
        if draft.kind == "comment":
            draft.counts = (0, 0, 0, 0)
        return draft

    def _shape(self, rng: random.Random, draft: _Draft, name: str, other: str | None) -> None:
        """Platform details: hashtags, HN stories and comments, Reddit titles, feed headlines."""
        if draft.platform == "mastodon":
            tags = sorted(draft.subjects) + (["tech"] if rng.random() < 0.2 else [])
            draft.extra["tags"] = " ".join(tags)
            draft.extra["instance"] = rng.choice(INSTANCES)
        elif draft.platform == "hackernews":
            self._hn(rng, draft, name, other)
        elif draft.platform == "reddit":
            draft.title, draft.text = draft.text, texts.body(rng) if rng.random() < 0.5 else ""
            draft.extra["subreddit"] = "de" if draft.lang == "de" else _choose(rng, SUBREDDITS)
        elif draft.platform == "rss":
            draft.title = texts.headline(rng, name, draft.tone, other=other)
            draft.text = texts.summary(rng, name)
            draft.extra["site"] = rng.choice(NEWS_SITES)
        draft.created_at = _truncate(draft.created_at, draft.platform)
        draft.visible_at = max(_truncate(draft.visible_at, draft.platform), draft.created_at)

    def _hn(self, rng: random.Random, draft: _Draft, name: str, other: str | None) -> None:
        roll = rng.random()
        if roll < 0.6:
            draft.kind = "comment"
            draft.extra["story_title"] = rng.choice(
                ("Show HN: A tiny job queue", "The state of SaaS pricing", "Ask HN: What do you self-host?")
            )
            return
        draft.kind = "story"
        if roll < 0.85:
            draft.title, draft.text = texts.headline(rng, name, draft.tone, other=other, prefix=False), ""
            draft.extra["url"] = (
                f"https://{rng.choice(NEWS_SITES)}/{draft.created_at:%Y/%m}/{rng.randrange(10**6)}"
            )
        else:
            draft.title = f"Ask HN: Anyone using {texts.product(rng, name)} in production?"
            if other:
                draft.title = f"Ask HN: {other} or {texts.product(rng, name)} in production?"

    def _owned(self, stream: StreamDef) -> None:
        rng = self._rng(stream.name)
        account = stream.selectors.get("account", "").split("@")[0] or stream.subject
        mix = TONE_MIX["owned"]
        for day in self.days:
            appeal = self._appeal_factor(stream, day)
            count = _poisson(rng, stream.mean_daily * _weekday(day, OWN_WEEKDAY))
            for moment in self._moments(rng, day, count, office=True):
                self.drafts.append(self._own(rng, stream, moment, account, _pick(rng, mix), appeal))
            if stream.platform in ("mastodon", "bluesky"):
                self._shares(rng, stream, day, account)

    def _own(
        self, rng: random.Random, stream: StreamDef, moment: datetime, account: str, tone: str, appeal: float
    ) -> _Draft:
        platform = stream.platform
        draft = _Draft(
            platform=platform,
            stream=stream.name,
            role="owned",
            kind="post",
            subjects=frozenset(),
            created_at=moment,
            visible_at=_truncate(moment + timedelta(seconds=rng.uniform(0.1, 2)), platform),
            author=account,
            lang="en",
            says_lang=True,
            tone=tone,
            text=texts.own_post(rng, tone),
        )
        if platform == "rss":
            draft.title, draft.text = draft.text.split(".")[0], draft.text
            draft.created_at = _truncate(moment, platform)
            draft.visible_at = draft.created_at
            return draft
        draft.counts = _counts(rng, OWN_ENGAGEMENT[platform], appeal)
        if rng.random() < 0.15:  # some own posts answer a mention of the day
            parents = [
                m for m in self.mentions.get((platform, self.day_of(moment)), []) if m.visible_at < moment
            ]
            if parents:
                draft.kind, draft.of = "reply", rng.choice(parents)
        return draft

    def _shares(self, rng: random.Random, stream: StreamDef, day: date, account: str) -> None:
        """Boosts (Mastodon) / reposts (Bluesky) of the day's brand mentions: not mentions themselves."""
        candidates = self.mentions.get((stream.platform, day), [])
        for _ in range(_poisson(rng, 0.5)):
            if not candidates:
                return
            original = rng.choice(candidates)
            moment = original.visible_at + timedelta(minutes=rng.uniform(10, 360))
            if moment >= self.end:
                continue
            kind = "boost" if stream.platform == "mastodon" else "repost"
            self.drafts.append(
                _Draft(
                    platform=stream.platform,
                    stream=stream.name,
                    role="owned",
                    kind=kind,
                    subjects=frozenset(),
                    created_at=_truncate(moment, stream.platform),
                    visible_at=_truncate(moment, stream.platform),
                    author=account,
                    lang=None,
                    says_lang=False,
                    tone="neutral",
                    text="",
                    of=original,
                )
            )

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def _moments(self, rng: random.Random, day: date, count: int, *, office: bool = False) -> list[datetime]:
        """`count` moments on a local day following the daily rhythm, before the world's end."""
        begin = datetime.combine(day, time(), self.zone).astimezone(UTC)
        length = datetime.combine(day + timedelta(days=1), time(), self.zone).astimezone(UTC) - begin
        weights = [w if not office or 8 <= h <= 18 else w / 10 for h, w in enumerate(HOURS)]
        found = []
        for hour in rng.choices(range(24), weights, k=count):
            offset = timedelta(hours=hour, milliseconds=rng.randrange(3_600_000))
            moment = begin + (offset % length)
            if moment < self.end:
                found.append(moment)
        return sorted(found)

    def _finish(self) -> tuple[Post, ...]:
        """Sort, give every post a distinct moment on its platform's clock, number them, freeze."""
        self.drafts.sort(key=lambda d: (d.created_at, d.platform, d.stream))
        taken: set[tuple[str, datetime]] = set()
        for draft in self.drafts:
            step = timedelta(seconds=1) if _SECONDS.get(draft.platform) else timedelta(milliseconds=1)
            while (draft.platform, draft.created_at) in taken:
                draft.created_at += step
            taken.add((draft.platform, draft.created_at))
            draft.visible_at = max(draft.visible_at, draft.created_at)
        self.drafts = [d for d in self.drafts if d.created_at < self.end]
        self.drafts.sort(key=lambda d: d.created_at)
        numbers = {id(d): n for n, d in enumerate(self.drafts, start=1)}
        posts = []
        for n, d in enumerate(self.drafts, start=1):
            extra = dict(d.extra)
            if d.of is not None and id(d.of) in numbers:
                extra["of"] = str(numbers[id(d.of)])
            elif d.of is not None:
                continue  # its original fell after the end
            likes, reposts, replies, quotes = d.counts
            posts.append(
                Post(
                    n=n,
                    platform=d.platform,
                    stream=d.stream,
                    role=d.role,
                    kind=d.kind,
                    subjects=d.subjects,
                    created_at=d.created_at,
                    visible_at=min(d.visible_at, max(d.created_at, self.end)),
                    author=d.author,
                    lang=d.lang,
                    says_lang=d.says_lang,
                    tone=d.tone,
                    text=d.text,
                    title=d.title,
                    likes=likes,
                    reposts=reposts,
                    replies=replies,
                    quotes=quotes,
                    extra=MappingProxyType(extra),
                )
            )
        return tuple(posts)


_SECONDS = {"hackernews": True, "reddit": True, "rss": True}  # platforms whose clock has whole seconds


def _truncate(moment: datetime, platform: str) -> datetime:
    """Whole seconds where the platform's clock has them, else whole milliseconds."""
    return moment.replace(microsecond=0 if _SECONDS.get(platform) else moment.microsecond // 1000 * 1000)


def _weekday(day: date, pattern: tuple[float, ...]) -> float:
    return pattern[day.weekday()] * 7 / sum(pattern)


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth's method in chunks, so large rates do not underflow)."""
    total = 0
    while lam > 0:
        chunk = min(lam, 30.0)
        lam -= chunk
        limit, product = math.exp(-chunk), rng.random()
        while product > limit:
            total += 1
            product *= rng.random()
    return total


def _choose(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


def _pick(rng: random.Random, mix: tuple[float, float, float]) -> str:
    return rng.choices(texts.TONES, mix)[0]


def _lag(rng: random.Random, late: timedelta | None = None) -> timedelta:
    """Seconds until a post shows up in the platform's timeline or search index: mostly instant,
    a few arrive minutes late (by default within 20 minutes; up to `late` when given)."""
    roll = rng.random()
    if roll < 0.9:
        return timedelta(seconds=rng.uniform(0.2, 20))
    if roll < 0.97:
        return timedelta(seconds=rng.uniform(20, 300))
    return timedelta(seconds=rng.uniform(300, late.total_seconds() if late else 1200))


def _counts(rng: random.Random, means: tuple[float, ...], appeal: float) -> tuple[int, int, int, int]:
    """Final engagement: a per-post appeal (gamma, CV ~0.4) times each figure's mean, Poisson."""
    draw = rng.gammavariate(6.0, 1 / 6.0) * appeal
    likes, reposts, replies, quotes = (_poisson(rng, m * draw) for m in means)
    return likes, reposts, replies, quotes


def _shift(pos: float, neu: float, neg: float, exp: Experiment) -> tuple[float, float, float]:
    """The tone mix with an experiment's effect on sentiment (mean compound) or positive share."""
    if exp.metric == "positive_share":
        moved = max(-pos, min(exp.effect, neu + neg))
        rest = neu + neg
        return pos + moved, neu - moved * neu / rest, neg - moved * neg / rest
    mp, mn = texts.TONE_COMPOUND["positive"], texts.TONE_COMPOUND["negative"]
    if exp.effect >= 0:  # negative -> positive first, then neutral -> positive
        from_neg = min(neg, exp.effect / (mp - mn))
        from_neu = min(neu, (exp.effect - from_neg * (mp - mn)) / mp)
        return pos + from_neg + from_neu, neu - from_neu, neg - from_neg
    to_neg = min(pos, -exp.effect / (mp - mn))
    return pos - to_neg, neu, neg + to_neg


def _authors(rng: random.Random, platform: str, count: int) -> list[str]:
    """Plausible user names: two syllables and sometimes digits; Bluesky handles are domains."""
    names = []
    for _ in range(count):
        name = rng.choice(_SYLLABLES) + rng.choice(("", "_", "")) + rng.choice(_SYLLABLES)
        if rng.random() < 0.4:
            name += str(rng.randrange(1, 99))
        if platform == "bluesky":
            name = name.replace("_", "-") + ".bsky.example"
        names.append(name)
    return list(dict.fromkeys(names))
