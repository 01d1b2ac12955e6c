"""The RSS connector's case of the shared contract suite: a feed with no entries."""

from __future__ import annotations

from connectors.base import ContractCase

CONTRACT = ContractCase(
    selectors={"url": "https://feeds.example/acme.xml"},
    empty_body='<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
    empty_type="application/rss+xml",
)
