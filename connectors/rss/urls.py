"""Pure builders of the RSS connector: the feed's address, request headers, readable links."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.base import ConnectorError

# What we can parse, best first; `*/*` last because many servers label feeds text/html.
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# www.google.com, google.com, www.google.co.uk ...: the hosts of Google's redirect links.
_GOOGLE_HOST = re.compile(r"^(www\.)?google\.[a-z]{2,3}(\.[a-z]{2})?$")


def feed_url(selectors: Mapping[str, str]) -> str:
    """The stream's feed address (`url` selector); it must be http(s).

    The message never repeats the address: private feeds carry their key in it.
    """
    url = (selectors.get("url") or "").strip()
    if not url:
        raise ConnectorError("rss stream needs `url`: the address of its RSS or Atom feed")
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ConnectorError("rss stream's `url` must be an http:// or https:// address")
    return url


def request_headers(cursor: Mapping[str, Any] | None) -> dict[str, str]:
    """Accept, plus the validators of the last answer so an unchanged feed costs a 304."""
    headers = {"Accept": ACCEPT}
    if cursor:
        etag = cursor.get("etag")
        modified = cursor.get("last_modified")
        if isinstance(etag, str) and etag:
            headers["If-None-Match"] = etag
        if isinstance(modified, str) and modified:
            # Sent back verbatim, as RFC 9110 recommends: the server compares its own string.
            headers["If-Modified-Since"] = modified
    return headers


def unwrap_redirect(link: str) -> str:
    """The target of a Google redirect link (`https://www.google.com/url?...&url=<target>`).

    Google Alerts wrap every result link this way; other links come back unchanged.
    """
    parts = urlsplit(link)
    if parts.path != "/url" or not _GOOGLE_HOST.match((parts.hostname or "").lower()):
        return link
    query = parse_qs(parts.query)
    for key in ("url", "q"):
        for target in query.get(key, []):
            if urlsplit(target).scheme.lower() in ("http", "https"):
                return target
    return link


def web_url(link: Any) -> str | None:
    """A link a person can open: http(s) only, Google redirects unwrapped; else None.

    feedparser copies a non-URL guid (e.g. `urn:uuid:...`) into `link`; that is no link.
    """
    if not isinstance(link, str) or not link.strip():
        return None
    link = link.strip()
    if urlsplit(link).scheme.lower() not in ("http", "https"):
        return None
    return unwrap_redirect(link)
