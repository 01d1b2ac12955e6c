"""How the CLI speaks to people: help without Python types, usage errors and failures in product words.

Two central pieces, so no command has to care:

* `humanise_help()` makes Typer's help and usage lines name values as a person would
  (`--since DAY`, `--stream NAME`, `ID`) instead of `<str>`, `<list[str]>`, `{ID}`.
* `usage_lines()` and `failure_lines()` turn the exceptions a user can cause (a bad
  option value, a missing option, a corrupt database, a directory that cannot be
  written, a refused connection) into one or two lines naming the thing, the value
  and what to do. `tracker.cli.main` prints them; `--debug` still shows tracebacks.
"""

from __future__ import annotations

import os
import re
from typing import Any, get_args, get_origin

from tracker.oserrors import os_problem

# What a value is called in help, by the parameter's name (shared by every command).
LABELS_BY_NAME = {
    "since": "DAY",
    "until": "DAY",
    "start": "DAY",
    "end": "DAY",
    "as_of": "DAY",
    "baseline_start": "DAY",
    "baseline_end": "DAY",
    "day": "DAY",
    "week": "YYYY-Www",
    "stream": "NAME",
    "streams": "NAME",
    "control_stream": "NAME",
    "name": "NAME",
    "config": "FILE",
    "out": "FILE",
    "file": "FILE",
    "directory": "DIR",
    "dir": "DIR",
    "port": "PORT",
    "host": "ADDRESS",
    "fmt": "FORMAT",
    "format": "FORMAT",
    "metric": "METRIC",
    "status_filter": "STATUS",
    "expect": "DIRECTION",
    "practice": "KEY",
    "owner": "NAME",
    "team": "NAME",
    "author": "NAME",
    "title": "TEXT",
    "hypothesis": "TEXT",
    "learning": "TEXT",
    "min_effect": "NUMBER",
    "seed": "N",
    "weeks": "N",
    "limit": "N",
}
LABELS_BY_TYPE = {int: "N", float: "NUMBER", str: "TEXT", bool: "yes|no"}


def value_label(param: Any) -> str:
    """The word for a parameter's value in help: by its name, else by its type."""
    name = getattr(param, "name", None) or ""
    if name in LABELS_BY_NAME:
        return LABELS_BY_NAME[name]
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return "VALUE"
    try:
        choices = desc.choices
    except Exception:
        choices = None
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    try:
        if desc.is_path:
            kind = str(desc.path_type).lower()
            return "FILE" if "file" in kind else "DIR" if "dir" in kind else "PATH"
    except Exception:
        pass
    annotation = desc.annotation
    if get_origin(annotation) in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        annotation = args[0] if args else str
    return LABELS_BY_TYPE.get(annotation, "VALUE")


def humanise_help() -> None:
    """Patch Typer's help rendering once: product words for values, plain argument names."""
    try:
        from typer import core
    except ImportError:  # pragma: no cover - typer is a dependency
        return
    base = getattr(core, "_TyperParameter", None)
    argument = getattr(core, "TyperArgument", None)
    if base is None or getattr(base, "_tracker_humanised", False):
        return

    def display_type(self: Any, ctx: Any) -> str:
        if argument is not None and isinstance(self, argument):
            return ""  # an argument's name (ID, FILE, TEXT) already says what it is
        return value_label(self)

    def usage_display_name(self: Any) -> str:
        name = str(getattr(self, "metavar", None) or self.name).strip("[]{}").upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def rich_display_name(self: Any) -> str:
        return str(getattr(self, "metavar", None) or self.name).strip("[]{}").upper()

    def number_range(self: Any) -> str | None:
        low, high = getattr(self, "min", None), getattr(self, "max", None)
        if low is None and high is None:
            return None
        if low is not None and high is not None:
            return f"{low} to {high}"
        return f"at least {low}" if low is not None else f"at most {high}"

    base.display_type = display_type
    for cls in (argument, getattr(core, "TyperOption", None)):
        if cls is not None and hasattr(cls, "_get_number_range_help_str"):
            cls._get_number_range_help_str = number_range
    if argument is not None:
        if hasattr(argument, "_usage_display_name"):
            argument._usage_display_name = usage_display_name
        if hasattr(argument, "_rich_display_name"):
            argument._rich_display_name = rich_display_name
    base._tracker_humanised = True


# -- usage errors -----------------------------------------------------------------------------

PYDANTIC_WORDS = {
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "int_type": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected yes or no",
    "finite_number": "expected a finite number",
    "greater_than_equal": "too small",
    "less_than_equal": "too large",
}


def parameter_name(param: Any) -> str:
    """How the person typed (or should type) a parameter: `--port`, or `ID` for an argument."""
    if param is None:
        return "value"
    if getattr(param, "param_type_name", "") == "argument":
        return str(getattr(param, "metavar", None) or param.name).strip("[]{}").upper()
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")] or list(getattr(param, "opts", []))
    return opts[0] if opts else str(param.name)


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def _help_hint(exc: Any) -> str | None:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return None
    return f"see `{ctx.command_path} --help`"


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def is_usage_error(exc: BaseException) -> bool:
    """A Click/Typer usage exception (bad option, missing value, unknown command)."""
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


def is_click_exception(exc: BaseException) -> bool:
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__)


def usage_lines(exc: Any) -> list[str]:
    """One `error:` line for a usage error, then where to read the help."""
    kind = type(exc).__name__
    param = getattr(exc, "param", None)
    if kind == "MissingParameter":
        name = parameter_name(param)
        help_text = getattr(param, "help", None)
        what = f" ({_sentence(help_text)})" if help_text else ""
        line = f"{name}: required{what}"
    elif kind == "BadParameter" or (param is not None and kind != "NoSuchOption"):
        line = f"{parameter_name(param)}: {_bad_value(exc)}"
    elif kind == "NoSuchOption":
        line = f"no such option {exc.option_name}"
        possibilities = sorted(getattr(exc, "possibilities", None) or [])
        if possibilities:
            line += f" (did you mean {' or '.join(possibilities)}?)"
    else:
        message = str(getattr(exc, "message", exc))
        found = re.match(r"No such command '(.*)'", message)
        if found:
            line = f"no such command {found.group(1)!r}"
            commands = _commands(exc)
            if commands:
                line += f" (commands: {', '.join(commands)})"
        else:
            line = _sentence(message.replace("Got unexpected extra argument", "unexpected extra argument"))
    lines = [f"error: {line}"]
    hint = _help_hint(exc)
    if hint:
        lines.append(hint)
    return lines


def _commands(exc: Any) -> list[str]:
    ctx = getattr(exc, "ctx", None)
    commands = getattr(getattr(ctx, "command", None), "commands", None) or {}
    return sorted(commands)


def _bad_value(exc: Any) -> str:
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
        except Exception:
            first = None
        if first:
            low, high = getattr(exc.param, "min", None), getattr(exc.param, "max", None)
            if str(first.get("type")).startswith(("greater_than", "less_than")) and None not in (low, high):
                return f"expected a number from {low} to {high}, got {_shown(first.get('input', ''))}"
            words = PYDANTIC_WORDS.get(str(first.get("type")), "not a valid value")
            return f"{words}, got {_shown(first.get('input', ''))}"
    message = str(getattr(exc, "message", "") or "")
    found = re.match(r"Value (.+) is not a valid", message)
    if found:
        return f"not a valid value: {found.group(1)}"
    if re.search(r"\b(int|str|float|bool|list|NoneType)\b|Input should be", message):
        return "not a valid value"
    return _sentence(message) or "not a valid value"


# -- failures ---------------------------------------------------------------------------------


def failure_lines(exc: BaseException) -> list[str] | None:
    """Product words for an exception that is not the product's own; None when unknown."""
    database = _database_problem(exc)
    if database is not None:
        return [f"error: {database}"]
    if isinstance(exc, OSError):
        return [f"error: {os_problem(exc)}"]
    connection = connection_problem(exc)
    if connection is not None:
        return [f"error: {connection}"]
    return None


def unexpected_lines(exc: BaseException) -> list[str]:
    """A fault of the product itself: what it said, and how to see where (never a traceback)."""
    if is_click_exception(exc):
        formatter = getattr(exc, "format_message", None)
        return [f"error: {_sentence(formatter() if callable(formatter) else str(exc))}"]
    said = " ".join(str(exc).split())[:200]
    return [
        f"error: unexpected problem{f' ({said})' if said else ''}: "
        "run with --debug to see where, and please report it"
    ]


def _database_problem(exc: BaseException) -> str | None:
    try:
        from sqlalchemy.exc import DBAPIError
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(exc, DBAPIError):
        return None
    orig = str(exc.orig) if exc.orig is not None else ""
    orig = orig.splitlines()[0] if orig else "it cannot be read"
    if "not a database" in orig or "malformed" in orig or "corrupt" in orig:
        return (
            f"the database cannot be read: {orig} (is [database] url the tracker's database? "
            "restore it from a backup, or point the configuration at another file)"
        )
    if "locked" in orig:
        return f"the database is busy: {orig} (another command is writing; try again)"
    if "unable to open" in orig or "could not connect" in orig or "connection" in orig.lower():
        return f"cannot open the database: {orig} (check [database] url in the configuration)"
    return f"the database refused the operation: {orig}"


def connection_problem(exc: BaseException, url: str | None = None) -> str | None:
    """A refused or failed connection, with the sandbox hint when it was a loopback address."""
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(exc, httpx.TransportError):
        return None
    if url is None:
        try:
            url = str(exc.request.url)
        except RuntimeError:
            url = None
    return refused_text(url, str(exc))


def refused_text(url: str | None, detail: str) -> str:
    """`cannot connect to http://127.0.0.1:8400 (connection refused): is `tracker sandbox serve` running?`"""
    refused = "refused" in detail.lower() or "connect call failed" in detail.lower()
    what = "connection refused" if refused else (detail.strip() or "no answer")
    text = f"cannot connect to {url or 'the server'} ({what})"
    if url and is_sandbox_address(url):
        text += ": is `tracker sandbox serve` running?"
    return text


def is_sandbox_address(url: str) -> bool:
    """Loopback addresses are where the sandbox (or a local test server) answers."""
    host = re.sub(r"^[a-z]+://", "", url.lower()).split("/", 1)[0]
    host = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return host in ("127.0.0.1", "localhost", "[::1]") or host.startswith("127.")


def environment_config() -> str | None:
    """$TRACKER_CONFIG when set and not empty."""
    value = os.environ.get("TRACKER_CONFIG", "").strip()
    return value or None
