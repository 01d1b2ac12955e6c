"""Which module may import what: the layers ARCHITECTURE.md describes, checked on the source.

Imports are read from every module's syntax tree, those inside functions included (many
imports here are deferred to keep `tracker --help` fast), and followed through the
`tracker` package.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` but those under `if TYPE_CHECKING:` (imported for mypy only)."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo += node.orelse
            continue
        todo += ast.iter_child_nodes(node)
    return found


@cache
def imports_of(name: str) -> frozenset[str]:
    """Every module `name` names in an import statement, anywhere in its source (functions
    included) but under `if TYPE_CHECKING:`."""
    path = module_file(name)
    if path is None:
        return frozenset()
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if module_file(f"{node.module}.{alias.name}"))  # fmt: skip
    return frozenset(found)


def reachable(start: str) -> set[str]:
    """`start` and every module it imports, transitively through tracker and connectors."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [m for m in imports_of(name) if m.split(".")[0] in ("tracker", "connectors")]
    return seen | {m for name in seen for m in imports_of(name)}


def test_the_walker_sees_deferred_imports() -> None:
    assert "typer" in reachable("tracker.digest.command")
    assert "tracker.digest.data" in reachable("tracker.digest.service")  # imported inside builder()


def test_neither_the_digest_job_nor_the_scheduler_nor_the_demo_imports_typer() -> None:
    for start in ("tracker.digest.job", "tracker.digest.service", "tracker.scheduler", "tracker.demo"):
        pulled = {m for m in reachable(start) if m.split(".")[0] == "typer" or m == "tracker.cli"}
        assert not pulled, (
            f"{start} imports {sorted(pulled)}: the CLI belongs in digest/command.py and cli.py"
        )


def test_connectors_never_import_the_application() -> None:
    for path in sorted((ROOT / "connectors").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        assert not [m for m in imports_of(name) if m.split(".")[0] == "tracker"], name


def test_stored_statuses_and_roles_are_spelt_once() -> None:
    """The writers and readers of collection_runs.status, digest_sends.status, an alert delivery's
    status and streams.role use the StrEnums of tracker/store/enums.py (a digest send's reported
    outcome: tracker.digest.send.Delivery), which stay the plain strings SPEC's JSON fields carry."""
    from tracker.store.enums import DeliveryStatus, Role, RunStatus, SendStatus

    assert [str(r) for r in Role] == ["brand", "competitor", "owned"]
    assert {"running", "ok", "partial", "failed"} <= set(RunStatus)
    assert set(SendStatus) == {"in_progress", "sent", "failed"}
    assert set(DeliveryStatus) == {"pending", "in_progress", "sent", "failed", "in_doubt"}
    words = "ok|partial|failed|running|in_progress|in_doubt|pending|sent|already_sent|skipped_in_doubt|brand|owned|competitor"
    written = re.compile(rf'(?:status|role)["\])]*\s*(?:==|=|!=|in\s*\()\s*"(?:{words})"')
    assert written.search('if d["status"] in ("failed", "in_doubt"):') and written.search(
        'o.status == "sent"'
    )
    for module in ("collect.py", "digest/send.py", "reflection.py", "experiments.py", "alerts.py", "cli_alerts.py",
                   "digest/command.py", "digest/job.py", "digest/data.py", "status.py"):  # fmt: skip
        spelt = written.findall((ROOT / "tracker" / module).read_text(encoding="utf-8"))
        assert not spelt, f"tracker/{module} spells {spelt} instead of using tracker.store.enums"


def test_connectors_read_the_clock_only_through_their_http_client() -> None:
    """One clock for every connector: HttpClient.now (tests and the sandbox pin it there)."""
    reads = re.compile(r"datetime\.now\(|time\.time\(|datetime\.utcnow\(|\btime\.time\b")
    for path in sorted((ROOT / "connectors").rglob("*.py")):
        if path.name == "_http.py":
            continue
        found = reads.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.relative_to(ROOT)} reads the clock itself: {found}"


def test_connector_settings_and_contract_cases_are_light() -> None:
    """What the config and the contract suite read of a connector imports only connectors.base
    and the standard library: never the connector, httpx or another third-party module."""
    for path in sorted((ROOT / "connectors").glob("*/settings.py")) + sorted(
        (ROOT / "connectors").glob("*/contract.py")
    ):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        pulled = {m for m in reachable(name) if m.split(".")[0] not in sys.stdlib_module_names}
        assert pulled <= {name, "connectors", "connectors.base"}, f"{name} imports {sorted(pulled)}"
    assert len(list((ROOT / "connectors").glob("*/settings.py"))) == 5


def test_loading_a_config_imports_no_connector(tmp_path: Path) -> None:
    """A config with a stream of every built-in is validated from their settings modules alone
    (the `tracker.stream_keys` entry points): no connector module is imported, nor httpx."""
    from tests.conftest import write_config

    path = write_config(tmp_path, streams=[
        {"name": "m", "connector": "mastodon", "every": "15m", "hashtag": "acme"},
        {"name": "b", "connector": "bluesky", "every": "15m", "query": "acme"},
        {"name": "h", "connector": "hackernews", "every": "15m", "query": "acme"},
        {"name": "r", "connector": "reddit", "every": "15m", "query": "acme", "user_agent": "t/1"},
        {"name": "f", "connector": "rss", "every": "15m", "url": "https://feeds.example/a.xml"},
    ])  # fmt: skip
    probe = (
        "import sys\nfrom tracker.config import load_settings\n"
        f"assert len(load_settings({str(path)!r}).streams) == 5\n"
        "print(sorted(m for m in sys.modules if m == 'httpx' or m.endswith('.connector')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_reading_results_imports_no_statistics() -> None:
    """The reflection, the lifecycle and the digest read stored results through
    tracker/results.py: `tracker reflect` must not pay for numpy and scipy (issue 22)."""
    probe = (
        "import sys\nimport tracker.reflection, tracker.lifecycle, tracker.digest.activity\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'tracker.measuring', 'tracker.sequential') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_spike_rule_lives_in_one_analysis_module() -> None:
    """The digest, the web overview and the alerts judge spikes with tracker/spikes.py's rule,
    on days (find_spikes) or on slots of an alert's window (spike_verdict): no copy elsewhere."""
    rule = re.compile(r"def (?:find_spikes|spike_verdict)\b|MAD_TO_SD\s*=")
    for path in sorted((ROOT / "tracker").rglob("*.py")):
        if path.name == "spikes.py" or "sandbox" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert not rule.search(text), f"{path.relative_to(ROOT)} has its own spike rule"


WEB_STACK = ("fastapi", "starlette", "uvicorn", "tracker.web")
SCORER = ("tracker.sentiment", "tracker.vader", "py3langid")
STATISTICS = ("numpy", "scipy")


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    """The modules a `tracker ARGS` process has imported when it ends (a fresh interpreter)."""
    listing = tmp_path / "modules.txt"
    probe = (
        "import runpy, sys\n"
        "listing, sys.argv = sys.argv[1], ['tracker', *sys.argv[2:]]\n"
        "try:\n    runpy.run_module('tracker', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "finally:\n    open(listing, 'w').write('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(listing), *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return set(listing.read_text().split())


def heavy(modules: set[str], *names: str) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_help_and_the_weekly_commands_import_only_what_they_use(tmp_path: Path) -> None:
    """`tracker --help` loads no analysis, chart, web, scorer or database code; `reflect` and the
    digest's data, text and CSV no chart, scorer, statistics, web or mail code; the HTML preview
    matplotlib's object API, not pyplot (issue 22: fixed costs of every run)."""
    from tests.conftest import write_config

    assert not heavy(imported_by(tmp_path, "--help"), "matplotlib", *STATISTICS, *WEB_STACK, *SCORER,
                     "sqlalchemy", "jinja2", "tracker.digest")  # fmt: skip
    config = str(write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'tracker.db'}"))
    imported_by(tmp_path, "--config", config, "db", "upgrade")
    light = ("matplotlib", *STATISTICS, *WEB_STACK, *SCORER, "tracker.digest.send", "smtplib")
    assert not heavy(imported_by(tmp_path, "--config", config, "reflect", "--json"), *light, "jinja2")
    for args in (["--json"], [], ["--out", str(tmp_path / "digest.csv")]):
        assert not heavy(imported_by(tmp_path, "--config", config, "digest", *args), *light), args
    preview = imported_by(tmp_path, "--config", config, "digest", "--out", str(tmp_path / "digest.html"))
    if len(os.sched_getaffinity(0)) >= 2:  # the chart is drawn in a worker (chart.drawn_aside)
        assert not heavy(preview, "matplotlib")
    else:
        assert "matplotlib.figure" in preview
    assert not heavy(preview, "matplotlib.pyplot", *WEB_STACK, *SCORER, "scipy", "tracker.digest.send")
