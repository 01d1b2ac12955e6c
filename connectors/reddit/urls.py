"""URLs and query parameters of Reddit's search listing and its OAuth token endpoint.

Anonymous requests go to www.reddit.com and need the `.json` suffix to get JSON; OAuth
requests go to oauth.reddit.com, whose API paths are documented (and used by PRAW)
without a suffix.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://www.reddit.com"
OAUTH_BASE_URL = "https://oauth.reddit.com"
DEFAULT_AUTH_URL = "https://www.reddit.com"
SITE_URL = "https://www.reddit.com"
PAGE_SIZE = 100  # the most a listing returns per request
INFO_BATCH = 100  # /api/info takes at most 100 fullnames


def base_url(configured: str | None, *, oauth: bool) -> str:
    """The stream's base_url, else the public site, or the OAuth API host when authenticated."""
    return (configured or (OAUTH_BASE_URL if oauth else DEFAULT_BASE_URL)).rstrip("/")


def subreddit_name(value: str | None) -> str | None:
    """The subreddit's bare name: r/python, /r/python/ and python all give "python"."""
    if not value:
        return None
    name = value.strip().strip("/")
    if name.lower().startswith("r/"):
        name = name[2:]
    return name.strip("/") or None


def search_url(base: str, subreddit: str | None, *, oauth: bool) -> str:
    """GET [/r/{subreddit}]/search, with `.json` on the public site."""
    prefix = f"/r/{subreddit}" if subreddit else ""
    return f"{base}{prefix}/search{'' if oauth else '.json'}"


def search_params(query: str, *, subreddit: str | None, after: str | None = None) -> dict[str, str | int]:
    """Newest posts (type=link: listings of t3) matching `query`; `after` asks for the next older page.

    raw_json=1 makes Reddit send text unescaped (no &amp; &lt; &gt;).
    """
    params: dict[str, str | int] = {
        "q": query,
        "sort": "new",
        "limit": PAGE_SIZE,
        "raw_json": 1,
        "type": "link",
    }
    if subreddit:
        params["restrict_sr"] = 1
    if after:
        params["after"] = after
    return params


def token_url(auth_url: str | None) -> str:
    """Where an application-only (client_credentials) OAuth token is obtained."""
    return f"{(auth_url or DEFAULT_AUTH_URL).rstrip('/')}/api/v1/access_token"


def permalink_url(permalink: str) -> str:
    """The page a person opens: always the public site, whatever base_url the stream uses."""
    return f"{SITE_URL}{permalink}"


def info_url(base: str, *, oauth: bool) -> str:
    """GET /api/info: things by fullname (a deleted post still answers, as "[deleted]")."""
    return f"{base}/api/info{'' if oauth else '.json'}"


def info_params(fullnames: list[str]) -> dict[str, str | int]:
    return {"id": ",".join(fullnames), "raw_json": 1}
