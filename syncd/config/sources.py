"""Where configuration comes from, and how its problems are told: TOML, ``SYNCD_*``, error lines.

Kept apart from the models in ``syncd.config`` so each file stays about one concern. Everything
here is careful never to echo a configured value: an error names the key and the problem only.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from syncd.errors import ConfigError
from syncd.masking import compile_secrets, redact_text

ENV_PREFIX = "SYNCD_"
ENV_DELIMITER = "__"
CONFIG_ENV_VAR = "SYNCD_CONFIG"

# Variables with our prefix that are not settings: the config path, the log level override, and
# what the command sink puts into its child's environment.
NON_SETTING_ENV = frozenset(
    {"SYNCD_CONFIG", "SYNCD_LOG_LEVEL", "SYNCD_EVENT_ID", "SYNCD_EVENT_TYPE", "SYNCD_WORKSPACE_ID"}
)

# The error type our own validators raise when the problem belongs to a key below the model
# being validated (``ctx["key"]``, a dotted path appended to the error's location).
KEYED_ERROR = "syncd_key"

# Keys whose offending input must never be repeated, whatever pydantic's message says.
SECRET_KEYS = frozenset({"token", "secret", "secrets", "url", "headers"})


def _sink_types() -> tuple[str, ...]:
    """Every sink ``type``, as ``syncd.config.sinks.SinkSettings`` lists them."""
    from syncd.config.sinks import sink_types  # the models import this module

    return sink_types()


_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def key_error(key: str, message: str) -> PydanticCustomError:
    """A validation error for ``key`` (dotted, relative to the model that raises it)."""
    return PydanticCustomError(KEYED_ERROR, message, {"key": key})


def expand_path(value: str | os.PathLike[str]) -> Path:
    """``~`` and ``$VAR``/``${VAR}`` expanded; an unset variable is an error, never left as is."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        found = os.environ.get(name)
        if found is None:
            hint = (
                " (systemd sets it for LoadCredential=)" if name == "CREDENTIALS_DIRECTORY" else ""
            )
            raise ValueError(f"the environment variable {name} is not set{hint}")
        return found

    return Path(_VAR.sub(substitute, os.fspath(value))).expanduser()


def read_toml(path: Path, origin: str) -> dict[str, Any]:
    """The parsed TOML file, or a ConfigError saying why it cannot be used."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} ({origin}) does not exist; "
            "pass an existing file with -c or $SYNCD_CONFIG"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} ({origin}) is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({redact_text(str(exc))})") from None


def anchor_sqlite_url(data: dict[str, Any], base_dir: Path) -> None:
    """A relative SQLite path in a config file's ``database.url`` made absolute against the
    file's directory, so every command run with that file, from any directory, opens the same
    database (a relative path from ``SYNCD_DATABASE__URL`` stays relative to the working
    directory)."""
    database = data.get("database")
    if not isinstance(database, dict):
        return
    url = database.get("url")
    if not isinstance(url, str) or not url.startswith("sqlite:///"):
        return
    path, sep, query = url.removeprefix("sqlite:///").partition("?")
    if not path or path == ":memory:" or path.startswith("/") or "uri=" in query:
        return
    anchored = (base_dir / Path(path).expanduser()).resolve()
    database["url"] = f"sqlite:///{anchored}{sep}{query}"


def setting_env_vars(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Every ``SYNCD_*`` variable that is set, mapped to the key it sets; unknown ones raise."""
    found: dict[str, tuple[str, ...]] = {}
    for name, value in os.environ.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_SETTING_ENV:
            continue
        parts = upper.removeprefix(ENV_PREFIX).lower().split(ENV_DELIMITER)
        annotation = _annotation_at(model, parts)
        if annotation is None:
            raise ConfigError(
                f"environment variable {name}: names no setting (a typo?); expected "
                f"SYNCD_<SECTION>__<KEY> with SECTION one of {', '.join(model.model_fields)}, "
                "see config.example.toml for every key"
            )
        if not value:
            continue  # an empty variable counts as unset (Settings has env_ignore_empty)
        if _is_complex(annotation):
            try:
                json.loads(value)
            except ValueError:
                raise ConfigError(
                    f"environment variable {name}: {'.'.join(parts)} takes JSON, "
                    f"e.g. {_json_example(parts, annotation)}"
                ) from None
        found[name] = tuple(parts)
    return found


def _annotation_at(model: type[BaseModel], parts: list[str]) -> Any:
    """The annotation of the field at ``parts`` below ``model``, or None if there is none."""
    current: Any = model
    for part in parts:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    return current


def _json_example(parts: list[str], annotation: Any) -> str:
    if parts == ["sinks"]:
        return '[{"name": "out", "type": "stdout"}]'
    if typing.get_origin(annotation) is list:
        return '["a", "b"]'
    return '{"key": "value"}'


def _is_complex(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_complex(arg) for arg in typing.get_args(annotation))
    return origin in (list, dict, tuple, set, frozenset)


def sink_names(file_data: Mapping[str, Any]) -> list[str | None]:
    """The ``name`` of every ``[[sinks]]`` entry (from ``$SYNCD_SINKS`` when it is set), so an
    error can say which sink it is about."""
    entries: Any = file_data.get("sinks")
    variable = os.environ.get(f"{ENV_PREFIX}SINKS")
    if variable:
        try:
            entries = json.loads(variable)
        except ValueError:
            entries = None
    if not isinstance(entries, list):
        return []
    return [
        entry.get("name")
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
        else None
        for entry in entries
    ]


def describe_validation_error(
    exc: ValidationError,
    path: Path | None = None,
    env: Mapping[str, tuple[str, ...]] | None = None,
    *,
    model: type[BaseModel] | None = None,
    sink_names: Sequence[str | None] = (),
) -> str:
    """One line: ``section.key: what is wrong`` per problem, joined with ``; ``. A sink's problem
    starts with the sink's name; an unknown key suggests the known key it is closest to."""
    lines: list[str] = []
    from_file = False
    for error in exc.errors():
        raw_loc = tuple(error["loc"])
        loc = _clean_location(error["loc"])
        if error["type"] == KEYED_ERROR:
            key = str(error.get("ctx", {}).get("key", ""))
            loc += tuple(int(p) if p.isdigit() else p for p in key.split("."))
        loc, message = _message(error["type"], str(error["msg"]), loc)
        if error["type"] == "extra_forbidden" and model is not None:
            message += _did_you_mean(model, raw_loc)
        secrets = None
        if loc and loc[-1] in SECRET_KEYS and isinstance(error.get("input"), str):
            secrets = compile_secrets([str(error["input"])])
        message = redact_text(message, secrets)
        variable = _env_source(loc, env or {})
        if variable is None:
            from_file = True
        key = _render_location(loc)
        if len(loc) >= 2 and loc[0] == "sinks" and isinstance(loc[1], int):
            name = sink_names[loc[1]] if loc[1] < len(sink_names) else None
            if name:
                key = f"sink {name}: {key}"
        suffix = f" (from ${variable})" if variable else ""
        lines.append(f"{key}: {message}{suffix}" if key else f"{message}{suffix}")
    where = f" (in {path})" if path is not None and from_file else ""
    return "; ".join(lines) + where


def _did_you_mean(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """`` (did you mean `x`?)`` for an unknown key close to a known one of its table."""
    *parents, unknown = loc
    current: Any = model
    for part in parents:
        if isinstance(part, int):
            continue
        if part in _sink_types():  # pydantic's discriminator step: that sink type's model
            current = _sink_model(part)
            continue
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return ""
        current = field.annotation
    if typing.get_origin(current) is list:  # [[sinks]] before its type is known
        current = typing.get_args(current)[0]
    candidates: set[str] = set()
    for option in _models_in(current):
        candidates.update(option.model_fields)
    close = difflib.get_close_matches(str(unknown), sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if _is_model(annotation):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _sink_model(kind: str) -> Any:
    from syncd.config.sinks import SinkSettings  # the models import this module

    for option in _models_in(SinkSettings):
        if typing.get_args(option.model_fields["type"].annotation) == (kind,):
            return option
    return None


def _message(kind: str, msg: str, loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str]:
    if kind == "extra_forbidden":
        return loc, "unknown key (a typo?); see config.example.toml for every key"
    if kind == "missing":
        return loc, "required but not set"
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        return (*loc, "type"), f"must be one of {', '.join(_sink_types())}"
    msg = msg.replace("Value error, ", "").replace("Input should be", "must be")
    msg = msg.replace("String should", "must").replace("List should", "must")
    return loc, msg


def _clean_location(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The location without pydantic's discriminator step (``sinks.0.webhook.url``)."""
    parts = list(loc)
    if (
        len(parts) >= 3
        and parts[0] == "sinks"
        and isinstance(parts[1], int)
        and (parts[2] in _sink_types())
    ):
        del parts[2]
    return tuple(parts)


def _render_location(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part:
            text += f".{part}" if text else part
    return text


def _env_source(loc: tuple[str | int, ...], env: Mapping[str, tuple[str, ...]]) -> str | None:
    """The environment variable that set the value at ``loc``, if one did."""
    best: str | None = None
    best_len = 0
    for name, parts in env.items():
        if len(parts) > best_len and tuple(loc[: len(parts)]) == parts:
            best, best_len = name, len(parts)
    return best
