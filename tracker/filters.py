"""A stream's local filters: `include`, `exclude` (words and "quoted phrases"), `languages`,
and `filter`, a query of the query language (tracker/query.py) matched exactly as the
mention search matches it (an item kept by a stream's `filter` is one the search for
that query, within that stream, finds once stored).

Terms follow search-engine habits: a quoted term is an exact phrase; an unquoted
term of several words needs all of them; matching is case-insensitive on whole
words, so "acme" matches "Acme's" and "#acme" but not "acmecorp".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from connectors.base import Item
from tracker import sentiment
from tracker.query import Query, evaluate, parse, target


def _word(text: str) -> str:
    return r"(?<!\w)" + r"\s+".join(re.escape(part) for part in text.split()) + r"(?!\w)"


def compile_term(term: str) -> list[re.Pattern[str]]:
    """Patterns that must all match for the term to match."""
    stripped = term.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        return [re.compile(_word(stripped[1:-1]), re.IGNORECASE)]
    return [re.compile(_word(word), re.IGNORECASE) for word in stripped.split()]


@dataclass(frozen=True)
class StreamFilter:
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    languages: Sequence[str] = ()
    query: str | None = None
    stream: str = ""

    @cached_property
    def _query(self) -> Query | None:
        return parse(self.query) if self.query else None

    @cached_property
    def _include(self) -> list[list[re.Pattern[str]]]:
        return [compile_term(t) for t in self.include]

    @cached_property
    def _exclude(self) -> list[list[re.Pattern[str]]]:
        return [compile_term(t) for t in self.exclude]

    @cached_property
    def _languages(self) -> set[str]:
        return {primary(lang) for lang in self.languages}

    def apply(self, item: Item) -> Item | None:
        """The item (its language filled in when it had to be detected), or None when filtered out."""
        text = item.text
        if self._include and not any(all(p.search(text) for p in term) for term in self._include):
            return None
        if any(all(p.search(text) for p in term) for term in self._exclude):
            return None
        if self._languages:
            lang = item.lang or sentiment.detect_language(text)
            if lang is None or primary(lang) not in self._languages:
                return None
            if item.lang is None:
                item = replace(item, lang=lang)
        if self._query is not None and not self._matches(self._query, item):
            return None
        return item

    def _matches(self, query: Query, item: Item) -> bool:
        """The query on the item as it will be stored: language detected and sentiment scored
        the way the ingest does it, only when the query reads them."""
        seen = target(item, streams=(self.stream,) if self.stream else item.streams)

        def lazy(name: str) -> str | None:
            lang = item.lang or sentiment.detect_language(item.text)
            if name == "lang":
                return lang
            score = item.sentiment if item.sentiment is not None else sentiment.score(item.text, lang)
            return sentiment.label(score)

        seen.lazy = lazy
        return evaluate(query.tree, seen)


def primary(lang: str) -> str:
    """The primary subtag of a language code: en-US -> en."""
    return re.split(r"[-_]", lang, maxsplit=1)[0].lower()
