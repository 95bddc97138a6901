"""The import rules of syncd (docs/internals.md, syncd/sync): checked on the source's AST."""

from __future__ import annotations

import ast
from pathlib import Path

import syncd

ROOT = Path(syncd.__file__).parent

PURE = (
    "syncd/sync/values.py",
    "syncd/sync/observe.py",
    "syncd/sync/plan.py",
    "syncd/sync/diff.py",
    "syncd/sync/privacy.py",
    "syncd/sync/rows.py",
    "syncd/sync/state.py",
    "syncd/sync/result.py",
)
"""Modules of pure logic and value types: they read and write nothing."""

IO = ("sqlalchemy", "httpx", "syncd.store", "syncd.api", "syncd.sync.mirror", "syncd.sync.context")
"""What does I/O (a pure module imports none of it, except below)."""

SCHEMA = ("syncd.store.tables", "syncd.api.models")
"""Declarations, no I/O: the mirror's tables (rows are shaped after them) and the API's models
(their timestamp rule, ``utc_datetime``, is the one parser of API timestamps)."""

SYNC_SQL = ("select", "insert", "update", "delete", "text", "func", "and_", "or_", "case")
"""SQLAlchemy statement builders: in the sync engine only ``syncd/sync/mirror/`` uses them."""


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)


def _imports(path: Path, *, runtime_only: bool = False) -> list[tuple[str, list[str]]]:
    """Every import of a module: (module, names). ``runtime_only``: not those under
    ``if TYPE_CHECKING:`` (annotations only)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def test_pure_modules_import_no_io() -> None:
    bad = []
    for name in PURE:
        for module, names in _imports(ROOT.parent / name, runtime_only=True):
            targets = [f"{module}.{n}" for n in names] if module == "syncd.store" else [module]
            bad += [
                f"{name} imports {target}"
                for target in targets
                if _within(target, IO) and not _within(target, SCHEMA)
            ]
    assert not bad, bad


def test_pure_modules_import_only_pure_sync_modules() -> None:
    pure = {_module(ROOT.parent / name) for name in PURE}
    bad = []
    for name in PURE:
        for module, names in _imports(ROOT.parent / name, runtime_only=True):
            candidates = [module] + [f"{module}.{n}" for n in names]
            bad += [
                f"{name} imports {target}"
                for target in candidates
                if target.startswith("syncd.sync.")
                and (ROOT.parent / (target.replace(".", "/") + ".py")).exists()
                and target not in pure
            ]
    assert not bad, bad


def test_events_never_import_sync() -> None:
    bad = [
        f"{path.relative_to(ROOT.parent)} imports {module}"
        for path in sorted((ROOT / "events").rglob("*.py"))
        for module, names in _imports(path)
        for target in [module] + [f"{module}.{n}" for n in names]
        if _within(target, ("syncd.sync",))
    ]
    assert not bad, bad


def test_only_the_mirror_builds_sql_in_the_sync_engine() -> None:
    bad = []
    for path in sorted((ROOT / "sync").glob("*.py")):
        for module, names in _imports(path):
            if _within(module, ("sqlalchemy",)):
                used = sorted(set(names) & set(SYNC_SQL))
                if used or not names:
                    bad.append(f"{path.name} imports {module} {used}")
    assert not bad, bad
