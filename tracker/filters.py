"""A stream's local filters: `include`, `exclude` (words and "quoted phrases") and `languages`.

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
        return item


def primary(lang: str) -> str:
    """The primary subtag of a language code: en-US -> en."""
    return re.split(r"[-_]", lang, maxsplit=1)[0].lower()
