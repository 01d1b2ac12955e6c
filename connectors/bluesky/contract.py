"""The Bluesky connector's case of the shared contract suite: a search with no posts."""

from __future__ import annotations

import json

from connectors.base import ContractCase

CONTRACT = ContractCase(selectors={"query": "acme"}, empty_body=json.dumps({"posts": []}))
