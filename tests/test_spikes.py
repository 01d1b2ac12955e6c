"""The spike rule: robust to earlier bursts, aware of weekdays, quiet about small streams."""

from __future__ import annotations

from datetime import date, timedelta

from tracker.spikes import find_spikes

MONDAY = date(2026, 9, 28)
PATTERN = [30, 10, 10, 11, 9, 4, 4]  # busy Mondays, quiet weekends


def history(weeks: int = 8, pattern: list[int] = PATTERN, **changes: int) -> dict[date, float]:
    """`weeks` weeks before MONDAY plus MONDAY's week, each day the pattern's count; changes by ISO day."""
    first = MONDAY - timedelta(days=7 * weeks)
    counts = {first + timedelta(days=i): float(pattern[i % 7]) for i in range(7 * (weeks + 1))}
    for day, value in changes.items():
        counts[date.fromisoformat(day.replace("_", "-")[1:])] = float(value)
    return counts


def week() -> list[date]:
    return [MONDAY + timedelta(days=i) for i in range(7)]


def test_a_day_far_above_its_weekday_is_a_spike() -> None:
    (spike,) = find_spikes(history(d2026_09_30=40), week())
    assert (spike.day, spike.count, spike.expected) == (date(2026, 9, 30), 40, 10)
    assert spike.score > 3.5


def test_a_busy_weekday_is_not_news() -> None:
    assert find_spikes(history(), week()) == [], "30 on a Monday is what Mondays look like"
    (spike,) = find_spikes(history(d2026_10_03=30), week())
    assert spike.day == date(2026, 10, 3), "but 30 on a Saturday is"


def test_an_earlier_burst_does_not_hide_the_next_one() -> None:
    counts = history(d2026_09_16=200, d2026_09_23=150, d2026_09_30=45)
    assert [s.day for s in find_spikes(counts, week())] == [date(2026, 9, 30)]


def test_small_streams_and_short_histories_stay_quiet() -> None:
    quiet = history(pattern=[1, 0, 1, 0, 1, 0, 0], d2026_09_30=4)
    assert find_spikes(quiet, week()) == [], "fewer than 5 above normal is noise"
    short = {d: v for d, v in history(d2026_09_30=60).items() if d >= MONDAY - timedelta(days=10)}
    assert find_spikes(short, week()) == [], "too little history to say what is normal"


def test_noisy_streams_need_a_bigger_jump() -> None:
    steady = history(pattern=[40, 30, 35, 30, 38, 15, 12])
    noisy = {d: v + (8 if (d - MONDAY).days // 7 % 2 else -8) for d, v in steady.items()}  # weeks swing +-8
    day = date(2026, 9, 30)
    assert [s.day for s in find_spikes(steady | {day: 60.0}, week())] == [day]
    assert find_spikes(noisy | {day: 60.0}, week()) == [], "25 over normal is within this stream's swings"


def test_days_missing_from_the_history_are_skipped() -> None:
    counts = history(d2026_09_30=40)
    del counts[date(2026, 9, 30)]  # not covered: unknown, neither a spike nor a quiet day
    assert find_spikes(counts, week()) == []
