"""Reddit connector: posts from Reddit search, anonymous or with application-only OAuth.

`connector.py` is the connector (registered in the `tracker.connectors` entry points);
`settings.py` its stream keys and `contract.py` its case of the shared contract suite, both
light: reading them imports neither the connector nor httpx.
"""
