"""The one query language: words, "phrases", OR, NOT / -word, (groups), acme*, field filters.

    acme "teams broken" -hiring            every word and the phrase, not "hiring"
    (acme OR globex) lang:en sentiment:negative
    #acme OR @acme author:jane* kind:own stream:acme-mastodon

`parse(text)` gives a small syntax tree (or a QueryError naming the 1-based position
of the problem). The same tree is evaluated in ways that agree by construction,
because all read the same normalised words (`document(text)`):

- `matches(query, item)`: in Python, for a collected item or a stored mention
  (stream filters; the alerts' `keyword` kind);
- `tracker.search_index.where(query, dialect)`: a WHERE clause on `mentions` answered
  by the full-text index, SQLite FTS5 or a PostgreSQL GIN index (the same matches).

Words are compared whole (acme does not match acmeville; acme* does), folded for case
and accents (osterreich matches Österreich). `#acme` matches only the hashtag and
`@acme` only the handle, while the plain word `acme` also matches both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from tracker.errors import UserError

FIELDS = ("author", "platform", "lang", "stream", "sentiment", "kind")
SENTIMENT_VALUES = ("positive", "negative", "neutral")
KIND_VALUES = ("mention", "own")
MAX_QUERY = 1_000  # characters of a query
# Parentheses inside parentheses: FTS5's parser overflows at 32 levels of its own expression,
# which a query with negated terms in each group reaches at 27 of ours; Python's recursion
# limit would stop the parser itself near 250.
MAX_DEPTH = 10
MAX_TOKEN = 100  # characters of one word kept (longer words are cut, here and in the index)
MAX_WORDS = 16_000  # words of a text kept searchable (PostgreSQL positions end at 16,383)
MAX_DOCUMENT = 400_000  # characters of the normalised words (a tsvector holds at most 1 MB)
MIN_PREFIX = 2


class QueryError(UserError):
    """A query that cannot be parsed: the message names the 1-based position."""


# -- normalisation: the words every engine sees -------------------------------------------------

_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# A word: letters and digits (not `_`); a hashtag or handle: # or @ not preceded by one.
_TOKEN = re.compile(r"(?<![^\W_])([#@]?)([^\W_]+)")
_ASCII_WORD = re.compile(r"[a-z0-9]+")
# ASCII bytes to _ASCII_WORD's letters and digits (A-Z lowered), every other byte to a space.
_ASCII_FOLD = bytes(
    c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 or 48 <= c <= 57 else 32 for c in range(256)
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL, not tab or newlines


def fold(text: str) -> str:
    """Lower case without accents: "Österreich" -> "osterreich", "Straße" -> "strasse"."""
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))


def _ascii(token: str) -> str:
    """A word in letters a-z and digits only, so every database's parser keeps it whole.

    Characters beyond ASCII (after folding: Greek, Cyrillic, CJK...) are written as
    `zq<hex>q`; the mapping is per character, so a prefix stays a prefix.
    """
    token = token[:MAX_TOKEN]
    if token.isascii():
        return token
    return "".join(c if c < "\x80" else f"zq{ord(c):x}q" for c in token)


@dataclass(frozen=True)
class Document:
    """The searchable form of a text: its words in order, and its hashtags and handles."""

    words: str  # single spaces between words
    tags: str
    handles: str

    @property
    def word_list(self) -> list[str]:
        return self.words.split(" ") if self.words else []


def document(text: str) -> Document:
    """Split a text into folded words; #tags and @handles count as words and as themselves."""
    plain = plain_words(text)
    if plain is not None:  # the common case, fast
        return Document(plain, "", "")
    folded = fold(text)
    if folded.isascii() and "#" not in folded and "@" not in folded:  # accents folded away, or too long
        words = _ASCII_WORD.findall(folded)
        tags: list[str] = []
        handles: list[str] = []
    else:
        words, tags, handles = [], [], []
        for mark, word in _TOKEN.findall(folded):
            word = _ascii(word)
            words.append(word)
            if mark == "#":
                tags.append(word)
            elif mark == "@":
                handles.append(word)
    joined = " ".join(words)
    if len(joined) > MAX_TOKEN and (len(words) > MAX_WORDS or max(map(len, words)) > MAX_TOKEN):
        words = [w[:MAX_TOKEN] for w in words[:MAX_WORDS]]
        joined = " ".join(words)
    if len(joined) > MAX_DOCUMENT:
        joined = joined[:MAX_DOCUMENT].rsplit(" ", 1)[0]
        kept = set(joined.split(" "))
        tags = [t for t in tags if t in kept]
        handles = [h for h in handles if h in kept]
    return Document(joined, " ".join(tags), " ".join(handles))


def plain_words(text: str) -> str | None:
    """The words of `document` for an ASCII text without # or @, without making a Document (the
    ingest's hot path); None for any other text, or when a limit would cut them."""
    if not text.isascii() or "#" in text or "@" in text:
        return None
    words = text.encode().translate(_ASCII_FOLD).split()  # _ASCII_WORD's words, split in C
    joined = b" ".join(words)
    if len(joined) > MAX_TOKEN and (
        len(joined) > MAX_DOCUMENT or len(words) > MAX_WORDS or max(map(len, words)) > MAX_TOKEN
    ):
        return None
    return joined.decode()


def fold_author(author: str | None) -> str | None:
    if author is None:
        return None
    if author.isascii():
        return author.strip().lower().removeprefix("@")
    return fold(author.strip()).removeprefix("@")


# -- the syntax tree --------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """One word; `where` is words (anywhere), tags (#) or handles (@); `prefix` for acme*."""

    text: str
    where: str = "words"
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    prefix: bool = False


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Union[Word, Phrase, Field, Not, And, Or]  # noqa: UP007 (dataclass fields need it at runtime)
TEXT_LEAVES = (Word, Phrase)


@dataclass(frozen=True)
class Query:
    """A parsed query: its text and its tree."""

    text: str
    tree: Node

    def __str__(self) -> str:
        return self.text


# -- tokenizer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # ( ) OR AND NOT - PHRASE TERM FIELD
    value: str
    pos: int  # 1-based
    field: str = ""


_BREAK = set(' \t\r\n()"')


def _tokens(text: str) -> list[_Tok]:
    found: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            found.append(_Tok(c, c, i + 1))
            i += 1
        elif c == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError(f"unclosed quote at position {i + 1}")
            found.append(_Tok("PHRASE", text[i + 1 : end], i + 1))
            i = end + 1
        elif c == "-" and (i + 1 < n and text[i + 1] not in _BREAK - {"(", '"'}):
            found.append(_Tok("-", c, i + 1))
            i += 1
        else:
            i = _bare(text, i, found)
    return found


def _bare(text: str, i: int, found: list[_Tok]) -> int:
    """A word, an operator or a field filter starting at i; returns where it ends."""
    start = i
    while i < len(text) and text[i] not in _BREAK:
        i += 1
    value = text[start:i]
    if value in ("OR", "AND", "NOT"):
        found.append(_Tok(value, value, start + 1))
        return i
    name, colon, rest = value.partition(":")
    if colon and re.fullmatch(r"[A-Za-z]+", name):
        field = name.lower()
        if field not in FIELDS:
            raise QueryError(
                f"unknown field {name + ':'!r} at position {start + 1} (known: {', '.join(FIELDS)})"
            )
        if not rest and i < len(text) and text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError(f"unclosed quote at position {i + 1}")
            rest, i = text[i + 1 : end], end + 1
        if not rest.strip():
            raise QueryError(f"{field}: needs a value at position {start + 1}")
        found.append(_Tok("FIELD", rest, start + 1, field))
        return i
    found.append(_Tok("TERM", value, start + 1))
    return i


# -- parser -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Tok], length: int) -> None:
        self.tokens, self.i, self.end = tokens, 0, length + 1
        self.depth = 0  # parentheses open around the current term

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def query(self) -> Node:
        node = self.any_of()
        tok = self.peek()
        if tok is not None:  # only a stray ")" stops an expression early
            raise QueryError(f"unbalanced parenthesis at position {tok.pos}")
        return node

    def any_of(self) -> Node:
        parts = [self.all_of()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind in ("OR", "AND", ")"):
                raise QueryError(f"OR needs a term on each side (position {tok.pos})")
            parts.append(self.all_of())
        return _flat(Or, parts)

    def all_of(self) -> Node:
        parts = [self.unary()]
        while (tok := self.peek()) is not None and tok.kind not in ("OR", ")"):
            if tok.kind == "AND":
                self.take()
                nxt = self.peek()
                if nxt is None or nxt.kind in ("OR", "AND", ")"):
                    raise QueryError(f"AND needs a term on each side (position {tok.pos})")
            parts.append(self.unary())
        return _flat(And, parts)

    def unary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise QueryError(f"a term is missing at position {self.end}")
        if tok.kind in ("NOT", "-"):
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind in ("OR", "AND", ")"):
                raise QueryError(f"{tok.value} needs a term after it (position {tok.pos})")
            child = self.unary()
            return child.child if isinstance(child, Not) else Not(child)
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "(":
            if (nxt := self.peek()) is not None and nxt.kind == ")":
                raise QueryError(f"empty parentheses at position {tok.pos}")
            if self.depth == MAX_DEPTH:
                raise QueryError(f"parentheses nested more than {MAX_DEPTH} deep at position {tok.pos}")
            self.depth += 1
            node = self.any_of()
            self.depth -= 1
            close = self.peek()
            if close is None or close.kind != ")":
                raise QueryError(f"unbalanced parenthesis at position {tok.pos}")
            self.take()
            return node
        if tok.kind == ")":
            raise QueryError(f"unbalanced parenthesis at position {tok.pos}")
        if tok.kind in ("OR", "AND"):
            raise QueryError(f"{tok.kind} needs a term on each side (position {tok.pos})")
        if tok.kind == "PHRASE":
            return _phrase(tok)
        if tok.kind == "FIELD":
            return _field(tok)
        return _term(tok)


def _flat(kind: type[And] | type[Or], parts: list[Node]) -> Node:
    if len(parts) == 1:
        return parts[0]
    children: list[Node] = []
    for part in parts:
        children.extend(part.children if isinstance(part, kind) else (part,))
    return kind(tuple(dict.fromkeys(children)))


def _phrase(tok: _Tok) -> Node:
    words = tuple(document(tok.value).word_list)
    if not words:
        raise QueryError(f"the phrase at position {tok.pos} has no letters or digits to search for")
    return Word(words[0]) if len(words) == 1 else Phrase(words)


def _term(tok: _Tok) -> Node:
    value, pos = tok.value, tok.pos
    prefix = value.endswith("*")
    core = value.rstrip("*") if prefix else value
    if "*" in core:
        raise QueryError(f"a wildcard * goes at the end of a word (position {pos + core.index('*')})")
    where = {"#": "tags", "@": "handles"}.get(core[:1], "words")
    if where != "words":
        core = core[1:]
    words = document(core).word_list
    if not words:
        raise QueryError(f"{value!r} at position {pos} has no letters or digits to search for")
    if where != "words" and len(words) > 1:
        kind = "hashtag" if where == "tags" else "handle"
        raise QueryError(f"a {kind} is one word: {value!r} at position {pos}")
    if prefix and len(words[-1]) < MIN_PREFIX:
        raise QueryError(
            f"a wildcard needs at least {MIN_PREFIX} letters before it ({value!r} at position {pos})"
        )
    if len(words) == 1:
        return Word(words[0], where, prefix)
    if prefix:  # e-mail* : the phrase "e mail*" is not expressible the same way everywhere
        raise QueryError(f"a wildcard goes on a single word ({value!r} at position {pos}); quote the rest")
    return Phrase(tuple(words))  # acme's, e-mail: the words in that order


def _field(tok: _Tok) -> Node:
    name, raw, pos = tok.field, tok.value.strip(), tok.pos
    prefix = name == "author" and raw.endswith("*")
    value = raw.rstrip("*") if prefix else raw
    if name == "author":
        folded = fold_author(value) or ""
        if not folded or "*" in folded:
            raise QueryError(f"author: expected a name, with at most a * at its end (position {pos})")
        return Field(name, folded, prefix)
    value = value.lower()
    allowed: dict[str, Sequence[str]] = {"sentiment": SENTIMENT_VALUES, "kind": KIND_VALUES}
    if name in allowed and value not in allowed[name]:
        options = allowed[name]
        raise QueryError(
            f"{name}: expected {', '.join(options[:-1])} or {options[-1]}, got {raw!r} (position {pos})"
        )
    pattern = {"platform": r"[a-z][a-z0-9_-]{0,31}", "lang": r"[a-z]{2,3}(-[a-z0-9]{1,8})*",
               "stream": r"[a-z0-9][a-z0-9-]{0,99}"}.get(name)  # fmt: skip
    if pattern and not re.fullmatch(pattern, value):
        raise QueryError(f"{name}: {raw!r} is not a {name} name (position {pos})")
    return Field(name, value)


def parse(text: str) -> Query:
    """Parse a query; a QueryError names what is wrong and its 1-based position."""
    if len(text) > MAX_QUERY:
        raise QueryError(f"the query is longer than {MAX_QUERY:,} characters")
    control = _CONTROL.search(text)
    if control:  # a NUL byte cannot even be stored by PostgreSQL (a saved search, an author: filter)
        raise QueryError(f"control character U+{ord(control.group()):04X} at position {control.start() + 1}")
    tokens = _tokens(text)
    if not tokens:
        raise QueryError("the query is empty")
    return Query(text.strip(), _Parser(tokens, len(text)).query())


def as_query(query: Query | str) -> Query:
    return query if isinstance(query, Query) else parse(query)


# -- evaluation in Python ---------------------------------------------------------------------


@dataclass
class Target:
    """What a query reads of one mention; `lang` and `sentiment_label` may be computed lazily."""

    text: str
    author: str | None = None
    platform: str = ""
    kind: str = "mention"
    streams: tuple[str, ...] = ()
    lang: str | None = None
    sentiment_label: str | None = None
    lazy: Callable[[str], str | None] | None = None  # field name -> value, asked once when needed
    _doc: Document | None = None

    @property
    def doc(self) -> Document:
        if self._doc is None:
            self._doc = document(self.text)
        return self._doc

    def value(self, name: str) -> Any:
        found = getattr(self, name)
        if found is None and self.lazy is not None and name in ("lang", "sentiment_label"):
            found = self.lazy(name)
            setattr(self, name, found)
        return found


def target(item: Any, *, streams: Iterable[str] | None = None) -> Target:
    """A Target for a connectors Item, a stored Mention or a mention record (dict)."""
    get: Callable[[str], Any]
    if isinstance(item, Mapping):
        get = item.get
    else:

        def get(name: str) -> Any:
            return getattr(item, name, None)

    names = tuple(streams) if streams is not None else tuple(get("streams") or ())
    return Target(
        text=get("text") or "",
        author=get("author"),
        platform=get("platform") or "",
        kind=get("kind") or "mention",
        streams=names,
        lang=get("lang"),
        sentiment_label=get("sentiment_label"),
    )


def matches(query: Query | str, item: Any) -> bool:
    """Whether one item (Item, Mention, mention record or Target) matches the query."""
    q = as_query(query)
    return evaluate(q.tree, item if isinstance(item, Target) else target(item))


def evaluate(node: Node, t: Target) -> bool:
    if isinstance(node, And):
        return all(evaluate(c, t) for c in node.children)
    if isinstance(node, Or):
        return any(evaluate(c, t) for c in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, t)
    if isinstance(node, Word):
        return _word_in(node, t.doc)
    if isinstance(node, Phrase):
        return f" {' '.join(node.words)} " in f" {t.doc.words} "
    return _field_matches(node, t)


def _word_in(node: Word, doc: Document) -> bool:
    haystack = getattr(doc, node.where)
    if not haystack:
        return False
    if node.prefix:
        return any(w.startswith(node.text) for w in haystack.split(" "))
    return f" {node.text} " in f" {haystack} "


def _field_matches(node: Field, t: Target) -> bool:
    name, value = node.name, node.value
    if name == "author":
        author = fold_author(t.author)
        if author is None:
            return False
        return author.startswith(value) if node.prefix else author == value or author.startswith(value + "@")
    if name == "lang":
        lang = t.value("lang")
        return lang is not None and (lang.lower() == value or lang.lower().startswith(value + "-"))
    if name == "stream":
        return value in t.streams
    if name == "sentiment":
        return bool(t.value("sentiment_label") == value)
    return bool(getattr(t, name) == value)  # platform, kind


def needs(query: Query, name: str) -> bool:
    """Whether the query reads a field (the stream filter computes lang/sentiment only then)."""

    def walk(node: Node) -> bool:
        if isinstance(node, And | Or):
            return any(walk(c) for c in node.children)
        if isinstance(node, Not):
            return walk(node.child)
        return isinstance(node, Field) and node.name == name

    return walk(query.tree)


def explain(node: Node) -> str:
    """The tree in a canonical, fully bracketed form (tests, --debug)."""
    if isinstance(node, And | Or):
        sep = " AND " if isinstance(node, And) else " OR "
        return "(" + sep.join(explain(c) for c in node.children) + ")"
    if isinstance(node, Not):
        return f"NOT {explain(node.child)}"
    if isinstance(node, Word):
        mark = {"words": "", "tags": "#", "handles": "@"}[node.where]
        return f"{mark}{node.text}{'*' if node.prefix else ''}"
    if isinstance(node, Phrase):
        return '"' + " ".join(node.words) + '"'
    return f"{node.name}:{node.value}{'*' if node.prefix else ''}"
