"""What `tracker serve`, `tracker user add` and `tracker token create` call."""

from __future__ import annotations

import ipaddress
import signal

from tracker.config import Settings
from tracker.errors import UserError
from tracker.store.db import Store
from tracker.web import auth


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, store: Store, *, host: str, port: int) -> None:
    """Run the web interface with uvicorn until interrupted.

    On 127.0.0.1 (the default) it needs no login. On any other address every page
    and API call needs a signed-in user or a token, so it refuses to start before a
    user exists.
    """
    import uvicorn

    from tracker.web.app import LOOPBACK_HOSTS, create_app

    require_login = not is_loopback(host)
    if require_login and auth.user_count(store) == 0:
        raise UserError(
            f"serving on {host} needs a login and there is no web user yet: "
            "run `tracker user add NAME` first (or serve on 127.0.0.1)"
        )
    app = create_app(
        settings,
        store,
        require_login=require_login,
        allowed_hosts=None if require_login else LOOPBACK_HOSTS,
    )
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the
    # handler it found; a no-op one lets the command end normally (exit 0) after a clean stop.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: None)
    # Forwarded headers are judged by the app ([web] trusted_proxies), never by uvicorn,
    # which would otherwise believe them from 127.0.0.1.
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, access_log=True,
                proxy_headers=False, forwarded_allow_ips="")  # fmt: skip


def add_user(store: Store, name: str, password: str) -> bool:
    """Create a web user (True), or set a new password for an existing one (False)."""
    return auth.add_user(store, name, password)


def create_token(store: Store, name: str) -> str:
    """A new API token for scripts, shown once; only its hash is stored."""
    return auth.create_token(store, name)
