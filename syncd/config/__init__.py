"""Configuration: the settings models (``settings``), where values come from (``sources``), the
sink sections (``sinks``), secret redaction (``secrets``) and the checks of ``syncd config check``
(``check``).

``from syncd.config import Settings, load_settings`` is the way in; the submodules are the parts.
"""

from __future__ import annotations

from syncd.config.secrets import redacted_dump, safe_database_url, secret_values
from syncd.config.settings import (
    DEFAULT_CONFIG_FILE,
    ApiSettings,
    DaemonSettings,
    DatabaseSettings,
    EventsSettings,
    LoggingSettings,
    PrivacySettings,
    ServerSettings,
    Settings,
    SyncSettings,
    load_settings,
    resolve_config_path,
)
from syncd.config.sinks import (
    CommandSinkSettings,
    FileSinkSettings,
    NatsSinkSettings,
    SinkSettings,
    StdoutSinkSettings,
    WebhookSinkSettings,
)
from syncd.config.sources import CONFIG_ENV_VAR, describe_validation_error

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "ApiSettings",
    "CommandSinkSettings",
    "DaemonSettings",
    "DatabaseSettings",
    "EventsSettings",
    "FileSinkSettings",
    "LoggingSettings",
    "NatsSinkSettings",
    "PrivacySettings",
    "ServerSettings",
    "Settings",
    "SinkSettings",
    "StdoutSinkSettings",
    "SyncSettings",
    "WebhookSinkSettings",
    "describe_validation_error",
    "load_settings",
    "redacted_dump",
    "resolve_config_path",
    "safe_database_url",
    "secret_values",
]
