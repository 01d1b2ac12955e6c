"""The sandbox's quirks (issue 15, item 7) are `[sandbox]` keys: validated, served by `tracker sandbox
serve`, switched on by `tracker demo` and written into its workspace."""

from __future__ import annotations

import threading
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import write_config
from tracker.config import SANDBOX_DEFAULTS, load_settings, parse_settings
from tracker.errors import ConfigError

BASE = '[organisation]\nname = "Acme"\ntimezone = "Europe/Vienna"\n'
QUIRKS = """[sandbox]
seed = 7
weeks = 2
mastodon_filtered = 0.3
bluesky_empty_pages = 2
bluesky_search_cap = 500
reddit_listing_cap = 1000
login_limits = true
mastodon_tag_access = "authenticated"
deleted_share = 0.05
late = "3h"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(tomllib.loads(BASE + text), Path("/x/tracker.toml"))
    return info.value.problems


def test_the_quirks_are_off_unless_the_config_names_them(tmp_path: Path) -> None:
    sandbox = load_settings(write_config(tmp_path, extra="[sandbox]\n")).sandbox
    assert sandbox == SANDBOX_DEFAULTS
    from tracker.sandbox.state import ServerSwitches

    plain = ServerSwitches()
    assert all(getattr(plain, name) == value for name, value in sandbox.switches().items())
    assert sandbox.late is None


def test_sandbox_quirk_keys_are_read(tmp_path: Path) -> None:
    sandbox = load_settings(write_config(tmp_path, extra=QUIRKS)).sandbox
    assert sandbox is not None
    assert sandbox.switches() == {
        "mastodon_filtered": 0.3, "bluesky_empty_pages": 2, "bluesky_search_cap": 500,
        "reddit_listing_cap": 1000, "login_limits": True, "mastodon_tag_access": "authenticated",
        "deleted_share": 0.05,
    }  # fmt: skip
    assert sandbox.late == timedelta(hours=3)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "mastodon_filtered = 1.5",
            "sandbox.mastodon_filtered: expected a share from 0 to 1 (for example 0.1), got 1.5",
        ),
        (
            "deleted_share = true",
            "sandbox.deleted_share: expected a share from 0 to 1 (for example 0.1), got True",
        ),
        ("bluesky_search_cap = 0", "sandbox.bluesky_search_cap: expected a whole number from 1 to"),
        ("reddit_listing_cap = -5", "sandbox.reddit_listing_cap: expected a whole number from 1 to"),
        ("bluesky_empty_pages = 1.5", "sandbox.bluesky_empty_pages: expected a whole number from 0 to 100"),
        ('login_limits = "yes"', "sandbox.login_limits: expected true or false, got 'yes'"),
        (
            'mastodon_tag_access = "open"',
            "sandbox.mastodon_tag_access: expected one of public, authenticated",
        ),
        ('late = "soon"', "sandbox.late: expected a duration like \"15m\" (s, m, h, d), got 'soon'"),
        ("late = 3", 'sandbox.late: expected a duration like "15m" (s, m, h, d), got 3'),
        ('late = "30d"', "sandbox.late: expected a duration from 1s to 7d like \"3h\", got '30d'"),
    ],
)
def test_a_wrong_quirk_is_one_clear_line(line: str, message: str) -> None:
    found = problems(f"[sandbox]\n{line}\n")
    assert len(found) == 1 and found[0].startswith(message), found


def test_sandbox_serve_passes_the_configs_quirks(cli: Any, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:  # fmt: skip
    import tracker.sandbox.server as server

    called: list[tuple[Any, ...]] = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: called.append((args, kwargs)))
    config = write_config(tmp_path, extra=QUIRKS)
    assert cli("--config", str(config), "sandbox", "serve").code == 0
    assert cli("--config", str(config), "sandbox", "serve", "--deleted-share", "0.2").code == 0
    (args, options), (_, overridden) = called
    assert args == (7, 2, 0)
    assert options["late"] == timedelta(hours=3)
    assert (options["mastodon_filtered"], options["bluesky_empty_pages"], options["reddit_listing_cap"]) == (
        0.3,
        2,
        1000,
    )
    assert options["deleted_share"] == 0.05 and overridden["deleted_share"] == 0.2, (
        "the flag wins over the config"
    )


def test_the_served_world_meets_the_configs_quirks(tmp_path: Path) -> None:
    """serve() with the config's switches: Mastodon's tag timeline comes in filtered short pages that
    still say where the next one is, and the summary names the quirks switched on."""
    from tracker.sandbox.server import serve

    config = write_config(
        tmp_path, extra='[sandbox]\nseed = 7\nweeks = 2\nmastodon_filtered = 0.3\nlate = "3h"\n'
    )
    sandbox = load_settings(config).sandbox
    assert sandbox is not None
    lines: list[str] = []
    ready, stop = threading.Event(), threading.Event()

    def out(line: str) -> None:
        lines.append(line)
        if line.startswith("  late posts"):
            ready.set()

    thread = threading.Thread(target=serve, args=(sandbox.seed, sandbox.weeks, 0), daemon=True, kwargs={
        "end": sandbox.end, "brand": sandbox.brand, "out": out, "stop": stop, "late": sandbox.late,
        **sandbox.switches()})  # fmt: skip
    thread.start()
    try:
        assert ready.wait(60), lines
        assert any(line.startswith("  quirks: mastodon_filtered 0.3") for line in lines), lines
        assert "  late posts: up to 3:00:00 late" in lines
        base = next(line.split()[-1] for line in lines if line.strip().startswith("mastodon "))
        sizes, url = [], f"{base}/api/v1/timelines/tag/acme?limit=40"
        with httpx.Client(timeout=30) as client:
            while url and len(sizes) < 50:
                answer = client.get(url)
                assert answer.status_code == 200, answer.text
                sizes.append(len(answer.json()))
                url = answer.links.get("next", {}).get("url", "")
        assert any(0 < size < 40 for size in sizes[:-1]), sizes  # short pages, and a next page after them
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_the_demo_workspace_records_its_quirks(tmp_path: Path) -> None:
    """The demo's tracker.toml names the quirks its sandbox served, so `sandbox serve --config` serves
    the same world with the same behaviour (the whole demo run: tests/test_demo.py, slow)."""
    from tracker.demo import DEMO_LATE, DEMO_QUIRKS, write_workspace
    from tracker.sandbox.server import SandboxServer
    from tracker.sandbox.world import generate_world

    world = generate_world(5, 1, late=DEMO_LATE)
    with SandboxServer(world, require_bluesky_login=False, **DEMO_QUIRKS) as server:
        sandbox = load_settings(write_workspace(tmp_path, server, seed=5, weeks=1, late=DEMO_LATE)).sandbox
    assert sandbox is not None
    assert {name: sandbox.switches()[name] for name in DEMO_QUIRKS} == DEMO_QUIRKS
    assert sandbox.late == DEMO_LATE == timedelta(hours=3)
    assert DEMO_QUIRKS["mastodon_filtered"] > 0 and DEMO_QUIRKS["bluesky_empty_pages"] > 0
    assert DEMO_QUIRKS["deleted_share"] > 0


@pytest.mark.slow
def test_the_demo_collects_everything_its_quirky_sandbox_holds(tmp_path: Path) -> None:
    """With short filtered pages, empty pages, late and deleted posts switched on, the demo still stores
    every post the sandbox holds for each stream at the world's end, except those the quirks hide:
    statuses the server-side filter drops, and posts deleted before the demo's next Monday collection."""
    import sqlite3

    from tests.sandbox.test_connectors import expected
    from tracker.demo import DEMO_LATE, DEMO_QUIRKS, collection_moments, run_demo
    from tracker.sandbox.lifecycle import deleted_at
    from tracker.sandbox.mastodon import filtered
    from tracker.sandbox.server import SandboxServer
    from tracker.sandbox.world import generate_world

    run_demo(tmp_path / "demo", weeks=6, seed=3, echo=lambda _: None, progress=False)
    world = generate_world(3, 6, late=DEMO_LATE)
    moments = collection_moments(world)
    hidden = held = 0
    with SandboxServer(world, feed_size=100_000, **DEMO_QUIRKS) as server, \
            sqlite3.connect(tmp_path / "demo" / "tracker.db") as db:  # fmt: skip
        ctx = server.context
        for stream in world.streams:
            stored = {row[0] for row in db.execute(
                "SELECT m.external_id FROM mentions m JOIN mention_streams ms ON ms.mention_id = m.id "
                "JOIN streams s ON s.id = ms.stream_id WHERE s.name = ?", (stream.name,))}  # fmt: skip
            everything = expected(server, stream.name, world.end)
            collectable = set()
            for key, post in everything.items():
                gone = deleted_at(ctx, post)
                first = next((m for m in moments if m >= post.visible_at), world.end)
                if (post.platform == "mastodon" and filtered(ctx, post)) or (
                    gone is not None and gone <= first
                ):
                    hidden += 1
                else:
                    collectable.add(key)
            assert collectable <= stored, (stream.name, len(collectable - stored))
            assert stored <= set(everything), stream.name
            held += len(everything)
    assert 0 < hidden < held / 10, (hidden, held)  # the quirks were on, and hid only what they should
