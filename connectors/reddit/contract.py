"""The Reddit connector's case of the shared contract suite: a search with no posts.

Reddit asks for a descriptive User-Agent of its own, so the stream names one."""

from __future__ import annotations

import json

from connectors.base import ContractCase

CONTRACT = ContractCase(
    selectors={"query": "acme", "user_agent": "contract-test/1.0"},
    empty_body=json.dumps({"kind": "Listing", "data": {"children": [], "after": None, "before": None}}),
)
