"""Delivery backends for change events: one module per sink type behind the `Sink` ABC."""

from syncd.events.sinks.base import RetryableDelivery, Sink, SinkGone
from syncd.events.sinks.memory import MemorySink
from syncd.events.sinks.registry import build_sink

__all__ = ["MemorySink", "RetryableDelivery", "Sink", "SinkGone", "build_sink"]
