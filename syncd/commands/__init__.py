"""The command layer: one module per command group, each handler ``handler(ctx) -> int``.

``syncd.commands.context.CommandContext`` does the shared set-up once (config, logging with
secrets masked, the engine and its disposal); ``syncd.commands.main`` is the one error boundary
(``ConfigError`` exit 2, any other ``SyncdError`` exit 1, one line ``syncd: ...`` on stderr).
The domain modules a handler calls return data and never print: printing happens here only.
"""
