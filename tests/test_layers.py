"""Which module may import what: the layers ARCHITECTURE.md describes, checked on the source.

Imports are read from every module's syntax tree, those inside functions included (many
imports here are deferred to keep `tracker --help` fast), and followed through the
`tracker` package.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def imports_of(name: str) -> frozenset[str]:
    """Every module `name` names in an import statement, anywhere in its source."""
    path = module_file(name)
    if path is None:
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
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
    """The writers of collection_runs.status, digest_sends.status and streams.role use the StrEnums
    of tracker/store/enums.py, which stay the plain strings SPEC's JSON fields carry."""
    from tracker.store.enums import Role, RunStatus, SendStatus

    assert [str(r) for r in Role] == ["brand", "competitor", "owned"]
    assert {"running", "ok", "partial", "failed"} <= set(RunStatus)
    assert set(SendStatus) == {"in_progress", "sent", "failed"}
    written = re.compile(
        r'(?:status|role)\s*(?:==|=|!=)\s*"(?:ok|partial|failed|running|in_progress|sent|brand|owned|competitor)"'
    )
    for module in ("collect.py", "digest/send.py", "reflection.py", "experiments.py"):
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
