"""syncd: a local SQL mirror of an oHallo account, with change events.

The public Python API is small on purpose: the oHallo client (for scripts that act on
conversations), the errors it raises, the ``Priority`` its methods take, and the change-event
record. Everything else is internal and may change.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

__version__: str
try:
    __version__ = _version("syncd")
except _PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

from syncd.api.client import OhalloClient
from syncd.api.limiter import Priority
from syncd.errors import (
    ApiError,
    AuthError,
    ConfigError,
    MalformedResponse,
    NotFound,
    PaginationError,
    RateLimited,
    ServerError,
    SyncdError,
)
from syncd.events.envelope import ChangeEvent

__all__ = [
    "ApiError",
    "AuthError",
    "ChangeEvent",
    "ConfigError",
    "MalformedResponse",
    "NotFound",
    "OhalloClient",
    "PaginationError",
    "Priority",
    "RateLimited",
    "ServerError",
    "SyncdError",
    "__version__",
]
