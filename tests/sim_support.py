"""Helpers for the simulator's HTTP tests (tests/test_sim_*.py): serve a simulator, talk to it.

Generators for fixtures to ``yield from``, so each module keeps its own scope and token:

    @pytest.fixture(scope="module")
    def server(sim: Simulator) -> Iterator[SimServer]:
        yield from serving(sim)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import httpx

from syncd.sim import SimServer, Simulator


def serving(sim: Simulator) -> Iterator[SimServer]:
    """``sim`` over real HTTP on 127.0.0.1 until the generator is closed."""
    with SimServer(sim) as running:
        yield running


def connected(server: SimServer, headers: Mapping[str, str]) -> Iterator[httpx.Client]:
    """An HTTP client of ``server`` sending ``headers`` (its bearer token) on every request."""
    with httpx.Client(base_url=server.base_url, headers=headers) as http:
        yield http
