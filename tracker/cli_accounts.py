"""`tracker user …`, `tracker token …` (beyond add/create), `tracker audit` and `tracker web rotate-key`.

Registered on the sub-apps of tracker/cli.py by `register`. Every change is recorded
in the audit log as done by `cli:LOGIN`.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracker.errors import UserError

if TYPE_CHECKING:
    from tracker.config import Settings
    from tracker.store.db import Store

web_app = typer.Typer(
    help="The web interface's keys and sessions.", no_args_is_help=True, rich_markup_mode=None
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: $TRACKER_CONFIG, else ./tracker.toml).", dir_okay=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The user's login name.")]


def register(app: typer.Typer, user_app: typer.Typer, token_app: typer.Typer) -> None:
    """Add the commands to the root app and its `user` and `token` groups."""
    user_app.command("list")(user_list)
    user_app.command("disable")(user_disable)
    user_app.command("enable")(user_enable)
    user_app.command("passwd")(user_passwd)
    user_app.command("remove")(user_remove)
    token_app.command("list")(token_list)
    token_app.command("revoke")(token_revoke)
    app.command("audit")(audit_log)
    app.add_typer(web_app, name="web")


def _open(config: Path | None) -> tuple[Settings, Store]:
    from tracker.cli import settings_for, store_for

    settings = settings_for(config)
    return settings, store_for(settings)


def _print_json(document: object) -> None:
    from tracker.cli import print_json

    print_json(document)


def _clean(text: object) -> str:
    from tracker.terminal import clean

    return clean(str(text))


# -- users ------------------------------------------------------------------------------------


def user_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List web users: admin or not, disabled or not, open sessions."""
    from tracker.accounts import list_users

    _, store = _open(config)
    with store:
        users = list_users(store)
    if as_json:
        _print_json(users)
        return
    if not users:
        typer.echo("no web users yet: add one with `tracker user add NAME`")
    for u in users:
        flags = ", ".join(
            f for f in ("admin" if u["admin"] else "", "disabled" if u["disabled"] else "") if f
        )
        typer.echo(f"{_clean(u['name'])}{f' ({flags})' if flags else ''}: {u['sessions']} open sessions, "
                   f"since {u['created_at']}")  # fmt: skip


def _set_disabled(name: str, disabled: bool, config: Path | None, as_json: bool) -> None:
    from tracker.accounts import list_users, set_disabled

    _, store = _open(config)
    with store:
        changed = set_disabled(store, name, disabled)
        record = next(u for u in list_users(store) if u["name"] == name)
    if as_json:
        _print_json({**record, "changed": changed})
        return
    word = "disabled" if disabled else "enabled"
    extra = ": every session of it has ended" if disabled and changed else ""
    typer.echo(f"user {name} {word}{extra}" if changed else f"user {name} was already {word}")


def user_disable(name: NameArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Disable a user: their sessions end at once, their login and tokens are refused."""
    _set_disabled(name, True, config, as_json)


def user_enable(name: NameArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False, config, as_json)


def user_passwd(name: NameArg, config: ConfigOpt = None) -> None:
    """Set a user's password (prompted); every session of the user ends at once."""
    from tracker.accounts import find_user
    from tracker.web.auth import add_user

    _, store = _open(config)
    with store:
        with store.read() as session:
            find_user(session, name)
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
        add_user(store, name, password)
    typer.echo(f"password of {name} changed: every session of it has ended")


def user_remove(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Delete a user with their sessions and tokens (the audit log keeps what they did)."""
    from tracker.accounts import remove_user

    if not yes and not typer.confirm(f"Remove user {name} with their sessions and tokens?"):
        raise typer.Exit(1)
    _, store = _open(config)
    with store:
        remove_user(store, name)
    typer.echo(f"user {name} removed")


# -- tokens -----------------------------------------------------------------------------------


def token_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List API tokens (never the tokens themselves): owner, access, expiry, last use, state."""
    from tracker.accounts import list_tokens

    _, store = _open(config)
    with store:
        tokens = list_tokens(store)
    if as_json:
        _print_json(tokens)
        return
    if not tokens:
        typer.echo("no API tokens: create one with `tracker token create --name WHAT-FOR`")
    for t in tokens:
        access = "read-only" if t["read_only"] else "read-write"
        owner = f", of {_clean(t['user'])}" if t["user"] else ""
        typer.echo(
            f"{t['id']:>4}  {t['state']:<7}  {access:<10}  last used {t['last_used_at'] or 'never'}, "
            f"expires {t['expires_at'] or 'never'}  {_clean(t['name'])}{owner}"
        )


def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (see `tracker token list`).")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: every call with it gets 401 from now on."""
    from tracker.accounts import list_tokens, revoke_token

    _, store = _open(config)
    with store:
        changed = revoke_token(store, token_id)
        record = next(t for t in list_tokens(store) if t["id"] == token_id)
    if as_json:
        _print_json({**record, "changed": changed})
    else:
        typer.echo(f"token {token_id} revoked" if changed else f"token {token_id} was already revoked")


# -- audit ------------------------------------------------------------------------------------


def audit_log(
    since: Annotated[
        str | None,
        typer.Option("--since", help="From this day (YYYY-MM-DD, organisation time zone) or instant."),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log: logins, logouts, token events and experiment changes, with who and when."""
    from tracker.audit import events

    settings, store = _open(config)
    with store:
        moment = _since(since, settings.organisation.zone) if since else None
        found = events(store, since=moment, limit=1_000_000)
    if as_json:
        _print_json(found)
        return
    if not found:
        typer.echo("no audit events" + (f" since {since}" if since else ""))
    for e in found:
        target = f" {e['target']}" if e["target"] else ""
        where = f" from {e['client']}" if e["client"] else ""
        detail = f" {e['detail']}" if e["detail"] else ""
        typer.echo(_clean(f"{e['at']}  {e['actor']}  {e['action']}{target}{where}{detail}"))


def _since(value: str, zone: tzinfo) -> datetime:
    from datetime import date, time

    from tracker.timeutil import parse_instant

    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            return parse_instant(value)
        except (ValueError, OverflowError):
            raise UserError(
                f"--since: expected a day like 2026-09-01 or an instant with offset, got {value!r}"
            ) from None
    try:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    except OverflowError:
        raise UserError(f"--since: {value} is out of range") from None


# -- web --------------------------------------------------------------------------------------


@web_app.command("rotate-key")
def rotate_key(config: ConfigOpt = None) -> None:
    """Replace the session key and end every web session now (running servers included)."""
    from tracker.web.auth import rotate_key as rotate

    settings, store = _open(config)
    with store:
        ended = rotate(settings, store)
    typer.echo(f"new session key written; {ended} sessions ended: everyone logs in again")
