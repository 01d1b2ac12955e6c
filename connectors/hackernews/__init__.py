"""Hacker News connector: stories and comments from the HN Search API (Algolia).

`connector.py` is the connector (registered in the `tracker.connectors` entry points);
`settings.py` its stream keys and `contract.py` its case of the shared contract suite, both
light: reading them imports neither the connector nor httpx.
"""
