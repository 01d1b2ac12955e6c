"""The page-mapping loop the paging connectors share: each raw item of a page on its own.

A page's raw items are mapped one by one, so one broken item never loses the page:
an item the mapping cannot read becomes a reason in `page.rejected` (the tracker keeps
the old cursor, so the next run reads it again); one no reading can fix (an impossible
time, a date more than a day ahead) becomes a reason in `page.poison` (reported, never
stored, never moving a cursor). What is left is yielded with its raw payload, and the
connector applies its own rules to it: items seen earlier in the run, known ground,
the backfill cap. Fetching pages and deciding where a run ends stay in each connector,
since those are the platforms' real differences (HN's page/nbPages, Reddit's `after`,
Mastodon's short pages that are not last pages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from connectors._clean import ImpossibleValue, in_future
from connectors.base import Item, MappingError, Page


def numbered(index: int, raw: Any) -> str:
    """How a rejection names an item by default: its place on the page, counting from 1."""
    return f"item {index + 1}"


def created(raw: Any, item: Item) -> datetime:
    """The time an item is judged by by default: its created_at."""
    return item.created_at


def readable(
    raws: Iterable[Any],
    read: Callable[[Any], Item | None],
    now: datetime,
    page: Page,
    *,
    label: Callable[[int, Any], str] = numbered,
    when: Callable[[Any, Item], datetime] = created,
) -> Iterator[tuple[Any, Item]]:
    """(raw, item) for each raw item that maps to a believable item, in page order.

    `read` maps one raw item, raising MappingError (or ImpossibleValue) when it cannot, or
    returning None for a raw item that is not one of the stream's (it is skipped silently);
    `label(index, raw)` names an item in the reasons (index counts from 0); `when(raw, item)` is
    the time checked against `now` (a platform may sort by another time). A caller may stop
    early (break): the items after that are then not read.
    """
    for index, raw in enumerate(raws):
        try:
            item = read(raw)
        except ImpossibleValue as exc:  # reading it again cannot help: it never holds the cursor
            page.poison.append(f"{label(index, raw)}: {exc}")
            continue
        except MappingError as exc:
            page.rejected.append(f"{label(index, raw)}: {exc}")
            continue
        if item is None:
            continue
        future = in_future(when(raw, item), now)
        if future is not None:  # it would sort on top of every later page: never a mark
            page.poison.append(f"{label(index, raw)}: {future}")
            continue
        yield raw, item
