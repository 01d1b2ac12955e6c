"""The real connectors meet what real answers carry (tracker.sandbox.rich) and read past it:
Bluesky images, link cards, quotes, facets, labels and replies; Mastodon media, cards, polls,
emojis and edits; Reddit edits, images and galleries. Nothing is rejected, the text is the post's."""

from __future__ import annotations

from collections import Counter

from tests.sandbox.conftest import collect, spec_for
from tracker.sandbox import SandboxServer


def test_bluesky_search_results_carry_embeds_facets_labels_and_replies(server: SandboxServer) -> None:
    run = collect(server, spec_for(server, "acme-bluesky"))
    assert not any(page.rejected for page in run.pages)
    raws = [item.raw or {} for item in run.items]
    kinds = Counter(raw.get("embed", {}).get("$type") for raw in raws)
    assert kinds["app.bsky.embed.images#view"] and kinds["app.bsky.embed.external#view"]
    assert kinds["app.bsky.embed.record#view"]
    replies = sum(1 for raw in raws if "reply" in raw["record"])
    assert 0.3 < replies / len(raws) < 0.6, "about half of a real search's results are replies"
    assert any(raw["record"].get("facets") for raw in raws) and any(raw["labels"] for raw in raws)


def test_mastodon_statuses_carry_media_cards_polls_emojis_and_edits(server: SandboxServer) -> None:
    run = collect(server, spec_for(server, "acme-mastodon"))
    assert not any(page.rejected for page in run.pages)
    raws = [item.raw or {} for item in run.items]
    assert any(raw["media_attachments"] for raw in raws) and any(raw["card"] for raw in raws)
    assert any(raw["poll"] for raw in raws) and any(raw["emojis"] for raw in raws)
    edited = [item for item in run.items if (item.raw or {})["edited_at"]]
    assert edited and all((item.raw or {})["edited_at"] > (item.raw or {})["created_at"] for item in edited)


def test_reddit_posts_carry_edits_images_and_galleries(server: SandboxServer) -> None:
    run = collect(server, spec_for(server, "acme-reddit"))
    assert not any(page.rejected for page in run.pages)
    data = [(item.raw or {})["data"] for item in run.items]
    assert any(isinstance(d["edited"], float) for d in data)
    assert any(d.get("is_gallery") and d["media_metadata"] for d in data)
    assert any(d.get("post_hint") == "image" for d in data)
