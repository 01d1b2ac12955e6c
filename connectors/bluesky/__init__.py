"""The Bluesky connector: search posts or read an account's feed over the AT Protocol."""

from connectors.bluesky.connector import BlueskyConnector

__all__ = ["BlueskyConnector"]
