"""Which `Sink` class serves which ``[[sinks]]`` type."""

from __future__ import annotations

from syncd.config import (
    CommandSinkSettings,
    FileSinkSettings,
    NatsSinkSettings,
    SinkSettings,
    StdoutSinkSettings,
    WebhookSinkSettings,
)
from syncd.events.sinks.base import Sink


def build_sink(settings: SinkSettings) -> Sink:
    """The sink a ``[[sinks]]`` entry describes.

    :raises ConfigError: the sink cannot be built as configured (e.g. an undecodable webhook
        secret, or nats-py missing for a nats sink).
    """
    if isinstance(settings, StdoutSinkSettings):
        from syncd.events.sinks.stdout import StdoutSink

        return StdoutSink.from_settings(settings)
    if isinstance(settings, FileSinkSettings):
        from syncd.events.sinks.file import FileSink

        return FileSink.from_settings(settings)
    if isinstance(settings, WebhookSinkSettings):
        from syncd.events.sinks.webhook import WebhookSink

        return WebhookSink.from_settings(settings)
    if isinstance(settings, CommandSinkSettings):
        from syncd.events.sinks.command import CommandSink

        return CommandSink.from_settings(settings)
    if isinstance(settings, NatsSinkSettings):
        from syncd.events.sinks.nats import NatsSink

        return NatsSink.from_settings(settings)
    raise TypeError(f"unknown sink settings: {type(settings).__name__}")
