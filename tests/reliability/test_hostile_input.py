"""Hostile input: mapping functions and import lines fed random and mutated data.

Whatever arrives, a mapping either returns an Item or raises MappingError (the
connector then counts the item as rejected); an import line is either stored or
rejected with its number and reason. Never another exception, never a traceback,
and good lines are always kept.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.base import Item, MappingError
from connectors.bluesky.mapping import map_post
from connectors.hackernews.mapping import map_hit
from connectors.mastodon.mapping import map_status
from connectors.reddit.mapping import map_child
from connectors.rss.mapping import entry_to_item, parse_feed
from tests.conftest import write_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=50),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),  # lone surrogates
    st.just("2026-09-01T10:00:00Z"), st.just("x" * 200_000),
)  # fmt: skip
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=5)),
                      max_leaves=20)  # fmt: skip


def samples() -> dict[str, list[dict[str, Any]]]:
    mastodon = json.loads((FIXTURES / "mastodon" / "timeline_tag_limit10_page1.json").read_text())
    bluesky = json.loads((FIXTURES / "bluesky" / "searchPosts_q_redistricting.json").read_text())["posts"]
    hn = json.loads((FIXTURES / "hackernews" / "search_by_date_tags_story.json").read_text())["hits"]
    hn += json.loads((FIXTURES / "hackernews" / "search_by_date_tags_comment.json").read_text())["hits"]
    reddit = json.loads((FIXTURES / "reddit" / "search_r_all_q_praw_oauth_search.json").read_text())
    feed = parse_feed((FIXTURES / "rss" / "google_alerts_atom_slack.xml").read_bytes(), where="fixture")
    return {"mastodon": mastodon[:3], "bluesky": bluesky[:3], "hackernews": hn,
            "reddit": reddit["data"]["children"][:3], "rss": feed["entries"][:3]}  # fmt: skip


SAMPLES = samples()
MAPPERS = {"mastodon": map_status, "bluesky": map_post, "hackernews": map_hit, "reddit": map_child,
           "rss": entry_to_item}  # fmt: skip


def mapped_or_rejected(name: str, raw: Any) -> None:
    try:
        item = MAPPERS[name](raw)
    except MappingError:
        return
    assert isinstance(item, Item)
    assert isinstance(item.external_id, str) and item.external_id
    assert item.created_at.tzinfo is not None
    for figure in (item.likes, item.reposts, item.replies, item.quotes):
        assert figure is None or (isinstance(figure, int) and not isinstance(figure, bool))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value[:3]):
            found += paths(inner, (*prefix, index))
    return found


def mutate(raw: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    doc = copy.deepcopy(raw)
    target = doc
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        target.pop(path[-1], None)
    else:
        target[path[-1]] = new
    return doc


@pytest.mark.parametrize("name", sorted(MAPPERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_items_map_or_are_rejected(name: str, data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(SAMPLES[name]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        places = paths(raw)
        if not places:  # a mutation replaced the whole structure
            break
        where = data.draw(st.sampled_from(places))
        raw = mutate(raw, where, data.draw(values), data.draw(st.booleans()))
    mapped_or_rejected(name, raw)


# Moments no datetime holds: a year past 2**31 in a feed's parsed time (once an OverflowError that
# failed the whole stream), an infinite year (an OverflowError too), Unix seconds past year 9999, an offset that pushes year 1 out of range.
def _dated(name: str, path: tuple[Any, ...], value: Any) -> Any:
    return mutate(SAMPLES[name][0], path, value, delete=False)


OUT_OF_RANGE = [
    {"id": "x", "title": "t", "published_parsed": [2147483648, 1, 1, 0, 0, 0, 0, 1, 0]},
    {"id": "x", "title": "t", "updated_parsed": [2147483648, 1, 1, 0, 0, 0, 0, 1, 0]},
    {"id": "x", "title": "t", "published_parsed": [float("inf"), 1, 1, 0, 0, 0, 0, 1, 0]},
    {"objectID": "1", "title": "t", "created_at_i": 2**70, "story_text": "t"},
    {"objectID": "1", "title": "t", "created_at_i": 253402300800, "story_text": "t"},
    _dated("reddit", ("data", "created_utc"), 1e300),
    _dated("mastodon", ("created_at",), "0001-01-01T00:00:00+01:00"),
    _dated("bluesky", ("record", "createdAt"), "9999-12-31T23:59:59-01:00"),
]


@pytest.mark.parametrize("name", sorted(MAPPERS))
@settings(max_examples=100, deadline=None)
@given(raw=values)
@example(raw=OUT_OF_RANGE[0])
@example(raw=OUT_OF_RANGE[1])
@example(raw=OUT_OF_RANGE[2])
@example(raw=OUT_OF_RANGE[3])
@example(raw=OUT_OF_RANGE[4])
@example(raw=OUT_OF_RANGE[5])
@example(raw=OUT_OF_RANGE[6])
@example(raw=OUT_OF_RANGE[7])
def test_random_values_map_or_are_rejected(name: str, raw: Any) -> None:
    if name == "rss" and not isinstance(raw, dict):
        raw = {"entry": raw}
    mapped_or_rejected(name, raw)


GOOD = {"platform": "mastodon", "text": "I love it", "created_at": "2026-09-01T10:00:00+02:00", "likes": 2}


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.one_of(values.map(json.dumps), st.text(max_size=80),
                               st.binary(max_size=80).map(lambda b: b.decode("latin-1"))),
                     min_size=1, max_size=12))  # fmt: skip
def test_import_rejects_each_bad_line_and_keeps_every_good_one(tmp_path_factory: pytest.TempPathFactory,
                                                               cli: Any, junk: list[str]) -> None:  # fmt: skip
    directory = tmp_path_factory.mktemp("hostile")
    config = write_config(directory)
    lines: list[str] = []
    good_ids = []
    for n, bad in enumerate(junk):
        good_ids.append(f"good-{n}")
        lines.append(json.dumps({**GOOD, "external_id": f"good-{n}"}))
        lines.append(bad.replace("\n", " ").replace("\r", " "))
    path = directory / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    result = cli("--config", config, "mentions", "import", path, "--json", "--stream", "hostile",
                 "--create-streams")  # fmt: skip
    assert result.code in (0, 1), result.err
    assert "Traceback" not in result.err
    report = json.loads(result.out)
    for error in report["errors"]:
        assert error["line"] % 2 == 0, "only the junk lines (even numbers) are rejected"
        assert error["reason"]
    exported = cli("--config", config, "mentions", "export")
    stored = {json.loads(line)["external_id"] for line in exported.out.splitlines()}
    assert set(good_ids) <= stored
