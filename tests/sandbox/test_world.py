"""The sandbox world: deterministic, shaped like real social data, and true to its experiments."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.sandbox.conftest import END, SEED
from tracker import sentiment
from tracker.sandbox import texts
from tracker.sandbox.world import METRICS, PRACTICES, Experiment, Post, World, generate_world

# How far a null experiment's data may drift by chance, per metric (half a typical real effect).
NULL_TOLERANCE = {"mentions": 0.25, "engagement": 0.25, "sentiment": 0.08, "positive_share": 0.075,
                  "share_of_voice": 0.1}  # fmt: skip


def span(first: date, last: date) -> set[date]:
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


def busy_days(world: World, stream: str, *, controls: bool = True) -> set[date]:
    """Days of a stream touched by an experiment (window or baseline) or a spike.

    With `controls=False` a control stream's days are free: the world injects effects into
    experiment streams only.
    """
    days: set[date] = set()
    for exp in world.experiments:
        if exp.stream == stream or (controls and exp.control_stream == stream):
            days |= span(exp.baseline_start, exp.end)
    for spike in world.spikes:
        if stream in spike.streams:
            days.add(spike.day)
    return days


def scored(posts: list[Post]) -> list[float]:
    found = (sentiment.score(f"{p.title}\n{p.text}".strip(), p.lang) for p in posts)
    return [s for s in found if s is not None]


def engagement(posts: list[Post]) -> float:
    return statistics.fmean(p.likes + p.reposts + p.replies + p.quotes for p in posts)


def positive_share(values: list[float]) -> float:
    return sum(v >= sentiment.POSITIVE for v in values) / len(values)


def measured(world: World, exp: Experiment) -> float:
    """The experiment's metric, window against baseline, straight from the world's data."""
    posts = world.posts_of(exp.stream)

    def on(days: set[date], items: list[Post] = posts) -> list[Post]:
        return [p for p in items if world.day_of(p.created_at) in days]

    window, baseline = span(exp.start, exp.end), span(exp.baseline_start, exp.baseline_end)
    if exp.metric == "mentions":
        return len(on(window)) / len(on(baseline)) - 1
    if exp.metric == "engagement":
        return engagement(on(window)) / engagement(on(baseline)) - 1
    if exp.metric == "sentiment":
        return statistics.fmean(scored(on(window))) - statistics.fmean(scored(on(baseline)))
    if exp.metric == "positive_share":
        return positive_share(scored(on(window))) - positive_share(scored(on(baseline)))
    rival = world.posts_of(exp.stream.replace(world.brand_slug, world.competitor_slug))

    def sov(days: set[date]) -> float:
        ours, theirs = len(on(days)), len(on(days, rival))
        return ours / (ours + theirs)

    return sov(window) - sov(baseline)


# -- determinism and size ------------------------------------------------------------------------


def test_same_seed_same_world_other_seed_other_world(world: World) -> None:
    again = generate_world(SEED, 4, END)
    assert again.posts == world.posts and again.experiments == world.experiments
    assert again.accounts == world.accounts
    other = generate_world(SEED + 1, 4, END)
    assert [p.text for p in other.posts[:50]] != [p.text for p in world.posts[:50]]


def test_twelve_weeks_make_a_world_of_some_ten_thousand_posts() -> None:
    world = generate_world(3, 12, END)  # how fast: bench/sandbox_bench.py
    assert 8_000 < len(world.posts) < 20_000


def test_days_cover_the_weeks_in_the_organisations_time_zone(big_world: World) -> None:
    assert len(big_world.days) == 84
    assert big_world.days[-1] == date(2026, 3, 1) and big_world.days[0] == date(2025, 12, 8)
    assert big_world.start == datetime(2025, 12, 7, 23, 0, tzinfo=UTC)  # local midnight in UTC
    assert all(big_world.start <= p.created_at < big_world.end for p in big_world.posts)
    assert all(p.visible_at >= p.created_at for p in big_world.posts)


def test_default_end_is_todays_local_midnight() -> None:
    world = generate_world(1, 1)
    local = world.end.astimezone(world.zone)
    assert local.time().hour == 0 and local.date() == datetime.now(world.zone).date()
    assert world.days[-1] == local.date() - timedelta(days=1)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="weeks"):
        generate_world(1, 0, END)
    with pytest.raises(ValueError, match="different names"):
        generate_world(1, 1, END, brand="Acme", competitor="ACME")


def test_names_are_configurable() -> None:
    world = generate_world(1, 1, END, brand="Initech", competitor="Hooli")
    assert world.brand_slug == "initech" and world.accounts.bluesky_handle == "initech.example"
    assert {s.name for s in world.streams} >= {"initech-mastodon", "hooli-reddit", "initech-owned-bluesky"}
    assert any("Initech" in p.text or "Initech" in p.title for p in world.posts)


# -- the statistical shape -----------------------------------------------------------------------


def test_daily_counts_are_over_dispersed(big_world: World) -> None:
    tested = 0
    for stream in big_world.streams:
        if stream.role == "owned" or stream.mean_daily < 10:
            continue
        busy = busy_days(big_world, stream.name, controls=False)
        counts = [n for day, n in big_world.daily_counts(stream.name).items() if day not in busy]
        if len(counts) < 14:  # experiments cover nearly all of this stream's days
            continue
        mean, variance = statistics.mean(counts), statistics.variance(counts)
        assert variance / mean > 2, (stream.name, mean, variance)
        tested += 1
    assert tested >= 6


def test_weekends_are_quieter(big_world: World) -> None:
    per_weekday: dict[int, list[int]] = {}
    for stream in big_world.streams:
        if stream.role != "owned":
            for day, n in big_world.daily_counts(stream.name).items():
                per_weekday.setdefault(day.weekday(), []).append(n)
    means = {wd: statistics.mean(v) for wd, v in per_weekday.items()}
    weekday, weekend = statistics.mean(means[d] for d in range(5)), statistics.mean([means[5], means[6]])
    assert weekend < 0.75 * weekday


def test_brand_volumes_are_in_the_asked_range(big_world: World) -> None:
    for name in ("acme-mastodon", "acme-bluesky", "acme-hn", "acme-reddit"):
        assert 10 <= statistics.mean(big_world.daily_counts(name).values()) <= 60


def test_languages_are_mostly_english_and_not_always_stated(big_world: World) -> None:
    mastodon = [p for p in big_world.posts if p.platform == "mastodon" and p.role == "brand"]
    langs = Counter(p.lang for p in mastodon)
    assert 0.7 < langs["en"] / len(mastodon) < 0.9 and {"de", "fr", "es", "ja"} <= set(langs)
    assert 0.05 < sum(not p.says_lang for p in mastodon) / len(mastodon) < 0.15
    assert all(not p.says_lang for p in big_world.posts if p.platform in ("hackernews", "reddit"))


def test_english_texts_score_as_their_tone_says(big_world: World) -> None:
    english = [p for p in big_world.posts[::7] if p.lang == "en" and p.kind not in ("boost", "repost")]
    for post in english:
        value = sentiment.score(f"{post.title}\n{post.text}".strip(), "en")
        assert sentiment.label(value) == post.tone, (post.tone, value, post.title, post.text)
    assert {p.tone for p in english} == {"positive", "neutral", "negative"}


def test_tone_means_match_what_the_world_assumes(big_world: World) -> None:
    mentions = [p for p in big_world.posts if p.lang == "en" and p.role != "owned" and not p.title][::3]
    for tone, expected in texts.TONE_COMPOUND.items():
        values = scored([p for p in mentions if p.tone == tone])
        assert abs(statistics.mean(values) - expected) < 0.05, tone


def test_engagement_grows_and_saturates(big_world: World) -> None:
    post = max((p for p in big_world.posts if p.own), key=lambda p: p.likes)
    at = [big_world.engagement(post, post.created_at + timedelta(hours=h)) for h in (0, 1, 6, 24, 48, 500)]
    likes = [c.likes for c in at]
    assert likes[0] == 0 and likes == sorted(likes) and likes[1] < likes[3] < likes[-1] == post.likes
    assert likes[4] >= 0.85 * post.likes
    assert big_world.engagement(post, post.created_at - timedelta(hours=1)).likes == 0


def test_owned_posts_have_more_engagement_than_mentions(big_world: World) -> None:
    own = [p.likes for p in big_world.posts if p.own and p.platform == "bluesky"]
    mentions = [p.likes for p in big_world.posts if p.role == "brand" and p.platform == "bluesky"]
    assert statistics.mean(own) > 5 * statistics.mean(mentions)


def test_some_posts_show_up_late_but_within_the_overlap(big_world: World) -> None:
    lags = [(p.visible_at - p.created_at).total_seconds() for p in big_world.posts if p.role != "owned"]
    late = [lag for lag in lags if lag > 300]
    assert 0.01 < len(late) / len(lags) < 0.06 and max(lags) <= 20 * 60


def test_followers_grow(big_world: World) -> None:
    assert big_world.followers("mastodon", big_world.end) > big_world.followers("mastodon", big_world.start)


def test_owned_feeds_hold_own_posts_replies_and_shares(big_world: World) -> None:
    kinds = Counter((p.platform, p.kind) for p in big_world.posts if p.role == "owned")
    assert kinds[("mastodon", "boost")] and kinds[("bluesky", "repost")] and kinds[("mastodon", "reply")]
    for post in big_world.posts:
        if post.kind in ("boost", "repost", "reply") and post.role == "owned":
            original = big_world.post(int(post.extra["of"]))
            assert original.platform == post.platform and original.visible_at < post.created_at
    assert all(not p.own for p in big_world.posts if p.kind in ("boost", "repost"))


def test_comparisons_name_both_and_are_found_by_both_streams(big_world: World) -> None:
    both = [p for p in big_world.posts if len(p.subjects) == 2]
    assert both and all("Acme" in p.title + p.text and "Globex" in p.title + p.text for p in both)
    ids = {p.n for p in big_world.posts_of("acme-reddit")} & {
        p.n for p in big_world.posts_of("globex-reddit")
    }
    assert ids == {p.n for p in both if p.platform == "reddit"}


# -- experiments and their truth -----------------------------------------------------------------


def test_experiments_are_well_formed(big_world: World) -> None:
    exps = big_world.experiments
    assert len(exps) >= 6 and {e.truth for e in exps} == {"effect", "none"}
    for exp in exps:
        assert exp.practice in PRACTICES and exp.metric in METRICS
        assert exp.stream in {s.name for s in big_world.streams} and exp.expect in ("increase", "decrease")
        assert exp.days == 21 and exp.baseline_end == exp.start - timedelta(days=1)
        assert exp.baseline_start >= big_world.days[0]
        assert exp.title and exp.hypothesis and exp.owner and exp.team
    running = [e for e in exps if e.end > big_world.days[-1]]
    assert len(running) == 1 and running[0].start <= big_world.days[-1]
    assert any(e.control_stream for e in exps)
    assert len({e.owner for e in exps}) >= 3 and len({e.team for e in exps}) >= 3


def test_consistent_verdicts_follow_the_truth(big_world: World) -> None:
    last = big_world.days[-1]
    verdicts = {e.key: e.consistent_verdicts(last + timedelta(days=1)) for e in big_world.experiments}
    assert verdicts["advocacy"] == {"success", "inconclusive"}
    assert verdicts["policy"] == {"no_effect", "inconclusive"}
    assert verdicts["community"] == {"running"}  # still running the day after the world's end
    calendar = next(e for e in big_world.experiments if e.key == "calendar")
    assert calendar.consistent_verdicts(calendar.end) == {"running"}


@pytest.mark.parametrize("seed", [SEED, 11])
def test_real_effects_are_in_the_data_and_null_ones_are_not(seed: int, big_world: World) -> None:
    world = big_world if seed == SEED else generate_world(seed, 12, END)
    for exp in world.experiments:
        if exp.end > world.days[-1]:
            continue
        found = measured(world, exp)
        if exp.real:
            assert found >= 0.5 * exp.effect, (exp.key, exp.effect, found)
        else:
            assert abs(found) < NULL_TOLERANCE[exp.metric], (exp.key, found)


def test_effects_stay_inside_their_window(big_world: World) -> None:
    """Before a mentions experiment's baseline its stream is as busy as in the baseline."""
    exp = next(e for e in big_world.experiments if e.metric == "mentions" and e.end <= big_world.days[-1])
    counts = big_world.daily_counts(exp.stream)
    window = [counts[d] for d in span(exp.start, exp.end)]
    after = [n for d, n in counts.items() if d > exp.end and d not in busy_days(big_world, exp.stream)]
    assert statistics.mean(window) > 1.3 * statistics.mean(after)


def test_short_worlds_have_no_experiments_and_scale_the_windows() -> None:
    assert generate_world(1, 2, END).experiments == ()
    eight = generate_world(1, 8, END)
    assert {e.days for e in eight.experiments} == {14}


def test_the_spike_is_a_negative_crowd_away_from_every_experiment(big_world: World) -> None:
    (spike,) = big_world.spikes
    for stream in spike.streams:
        counts = big_world.daily_counts(stream)
        assert counts[spike.day] > 2 * statistics.median(counts.values())
        for exp in big_world.experiments:
            if exp.stream == stream:
                assert spike.day not in span(exp.baseline_start, exp.end)
        tones = Counter(
            p.tone for p in big_world.posts_of(stream) if big_world.day_of(p.created_at) == spike.day
        )
        assert tones["negative"] > tones["positive"] + tones["neutral"]
