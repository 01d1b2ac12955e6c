"""`tracker mentions search QUERY` and `tracker search add|list|show|rename|remove`.

Registered by tracker/cli.py; the work is in tracker/search.py and
tracker/saved_searches.py (the same services as the web pages).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from tracker.cli import ConfigOpt, JsonOpt, app, fail, mentions_app, print_json, settings_for, store_for

search_app = typer.Typer(
    help="Saved searches: named queries watched over time.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(search_app, name="search")

QUERY_HELP = (
    'A query: words (all needed), "exact phrases", OR, NOT or -word, (groups), acme*, #tag, @handle, '
    "author: platform: lang: stream: sentiment:positive|negative|neutral kind:own."
)


# A query may start with a negation (`-hiring acme`): not an option to the command line.
@mentions_app.command("search", context_settings={"ignore_unknown_options": True})
def mentions_search(
    query: Annotated[str, typer.Argument(help=QUERY_HELP)],
    stream: Annotated[str | None, typer.Option("--stream", help="Only mentions of this stream.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="First day (YYYY-MM-DD, organisation time zone).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day, inclusive.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many mentions, newest first.", min=1)
    ] = 20,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (cells safe for spreadsheets).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Search mentions with the query language, newest first."""
    from tracker.query import parse
    from tracker.search import first_matches, iter_csv
    from tracker.timeutil import parse_export_day
    from tracker.web.queries import MentionFilter

    if query.startswith("--"):  # a mistyped option, not a query
        fail(f"no such option {query.split('=', 1)[0]}")
    if as_json and as_csv:
        fail("--json and --csv: choose one")
    parse(query)
    first, last = parse_export_day(since, "--since"), parse_export_day(until, "--until")
    if first and last and last < first:
        fail("--until is before --since")
    settings = settings_for(config)
    with store_for(settings) as store, store.read() as session:
        _known_stream(session, stream)
        f = MentionFilter(q=query, stream=stream, since=first, until=last)
        found = first_matches(session, settings, f, limit)
    if as_json:
        print_json({"query": query, "count": len(found), "mentions": found})
    elif as_csv:
        for chunk in iter_csv(found):
            sys.stdout.write(chunk)
    else:
        _print_mentions(found, settings)


def _known_stream(session: Any, stream: str | None) -> None:
    from tracker.store.queries import stream_id

    if stream and stream_id(session, stream) is None:
        fail(f"--stream: unknown stream {stream!r}")


def _print_mentions(found: list[dict[str, Any]], settings: Any) -> None:
    from tracker.timeutil import parse_instant

    if not found:
        typer.echo("no mentions match")
        return
    zone = settings.organisation.zone
    for m in found:
        when = parse_instant(m["created_at"]).astimezone(zone)
        text = " ".join(_printable(m["text"]).split())
        text = text if len(text) <= 160 else text[:159] + "…"
        typer.echo(f"{when:%Y-%m-%d %H:%M}  {m['platform']:<10}  {_printable(m['author'] or '-')}: {text}")


def _printable(text: str) -> str:
    """No control characters reach the terminal (an ESC sequence in a post stays inert)."""
    return "".join(c if c.isprintable() or c in " \n" else "\ufffd" for c in text)


# -- saved searches -----------------------------------------------------------------------------


@search_app.command("add")
def search_add(
    name: Annotated[str, typer.Argument(help="A name for the search.")],
    query: Annotated[str, typer.Argument(help=QUERY_HELP)],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a query under a name."""
    from tracker.saved_searches import add

    with store_for(settings_for(config)) as store:
        found = add(store, name, query)
    if as_json:
        print_json(found.as_dict())
    else:
        typer.echo(f"saved search #{found.id} {found.name!r}: {found.query}")


@search_app.command("list")
def search_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Saved searches with their mentions of the last 7 days against the 7 before."""
    from tracker.saved_searches import all_searches, figures
    from tracker.web.queries import today

    settings = settings_for(config)
    with store_for(settings) as store:
        day = today(settings)
        rows = [figures(store, settings, s, day, top=0) for s in all_searches(store)]
    if as_json:
        print_json([{k: v for k, v in r.items() if k not in ("daily", "top_mentions")} for r in rows])
        return
    if not rows:
        typer.echo("no saved searches yet: `tracker search add NAME QUERY`")
    for r in rows:
        change = f"{r['change_rel']:+.0%}" if r["change_rel"] is not None else "n/a"
        typer.echo(
            f"#{r['id']} {_printable(r['name'])}: {r['this_week']} mentions in the last 7 days, "
            f"{r['previous_week']} the 7 before ({change})  [{_printable(r['query'])}]"
        )


@search_app.command("show")
def search_show(
    name: Annotated[str, typer.Argument(help="The saved search's name or id.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One saved search: its week against the week before, daily counts and top mentions."""
    from tracker.saved_searches import figures, find
    from tracker.web.queries import today

    settings = settings_for(config)
    with store_for(settings) as store:
        result = figures(store, settings, find(store, name), today(settings))
    if as_json:
        print_json(result)
        return
    typer.echo(f"{_printable(result['name'])}: {_printable(result['query'])}")
    typer.echo(f"last 7 days: {result['this_week']} mentions; the 7 before: {result['previous_week']}")
    typer.echo("daily: " + " ".join(str(d["mentions"]) for d in result["daily"]))
    _print_mentions(result["top_mentions"], settings)


@search_app.command("rename")
def search_rename(
    name: Annotated[str, typer.Argument(help="The saved search's name or id.")],
    new_name: Annotated[str, typer.Argument(help="Its new name.")],
    config: ConfigOpt = None,
) -> None:
    """Rename a saved search."""
    from tracker.saved_searches import update

    with store_for(settings_for(config)) as store:
        found = update(store, name, name=new_name)
    typer.echo(f"saved search #{found.id} is now {found.name!r}")


@search_app.command("remove")
def search_remove(
    name: Annotated[str, typer.Argument(help="The saved search's name or id.")],
    config: ConfigOpt = None,
) -> None:
    """Delete a saved search (its mentions stay)."""
    from tracker.saved_searches import remove

    with store_for(settings_for(config)) as store:
        found = remove(store, name)
    typer.echo(f"removed saved search #{found.id} {found.name!r}")
