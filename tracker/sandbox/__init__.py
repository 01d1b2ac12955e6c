"""The offline sandbox: a seeded world of a brand's mentions and one local server speaking
the real platforms' APIs over it (Mastodon, Bluesky, Hacker News, Reddit, RSS/Atom).

    world = generate_world(seed=1, weeks=12)
    with SandboxServer(world) as server:
        server.base_url("mastodon")  # http://127.0.0.1:PORT/mastodon

`python -m tracker.sandbox --seed 1 --weeks 12 --port 8400` serves it in the foreground.
"""

from tracker.sandbox.server import SandboxServer, serve
from tracker.sandbox.world import Experiment, Post, StreamDef, World, generate_world

__all__ = ["Experiment", "Post", "SandboxServer", "StreamDef", "World", "generate_world", "serve"]
