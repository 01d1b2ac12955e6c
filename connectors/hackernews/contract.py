"""The Hacker News connector's case of the shared contract suite: a search with no hits."""

from __future__ import annotations

import json

from connectors.base import ContractCase

CONTRACT = ContractCase(
    selectors={"query": "acme"},
    empty_body=json.dumps({"hits": [], "nbHits": 0, "page": 0, "nbPages": 0, "hitsPerPage": 100}),
)
