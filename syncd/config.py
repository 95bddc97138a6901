"""Configuration: a TOML file overridden by ``SYNCD_*`` environment variables.

Where the file comes from: ``-c/--config``, else ``$SYNCD_CONFIG``, else ``./syncd.toml`` when it
exists, else defaults only. Nested keys in the environment use ``__``:
``SYNCD_API__TOKEN``, ``SYNCD_DATABASE__URL``. Every model forbids unknown keys, so a typo is an
error naming the key rather than a setting silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from syncd.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("syncd.toml")
CONFIG_ENV_VAR = "SYNCD_CONFIG"

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSettings(_Section):
    """``[api]``: where the oHallo API is and how hard syncd may use it."""

    base_url: str = "https://api.ohallo.eu"
    token: SecretStr | None = None
    token_file: Path | None = None
    timeout_s: PositiveFloat = 30.0
    max_concurrency: PositiveInt = 8
    max_requests_per_s: PositiveFloat = 20.0
    max_attempts: PositiveInt = 6

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _read_token_file(self) -> ApiSettings:
        if self.token_file is None:
            return self
        try:
            text = self.token_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(
                f"api.token_file: cannot read {self.token_file} ({exc.strerror}); "
                "point it at a readable file holding the API key"
            ) from None
        token = text.rstrip("\r\n")
        if not token.strip():
            raise ValueError(f"api.token_file: {self.token_file} is empty")
        object.__setattr__(self, "token", SecretStr(token.strip()))
        return self

    def require_token(self) -> str:
        """The API key, or a ConfigError telling how to provide one."""
        if self.token is None or not self.token.get_secret_value():
            raise ConfigError(
                "api.token: not set; set api.token or api.token_file in the config file, "
                "or the SYNCD_API__TOKEN environment variable"
            )
        return self.token.get_secret_value()


class DatabaseSettings(_Section):
    """``[database]``: where the mirror lives."""

    url: SecretStr = SecretStr("sqlite:///syncd.db")
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if url.startswith("postgres:"):
            url = "postgresql:" + url.removeprefix("postgres:")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return SecretStr(url)


class SyncSettings(_Section):
    """``[sync]``: what to mirror and how often."""

    workspaces: list[str] = Field(default_factory=list)
    poll_interval_s: PositiveFloat = 30.0
    attention_interval_s: PositiveFloat = 15.0
    reconcile_interval_s: PositiveFloat = 3600.0
    status_counts_interval_s: PositiveFloat = 300.0
    lookback_s: Annotated[float, Field(ge=0)] = 300.0
    terminal_statuses: list[str] = Field(
        default_factory=lambda: ["resolved", "closed", "abandoned"]
    )


class EventsSettings(_Section):
    """``[events]``: the outbox."""

    retention_days: PositiveFloat = 30.0
    drain_timeout_s: Annotated[float, Field(ge=0)] = 30.0


class DaemonSettings(_Section):
    """``[daemon]``: the long-running process."""

    shutdown_timeout_s: PositiveFloat = 20.0


class ServerSettings(_Section):
    """``[server]``: the health and metrics endpoint of ``syncd run``."""

    listen: str = "127.0.0.1:9187"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9187")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class LoggingSettings(_Section):
    """``[logging]``: level and format (``SYNCD_LOG_LEVEL`` overrides the level)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class _SinkBase(_Section):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    events: list[str] = Field(default_factory=lambda: ["*"])
    backfill: Literal["deliver", "skip"] = "deliver"
    ordered: bool = True
    max_attempts: PositiveInt = 8


class StdoutSinkSettings(_SinkBase):
    """A sink printing JSON lines on standard output."""

    type: Literal["stdout"]


class FileSinkSettings(_SinkBase):
    """A sink appending JSON lines to a file."""

    type: Literal["file"]
    path: Path


class WebhookSinkSettings(_SinkBase):
    """A sink POSTing signed events to an HTTP endpoint (Standard Webhooks)."""

    type: Literal["webhook"]
    url: str
    secret: SecretStr | None = None
    secrets: list[SecretStr] = Field(default_factory=list)
    timeout_s: PositiveFloat = 15.0
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _has_secret(self) -> WebhookSinkSettings:
        everything = ([self.secret] if self.secret else []) + list(self.secrets)
        if not everything:
            raise ValueError("a webhook sink needs `secret` (or `secrets` for rotation)")
        for secret in everything:
            if not secret.get_secret_value().startswith("whsec_"):
                raise ValueError("webhook secrets must start with whsec_ (base64 after it)")
        return self

    def signing_secrets(self) -> list[str]:
        """Every configured secret, the primary one first."""
        primary = [self.secret.get_secret_value()] if self.secret else []
        return primary + [s.get_secret_value() for s in self.secrets]


class CommandSinkSettings(_SinkBase):
    """A sink running a local program per event (argv, never a shell)."""

    type: Literal["command"]
    argv: Annotated[list[str], Field(min_length=1)]
    timeout_s: PositiveFloat = 30.0


class NatsSinkSettings(_SinkBase):
    """A sink publishing to NATS JetStream."""

    type: Literal["nats"]
    url: str = "nats://127.0.0.1:4222"
    stream: str = "SYNCD"
    subject_prefix: str = "syncd"


SinkSettings = Annotated[
    StdoutSinkSettings
    | FileSinkSettings
    | WebhookSinkSettings
    | CommandSinkSettings
    | NatsSinkSettings,
    Field(discriminator="type"),
]


class Settings(BaseSettings):
    """The whole configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SYNCD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    api: ApiSettings = Field(default_factory=ApiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    sinks: list[SinkSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_sink_names(self) -> Settings:
        seen: set[str] = set()
        for sink in self.sinks:
            if sink.name in seen:
                raise ValueError(f"sinks: the name {sink.name!r} is used twice; names must be unique")
            seen.add(sink.name)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _TOML_FILE.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


# The TOML path for the Settings() call in progress (pydantic-settings reads sources in the
# classmethod above, which takes no arguments of ours).
_TOML_FILE: dict[str, Path | None] = {}

# Environment variables with our prefix that are not settings.
_NON_SETTING_ENV = {"SYNCD_CONFIG", "SYNCD_LOG_LEVEL", "SYNCD_EVENT_ID", "SYNCD_EVENT_TYPE",
                    "SYNCD_WORKSPACE_ID"}


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The config file to read: explicit, else $SYNCD_CONFIG, else ./syncd.toml if present."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None, **overrides: Any
) -> Settings:
    """Load and validate the configuration, or raise ConfigError naming the key and the fix."""
    config_path = resolve_config_path(path)
    if config_path is not None:
        _check_toml_file(config_path)
    _check_env_keys()
    _TOML_FILE["path"] = config_path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, config_path)) from None
    finally:
        _TOML_FILE.pop("path", None)


def _check_toml_file(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; pass an existing file with -c or $SYNCD_CONFIG"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None


def _check_env_keys() -> None:
    """Reject SYNCD_* variables that name no setting (a typo in an env var is still a typo)."""
    sections = set(Settings.model_fields)
    for name in os.environ:
        if not name.startswith("SYNCD_") or name in _NON_SETTING_ENV:
            continue
        top = name.removeprefix("SYNCD_").split("__", 1)[0].lower()
        if top not in sections:
            raise ConfigError(
                f"environment variable {name}: names no setting; "
                f"expected SYNCD_<SECTION>__<KEY> with SECTION one of {sorted(sections)}"
            )


def describe_validation_error(exc: ValidationError, path: Path | None = None) -> str:
    """One line per problem: ``section.key: what is wrong``."""
    lines = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"] if not _is_union_tag(part))
        message = str(error["msg"])
        message = message.replace("Input should be", "must be").replace("Value error, ", "")
        if error["type"] == "extra_forbidden":
            message = "unknown key (a typo?); see config.example.toml for every key"
        elif error["type"] == "missing":
            message = "required but not set"
        lines.append(f"{loc}: {message}" if loc else message)
    where = f" (in {path})" if path else ""
    return "; ".join(lines) + where


def _is_union_tag(part: object) -> bool:
    # pydantic puts the discriminator value ("webhook") into the location of union errors.
    return isinstance(part, str) and part in {"stdout", "file", "webhook", "command", "nats"}


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, every secret shown as ``***``."""
    data: dict[str, Any] = _redact(settings.model_dump(mode="python"))
    data["database"]["url"] = safe_database_url(settings.database.url.get_secret_value())
    for sink in data["sinks"]:
        if "headers" in sink:
            sink["headers"] = {name: "***" for name in sink["headers"]}
    return data


def safe_database_url(url: str) -> str:
    """The database URL with any password masked, for display."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _redact(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
