"""Reddit access as it is in 2026 (issue 15, item 6), against the sandbox and MockTransport:
anonymous JSON refused with an explanation of how to get access; the OAuth flows an approved
app gets (client credentials, and a script app's password grant)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors._http import HttpClient
from connectors.base import AuthRequired, StreamSpec
from connectors.reddit.connector import RedditConnector
from tests.sandbox.conftest import collect, spec_for
from tracker.sandbox import SandboxServer, World
from tracker.sandbox.reddit import USERNAME
from tracker.sandbox.server import ENV


def test_anonymous_refusal_explains_how_to_get_access(world: World) -> None:
    with SandboxServer(world, block_anonymous_reddit=False) as open_server:
        table_spec = spec_for(open_server, "acme-reddit")
    with SandboxServer(world, block_anonymous_reddit=True) as server:
        spec = StreamSpec(name="r", connector="reddit", base_url=server.base_url("reddit"),
                          selectors=dict(table_spec.selectors))  # fmt: skip
        with pytest.raises(AuthRequired) as caught:
            collect(server, spec)
        message = str(caught.value)
        assert "no longer serves anonymous JSON" in message and "approval" in message
        assert "https://www.reddit.com/wiki/api" in message and "client_id_env" in message


def test_a_script_app_logs_in_with_the_password_grant(world: World) -> None:
    with SandboxServer(world, block_anonymous_reddit=True) as server:
        spec = spec_for(server, "acme-reddit", username=USERNAME, password_env=ENV["reddit_password"])
        assert spec.secrets["password"] and spec.selectors["username"] == USERNAME
        run = collect(server, spec)
        assert run.final.complete and len(run.ids) == len(world.posts_of("acme-reddit"))
        wrong = spec_for(server, "acme-reddit", username="someone_else", password_env=ENV["reddit_password"])
        with pytest.raises(AuthRequired, match="check username and password_env"):
            collect(server, wrong)


def test_password_grant_request_shape_and_refusal() -> None:
    seen: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/access_token":
            seen.append(parse_qs(request.content.decode()))
            return httpx.Response(401, json={"message": "Unauthorized", "error": 401})
        return httpx.Response(500)

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            spec = StreamSpec(name="r", connector="reddit",
                              selectors={"query": "acme", "user_agent": "t/1 (by u/t)", "username": "bot"},
                              secrets={"client_id": "id", "client_secret": "s", "password": "pw"})  # fmt: skip
            return [page async for page in RedditConnector(spec, HttpClient(client=client)).pages(None)]

    with pytest.raises(AuthRequired, match="refused the login: check username and password_env"):
        asyncio.run(go())
    assert seen == [{"grant_type": ["password"], "username": ["bot"], "password": ["pw"]}]


def test_a_mastodon_server_restricting_tag_timelines_is_a_warning_in_status(
    world: World, tmp_path: Any, cli: Any
) -> None:
    import json

    from tests.conftest import write_config

    with SandboxServer(world, mastodon_tag_access="authenticated", rate_limits={}) as server:
        table = next(c for c in server.stream_configs() if c["name"] == "acme-mastodon")
        config = write_config(tmp_path, streams=[{**table, "every": "15m"}])
        (report,) = json.loads(cli("--config", config, "collect", "--json").out)
        assert report["status"] == "ok" and report["new"] == 0
        assert report["error"].startswith("warning:") and "token_env" in report["error"]
        (stream,) = json.loads(cli("--config", config, "status", "--json").out)["streams"]
        assert "timelines_access" in stream["last_run"]["error"] and "token_env" in stream["last_error"]["error"]
