"""A faithful oHallo API simulator for tests, benchmarks, ``syncd demo`` and ``syncd sim serve``.

``Simulator`` holds the state (deterministic from a seed), ``SimServer`` serves it over real HTTP
from a background thread. See docs/internals.md for the contract.
"""

from syncd.sim.activity import Activity
from syncd.sim.config import SimConfig
from syncd.sim.handlers import EXAMPLE_TOKEN
from syncd.sim.holds import ResponseHold
from syncd.sim.server import SimServer, SimService
from syncd.sim.simulator import Simulator

__all__ = [
    "EXAMPLE_TOKEN",
    "Activity",
    "ResponseHold",
    "SimConfig",
    "SimServer",
    "SimService",
    "Simulator",
]
