"""What real answers carry beyond text and counts: media, links, quotes, edits, labels.

A share of the world's posts, chosen by a hash of the post's number (so every answer
about a post shows the same), comes dressed as the platforms send such posts, so the
connectors meet them in every sandbox run:

- Bluesky: images (app.bsky.embed.images, with the #view the AppView adds), external link
  cards (app.bsky.embed.external), quotes of an earlier post (app.bsky.embed.record),
  facets (a tag on the brand's name), self-labels and moderation labels, and replies
  (record.reply) among search results, as about half the posts of a real search are.
- Mastodon: media_attachments (images with blurhash and meta), a link preview card, a
  poll, custom emojis, and edits (edited_at after created_at).
- Reddit: edited (the edit's Unix time), image and gallery posts (post_hint, preview,
  is_gallery with gallery_data and media_metadata).

The world's text and figures are untouched: what is added is what a listening tool must
read past (or may use), never what it counts.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracker.sandbox.wire import iso_ms
from tracker.sandbox.world import Post, did_of

if TYPE_CHECKING:
    from tracker.sandbox.state import Context

# Shares of posts, by feature (each drawn from its own part of the post's hash).
SHARES = {
    "bsky_images": 0.12,
    "bsky_external": 0.08,
    "bsky_quote": 0.07,
    "bsky_reply": 0.45,
    "bsky_facet": 0.3,
    "bsky_label": 0.03,
    "masto_media": 0.12,
    "masto_card": 0.1,
    "masto_poll": 0.03,
    "masto_emoji": 0.05,
    "masto_edited": 0.06,
    "reddit_edited": 0.07,
    "reddit_image": 0.08,
    "reddit_gallery": 0.04,
}


def has(post: Post, feature: str) -> bool:
    """Whether the post carries `feature` (stable for the post)."""
    return _fraction(post, feature) < SHARES[feature]


def _fraction(post: Post, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{post.n}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _cid(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "bafkrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def earlier(ctx: Context, post: Post, salt: str) -> Post | None:
    """An earlier original post of the same platform (a quote's or a reply's target), stable."""
    order = ctx.memo(("rich-order", post.platform), lambda: _order(ctx, post.platform))
    index = order.get(post.n)
    if index is None or index + 1 >= len(ctx.newest_first[post.platform]):
        return None
    older = ctx.newest_first[post.platform]
    step = 1 + int(_fraction(post, salt) * 40)
    for candidate in older[index + step : index + step + 20]:
        if candidate.kind in ("post", "story") and candidate.role != "owned":
            return candidate
    return None


def _order(ctx: Context, platform: str) -> dict[int, int]:
    return {p.n: i for i, p in enumerate(ctx.newest_first.get(platform, []))}


# -- Bluesky -------------------------------------------------------------------------------------


def bluesky(ctx: Context, post: Post, record: dict[str, Any], view: dict[str, Any], now: datetime) -> None:
    """Dress a post view (and its record) in embeds, facets, labels and a reply reference."""
    from tracker.sandbox import bluesky as b

    if post.kind not in ("post", "reply"):
        return
    did = did_of(post.author)
    if has(post, "bsky_images"):
        _bsky_images(record, view, did, post)
    elif has(post, "bsky_external"):
        _bsky_external(record, view, post)
    elif has(post, "bsky_quote") and (quoted := earlier(ctx, post, "quote")) is not None:
        uri = b.post_uri(quoted)
        ref = {"uri": uri, "cid": b._cid(uri)}
        record["embed"] = {"$type": "app.bsky.embed.record", "record": ref}
        quoted_view = b.post_view(ctx, quoted, now)
        view["embed"] = {
            "$type": "app.bsky.embed.record#view",
            "record": {
                "$type": "app.bsky.embed.record#viewRecord",
                **ref,
                "author": quoted_view["author"],
                "value": quoted_view["record"],
                "labels": [],
                "likeCount": quoted_view["likeCount"],
                "replyCount": quoted_view["replyCount"],
                "repostCount": quoted_view["repostCount"],
                "quoteCount": quoted_view["quoteCount"],
                "indexedAt": quoted_view["indexedAt"],
                "embeds": [],
            },
        }
    if "reply" not in record and has(post, "bsky_reply") and (parent := earlier(ctx, post, "reply")):
        ref = {"cid": b._cid(b.post_uri(parent)), "uri": b.post_uri(parent)}
        record["reply"] = {"parent": ref, "root": ref}
    if has(post, "bsky_facet"):
        _bsky_facet(record, ctx.world.brand)
    if has(post, "bsky_label"):
        view["labels"] = [
            {"src": did, "uri": view["uri"], "cid": view["cid"], "val": "!no-unauthenticated",
             "cts": iso_ms(post.created_at)},
            {"ver": 1, "src": "did:plc:ar7c4by46qjdydhdevvrndac", "uri": view["uri"], "cid": view["cid"],
             "val": "sexual", "neg": False, "cts": iso_ms(post.visible_at)},
        ]  # fmt: skip
    for key in ("embed", "reply", "facets"):  # the record's keys in the order the AppView sends them
        if key in record:
            record[key] = record.pop(key)
    record["text"] = record.pop("text")


def _bsky_images(record: dict[str, Any], view: dict[str, Any], did: str, post: Post) -> None:
    count = 1 + int(_fraction(post, "images-count") * 3)
    blobs = [_cid(f"image:{post.n}:{i}") for i in range(count)]
    record["embed"] = {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "A screenshot of the dashboard" if i == 0 else "",
                "aspectRatio": {"height": 1080, "width": 1920},
                "image": {
                    "$type": "blob",
                    "ref": {"$link": cid},
                    "mimeType": "image/jpeg",
                    "size": 180_000 + i,
                },
            }
            for i, cid in enumerate(blobs)
        ],
    }
    cdn = "https://cdn.bsky.example/img"
    view["embed"] = {
        "$type": "app.bsky.embed.images#view",
        "images": [
            {
                "thumb": f"{cdn}/feed_thumbnail/plain/{did}/{cid}@jpeg",
                "fullsize": f"{cdn}/feed_fullsize/plain/{did}/{cid}@jpeg",
                "alt": "A screenshot of the dashboard" if i == 0 else "",
                "aspectRatio": {"height": 1080, "width": 1920},
            }
            for i, cid in enumerate(blobs)
        ],
    }


def _bsky_external(record: dict[str, Any], view: dict[str, Any], post: Post) -> None:
    link = f"https://news.example/{post.created_at:%Y/%m}/{post.n}"
    title, description = "Review: a week with the new release", "What changed, what did not."
    record["embed"] = {
        "$type": "app.bsky.embed.external",
        "external": {"uri": link, "title": title, "description": description},
    }
    view["embed"] = {
        "$type": "app.bsky.embed.external#view",
        "external": {"uri": link, "title": title, "description": description},
    }


def _bsky_facet(record: dict[str, Any], brand: str) -> None:
    text: str = record["text"]
    start = text.lower().find(brand.lower())
    if start < 0:
        return
    begin = len(text[:start].encode())
    end = begin + len(text[start : start + len(brand)].encode())
    record["facets"] = [
        {
            "$type": "app.bsky.richtext.facet",
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": brand.lower()}],
            "index": {"byteStart": begin, "byteEnd": end},
        }
    ]


# -- Mastodon ------------------------------------------------------------------------------------


def mastodon(ctx: Context, post: Post, status: dict[str, Any], now: datetime) -> None:
    """Dress a Status entity in media, a card, a poll, custom emojis and an edit."""
    if post.kind == "boost":
        return
    domain = status["uri"].split("/")[2]
    sid = status["id"]
    if has(post, "masto_media"):
        status["media_attachments"] = [
            {
                "id": str(int(sid) + 1),
                "type": "image",
                "url": f"https://files.{domain}/media_attachments/files/{sid}/original/shot.png",
                "preview_url": f"https://files.{domain}/media_attachments/files/{sid}/small/shot.png",
                "remote_url": None,
                "preview_remote_url": None,
                "text_url": None,
                "meta": {
                    "original": {
                        "width": 1600,
                        "height": 900,
                        "size": "1600x900",
                        "aspect": 1.7777777777777777,
                    },
                    "small": {"width": 640, "height": 360, "size": "640x360", "aspect": 1.7777777777777777},
                    "focus": {"x": 0.0, "y": 0.0},
                },
                "description": "A chart of the week's numbers",
                "blurhash": "UFBWY[ofM{WB~qj[ayj[%MofRjayIUj[ofay",
            }
        ]
    if has(post, "masto_card"):
        status["card"] = {
            "url": f"https://news.example/{post.n}",
            "title": "Review: a week with the new release",
            "description": "What changed, what did not.",
            "language": "en",
            "type": "link",
            "author_name": "",
            "author_url": "",
            "provider_name": "news.example",
            "provider_url": "",
            "html": "",
            "width": 400,
            "height": 225,
            "image": f"https://files.{domain}/cache/preview_cards/images/{post.n}.jpg",
            "image_description": "",
            "embed_url": "",
            "blurhash": "UFBWY[ofM{WB~qj[ayj[%MofRjayIUj[ofay",
            "published_at": None,
            "authors": [],
        }
    if has(post, "masto_poll"):
        expires = post.created_at + timedelta(days=1)
        status["poll"] = {
            "id": str(post.n),
            "expires_at": iso_ms(expires),
            "expired": now >= expires,
            "multiple": False,
            "votes_count": 7 + post.n % 20,
            "voters_count": 7 + post.n % 20,
            "options": [
                {"title": "Yes", "votes_count": 4 + post.n % 10},
                {"title": "No", "votes_count": 3 + post.n % 10},
            ],
            "emojis": [],
            "voted": False,
            "own_votes": [],
        }
    if has(post, "masto_emoji"):
        status["emojis"] = [
            {
                "shortcode": "blobcat",
                "url": f"https://files.{domain}/custom_emojis/images/blobcat.png",
                "static_url": f"https://files.{domain}/custom_emojis/images/static/blobcat.png",
                "visible_in_picker": True,
            }
        ]
        status["content"] = status["content"].replace("</p>", " :blobcat:</p>", 1)
    edited = post.created_at + timedelta(minutes=3 + int(_fraction(post, "edit-at") * 120))
    if has(post, "masto_edited") and edited <= now:
        status["edited_at"] = iso_ms(edited)


# -- Reddit --------------------------------------------------------------------------------------


def reddit(ctx: Context, post: Post, data: dict[str, Any], now: datetime) -> None:
    """Dress a t3 link's data in an edit time and image or gallery media."""
    edited = post.created_at + timedelta(minutes=5 + int(_fraction(post, "edit-at") * 600))
    if has(post, "reddit_edited") and edited <= now:
        data["edited"] = float(int(edited.timestamp()))
    ident = data["id"]
    if data.get("is_self"):
        return
    if has(post, "reddit_gallery"):
        media = [f"{ident}m{i}" for i in range(3)]
        data.update(
            is_gallery=True,
            url=f"https://www.reddit.com/gallery/{ident}",
            url_overridden_by_dest=f"https://www.reddit.com/gallery/{ident}",
            domain="reddit.com",
            thumbnail=f"https://b.thumbs.redditmedia.com/{ident}.jpg",
            gallery_data={"items": [{"media_id": m, "id": 100 + i} for i, m in enumerate(media)]},
            media_metadata={
                m: {
                    "status": "valid",
                    "e": "Image",
                    "m": "image/jpg",
                    "p": [{"y": 108, "x": 108, "u": f"https://preview.redd.it/{m}.jpg?width=108"}],
                    "s": {"y": 1080, "x": 1080, "u": f"https://preview.redd.it/{m}.jpg?width=1080"},
                    "id": m,
                }
                for m in media
            },
        )
    elif has(post, "reddit_image"):
        image = f"https://i.redd.it/{ident}.png"
        source = {"url": f"https://preview.redd.it/{ident}.png?auto=webp", "width": 1200, "height": 800}
        small = {"url": f"https://preview.redd.it/{ident}.png?width=108", "width": 108, "height": 72}
        data.update(
            url=image,
            url_overridden_by_dest=image,
            domain="i.redd.it",
            post_hint="image",
            thumbnail=f"https://b.thumbs.redditmedia.com/{ident}.jpg",
            preview={
                "images": [{"source": source, "resolutions": [small], "variants": {}, "id": ident}],
                "enabled": True,
            },
        )
