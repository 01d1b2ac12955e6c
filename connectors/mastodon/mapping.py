"""Mastodon Status entity -> Item (pure; no HTTP).

A status with `reblog` set is a boost: the connector skips it (boosts are not new
mentions), so `map_status` is only called on original posts, replies and quote posts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors._text import count, html_to_text, parse_time, text_field
from connectors.base import AccountStats, Item, MappingError

PLATFORM = "mastodon"


def is_boost(raw: dict[str, Any]) -> bool:
    """A boost (reblog) wraps another status in `reblog`; an original post has null there."""
    return raw.get("reblog") is not None


def map_status(raw: Any, *, kind: str = "mention") -> Item:
    """One Status as an Item; MappingError names the first missing or mistyped field.

    external_id is the status `uri` (its identity across instances); url is the
    human-readable `url`, else `uri` (remote statuses may have no `url`). Counts
    the server does not send stay None: `quotes_count` exists only from Mastodon 4.5.
    """
    if not isinstance(raw, dict):
        raise MappingError(f"status: expected an object, got {type(raw).__name__}")
    _required(raw, "id")  # the connector pages and anchors on it
    uri = _required(raw, "uri")
    return Item(
        platform=PLATFORM,
        external_id=uri,
        url=text_field(raw, "url") or uri,
        author=_author(raw),
        text=_text(raw),
        lang=text_field(raw, "language") or None,
        created_at=parse_time(raw.get("created_at")),
        kind=kind,
        likes=count(raw, "favourites_count"),
        reposts=count(raw, "reblogs_count"),
        replies=count(raw, "replies_count"),
        quotes=count(raw, "quotes_count"),
        raw=raw,
    )


def status_mark(raw: Any) -> tuple[str, datetime] | None:
    """(id, created_at) of any status, boosts included, for paging; None when unreadable."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    try:
        return raw["id"], parse_time(raw.get("created_at"))
    except MappingError:
        return None


def map_account_stats(raw: Any) -> AccountStats:
    """followers/following/statuses counts of an Account entity (accounts/lookup)."""
    if not isinstance(raw, dict):
        raise MappingError(f"account: expected an object, got {type(raw).__name__}")
    return AccountStats(
        account=_required(raw, "acct"),
        followers=count(raw, "followers_count"),
        following=count(raw, "following_count"),
        posts=count(raw, "statuses_count"),
    )


def _required(raw: dict[str, Any], key: str) -> str:
    value = text_field(raw, key, required=True)
    if not value:
        raise MappingError(f"{key}: empty")
    return value


def _author(raw: dict[str, Any]) -> str:
    account = raw.get("account")
    if not isinstance(account, dict):
        raise MappingError("account: missing" if account is None else "account: expected an object")
    acct = account.get("acct")
    if not isinstance(acct, str) or not acct:
        raise MappingError("account.acct: missing" if acct is None else "account.acct: expected text")
    return acct


def _text(raw: dict[str, Any]) -> str:
    """The content warning (plain text in the API) first, then the HTML body as plain text."""
    body = html_to_text(text_field(raw, "content", required=True))
    spoiler = (text_field(raw, "spoiler_text") or "").strip()
    return f"{spoiler}\n\n{body}" if spoiler and body else spoiler or body
