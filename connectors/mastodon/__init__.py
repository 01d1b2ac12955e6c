"""Mastodon connector: hashtag timelines, owned account statuses, statuses search."""

from connectors.mastodon.connector import MastodonConnector

__all__ = ["MastodonConnector"]
