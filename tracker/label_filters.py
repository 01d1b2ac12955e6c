"""What "irrelevant" labels teach a stream's filter: exclusion terms, measured, proposed.

A mention labelled irrelevant ("not about us") is evidence for the `exclude` of each
stream that collected it. `suggest` looks, per stream, at its labelled mentions: words
and two-word "phrases" that occur in at least MIN_HITS irrelevant ones and in none of the
relevant ones (labelled positive, neutral or negative), matched exactly as the stream's
`exclude` will match them (tracker/filters.py: whole words, case-insensitive), and picks
them greedily, the term that removes the most irrelevant mentions not yet removed first.

The effect is measured on the stream's known labels twice: on the labels the terms were
chosen from (optimistic by construction), and held out: in FOLDS-fold cross-validation,
terms chosen from the other folds are counted on each fold, so a term that only
memorises its own examples does not count. Terms are proposed only when they carry over:
held out, they remove at least MIN_HITS irrelevant mentions and at least MIN_PRECISION of
what they drop is irrelevant (on noise, words that happen to recur are not proposed).
A term is never chosen when it is one of the words the stream listens for (its include,
hashtag, account or query): excluding those would drop the stream itself.

The config file is the user's: nothing here changes it. The result carries the exact
`exclude = [...]` line (the stream's present terms plus the proposed ones) for the user to
put under the stream's `[[streams]]` in the config; from the next collection on, the
stream's filter drops such items (mentions already stored stay; `stored_removed` says how
many of the stream's newest stored ones the terms would have dropped).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypedDict

from sqlalchemy import select

from tracker.config import Settings, StreamConfig
from tracker.filters import compile_term
from tracker.labels import CLASSES
from tracker.store.db import Store
from tracker.store.models import Label, Mention, MentionStream, Stream

MIN_HITS = 2  # a term must occur in at least this many irrelevant mentions
MIN_IRRELEVANT = 3  # irrelevant labels a stream needs before terms are proposed
MIN_RELEVANT = 10  # relevant labels it needs: without them a term's harm cannot be measured
MAX_TERMS = 10
MIN_PRECISION = 0.8  # held out, at least this share of what the terms drop must be irrelevant
FOLDS = 5
STORED = 5_000  # the newest stored mentions of the stream the proposal is tried on
_WORD = re.compile(r"[^\W_]{3,}|#\w+")  # words of three or more letters/digits, hashtags


@dataclass(frozen=True)
class Example:
    text: str
    irrelevant: bool


def _terms_of(text: str) -> set[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    found = set(words)
    found.update(f'"{a} {b}"' for a, b in pairwise(words))
    return found


def _matcher(term: str) -> Any:
    patterns = compile_term(term)
    return lambda text: all(p.search(text) for p in patterns)


def _guarded(stream: StreamConfig | None) -> set[str]:
    """Words the stream listens for: never proposed as exclusions."""
    if stream is None:
        return set()
    words: set[str] = set()
    # The stream's selectors (hashtag, account, query, subreddit, ...: each connector declares its own).
    addresses = ("url", "instance", "base_url")
    listened = (*(value for key, value in stream.selectors if key not in addresses), stream.name)
    for part in (*stream.include, *(p for p in listened if p)):
        words.update(w.lower() for w in re.findall(r"[^\W_]+", part))
    return words


def choose(examples: Sequence[Example], guarded: AbstractSet[str] = frozenset()) -> list[str]:
    """Exclusion terms, best first: each in >= MIN_HITS irrelevant examples and no relevant one."""
    irrelevant = [e.text for e in examples if e.irrelevant]
    relevant = [e.text for e in examples if not e.irrelevant]
    # A text can match a term only when the term is among its words (or word pairs): the
    # index narrows the texts down, the stream's own matching decides.
    index: dict[str, list[int]] = {}
    for i, text in enumerate(irrelevant):
        for term in _terms_of(text):
            index.setdefault(term, []).append(i)
    relevant_index: dict[str, list[int]] = {}
    for i, text in enumerate(relevant):
        for term in _terms_of(text):
            relevant_index.setdefault(term, []).append(i)
    candidates = []
    for term, where in index.items():
        if len(where) < MIN_HITS or set(term.strip('"').lstrip("#").split()) & guarded:
            continue
        match = _matcher(term)
        if any(match(relevant[i]) for i in relevant_index.get(term, ())):
            continue
        hits = {i for i in where if match(irrelevant[i])}
        if len(hits) >= MIN_HITS:
            candidates.append((term, hits))
    chosen: list[str] = []
    left = set(range(len(irrelevant)))
    while candidates and len(chosen) < MAX_TERMS:
        # The most irrelevant mentions still left; then a single word over a phrase; then by name.
        term, hits = max(candidates, key=lambda c: (len(c[1] & left), -c[0].count(" "), c[0]))
        if len(hits & left) < MIN_HITS:
            break
        chosen.append(term)
        left -= hits
        candidates = [c for c in candidates if c[0] != term]
    return chosen


def effect(terms: Sequence[str], examples: Sequence[Example]) -> dict[str, int]:
    matches = [_matcher(t) for t in terms]
    hit = [any(m(e.text) for m in matches) for e in examples]
    return {
        "irrelevant": sum(e.irrelevant for e in examples),
        "irrelevant_removed": sum(h and e.irrelevant for h, e in zip(hit, examples, strict=True)),
        "relevant": sum(not e.irrelevant for e in examples),
        "relevant_dropped": sum(h and not e.irrelevant for h, e in zip(hit, examples, strict=True)),
    }


def held_out(examples: Sequence[Example], guarded: set[str], folds: int = FOLDS) -> dict[str, int]:
    """The effect on each fold of the terms chosen from the other folds, summed over folds."""
    total = {"irrelevant": 0, "irrelevant_removed": 0, "relevant": 0, "relevant_dropped": 0}
    for k in range(folds):
        test = [e for i, e in enumerate(examples) if i % folds == k]
        train = [e for i, e in enumerate(examples) if i % folds != k]
        for key, value in effect(choose(train, guarded), test).items():
            total[key] += value
    return total


def carries_over(held: dict[str, int]) -> bool:
    """Terms are proposed only when, held out, they remove >= MIN_HITS irrelevant mentions with a
    precision of at least MIN_PRECISION (chance words found in a few mentions do not)."""
    removed, dropped = held["irrelevant_removed"], held["relevant_dropped"]
    return removed >= MIN_HITS and removed >= MIN_PRECISION * (removed + dropped)


def exclude_line(present: Sequence[str], terms: Sequence[str]) -> str:
    """The TOML line for the stream's `exclude`: its present terms, then the new ones."""
    merged = list(present) + [t for t in terms if t not in present]
    return "exclude = [" + ", ".join(json.dumps(t, ensure_ascii=False) for t in merged) + "]"


def _examples(store: Store, stream: str) -> tuple[list[Example], list[str]]:
    with store.read() as session:
        rows = session.execute(
            select(Mention.id, Mention.text, Label.label)
            .join(Label, Label.mention_id == Mention.id)
            .join(MentionStream, MentionStream.mention_id == Mention.id)
            .join(Stream, Stream.id == MentionStream.stream_id)
            .where(Stream.name == stream, Label.label.in_((*CLASSES, "irrelevant")))
            .order_by(Mention.id)
        ).all()
        newest = session.scalars(
            select(Mention.text)
            .join(MentionStream, MentionStream.mention_id == Mention.id)
            .join(Stream, Stream.id == MentionStream.stream_id)
            .where(Stream.name == stream, Mention.deleted_at.is_(None))
            .order_by(MentionStream.created_at.desc())
            .limit(STORED)
        ).all()
    seen: set[int] = set()
    examples = []
    for mid, text, label in rows:
        if mid not in seen:
            seen.add(mid)
            examples.append(Example(text, label == "irrelevant"))
    return examples, list(newest)


def streams_with_irrelevant(store: Store) -> list[tuple[str, int]]:
    """(stream, irrelevant labels) for every stream with at least one, by name."""
    from sqlalchemy import func

    with store.read() as session:
        found = session.execute(
            select(Stream.name, func.count(func.distinct(Label.mention_id)))
            .join(MentionStream, MentionStream.stream_id == Stream.id)
            .join(Label, Label.mention_id == MentionStream.mention_id)
            .where(Label.label == "irrelevant")
            .group_by(Stream.name)
            .order_by(Stream.name)
        ).all()
    return [(name, int(n)) for name, n in found]


class FilterSuggestion(TypedDict):
    """One stream's proposed exclusion terms, their measured effect and the config line (SPEC)."""

    stream: str
    configured: bool
    present_exclude: list[str]
    irrelevant_labels: int
    relevant_labels: int
    terms: list[str]
    measured: dict[str, int] | None
    held_out: dict[str, int] | None
    stored_checked: int
    stored_all: bool
    stored_removed: int
    line: str | None
    needs: str | None
    why_none: str | None


def suggest(store: Store, settings: Settings, stream: str) -> FilterSuggestion:
    """The proposal for one stream: terms, the measured effect and the config line (nothing applied)."""
    config = next((s for s in settings.streams if s.name == stream), None)
    examples, newest = _examples(store, stream)
    counts = effect([], examples)
    out: FilterSuggestion = {
        "stream": stream,
        "configured": config is not None,
        "present_exclude": list(config.exclude) if config else [],
        "irrelevant_labels": counts["irrelevant"],
        "relevant_labels": counts["relevant"],
        "terms": [],
        "measured": None,
        "held_out": None,
        "stored_checked": len(newest),
        "stored_all": len(newest) < STORED,  # False: only the newest STORED were tried
        "stored_removed": 0,
        "line": None,
        "needs": None,
        "why_none": None,
    }
    short = []
    if counts["irrelevant"] < MIN_IRRELEVANT:
        short.append(f"{MIN_IRRELEVANT - counts['irrelevant']} more irrelevant")
    if counts["relevant"] < MIN_RELEVANT:
        short.append(f"{MIN_RELEVANT - counts['relevant']} more positive, neutral or negative")
    if short:
        out["needs"] = " and ".join(short) + " labels of this stream's mentions"
        return out
    guarded = _guarded(config)
    terms = choose(examples, guarded)
    out["held_out"] = held = held_out(examples, guarded)
    if not terms:
        out["why_none"] = "no word is shared by two irrelevant mentions and absent from the relevant ones"
    elif not carries_over(held):
        out["why_none"] = (
            f"the words found ({', '.join(terms)}) do not carry over to labels held out: there they remove "
            f"{held['irrelevant_removed']} of {held['irrelevant']} irrelevant and drop "
            f"{held['relevant_dropped']} of {held['relevant']} relevant mentions"
        )
        terms = []
    out["terms"] = terms
    out["measured"] = effect(terms, examples)
    if terms:
        matches = [_matcher(t) for t in terms]
        out["stored_removed"] = sum(any(m(t) for m in matches) for t in newest)
        out["line"] = exclude_line(out["present_exclude"], terms)
    return out
