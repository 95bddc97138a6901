"""The ``[[sinks]]`` models, and the constrained field types every config section shares."""

from __future__ import annotations

import base64
import binascii
import os
import typing
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from syncd.config.sources import expand_path, key_error
from syncd.masking import MASK
from syncd.urls import mask_url, url_secrets

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]


class Section(BaseModel):
    """A config table: frozen, and an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def http_url(value: str) -> str:
    """``value`` if it is an http(s) URL with a host, else a ValueError for pydantic."""
    if not value.startswith(("http://", "https://")) or not urlsplit(value).hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


class _SinkBase(Section):
    """Keys every sink has."""

    sink_class: ClassVar[str]
    """Where the ``Sink`` this entry builds lives: ``"module:Class"`` (see ``build_sink``)."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    events: Annotated[list[Name], Field(min_length=1)] = Field(default_factory=lambda: ["*"])
    backfill: Literal["deliver", "skip"] = "deliver"
    ordered: bool = True
    max_attempts: PositiveInt = 8
    # Where a sink the database has not seen before starts: "latest" = at the current end of
    # the outbox (it gets what happens from then on), "earliest" = every event still stored.
    start: Literal["latest", "earliest"] = "latest"

    def secret_values(self) -> list[str]:
        """The secrets this entry holds, for the log masker (``syncd.config.secret_values``)."""
        return []

    def shown_url(self) -> str | None:
        """Its URL as ``syncd config check`` shows it, credentials masked (None: it has none)."""
        return None


class StdoutSinkSettings(_SinkBase):
    """A sink printing JSON lines on standard output (``pretty``: one readable line each)."""

    sink_class: ClassVar[str] = "syncd.events.sinks.stdout:StdoutSink"

    type: Literal["stdout"]
    format: Literal["json", "pretty"] = "json"


class FileSinkSettings(_SinkBase):
    """A sink appending JSON lines to a file (``~`` and ``${VAR}`` expanded in ``path``)."""

    sink_class: ClassVar[str] = "syncd.events.sinks.file:FileSink"

    type: Literal["file"]
    path: Path

    @field_validator("path", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        if isinstance(value, str | os.PathLike) and os.fspath(value):
            return expand_path(value)
        return value


# Headers syncd sets itself on every webhook request; overriding them would break signatures.
_RESERVED_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})


class WebhookSinkSettings(_SinkBase):
    """A sink POSTing signed events to an HTTP endpoint (Standard Webhooks)."""

    sink_class: ClassVar[str] = "syncd.events.sinks.webhook:WebhookSink"

    type: Literal["webhook"]
    url: str
    secret: SecretStr | None = None
    secrets: list[SecretStr] = Field(default_factory=list)
    timeout_s: PositiveFloat = 15.0
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _valid_secrets(self) -> WebhookSinkSettings:
        if self.secret is None and not self.secrets:
            raise key_error("secret", "required: `secret` (or `secrets = [...]` for rotation)")
        keyed = [("secret", self.secret)] if self.secret else []
        keyed += [(f"secrets.{index}", item) for index, item in enumerate(self.secrets)]
        for key, secret in keyed:
            if not _is_webhook_secret(secret.get_secret_value()):
                raise key_error(key, "must be whsec_ followed by base64 (Standard Webhooks)")
        for header in self.headers:
            if header.lower() in _RESERVED_HEADERS:
                raise key_error("headers", f"{header} is set by syncd when signing; remove it")
        return self

    def signing_secrets(self) -> list[str]:
        """Every configured secret, the primary one first."""
        primary = [self.secret.get_secret_value()] if self.secret else []
        return primary + [s.get_secret_value() for s in self.secrets]

    def secret_values(self) -> list[str]:
        """Signing secrets, sensitive header values, and the URL's password and query values."""
        headers = [value for name, value in self.headers.items() if _is_sensitive_header(name)]
        return self.signing_secrets() + headers + url_secrets(self.url)

    def shown_url(self) -> str:
        """The URL with its password and every query value masked."""
        return mask_url(self.url, MASK)


def _is_sensitive_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in ("authorization", "cookie", "proxy-authorization") or any(
        word in lowered for word in ("token", "secret", "key", "auth", "password")
    )


def _is_webhook_secret(value: str) -> bool:
    body = value.removeprefix("whsec_")
    if body == value or not body:
        return False
    try:
        return bool(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError):
        return False


class CommandSinkSettings(_SinkBase):
    """A sink running a local program per event (argv, never a shell)."""

    sink_class: ClassVar[str] = "syncd.events.sinks.command:CommandSink"

    type: Literal["command"]
    argv: Annotated[list[Name], Field(min_length=1)]
    timeout_s: PositiveFloat = 30.0


class NatsSinkSettings(_SinkBase):
    """A sink publishing to NATS JetStream."""

    sink_class: ClassVar[str] = "syncd.events.sinks.nats:NatsSink"

    type: Literal["nats"]
    url: str = "nats://127.0.0.1:4222"
    stream: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "SYNCD"
    subject_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")] = "syncd"

    @field_validator("url")
    @classmethod
    def _nats_url(cls, value: str) -> str:
        if not value.startswith(("nats://", "tls://", "ws://", "wss://")):
            raise ValueError("must be a nats://HOST:PORT (or tls://, ws://, wss://) URL")
        return value

    def secret_values(self) -> list[str]:
        """Each server URL's password (or token, given as its user name)."""
        return url_secrets(self.url, many=True)

    def shown_url(self) -> str:
        """The server URLs, each with its password masked."""
        return mask_url(self.url, MASK, many=True)


SinkSettings = Annotated[
    StdoutSinkSettings
    | FileSinkSettings
    | WebhookSinkSettings
    | CommandSinkSettings
    | NatsSinkSettings,
    Field(discriminator="type"),
]


def sink_types() -> tuple[str, ...]:
    """The ``type`` of every sink, in the order of ``SinkSettings``."""
    union = typing.get_args(SinkSettings)[0]
    return tuple(
        typing.get_args(option.model_fields["type"].annotation)[0]
        for option in typing.get_args(union)
    )
