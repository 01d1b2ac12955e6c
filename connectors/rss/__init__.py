"""RSS 0.9x/1.0/2.0 and Atom feeds, Google Alerts included.

`connector.py` is the connector (registered in the `tracker.connectors` entry points);
`settings.py` its stream keys and `contract.py` its case of the shared contract suite, both
light: reading them imports neither the connector nor httpx.
"""
