"""What a plain ``pip install .`` ships: every package of the tree (pyproject.toml lists them, the
migrations come from the top-level ``migrations/`` as ``syncd.migrations``), and README's install
command into a new virtual environment migrates a new SQLite file from ``/`` and runs the demo."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

from tool_venvs import ROOT

INSTALL_TIMEOUT_S = 900


def _packages_in_the_tree() -> set[str]:
    found = set()
    for top, name in ((ROOT / "syncd", "syncd"), (ROOT / "migrations", "syncd.migrations")):
        for init in top.rglob("__init__.py"):
            parts = init.parent.relative_to(top).parts
            found.add(".".join((name, *parts)))
        for module in top.rglob("*.py"):
            assert (module.parent / "__init__.py").exists(), f"{module.parent} is no package"
    return found


def test_pyproject_lists_every_package_of_the_tree() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    # A new package must be added to the list, or `pip install .` would leave it out.
    assert set(setup["packages"]) == _packages_in_the_tree()
    assert setup["package-dir"] == {"syncd.migrations": "migrations"}
    assert not (ROOT / "syncd" / "migrations").exists()


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"`{' '.join(argv)}` failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_pip_install_into_a_new_venv_then_db_upgrade_from_the_root(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    # A copy of the tree without the editable install's leftovers, virtualenvs or git data: pip
    # builds in the source tree, and the working copy must stay as it is.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache"
        ),
    )
    # README's install command, as written: `pip install -c constraints.txt .`
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    _run([*pip, "-c", "constraints.txt", "."], cwd=source)

    database = tmp_path / "new.db"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SYNCD_DATABASE__URL": f"sqlite:///{database}",
    }
    upgraded = _run([str(venv / "bin" / "syncd"), "db", "upgrade"], cwd="/", env=env)
    assert "upgraded from an empty database to" in upgraded.stdout
    current = _run([str(venv / "bin" / "syncd"), "db", "current"], cwd="/", env=env)
    assert "(head)" in current.stdout
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"conversations", "messages", "events", "deliveries", "alembic_version"} <= tables
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import syncd.migrations as m; print(m.__file__)"],
        cwd="/",
        env=env,
    )
    assert where.stdout.startswith(str(venv))

    # ... and README's first run, `syncd demo`, from that install (its own database file).
    demo = _run(
        [str(venv / "bin" / "syncd"), "demo", "--duration", "3", "--conversations", "20"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert (tmp_path / "syncd-demo.db").exists()
    assert "status_counts." in demo.stdout or "conversation." in demo.stdout, demo.stdout
