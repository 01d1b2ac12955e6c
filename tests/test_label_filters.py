"""What "irrelevant" labels teach a stream's filter (issue 23), on simulated data with known truth.

Relevant mentions of the stream talk about the product; irrelevant ones are about a cartoon
that shares the brand's name (every one names "coyote" or "anvil"). The proposal must find
those words, never the brand word the stream listens for, remove the irrelevant mentions
without dropping relevant ones (measured on the labels and held out), and leave the config
file as it was: it only shows the line to add. On noise (irrelevant mentions drawn from the
same words as the relevant ones) nothing useful can be learned and nothing is proposed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tracker import label_filters, labels
from tracker.config import load_settings
from tracker.filters import StreamFilter
from tracker.store.db import open_store, upgrade
from tracker.store.models import Mention, MentionStream, Stream

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
PRODUCT = ["dashboard", "sync", "export", "pricing", "support", "release", "mobile", "login", "invoice"]
MOOD = ["great", "slow", "broken", "lovely", "fine", "terrible", "fast", "confusing"]
CARTOON = ["coyote", "anvil"]
FILLER = ["today", "again", "really", "team", "week", "morning", "everyone", "finally"]


def _relevant(rng: random.Random) -> str:
    return f"Acme {rng.choice(PRODUCT)} is {rng.choice(MOOD)} {rng.choice(FILLER)}"


def _cartoon(rng: random.Random) -> str:
    return f"Acme {rng.choice(CARTOON)} is {rng.choice(MOOD)} {rng.choice(FILLER)}"


@pytest.fixture
def workspace(tmp_path: Path) -> Any:
    path = write_config(
        tmp_path,
        db_url=f"sqlite:///{tmp_path / 'tracker.db'}",
        streams=[
            {"name": "acme-mastodon", "connector": "mastodon", "hashtag": "acme", "every": "15m",
             "exclude": ["acme corp hiring"]},
        ],
    )  # fmt: skip
    settings = load_settings(path)
    store = open_store(settings.database_url)
    upgrade(store)
    yield path, settings, store
    store.close()


def _collect(store: Any, texts: list[tuple[str, str | None]]) -> None:
    """Store the mentions on the stream and label those with a label."""
    with store.write() as session:
        stream = session.query(Stream).filter_by(name="acme-mastodon").one_or_none()
        if stream is None:
            stream = Stream(name="acme-mastodon", connector="mastodon", created_at=NOW)
            session.add(stream)
            session.flush()
        for i, (text, label) in enumerate(texts):
            mention = Mention(
                platform="mastodon",
                external_id=f"x{i}",
                text=text,
                lang="en",
                created_at=NOW - timedelta(minutes=i),
                first_seen_at=NOW,
                updated_at=NOW,
            )
            session.add(mention)
            session.flush()
            session.add(
                MentionStream(mention_id=mention.id, stream_id=stream.id, created_at=mention.created_at)
            )
            if label:  # as `tracker label add` stores it, in one transaction for speed
                labels._put(
                    session, mention.id, mention.external_id, text, "en", label, source="cli", now=NOW
                )


def _world(
    rng: random.Random, relevant: int, irrelevant: int, unlabelled: int
) -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = [
        (_relevant(rng), rng.choice(labels.CLASSES)) for _ in range(relevant)
    ]
    rows += [(_cartoon(rng), "irrelevant") for _ in range(irrelevant)]
    rows += [(_cartoon(rng) if i % 4 == 0 else _relevant(rng), None) for i in range(unlabelled)]
    rng.shuffle(rows)
    return rows


def test_irrelevant_labels_propose_the_cartoon_words_and_measure_them(workspace: Any, cli: Any) -> None:
    path, settings, store = workspace
    rng = random.Random(3)
    _collect(store, _world(rng, relevant=80, irrelevant=30, unlabelled=40))
    before = path.read_bytes()
    found = label_filters.suggest(store, settings, "acme-mastodon")
    assert sorted(found["terms"]) == ["anvil", "coyote"], found["terms"]
    assert not any("acme" in t for t in found["terms"]), "never the word the stream listens for"
    # Labels are unique per text: the 110 generated rows hold fewer distinct labelled texts.
    assert found["measured"] == {
        "irrelevant": found["irrelevant_labels"],
        "irrelevant_removed": found["irrelevant_labels"],
        "relevant": found["relevant_labels"],
        "relevant_dropped": 0,
    }
    held = found["held_out"]
    assert held["irrelevant"] == found["irrelevant_labels"] and held["relevant_dropped"] == 0
    assert held["irrelevant_removed"] >= held["irrelevant"] - 2
    assert found["stored_checked"] == 150
    assert found["line"] == 'exclude = ["acme corp hiring", "coyote", "anvil"]' or found["line"] == (
        'exclude = ["acme corp hiring", "anvil", "coyote"]'
    )

    # The line, once added, makes the stream's own filter drop exactly what was measured.
    rule = StreamFilter(exclude=["acme corp hiring", *found["terms"]])
    cartoon, product = _cartoon(random.Random(9)), _relevant(random.Random(9))
    from connectors.base import Item

    def item(text: str) -> Item:
        return Item(platform="mastodon", external_id="n", url=None, author=None, text=text, created_at=NOW)

    assert rule.apply(item(cartoon)) is None and rule.apply(item(product)) is not None

    got = cli("label", "exclusions", "--config", path)
    assert got.code == 0, got.err
    assert "proposed exclusions:" in got.out and "replace the stream's exclude line" in got.out
    assert found["line"] in got.out and "drops 0 of" in got.out
    assert path.read_bytes() == before, "the config file is never changed"
    as_json = cli("label", "exclusions", "--stream", "acme-mastodon", "--json", "--config", path)
    assert as_json.code == 0 and '"terms"' in as_json.out


def test_noise_proposes_nothing(workspace: Any) -> None:
    _, settings, store = workspace
    rng = random.Random(5)
    rows = [(_relevant(rng), rng.choice([*labels.CLASSES, "irrelevant"])) for _ in range(150)]
    _collect(store, rows)
    found = label_filters.suggest(store, settings, "acme-mastodon")
    assert found["irrelevant_labels"] >= label_filters.MIN_IRRELEVANT
    assert found["terms"] == [] and found["line"] is None


def test_too_few_labels_say_what_is_needed(workspace: Any, cli: Any) -> None:
    path, settings, store = workspace
    rng = random.Random(1)
    _collect(store, [(_cartoon(rng), "irrelevant"), (_relevant(rng), "positive")])
    found = label_filters.suggest(store, settings, "acme-mastodon")
    assert found["terms"] == [] and found["needs"]
    got = cli("label", "exclusions", "--config", path)
    assert "no exclusions proposed yet: needs" in got.out
    unknown = cli("label", "exclusions", "--stream", "nope", "--config", path)
    assert unknown.code == 2 and "unknown stream 'nope'" in unknown.err and "Traceback" not in unknown.err


def test_choose_keeps_what_occurs_in_relevant_mentions_out() -> None:
    examples = [
        label_filters.Example("Acme anvil sale today", True),
        label_filters.Example("Acme anvil sale tomorrow", True),
        label_filters.Example("Acme sale for teams", False),
    ]
    assert label_filters.choose(examples, {"acme"}) == ["anvil"], "'sale' is in a relevant one"
    assert label_filters.choose(examples, {"acme", "anvil"}) == []
