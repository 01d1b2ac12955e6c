"""Platform connectors. Each is registered in the `tracker.connectors` entry-point group."""
