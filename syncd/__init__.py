"""syncd: a local SQL mirror of an oHallo account, with change events.

The public Python API is small on purpose: the oHallo client (for scripts that act on
conversations) and the change-event record. Everything else is internal and may change.
"""

from importlib.metadata import PackageNotFoundError, version

__version__: str
try:
    __version__ = version("syncd")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

from syncd.api.client import OhalloClient
from syncd.events.envelope import ChangeEvent

__all__ = ["ChangeEvent", "OhalloClient", "__version__"]
