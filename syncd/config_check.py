"""``syncd config check``: validate the configuration and print it with every secret masked."""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from syncd.config import Settings, load_settings, redacted_dump, resolve_config_path
from syncd.config_sources import setting_env_vars

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY_PREFIXES = ("sf_live_v1_", "sf_test_v1_")


def check_command(args: argparse.Namespace) -> int:
    """Load the settings (a ConfigError exits 2 in the CLI), print them redacted, exit 0."""
    path = resolve_config_path(getattr(args, "config", None))
    settings = load_settings(getattr(args, "config", None))
    text = render_report(settings, path, sorted(setting_env_vars(Settings)))
    _print(text)
    for warning in config_warnings(settings, path):
        print(f"syncd: warning: {warning}", file=sys.stderr)
    return 0


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
    if api.token is None:
        warnings.append(
            "api.token: not set; `syncd sync` and `syncd run` need it "
            "(api.token, api.token_file or $SYNCD_API__TOKEN)"
        )
    elif not api.token.get_secret_value().startswith(_KEY_PREFIXES):
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


def _print(text: str) -> None:
    """Plain text unless stdout is a terminal, then TOML syntax highlighting."""
    if not sys.stdout.isatty():
        sys.stdout.write(text)
        return
    from rich.console import Console
    from rich.syntax import Syntax

    Console().print(Syntax(text.rstrip("\n"), "toml", background_color="default"))
