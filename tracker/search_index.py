"""The full-text index behind the query language: SQLite FTS5 or PostgreSQL tsvector.

Both databases index the same thing, the normalised words of tracker.query.document
kept in `mention_search` (one row per mention, written by the ingest path):

- SQLite: `mention_fts`, an FTS5 table whose external content is `mention_search`,
  written beside it by the ingest path (write_rows) and kept in step by triggers on
  updates and deletes of that table (including the delete that cascades from a mention);
- PostgreSQL: a GIN index on a tsvector whose lexemes are exactly those words (and
  the hashtags and handles with their # and @), made by array_to_tsvector: no parser,
  no stemming, no stop words, so the accent folding done once in Python (what the
  `simple` configuration plus unaccent would do in SQL) applies to every engine alike.

Because the words are already folded for case and accents and written in a-z and 0-9
only, neither engine changes them, and both see exactly what the Python evaluation of
tracker.query sees. A phrase is exact on FTS5; on PostgreSQL (whose lexemes carry no
positions here) the index finds the mentions with all its words and an exact check of
the word sequence completes it. `where(query, dialect)` turns a query into a WHERE
clause on `mentions`: every maximal part made only of words and phrases becomes one
engine query (FTS5 MATCH or tsquery); field filters and negations around it are SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression, cast

from tracker.query import (
    TEXT_LEAVES,
    And,
    Field,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    Word,
    document,
    fold_author,
    plain_words,
)
from tracker.store.bulk import insert_rows
from tracker.store.models import Mention, MentionSearch, MentionStream, Stream
from tracker.store.queries import kind_is

SEARCH_COLUMNS = ("mention_id", "words", "tags", "handles", "author")
# Lexemes straight from the stored words, without PostgreSQL's parser (which would split
# a word like "1e10x" in two); hashtags and handles keep their mark: '#acme', '@acme'.
TSVECTOR = (
    "array_to_tsvector(array_remove(string_to_array(mention_search.words || ' ' || "
    "mention_search.tags || ' ' || mention_search.handles, ' '), ''))"
)
MARK = {"words": "", "tags": "#", "handles": "@"}

# -- index maintenance (the ingest path) -------------------------------------------------------


def search_row(mention_id: int, text: str, author: str | None) -> tuple[Any, ...]:
    """A mention's row of `mention_search`, in SEARCH_COLUMNS order."""
    return (mention_id, *_text_columns(text), fold_author(author))


@lru_cache(maxsize=8192)
def _text_columns(text: str) -> tuple[str, str, str]:
    """A text's words, tags and handles as stored; cached, as reposts and copies repeat texts."""
    words = plain_words(text)
    if words is not None:  # most texts: no tags, handles or accents
        return words, "", ""
    doc = document(text)
    tags = " ".join("#" + t for t in doc.tags.split(" ")) if doc.tags else ""
    handles = " ".join("@" + h for h in doc.handles.split(" ")) if doc.handles else ""
    return doc.words, tags, handles


def write_rows(connection: Any, rows: Sequence[Sequence[Any]], *, replace: bool = False) -> None:
    """Insert search rows (driver-level, like tracker.store.bulk); `replace` rewrites existing ones.

    On SQLite the FTS5 rows are written here, beside the search rows: an AFTER INSERT trigger
    would cost five times as much per row on the ingest path. A run of consecutive ids (the new
    mentions of a batch) goes in one INSERT ... SELECT from the rows just written, not one
    statement per row: each statement hands the GIL back and forth (the import stores on a thread
    of its own); and one statement keeps FTS5's segments as they were (with a hundred rows to
    a statement they came out different: it flushed its pending terms more often).
    Replacing deletes first, and the delete trigger takes the old words out of FTS5.
    """
    if not rows:
        return
    rows = [tuple(r) for r in rows]
    postgres = connection.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    if replace:
        ids = [r[0] for r in rows]
        for i in range(0, len(ids), 400):
            chunk = ids[i : i + 400]
            connection.exec_driver_sql(
                f"DELETE FROM mention_search WHERE mention_id IN ({', '.join([mark] * len(chunk))})",
                tuple(chunk),
            )
    if postgres:  # a concurrent writer may have indexed the same new mention
        insert_rows(connection, "mention_search", SEARCH_COLUMNS, rows, conflict="mention_id")
        return
    # SQLite writers take turns (BEGIN IMMEDIATE): a conflict here would be a bug, and fails loudly.
    insert_rows(connection, "mention_search", SEARCH_COLUMNS, rows)
    first, last = rows[0][0], rows[-1][0]
    if last - first == len(rows) - 1 and all(r[0] == first + i for i, r in enumerate(rows)):  # new mentions
        connection.exec_driver_sql(
            "INSERT INTO mention_fts(rowid, words, tags, handles) SELECT mention_id, words, tags, handles "
            "FROM mention_search WHERE mention_id BETWEEN ? AND ?",
            (first, last),
        )
    else:
        connection.exec_driver_sql(
            "INSERT INTO mention_fts(rowid, words, tags, handles) VALUES (?, ?, ?, ?)", [r[:4] for r in rows]
        )


def rebuild(connection: Any, *, batch: int = 5000) -> int:
    """(Re)write every mention's search row from its text; returns how many (migration, repair)."""
    done, last = 0, 0
    while True:
        rows = connection.execute(
            select(Mention.id, Mention.text, Mention.author)
            .where(Mention.id > last)
            .order_by(Mention.id)
            .limit(batch)
        ).all()
        if not rows:
            return done
        write_rows(connection, [search_row(i, t, a) for i, t, a in rows], replace=True)
        done += len(rows)
        last = rows[-1][0]


_FTS_INSERT = "INSERT INTO mention_fts(rowid, words, tags, handles) "
_FTS_NEW = "VALUES (new.mention_id, new.words, new.tags, new.handles); "
_FTS_DELETE = (
    "INSERT INTO mention_fts(mention_fts, rowid, words, tags, handles) "
    "VALUES ('delete', old.mention_id, old.words, old.tags, old.handles); "
)
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE mention_fts USING fts5(words, tags, handles, "
    "content='mention_search', content_rowid='mention_id', columnsize=0)",
    f"CREATE TRIGGER mention_search_ad AFTER DELETE ON mention_search BEGIN {_FTS_DELETE}END",
    f"CREATE TRIGGER mention_search_au AFTER UPDATE ON mention_search BEGIN "
    f"{_FTS_DELETE}{_FTS_INSERT}{_FTS_NEW}END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS mention_search_au",
    "DROP TRIGGER IF EXISTS mention_search_ad",
    "DROP TABLE IF EXISTS mention_fts",
)
POSTGRES_DDL = (f"CREATE INDEX ix_mention_search_tsv ON mention_search USING gin (({TSVECTOR}))",)
POSTGRES_DROP = ("DROP INDEX IF EXISTS ix_mention_search_tsv",)


def is_index_object(name: str | None) -> bool:
    """Objects of the index that the models do not declare (FTS5's tables, the GIN index)."""
    return bool(name) and (str(name).startswith("mention_fts") or name == "ix_mention_search_tsv")


# -- queries ----------------------------------------------------------------------------------


def where(query: Query, dialect: str, *, per_row: bool = False) -> ColumnElement[bool]:
    """The query as a WHERE clause on `mentions` (SQLite or PostgreSQL).

    By default each full-text part is `mentions.id IN (the engine's matches)`, best when
    the matches are few or all are wanted. `per_row` asks SQLite instead to check each
    row it reads against the index (FTS5 seeks to that rowid): best for the newest page
    of a query that matches a large share of mentions, read along the time index.
    """
    engine = _Postgres() if dialect == "postgresql" else _Fts5(per_row)
    return _compile(query.tree, engine)


def engine_ids(query: Query, dialect: str) -> Any:
    """The mention ids of a query the engine answers alone (words and phrases, no field filters,
    not only negations), as a subquery read straight from the index; None for any other query.

    Counting the first 10,001 matches this way stops after them, where `mentions.id IN (...)`
    would gather every match first (a third of a million rows for a brand's name).
    """
    engine = _Postgres() if dialect == "postgresql" else _Fts5()
    text = _engine_text(query.tree, engine)
    return engine.ids(text) if text is not None else None


class _Engine:
    def word(self, node: Word) -> str:
        raise NotImplementedError

    def phrase(self, node: Phrase) -> str | None:
        """The phrase as an engine query, or None when it needs phrase_ids."""
        raise NotImplementedError

    def phrase_ids(self, node: Phrase) -> Any:
        raise NotImplementedError

    def all(self, parts: list[str]) -> str:
        raise NotImplementedError

    def any(self, parts: list[str]) -> str:
        raise NotImplementedError

    def but_not(self, positive: str, negative: str) -> str:
        raise NotImplementedError

    def ids(self, expression: str) -> Any:
        """A subquery of the mention ids the engine query matches."""
        raise NotImplementedError

    def member(self, expression: str) -> ColumnElement[bool]:
        """Whether the mention is among the engine query's matches."""
        return Mention.id.in_(self.ids(expression))


class _Fts5(_Engine):
    def __init__(self, per_row: bool = False) -> None:
        self.per_row = per_row

    def member(self, expression: str) -> ColumnElement[bool]:
        if not self.per_row:
            return super().member(expression)
        if " *" in expression or " AND " in expression:  # words are quoted and folded: AND is ours
            # A prefix is expanded into every word it starts, on each call: checked row by row it
            # would be expanded again for every row read; an AND of words is set up again for each
            # row too (on 1,000,000 mentions `acme cloud` took 470 ms of CPU that way, 34 ms so).
            # Gathered once instead (SQLite keeps the subquery's ids in a temporary index), and `+`
            # keeps the time index driving the read. A single word or an OR is cheaper row by row.
            plain: Any = UnaryExpression(Mention.__table__.c.id, operator=operators.custom_op("+"))
            gathered: ColumnElement[bool] = plain.in_(self.ids(expression))
            return gathered
        fts = table("mention_fts", column("rowid"))
        match = literal_column("mention_fts").op("MATCH")(literal(expression))
        return exists(select(literal(1)).select_from(fts).where(match, fts.c.rowid == Mention.id))

    def word(self, node: Word) -> str:
        return f'{node.where} : "{node.text}"' + (" *" if node.prefix else "")

    def phrase(self, node: Phrase) -> str:
        return f'words : "{" ".join(node.words)}"'

    def all(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def any(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def but_not(self, positive: str, negative: str) -> str:
        return f"({positive} NOT {negative})"

    def ids(self, expression: str) -> Any:
        fts = table("mention_fts", column("rowid"))
        return select(fts.c.rowid).where(literal_column("mention_fts").op("MATCH")(literal(expression)))


class _Postgres(_Engine):
    """tsquery on lexemes without positions: a phrase is its words (found by the index),
    completed by an exact check of the word sequence on those candidates."""

    def word(self, node: Word) -> str:
        return f"'{MARK[node.where]}{node.text}'" + (":*" if node.prefix else "")

    def phrase(self, node: Phrase) -> str | None:
        return None

    def phrase_ids(self, node: Phrase) -> Any:
        words = " & ".join(f"'{w}'" for w in dict.fromkeys(node.words))
        return self.ids(words).where(_phrase_check(node))

    def all(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")"

    def any(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"

    def but_not(self, positive: str, negative: str) -> str:
        return f"({positive} & !{negative})"

    def ids(self, expression: str) -> Any:
        # here, not at the top: on SQLite, importing PostgreSQL's dialect is ~30 ms of every command
        from sqlalchemy.dialects.postgresql import TSQUERY

        tsv: Any = literal_column(f"({TSVECTOR})")
        return select(MentionSearch.mention_id).where(tsv.op("@@")(cast(literal(expression), TSQUERY)))


def _phrase_check(node: Phrase) -> ColumnElement[bool]:
    """The exact word sequence, on the search rows the tsquery found (PostgreSQL)."""
    padded = literal(" ") + MentionSearch.words + literal(" ")
    return padded.like(f"% {' '.join(node.words)} %")


def _engine_text(node: Node, e: _Engine) -> str | None:
    """The node as one engine query when it is positive and made of words and phrases only."""
    if isinstance(node, Word):
        return e.word(node)
    if isinstance(node, Phrase):
        return e.phrase(node)
    if isinstance(node, Or):
        parts = [_engine_text(c, e) for c in node.children]
        return None if any(p is None for p in parts) else e.any([p for p in parts if p])
    if isinstance(node, And):
        positive, negative, other = _split(node, e)
        if other or not positive:
            return None
        joined = e.all(positive)
        return e.but_not(joined, e.any(negative)) if negative else joined
    return None


def _split(node: And, e: _Engine) -> tuple[list[str], list[str], list[Node]]:
    """An AND's children: positive engine queries, negated ones, and the rest."""
    positive: list[str] = []
    negative: list[str] = []
    other: list[Node] = []
    for child in node.children:
        if isinstance(child, Not) and (text := _engine_text(child.child, e)) is not None:
            negative.append(text)
        elif (text := _engine_text(child, e)) is not None:
            positive.append(text)
        else:
            other.append(child)
    return positive, negative, other


def _compile(node: Node, e: _Engine) -> ColumnElement[bool]:
    text = _engine_text(node, e)
    if text is not None:
        return e.member(text)
    if isinstance(node, Phrase):
        return Mention.id.in_(e.phrase_ids(node))
    if isinstance(node, Not):
        return not_(_compile(node.child, e))
    if isinstance(node, Or):
        return or_(*[_compile(c, e) for c in node.children])
    if isinstance(node, And):
        positive, negative, other = _split(node, e)
        clauses: list[ColumnElement[bool]] = []
        phrases = [c for c in other if isinstance(c, Phrase)] if isinstance(e, _Postgres) else []
        if phrases:  # one index search for all of it: the phrases' words are among its terms
            other = [c for c in other if not isinstance(c, Phrase)]
            terms = positive + [e.all([f"'{w}'" for w in dict.fromkeys(p.words)]) for p in phrases]
            joined = e.all(terms)
            ids = e.ids(e.but_not(joined, e.any(negative)) if negative else joined)
            clauses.append(Mention.id.in_(ids.where(*[_phrase_check(p) for p in phrases])))
        elif positive:
            joined = e.all(positive)
            clauses.append(e.member(e.but_not(joined, e.any(negative)) if negative else joined))
        else:
            clauses.extend(not_(e.member(n)) for n in negative)
        clauses.extend(_compile(c, e) for c in other)
        return and_(*clauses)
    if isinstance(node, Field):
        return _field(node)
    raise TypeError(f"not a query node: {node!r}")  # pragma: no cover (the parser makes no others)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _field(node: Field) -> ColumnElement[bool]:
    name, value = node.name, node.value
    if name == "author":
        author = MentionSearch.author
        cond = (
            author.like(_like_escape(value) + "%", escape="\\")
            if node.prefix
            else or_(author == value, author.like(_like_escape(value) + "@%", escape="\\"))
        )
        return Mention.id.in_(select(MentionSearch.mention_id).where(cond))
    if name == "lang":
        lang = func.lower(Mention.lang)
        return and_(Mention.lang.is_not(None), or_(lang == value, lang.like(value + "-%")))
    if name == "stream":
        linked = (
            select(MentionStream.mention_id)
            .join(Stream, Stream.id == MentionStream.stream_id)
            .where(Stream.name == value)
        )
        return Mention.id.in_(linked)
    if name == "sentiment":
        return and_(Mention.sentiment_label.is_not(None), Mention.sentiment_label == value)
    if name == "platform":
        return Mention.platform == value
    if name == "kind":
        return kind_is(value)
    return false()  # pragma: no cover


def text_only(query: Query) -> bool:
    """Whether the query reads only words and phrases (no field filters)."""

    def walk(node: Node) -> bool:
        if isinstance(node, And | Or):
            return all(walk(c) for c in node.children)
        if isinstance(node, Not):
            return walk(node.child)
        return isinstance(node, TEXT_LEAVES)

    return walk(query.tree)


def reindex(connection: Any, mentions: Iterable[tuple[int, str, str | None]]) -> None:
    """Rewrite the search rows of these (id, text, author) mentions."""
    write_rows(connection, [search_row(i, t, a) for i, t, a in mentions], replace=True)
