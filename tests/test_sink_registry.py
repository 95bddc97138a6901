"""The sink registry: each ``[[sinks]]`` settings class names its ``Sink``; the list of types,
the builder and config's error messages all come from ``SinkSettings``."""

from __future__ import annotations

import typing

import pytest

from syncd.config.sinks import SinkSettings, sink_types
from syncd.events.sinks.base import Sink
from syncd.events.sinks.registry import sink_class

SETTINGS_CLASSES = typing.get_args(typing.get_args(SinkSettings)[0])


def test_the_sink_types_are_those_of_the_settings_union_in_order() -> None:
    assert sink_types() == ("stdout", "file", "webhook", "command", "nats")


@pytest.mark.parametrize("settings_class", SETTINGS_CLASSES, ids=lambda c: c.__name__)
def test_every_sink_type_names_a_sink_that_builds_from_settings(settings_class: type) -> None:
    module_name, _, class_name = settings_class.sink_class.partition(":")
    assert module_name.startswith("syncd.events.sinks.")
    settings = settings_class.model_construct()
    found = sink_class(settings)
    assert issubclass(found, Sink)
    assert found.__name__ == class_name
    assert "from_settings" in vars(found)


def test_a_sink_without_configuration_cannot_be_built_from_settings() -> None:
    from syncd.events.sinks.memory import MemorySink

    with pytest.raises(NotImplementedError):
        MemorySink.from_settings(object())
