"""What ``syncd config check`` finds (the command, ``syncd.commands.config``, prints it): the
configuration rendered with every secret masked, warnings and usability problems.

Exit 0: valid and usable. Exit 2: invalid, or valid but syncd could not run with
it: no API key, a command sink whose program does not exist, a file sink whose directory cannot
be written, an ``events`` pattern that matches no event type. ``--online`` also makes one
authenticated request (exit 1 when the API refuses it or cannot be reached).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from syncd.config import (
    CommandSinkSettings,
    FileSinkSettings,
    Settings,
    redacted_dump,
)
from syncd.events.envelope import EVENT_TYPES
from syncd.events.rules import matches_any_event_type

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY_PREFIXES = ("sf_live_v1_", "sf_test_v1_")


def usability_problems(settings: Settings) -> list[str]:
    """What makes a valid configuration unusable, one line each, naming the key or the sink."""
    problems: list[str] = []
    if settings.api.token is None:
        problems.append(
            "api.token: not set; `syncd sync` and `syncd run` need it "
            "(api.token, api.token_file or $SYNCD_API__TOKEN)"
        )
    for sink in settings.sinks:
        where = f"sink {sink.name}"
        unmatched = [pattern for pattern in sink.events if not matches_any_event_type(pattern)]
        if unmatched:
            problems.append(
                f"{where}: events: {', '.join(repr(p) for p in unmatched)} matches no event "
                f"type (one of {', '.join(EVENT_TYPES)}; `*` matches any characters)"
            )
        if isinstance(sink, CommandSinkSettings):
            program = sink.argv[0]
            if _program(program) is None:
                problems.append(
                    f"{where}: argv[0]: {program!r} is not an executable program"
                    + ("" if "/" in program else " on PATH")
                )
        elif isinstance(sink, FileSinkSettings):
            blocked = _unwritable_directory(sink.path)
            if blocked is not None:
                problems.append(f"{where}: path: cannot create or write files in {blocked}")
    return problems


def _program(program: str) -> str | None:
    if "/" in program:
        path = Path(program)
        return program if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(program)


def _unwritable_directory(path: Path) -> Path | None:
    """The directory that keeps a file sink from writing ``path`` (None: it can write)."""
    directory = path.absolute().parent
    while not directory.exists():  # the sink creates missing directories
        directory = directory.parent
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        return directory
    if path.exists() and not os.access(path, os.W_OK):
        return path
    return None


async def check_online(settings: Settings) -> None:
    """One authenticated request (no retry); an ApiError when the API refuses it or cannot be
    reached."""
    from syncd.api import OhalloClient

    api = settings.api.model_copy(update={"max_attempts": 1})
    async with OhalloClient.from_settings(api) as client:
        await client.list_conversations(limit=1)


def render_report(settings: Settings, path: Path | None, env_names: list[str]) -> str:
    """The header comments and the redacted configuration as TOML."""
    if path is None:
        header = ["# no config file; defaults and environment only"]
    else:
        header = [f"# config file: {path.resolve()}"]
    if env_names:
        header.append(f"# overridden by the environment: {', '.join(env_names)}")
    return "\n".join([*header, "", render_toml(redacted_dump(settings))])


def render_toml(data: Mapping[str, Any]) -> str:
    """Plain data as TOML; unset (None) keys become comments."""
    blocks: list[str] = []
    for section, value in data.items():
        if isinstance(value, Mapping):
            blocks.append("\n".join([f"[{_key(section)}]", *_table_lines(value)]))
        elif isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
            blocks.extend(
                "\n".join([f"[[{_key(section)}]]", *_table_lines(item)]) for item in value
            )
            if not value:
                # A top-level `key = []` after a [table] would belong to that table.
                blocks.append(f"# no [[{_key(section)}]]")
        else:
            blocks.append(f"{_key(section)} = {_value(value)}")
    return "\n\n".join(blocks) + "\n"


def _table_lines(table: Mapping[str, Any]) -> Iterator[str]:
    for key, value in table.items():
        if value is None:
            yield f"# {_key(key)} = (not set)"
        else:
            yield f"{_key(key)} = {_value(value)}"


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def config_warnings(settings: Settings, path: Path | None) -> list[str]:
    """What is valid but probably not what the user wants."""
    warnings: list[str] = []
    api = settings.api
    if api.token is not None and not api.token.get_secret_value().startswith(_KEY_PREFIXES):
        warnings.append("api.token: does not look like an oHallo key (sf_live_v1_...)")
    if api.token_file is not None and _readable_by_others(api.token_file):
        warnings.append(f"api.token_file: {api.token_file} is readable by other users; chmod 600")
    elif (
        api.token is not None
        and api.token_file is None
        and path is not None
        and "SYNCD_API__TOKEN" not in os.environ
        and _readable_by_others(path)
    ):
        warnings.append(
            f"api.token: {path} holds the key and is readable by other users; "
            "chmod 600 it, or use api.token_file"
        )
    if not settings.sinks:
        warnings.append("sinks: none configured; events are kept in the outbox, sent nowhere")
    return warnings


def _readable_by_others(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))
