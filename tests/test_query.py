"""The query language: one corpus of queries with their expected matches, run three ways.

Each query is evaluated in Python (`matches`, what stream filters and alerts use) and
in SQL through the full-text index on every database of the `db_url` fixture (SQLite
FTS5, and PostgreSQL when $TRACKER_TEST_POSTGRES is set); all must give exactly the
expected mentions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from connectors.base import Item
from tracker.ingest import upsert_items
from tracker.query import MAX_DEPTH, MAX_TOKEN, QueryError, document, explain, matches, parse, plain_words
from tracker.search_index import engine_ids, where
from tracker.store.db import Store, open_store
from tracker.store.models import Mention, Stream

T0 = datetime(2026, 9, 1, 10, tzinfo=UTC)

# key: (text, author, platform, lang, kind, sentiment, stream)
DOCS: dict[str, tuple[str, str | None, str, str | None, str, float | None, str]] = {
    "a": (
        "Acme Teams is broken after the update.",
        "jane@mastodon.social",
        "mastodon",
        "en",
        "mention",
        -0.6,
        "acme",
    ),
    "b": ("I love #acme and the new cloud", "bob.bsky.social", "bluesky", "en", "mention", 0.7, "acme"),
    "c": ("Thanks @acme for the quick fix!", "Carol", "hackernews", "en-US", "mention", 0.5, "acme"),
    "d": ("Acmeville is a nice town", "dave", "reddit", "en", "mention", 0.0, "acme"),
    "e": ("Grüße aus Österreich, Acme läuft super", "Jürgen", "mastodon", "de", "mention", 0.6, "acme"),
    "f": ("acme's pricing is awful, acme hiring freeze", "erin", "reddit", "en", "mention", -0.7, "acme"),
    "g": (
        "The ACME cloud outage: support was slow",
        "acme@mastodon.social",
        "mastodon",
        "en",
        "own",
        -0.3,
        "acme-owned",
    ),
    "h": ("Globex beats Acme on price", "frank", "bluesky", "en", "mention", 0.2, "globex"),
    "i": ("email me at bob@acme.com", "gina", "hackernews", "en", "mention", 0.0, "acme"),
    "j": ("Nothing to see here", "hal", "rss", "en", "mention", None, "acme"),
    "k": ("Straße und Strasse", "ida", "rss", "de", "mention", 0.0, "globex"),
    "l": ("new release notes; teams are broken, acme", "jim", "mastodon", "en", "mention", -0.4, "acme"),
    "m": ("Москва любит Acme", "Иван", "bluesky", "ru", "mention", 0.5, "acme"),
    "n": ("#AcmeCloud launch today", "kim", "mastodon", "en", "mention", 0.3, "acme"),
    "o": ("e-mail support is great", "lee", "hackernews", "en", "mention", 0.6, "globex"),
    "p": (
        "build 1e10x shipped",
        "pat",
        "rss",
        "en",
        "mention",
        0.0,
        "acme",
    ),  # PostgreSQL's parser splits 1e10x
}
ACME = "abcefghilm"
ALL = "".join(DOCS)

CORPUS: list[tuple[str, str]] = [
    ("acme", ACME),
    ("Acme", ACME),
    ("acme*", ACME + "dn"),
    ("#acme", "b"),
    ("@acme", "c"),
    ("#acme*", "bn"),
    ("#AcmeCloud", "n"),
    ("acmecloud", "n"),
    ("acme broken", "al"),
    ('"teams is broken"', "a"),
    ('"teams broken"', ""),
    ('"acme teams"', "a"),
    ("acme -broken", "bcefghim"),
    ("acme NOT broken", "bcefghim"),
    ("osterreich", "e"),
    ("ÖSTERREICH", "e"),
    ("grusse", "e"),
    ("strasse", "k"),
    ("straße", "k"),
    ("москва", "m"),
    ("моск*", "m"),
    ("acme OR globex", ACME),
    ("globex OR straße", "hk"),
    ("(acme OR globex) sentiment:negative", "afgl"),
    ("sentiment:positive", "bcehmno"),
    ("-sentiment:positive", "adfgijklp"),
    ("sentiment:neutral", "dikp"),
    ("kind:own", "g"),
    ("acme -kind:own", "abcefhilm"),
    ("platform:mastodon", "aegln"),
    ("platform:bluesky acme", "bhm"),
    ("lang:en", "abcdfghijlnop"),
    ("lang:en-us", "c"),
    ("lang:de", "ek"),
    ("-lang:en", "ekm"),
    ("author:jane", "a"),
    ("author:JURGEN", "e"),
    ("author:@acme", "g"),
    ("author:bob*", "b"),
    ('author:"jane@mastodon.social"', "a"),
    ("stream:globex", "hko"),
    ("stream:globex OR kind:own", "ghko"),
    ("acme's", "f"),
    ("e-mail", "o"),
    ("email", "i"),
    ('"acme hiring freeze"', "f"),
    ("acme hiring -freeze", ""),
    ("(broken OR outage) acme", "agl"),
    ("NOT (acme OR globex)", "djknop"),
    ("bob", "i"),
    ("@mastodon", ""),
    ("cloud -#acme", "g"),
    ("acme AND cloud", "bg"),
    ('"acme cloud" OR #acmecloud', "gn"),
    # phrases beside other terms (on PostgreSQL one index search with the phrases' words)
    ('"teams is broken" acme -hiring', "a"),
    ('"acme cloud" outage', "g"),
    ('"acme hiring" -awfully', "f"),
    ('"acme cloud" lang:en', "g"),
    ('"teams is broken" "after the update"', "a"),
    ('-"teams is broken" broken', "l"),
    ("support (slow OR great)", "go"),
    ("(acme OR globex) -(broken OR hiring)", "bceghim"),
    ("-acme -globex -straße", "djnop"),
    ('acme -"teams is broken" stream:acme', "bcefilm"),
    ("love OR (price -globex)", "b"),
    ("(love OR quick) (#acme OR @acme)", "bc"),
    ("-(sentiment:negative OR kind:own) acme*", "bcdehimn"),
    ("acme -@acme -#acme lang:en", "afghil"),
    ("up*", "a"),
    ("the -(acme OR cloud)", ""),
    ("the -(acme cloud)", "ac"),
    ("1e10x", "p"),
    ("1e10*", "p"),
]

ERRORS: list[tuple[str, str]] = [
    ("(acme OR globex", "unbalanced parenthesis at position 1"),
    ("acme OR globex)", "unbalanced parenthesis at position 15"),
    ("acme (broken OR (outage)", "unbalanced parenthesis at position 6"),
    ('acme "teams', "unclosed quote at position 6"),
    (
        "foo:bar",
        "unknown field 'foo:' at position 1 (known: author, platform, lang, stream, sentiment, kind)",
    ),
    ("acme sentiment:angry", "sentiment: expected positive, negative or neutral, got 'angry' (position 6)"),
    ("kind:team", "kind: expected mention or own, got 'team' (position 1)"),
    ("acme OR", "OR needs a term on each side (position 6)"),
    ("OR acme", "OR needs a term on each side (position 1)"),
    ("acme AND", "AND needs a term on each side (position 6)"),
    ("acme NOT", "NOT needs a term after it (position 6)"),
    ("", "the query is empty"),
    ("   ", "the query is empty"),
    ("ac*me", "a wildcard * goes at the end of a word (position 3)"),
    ("a*", "a wildcard needs at least 2 letters before it ('a*' at position 1)"),
    ("!!!", "'!!!' at position 1 has no letters or digits to search for"),
    ("acme ()", "empty parentheses at position 6"),
    ("#acme-corp", "a hashtag is one word: '#acme-corp' at position 1"),
    ("author:", "author: needs a value at position 1"),
    ("lang:english!", "lang: 'english!' is not a lang name (position 1)"),
    # hostile ones: deep nesting, very long, a lone wildcard, a NUL byte
    ("(" * 11 + "acme" + ")" * 11, "parentheses nested more than 10 deep at position 11"),
    ("acme (" + "(" * 400 + "x1" + ")" * 401, "parentheses nested more than 10 deep at position 16"),
    ("acme " * 201, "the query is longer than 1,000 characters"),
    ("*", "'*' at position 1 has no letters or digits to search for"),
    ("acme \x00", "control character U+0000 at position 6"),
    ("author:ja\x00ne", "control character U+0000 at position 10"),
    ('"', "unclosed quote at position 1"),
]


def _items() -> Iterator[Item]:
    for n, (key, (body, author, platform, lang, kind, score, stream)) in enumerate(DOCS.items()):
        yield Item(
            platform=platform,
            external_id=f"x-{key}",
            text=body,
            created_at=T0 + timedelta(hours=n),
            author=author,
            lang=lang,
            kind=kind,
            sentiment=score if score is not None else 0.0,
            streams=(stream,),
        )


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = _filled(f"sqlite:///{tmp_path_factory.mktemp('q') / 't.db'}")
    yield store
    store.close()


def _filled(url: str) -> Store:
    store = open_store(url)
    with store.write() as session:
        names = {"acme", "acme-owned", "globex"}
        for name in sorted(names):
            session.add(Stream(name=name, connector="import", role="brand", source="import", created_at=T0))
        session.flush()
        ids = {s.name: s.id for s in session.scalars(select(Stream))}
        upsert_items(session=session, items=list(_items()), stream_ids=ids, now=T0)
        session.execute(
            text("UPDATE mentions SET sentiment = NULL, sentiment_label = NULL WHERE external_id = 'x-j'")
        )
    return store


def _sql_keys(store: Store, query: str, *, per_row: bool = False) -> str:
    with store.read() as session:
        clause = where(parse(query), store.dialect, per_row=per_row)
        found = session.scalars(select(Mention.external_id).where(clause)).all()
    return "".join(sorted(k.removeprefix("x-") for k in found))


def _index_keys(store: Store, query: str) -> str | None:
    with store.read() as session:
        ids = engine_ids(parse(query), store.dialect)
        if ids is None:
            return None
        found = session.scalars(select(Mention.external_id).where(Mention.id.in_(ids))).all()
    return "".join(sorted(k.removeprefix("x-") for k in found))


def _python_keys(query: str) -> str:
    parsed = parse(query)
    found = []
    for item in _items():
        record: dict[str, Any] = {**dataclasses.asdict(item), "sentiment_label": _label(item)}
        if matches(parsed, record):
            found.append(item.external_id.removeprefix("x-"))
    return "".join(sorted(found))


def _label(item: Item) -> str | None:
    from tracker.sentiment import label

    return None if item.external_id == "x-j" else label(item.sentiment)


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) + len(ERRORS) >= 40 and len(CORPUS) >= 40


@pytest.mark.parametrize(("query", "expected"), CORPUS, ids=[q for q, _ in CORPUS])
def test_python_evaluation_matches_the_corpus(query: str, expected: str) -> None:
    assert _python_keys(query) == "".join(sorted(expected)), explain(parse(query).tree)


def test_sql_on_each_database_matches_the_corpus(db_url: str) -> None:
    """One database per run of this test: every query of the corpus against it."""
    store = _filled(db_url)
    try:
        wrong = []
        for query, expected in CORPUS:
            for per_row in (False, True):  # FTS5 as a set of matches, and checked row by row
                got = _sql_keys(store, query, per_row=per_row)
                if got != "".join(sorted(expected)):
                    wrong.append(
                        f"{query!r} (per row: {per_row}): got {got!r}, expected {''.join(sorted(expected))!r}"
                    )
            direct = _index_keys(store, query)  # what the mention list counts, read from the index
            if direct is not None and direct != "".join(sorted(expected)):
                wrong.append(f"{query!r} (the index alone): got {direct!r}, expected {''.join(sorted(expected))!r}")
        assert not wrong, f"{store.dialect}:\n" + "\n".join(wrong)
    finally:
        store.close()


@pytest.mark.parametrize(("query", "message"), ERRORS, ids=[q or "<empty>" for q, _ in ERRORS])
def test_errors_name_the_problem_and_its_position(query: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert str(caught.value) == message


def test_the_tree_is_small_and_canonical() -> None:
    assert explain(parse('acme "teams broken" -hiring').tree) == '(acme AND "teams broken" AND NOT hiring)'
    assert explain(parse("a1 OR b1 c1").tree) == "(a1 OR (b1 AND c1))"
    assert explain(parse("(a1 OR b1) c1").tree) == "((a1 OR b1) AND c1)"
    assert explain(parse("NOT NOT x1").tree) == "x1"
    assert explain(parse("#Tag @Who acme*").tree) == "(#tag AND @who AND acme*)"


def test_index_follows_updates_and_deletes(db_url: str) -> None:
    store = _filled(db_url)
    try:
        with store.write() as session:
            ids = {s.name: s.id for s in session.scalars(select(Stream))}
            changed = Item(
                platform="mastodon",
                external_id="x-a",
                text="Acme Teams works again",
                created_at=T0,
                author="jane@mastodon.social",
                lang="en",
                sentiment=0.5,
                streams=("acme",),
            )
            upsert_items(session=session, items=[changed], stream_ids=ids, now=T0 + timedelta(days=1))
        assert _sql_keys(store, "broken") == "l"
        assert _sql_keys(store, "works again") == "a"
        with store.write() as session:
            session.execute(text("DELETE FROM mentions WHERE external_id = 'x-l'"))
        assert _sql_keys(store, "broken") == ""
        assert _sql_keys(store, "-broken") == ALL.replace("l", "")
        if store.dialect == "sqlite":
            with store.read() as session:
                check = session.execute(
                    text("INSERT INTO mention_fts(mention_fts, rank) VALUES ('integrity-check', 1)")
                )
                del check
    finally:
        store.close()


def test_migration_indexes_existing_mentions(tmp_path: Any) -> None:
    """A database at 0003 with mentions: upgrading to 0004 makes them searchable."""
    from alembic import command

    from tracker.store import db

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = db.Store(url)
    cfg = db.alembic_config(store)
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.commit()
        conn.execute(
            text(
                "INSERT INTO mentions (platform, external_id, text, created_at, kind, engagement, first_seen_at, updated_at)"
                " VALUES ('rss', 'old-1', 'Österreich liebt #Acme', '2026-09-01 10:00:00.000000', 'mention', 0,"
                " '2026-09-01 10:00:00.000000', '2026-09-01 10:00:00.000000')"
            )
        )
        conn.commit()
    db.upgrade(store)
    with store.read() as session:
        found = session.scalars(
            select(Mention.external_id).where(where(parse("osterreich #acme"), "sqlite"))
        ).all()
    assert found == ["old-1"]
    store.close()


def _nested(depth: int, inner: str) -> str:
    """`inner` inside `depth` parentheses, alternating a group with negated terms and an OR: the
    deepest expression for the engines (FTS5 stops at 32 levels of its own)."""
    for k in range(depth):
        inner = f"(x{k} OR {inner})" if k % 2 else f"(acme -y{k} -z{k} {inner})"
    return inner


def test_the_deepest_nesting_allowed_runs_on_each_database(db_url: str) -> None:
    store = _filled(db_url)
    try:
        for inner in ("acme", '"acme cloud"', "acm*", "-hiring", "sentiment:negative"):
            query = _nested(MAX_DEPTH, inner)
            expected = _python_keys(query)
            assert expected, query  # each matches something, so agreeing means something
            for per_row in (False, True):
                assert _sql_keys(store, query, per_row=per_row) == expected, (store.dialect, query, per_row)
            assert _index_keys(store, query) in (None, expected), (store.dialect, query)
        with pytest.raises(QueryError, match="nested more than 10 deep"):
            parse(_nested(MAX_DEPTH + 1, "acme"))
    finally:
        store.close()


def test_tabs_and_newlines_are_spaces_other_control_characters_are_refused() -> None:
    assert explain(parse("acme\ttab\r\nnewline").tree) == "(acme AND tab AND newline)"
    for control in ("\x00", "\x1b", "\x7f"):
        with pytest.raises(QueryError, match=f"control character U\\+{ord(control):04X} at position 5"):
            parse("acme" + control)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=300))
def test_an_ascii_texts_words_are_the_regex_words_of_its_lower_case(text: str) -> None:
    """document's fast case (query.plain_words, bytes translated and split in C) finds the words
    the regular expression finds, for any ASCII text: punctuation, controls, upper case."""
    words = re.findall("[a-z0-9]+", text.lower())
    doc = document(text)
    if len(" ".join(words)) <= MAX_TOKEN or max(map(len, words)) <= MAX_TOKEN:
        assert doc.words == " ".join(words)
    else:  # a word longer than MAX_TOKEN is cut
        assert doc.words == " ".join(w[:MAX_TOKEN] for w in words)
    assert plain_words(text) in (None, doc.words)
    if "#" not in text and "@" not in text:
        assert (doc.tags, doc.handles) == ("", "")
    else:
        assert plain_words(text) is None
