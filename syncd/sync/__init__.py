"""The sync engine: the streams that read the API, decide what changed and write the mirror and
its events (docs/internals.md draws the modules)."""
