"""Hacker News connector: stories and comments from the HN Search API (Algolia)."""

from connectors.hackernews.connector import HackerNewsConnector

__all__ = ["HackerNewsConnector"]
