"""Change events: the envelope, the outbox, the dispatcher and the sinks."""
