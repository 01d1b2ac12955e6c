"""Pure mappings from Bluesky's JSON (app.bsky.feed.defs#postView and friends) to Items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors._text import count, parse_time, text_field
from connectors.base import AccountStats, Item, MappingError
from connectors.bluesky import urls

REPOST = "app.bsky.feed.defs#reasonRepost"
PIN = "app.bsky.feed.defs#reasonPin"
INVALID_HANDLE = "handle.invalid"  # what the AppView shows when a handle no longer verifies


def map_post(post: Any, *, kind: str = "mention") -> Item:
    """One post view as an Item; MappingError names the first missing or mistyped field.

    The identity is the `at://` uri. `created_at` is the record's createdAt, or the
    AppView's indexedAt when the record has none usable. Counts the view does not
    carry stay None (quoteCount is missing from older views).
    """
    if not isinstance(post, dict):
        raise MappingError(f"expected a post object, got {type(post).__name__}")
    uri = _required_text(post, "uri")
    record_key = urls.rkey(uri)
    if not uri.startswith("at://") or record_key is None:
        raise MappingError(f"uri: not an at:// record URI: {uri[:80]!r}")
    author = _object(post, "author")
    handle = _required_text(author, "handle", "author.")
    record = _object(post, "record")
    return Item(
        platform="bluesky",
        external_id=uri,
        url=urls.post_url(_profile(author, handle), record_key),
        author=handle,
        text=_required_text(record, "text", "record."),
        lang=_first_lang(record.get("langs")),
        created_at=created_at(post),
        kind=kind,
        likes=count(post, "likeCount"),
        reposts=count(post, "repostCount"),
        replies=count(post, "replyCount"),
        quotes=count(post, "quoteCount"),
        raw=post,
    )


def created_at(post: dict[str, Any]) -> datetime:
    """record.createdAt as aware UTC, falling back to indexedAt when it is missing or unreadable."""
    record = post.get("record")
    claimed = record.get("createdAt") if isinstance(record, dict) else None
    try:
        return parse_time(claimed, "created_at")
    except MappingError:
        indexed = post.get("indexedAt")
        if indexed is None:
            raise MappingError("created_at: missing (neither record.createdAt nor indexedAt)") from None
        return parse_time(indexed, "created_at")


def sort_time(post: dict[str, Any], created: datetime) -> datetime:
    """When the AppView files the post: the earlier of createdAt and indexedAt (its `sortAt`).

    Search's `since` and both endpoints' ordering use it, so paging compares on it too:
    a post whose clock claims the future sorts at the moment it was indexed.
    """
    try:
        indexed = parse_time(post.get("indexedAt"), "indexedAt")
    except MappingError:
        return created
    return min(created, indexed)


def account_post(entry: Any, account: str) -> dict[str, Any] | None:
    """The post of a getAuthorFeed item when it is the account's own, else None.

    Reposts (reasonRepost) are not the account's posts; a pinned copy (reasonPin) repeats
    a post that also appears in its place. Reply parents sit in `reply`, not `post`; a
    post by anyone else is skipped all the same.
    """
    if not isinstance(entry, dict):
        raise MappingError(f"expected a feed item object, got {type(entry).__name__}")
    reason = entry.get("reason")
    if isinstance(reason, dict) and reason.get("$type") in (REPOST, PIN):
        return None
    post = _object(entry, "post")
    author = post.get("author")
    if isinstance(author, dict) and not is_account(author, account):
        return None
    return post


def is_account(author: dict[str, Any], account: str) -> bool:
    """Whether a profile view is `account` (a handle, compared case-insensitively, or a DID)."""
    handle = author.get("handle")
    return author.get("did") == account or (isinstance(handle, str) and handle.lower() == account.lower())


def map_profile(profile: Any, account: str) -> AccountStats:
    """app.bsky.actor.getProfile's profileViewDetailed as AccountStats (counts None when absent)."""
    if not isinstance(profile, dict):
        raise MappingError(f"expected a profile object, got {type(profile).__name__}")
    handle = text_field(profile, "handle")
    return AccountStats(
        account=handle or account,
        followers=count(profile, "followersCount"),
        following=count(profile, "followsCount"),
        posts=count(profile, "postsCount"),
    )


def _object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        raise MappingError(f"{key}: missing")
    if not isinstance(value, dict):
        raise MappingError(f"{key}: expected an object, got {type(value).__name__}")
    return value


def _required_text(raw: dict[str, Any], key: str, where: str = "") -> str:
    """A required string field (it may be empty: an image-only post has text "")."""
    value = raw.get(key)
    if value is None:
        raise MappingError(f"{where}{key}: missing")
    if not isinstance(value, str):
        raise MappingError(f"{where}{key}: expected text, got {type(value).__name__}")
    return value


def _profile(author: dict[str, Any], handle: str) -> str:
    """The handle for links, or the DID when the handle no longer verifies (bsky.app needs one that does)."""
    did = author.get("did")
    if handle == INVALID_HANDLE and isinstance(did, str) and did:
        return did
    return handle


def _first_lang(langs: Any) -> str | None:
    """The first of record.langs (optional; up to three BCP-47 tags), None when absent or unusable."""
    if isinstance(langs, list) and langs and isinstance(langs[0], str) and langs[0].strip():
        return langs[0].strip()
    return None
