"""``hold_next``: a response rendered now and sent when the test says, for race tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest
from sim_support import connected, serving

from syncd.sim import SimConfig, SimServer, SimService, Simulator

AUTH = {"Authorization": "Bearer sf_test_v1_" + "h" * 32}
WAIT_S = 10.0


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimConfig(seed=17, conversations=20, detail_missing_rate=0.0))


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimServer]:
    yield from serving(sim)


@pytest.fixture
def client(server: SimServer) -> Iterator[httpx.Client]:
    yield from connected(server, AUTH)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def open_ids(client: httpx.Client) -> set[str]:
    response = client.get("/api/attention-items", params={"status": "open"})
    assert response.status_code == 200
    return {item["id"] for item in response.json()}


def test_a_held_answer_shows_the_state_of_when_it_was_rendered(
    sim: Simulator, client: httpx.Client, pool: ThreadPoolExecutor
) -> None:
    before = open_ids(client)
    hold = sim.hold_next("list_attention_items")
    held: Future[set[str]] = pool.submit(open_ids, client)
    assert hold.rendered.wait(WAIT_S)
    assert hold.path is not None and hold.path.startswith("/api/attention-items")
    # Rendered, not sent: other requests (the same route included) are answered meanwhile.
    cid = sim.conversation_ids()[0]
    item = sim.raise_attention_item(cid, "escalation")
    assert open_ids(client) == before | {item}
    assert client.get(f"/api/conversations/{cid}").status_code == 200
    assert not held.done()
    hold.release()
    assert held.result(WAIT_S) == before  # the older observation arrives last
    assert hold.released


def test_holds_queue_per_route_and_only_answered_requests_take_them(
    sim: Simulator, client: httpx.Client, pool: ThreadPoolExecutor
) -> None:
    first, second = sim.hold_next("get_conversation"), sim.hold_next("get_conversation")
    assert sim.holds.pending("get_conversation") == 2
    sim.fail_next("get_conversation", 503)
    cid = sim.conversation_ids()[0]
    assert client.get(f"/api/conversations/{cid}").status_code == 503  # a fault: not held
    assert client.get("/api/conversations").status_code == 200  # another route: not held
    a = pool.submit(client.get, f"/api/conversations/{cid}")
    assert first.rendered.wait(WAIT_S)
    b = pool.submit(client.get, f"/api/conversations/{cid}/messages")
    assert b.result(WAIT_S).status_code == 200
    assert not second.rendered.is_set()
    c = pool.submit(client.get, "/api/conversations/nope")
    assert second.rendered.wait(WAIT_S)  # a 404 is an answer too
    second.release()
    assert c.result(WAIT_S).status_code == 404
    assert not a.done()
    first.release()
    assert a.result(WAIT_S).status_code == 200


def test_a_hold_released_before_its_request_does_not_wait(
    sim: Simulator, client: httpx.Client
) -> None:
    hold = sim.hold_next("status_counts")
    hold.release()
    workspace = sim.workspace_ids()[0]
    assert client.get(f"/api/workspaces/{workspace}/conversations/status-counts").status_code == 200
    assert hold.rendered.is_set()


def test_an_unknown_route_is_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        sim.hold_next("list_everything")


def test_stopping_the_server_releases_held_and_queued_holds(pool: ThreadPoolExecutor) -> None:
    sim = Simulator(SimConfig(seed=2, conversations=5, shutdown_timeout_s=30.0))
    server = SimServer(sim).start()
    held = sim.hold_next("list_conversations")
    queued = sim.hold_next("get_attachments")
    with httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        answer = pool.submit(client.get, "/api/conversations")
        assert held.rendered.wait(WAIT_S)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 10  # not the 30 s shutdown timeout
        assert answer.result(WAIT_S).status_code == 200
    assert held.released and queued.released
    assert sim.holds.pending("get_attachments") == 0


async def test_holds_work_in_loop_with_sim_service() -> None:
    sim = Simulator(SimConfig(seed=3, conversations=10, detail_missing_rate=0.0))
    service = SimService(sim)
    await service.open()
    closed = False
    try:
        async with httpx.AsyncClient(base_url=service.base_url, headers=AUTH) as client:
            cid = sim.conversation_ids()[0]
            hold = sim.hold_next("get_conversation")
            held = asyncio.create_task(client.get(f"/api/conversations/{cid}"))
            assert await hold.wait_rendered(WAIT_S)
            sim.set_status(cid, "snoozed")
            fresh = await client.get(f"/api/conversations/{cid}")
            assert fresh.json()["status"] == "snoozed"
            assert not held.done()
            hold.release()
            stale = await asyncio.wait_for(held, WAIT_S)
            assert stale.json()["status"] != "snoozed"
            pending = sim.hold_next("get_messages")
            task = asyncio.create_task(client.get(f"/api/conversations/{cid}/messages"))
            assert await pending.wait_rendered(WAIT_S)
            await service.close()  # releases the hold still pending
            closed = True
            assert pending.released
            assert (await asyncio.wait_for(task, WAIT_S)).status_code == 200
    finally:
        if not closed:
            await service.close()
