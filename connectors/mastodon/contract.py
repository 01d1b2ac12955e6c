"""The Mastodon connector's case of the shared contract suite: a hashtag with no statuses."""

from __future__ import annotations

import json

from connectors.base import ContractCase

CONTRACT = ContractCase(selectors={"hashtag": "acme"}, empty_body=json.dumps([]))
