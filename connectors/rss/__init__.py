"""RSS 0.9x/1.0/2.0 and Atom feeds, Google Alerts included."""

from connectors.rss.connector import RssConnector

__all__ = ["RssConnector"]
