"""Which `Sink` class serves which ``[[sinks]]`` type.

Each settings class of ``syncd.config.sinks`` names its sink (``sink_class = "module:Class"``),
so a new sink type is its module plus its entry in ``SinkSettings``; nothing here changes. The
module is imported only when a sink of its type is configured (nats-py stays optional).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from syncd.events.sinks.base import Sink

if TYPE_CHECKING:
    from syncd.config import SinkSettings


def sink_class(settings: SinkSettings) -> type[Sink]:
    """The `Sink` subclass a ``[[sinks]]`` entry names."""
    module_name, _, class_name = type(settings).sink_class.partition(":")
    found = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(found, type) and issubclass(found, Sink)):
        raise TypeError(f"{type(settings).sink_class} is not a Sink")
    return found


def build_sink(settings: SinkSettings) -> Sink:
    """The sink a ``[[sinks]]`` entry describes.

    :raises ConfigError: the sink cannot be built as configured (e.g. an undecodable webhook
        secret, or nats-py missing for a nats sink).
    """
    built: Sink = sink_class(settings).from_settings(settings)
    return built
