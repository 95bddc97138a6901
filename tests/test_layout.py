"""The layout of the package (docs/internals.md, "The packages"): which package may import which,
and who prints. Checked on the source's AST, so an arrow that runs the wrong way fails here
before it tangles anything."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import syncd

ROOT = Path(syncd.__file__).parent
REPO = ROOT.parent

FOUNDATION = frozenset(
    {
        "__init__",
        "errors",
        "clock",
        "masking",
        "urls",
        "backoff",
        "retry_after",
        "logging",
        "stamps",
    }
)
"""Top-level modules everything may use: the errors, time, the shared helpers, logging."""

ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "clock": frozenset(),
    "masking": frozenset(),
    "urls": frozenset(),
    "backoff": frozenset(),
    "retry_after": frozenset(),
    "stamps": frozenset(),
    "logging": frozenset({"errors", "masking"}),
    "__init__": frozenset({"api", "errors", "events"}),
    "config": FOUNDATION,
    "sim": FOUNDATION,
    "api": FOUNDATION | {"config"},
    "store": FOUNDATION | {"config"},
    "migrations": frozenset({"store"}),
    "events": FOUNDATION | {"config", "store"},
    "sync": FOUNDATION | {"config", "api", "store", "events"},
    "actions": FOUNDATION | {"config", "api"},
    "freshness": FOUNDATION | {"config", "sync"},
    "status": FOUNDATION | {"config", "store", "events", "sync", "freshness"},
    "daemon": FOUNDATION
    | {"config", "api", "store", "events", "sync", "sim", "status", "freshness"},
    "commands": FOUNDATION
    | {"config", "api", "store", "events", "sync", "sim", "status", "daemon", "actions"},
    "cli": frozenset({"commands"}),
}
"""Per package or top-level module: the syncd packages it may import (besides itself)."""

EXCEPTIONS = {
    ("syncd/config/check.py", "api"): "config check --online makes one request",
    ("syncd/config/check.py", "events"): "a sink's event patterns are checked against the types",
    ("syncd/store/migrate.py", "events"): "ensure_schema registers the sinks (a call-time import)",
}
"""The arrows that run upwards, each for a reason (docs/internals.md names them)."""

PRINTERS = ("syncd/commands/", "syncd/sim/serve.py")
"""Only the command layer and the simulator's CLI print; everything else returns data."""


def _sources() -> Iterator[tuple[str, str, Path]]:
    """(package, path as shown, file) of every module, the migrations included."""
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield parts[0], str(path.relative_to(REPO)), path
    for path in sorted((REPO / "migrations").rglob("*.py")):
        yield "migrations", str(path.relative_to(REPO)), path


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "syncd":
                continue
            if len(parts) == 1:
                found.add("__init__")
            elif (ROOT / parts[1]).is_dir() or (ROOT / f"{parts[1]}.py").exists():
                found.add(parts[1])
    return found


def test_every_package_imports_only_what_the_layout_allows() -> None:
    bad = []
    for package, shown, path in _sources():
        assert package in ALLOWED, f"{shown}: package {package} is not in the layout"
        for target in _imported_packages(path) - {package}:
            if target not in ALLOWED[package] and (shown, target) not in EXCEPTIONS:
                bad.append(f"{shown} imports syncd.{target}")
    assert not bad, bad


def test_the_exceptions_are_still_needed() -> None:
    sources = {shown: path for _, shown, path in _sources()}
    for shown, target in EXCEPTIONS:
        assert target in _imported_packages(sources[shown]), f"{shown} no longer needs {target}"


def test_only_the_command_layer_and_the_simulators_cli_print() -> None:
    bad = []
    for _, shown, path in _sources():
        if shown.startswith(PRINTERS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name == "print":
                    bad.append(f"{shown}:{node.lineno}")
    assert not bad, bad


SQL_BUILDERS = frozenset(
    {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "case", "literal"}
)
SQL_HOMES = ("syncd/store/", "syncd/events/", "syncd/sync/mirror/", "migrations/")
"""Where SQL is written: the store, the events' outbox and ledger, the engine's mirror module."""
SQL_EXCEPTIONS = {
    "syncd/daemon/leases.py": "PostgreSQL advisory locks for the leases",
    "syncd/daemon/service.py": "the readiness probe's SELECT 1",
}


def test_sql_is_written_only_in_its_homes() -> None:
    bad = []
    for _, shown, path in _sources():
        if shown.startswith(SQL_HOMES) or shown in SQL_EXCEPTIONS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                used = sorted({alias.name for alias in node.names} & SQL_BUILDERS)
                if used or "dialects" in (node.module or ""):
                    bad.append(f"{shown} imports {used or node.module}")
    assert not bad, bad
