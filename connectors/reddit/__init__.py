"""Reddit connector: posts from Reddit search, anonymous or with application-only OAuth."""

from connectors.reddit.connector import RedditConnector

__all__ = ["RedditConnector"]
