"""Virtual environments for tools the tests drive but syncd does not depend on (dbt, dlt).

Each lives at ``<repository>/.venv-<name>``, is built with pip from a pinned requirements file
(from PyPI), and is reused while that file is unchanged. One that cannot be built fails the test
that needs it, loudly, never a skip: CI must run those tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT_S = 900


def tool_venv(name: str, requirements: Path) -> Path:
    """The bin directory of ``.venv-<name>`` with ``requirements`` installed (built if needed)."""
    venv = ROOT / f".venv-{name}"
    stamp = venv / "syncd-requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    with (ROOT / f".venv-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session may be building it
        if stamp.exists() and stamp.read_text() == digest:
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)],
        ]
        for step in steps:
            try:
                done = subprocess.run(
                    step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name}: `{' '.join(step)}` timed out", pytrace=False)
            if done.returncode != 0:
                pytest.fail(
                    f"{name}: cannot build {venv} (PyPI must be reachable): `{' '.join(step)}` "
                    f"failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}",
                    pytrace=False,
                )
        stamp.write_text(digest)
        return venv / "bin"
