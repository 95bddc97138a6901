"""The exceptions syncd raises.

Tree::

    SyncdError                 root of everything syncd raises on purpose
    ├── ConfigError            bad or missing configuration (CLI exit code 2)
    ├── ApiError               the oHallo API answered with an error or could not be reached
    │   ├── AuthError          401/403: bad, expired or under-scoped key (never retried)
    │   ├── NotFound           404
    │   ├── RateLimited        429 after the retry budget was spent
    │   ├── ServerError        5xx, connection error or timeout after the retry budget was spent
    │   ├── PaginationError    the server repeated a cursor (a pagination loop)
    │   └── MalformedResponse  a 2xx whose body is not the documented JSON
    ├── StoreError             the database refused or failed
    └── SinkError              a sink could not deliver (see events.sinks.base for retry semantics)
"""

from __future__ import annotations


class SyncdError(Exception):
    """Root of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """Configuration is invalid; the message names the key and the fix."""


class ApiError(SyncdError):
    """The oHallo API returned an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path


class AuthError(ApiError):
    """401 or 403: the key is wrong, expired or lacks the scope. Never retried."""


class NotFound(ApiError):
    """404: the object does not exist (or is not in this tenant)."""


class RateLimited(ApiError):
    """429, still after every allowed retry."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, path=path)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx, a dropped connection or a timeout, still after every allowed retry."""


class PaginationError(ApiError):
    """The server handed out a cursor it had handed out before in the same walk."""


class StoreError(SyncdError):
    """The database failed."""


class SinkError(SyncdError):
    """A sink could not deliver."""


class MalformedResponse(ApiError):
    """The API answered 2xx with a body that is not the JSON it documents."""


def first_line(exc: BaseException) -> str:
    """An exception in one line for a log field: its message's first line, or its type's name
    when it has no message (``TimeoutError()``)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
