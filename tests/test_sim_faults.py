"""Fault injection: one-shots for tests, random rates, latency and malformed rows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sim_support import connected, serving

from syncd.sim import SimConfig, SimServer, Simulator

AUTH = {"Authorization": "Bearer sf_test_v1_" + "f" * 32}


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimConfig(seed=9, conversations=30, detail_missing_rate=0.0))


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimServer]:
    yield from serving(sim)


@pytest.fixture
def client(server: SimServer) -> Iterator[httpx.Client]:
    yield from connected(server, AUTH)


def test_fail_next_answers_once_with_the_status_and_an_error(
    sim: Simulator, server: SimServer, client: httpx.Client
) -> None:
    sim.fail_next("list_conversations", 503)
    failed = client.get("/api/conversations")
    assert failed.status_code == 503
    assert set(failed.json()) == {"error"}
    assert client.get("/api/conversations").status_code == 200
    assert server.request_counts["list_conversations"] == 2


def test_fail_next_429_carries_retry_after_when_asked(sim: Simulator, client: httpx.Client) -> None:
    sim.fail_next("list_attention_items", 429, times=2, retry_after=1.2)
    sim.fail_next("list_attention_items", 429)
    for _ in range(2):
        response = client.get("/api/attention-items")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"
    bare = client.get("/api/attention-items")
    assert bare.status_code == 429 and "Retry-After" not in bare.headers
    assert client.get("/api/attention-items").status_code == 200


def test_one_shots_are_per_route_and_star_matches_any(sim: Simulator, client: httpx.Client) -> None:
    cid = sim.conversation_ids()[0]
    sim.fail_next("get_messages", 500)
    assert client.get(f"/api/conversations/{cid}").status_code == 200
    assert client.get(f"/api/conversations/{cid}/messages").status_code == 500
    sim.fail_next("*", 502)
    assert client.post(f"/api/conversations/{cid}/release").status_code == 502
    assert sim.faults.pending("get_messages") == 0
    with pytest.raises(ValueError, match="unknown route"):
        sim.fail_next("get_conversations", 500)


def test_drop_next_closes_the_connection_without_a_response(
    sim: Simulator, server: SimServer, client: httpx.Client
) -> None:
    sim.drop_next("get_conversation", times=2)
    cid = sim.conversation_ids()[0]
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"/api/conversations/{cid}")
    assert client.get(f"/api/conversations/{cid}").status_code == 200
    assert server.request_counts["get_conversation"] == 3


def test_malform_next_sends_a_truncated_json_body(sim: Simulator, client: httpx.Client) -> None:
    sim.malform_next("list_conversations")
    response = client.get("/api/conversations")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert client.get("/api/conversations").json()["data"]


@pytest.mark.parametrize("kind", ["bad_date", "missing_id"])
def test_a_malformed_conversation_breaks_its_row_and_its_detail_json(
    sim: Simulator, client: httpx.Client, kind: str
) -> None:
    cid = sim.conversation_ids()[4]
    sim.set_malformed(cid, True, kind=kind)
    rows = client.get("/api/conversations", params={"limit": 100}).json()["data"]
    assert len(rows) == 30
    if kind == "bad_date":
        (row,) = [r for r in rows if r.get("id") == cid]
        assert row["lastMessageAt"] == "not-a-date"
    else:
        (row,) = [r for r in rows if "id" not in r]
        assert row["contactId"] == sim.list_row(cid)["contactId"]
    detail = client.get(f"/api/conversations/{cid}")
    assert detail.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(detail.content)
    sim.set_malformed(cid, False)
    assert client.get(f"/api/conversations/{cid}").json()["id"] == cid


def test_a_malformed_attention_item_has_no_id(sim: Simulator, client: httpx.Client) -> None:
    item_id = sim.attention_item_ids()[0]
    sim.set_attention_item_malformed(item_id)
    items = client.get("/api/attention-items").json()
    broken = [item for item in items if "id" not in item]
    assert len(broken) == 1 and len(items) == len(sim.attention_item_ids())


def test_random_rates_inject_every_fault_kind() -> None:
    config = SimConfig(
        seed=2,
        conversations=10,
        fail_rate=0.25,
        rate_limit_rate=0.25,
        drop_rate=0.25,
        retry_after_s=3,
    )
    seen: set[object] = set()
    with (
        SimServer(Simulator(config)) as server,
        httpx.Client(base_url=server.base_url, headers=AUTH) as client,
    ):
        for _ in range(200):
            try:
                response = client.get("/api/attention-items")
            except httpx.RemoteProtocolError:
                seen.add("dropped")
                continue
            seen.add(response.status_code)
            if response.status_code == 429:
                assert response.headers["Retry-After"] == "3"
            if response.status_code >= 400:
                assert "error" in response.json()
        assert server.request_counts["list_attention_items"] == 200
    assert {"dropped", 200, 429} <= seen
    assert seen & {500, 502, 503}


def test_a_malformed_rate_of_one_breaks_every_row_and_detail() -> None:
    sim = Simulator(SimConfig(seed=2, conversations=12, malformed_rate=1.0))
    with SimServer(sim) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        rows = client.get("/api/conversations").json()["data"]
        assert len(rows) == 12
        assert all("id" not in r or r["lastMessageAt"] == "not-a-date" for r in rows)
        cid = sim.conversation_ids()[0]
        with pytest.raises(json.JSONDecodeError):
            json.loads(client.get(f"/api/conversations/{cid}").content)
        sim.faults.malformed_rate = 0.0
        assert client.get(f"/api/conversations/{cid}").json()["id"] == cid


def test_latency_delays_every_answer(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.latency_ms = 150
    started = time.monotonic()
    assert client.get("/api/attention-items").status_code == 200
    assert time.monotonic() - started >= 0.15
    sim.faults.clear()
    assert sim.faults.latency_ms == 0


def test_detail_parts_can_be_left_out_per_conversation(
    sim: Simulator, client: httpx.Client
) -> None:
    cid = sim.conversation_ids()[0]
    sim.set_detail_missing(cid, ["history", "contact", "attentionItems"])
    detail = client.get(f"/api/conversations/{cid}").json()
    assert {"history", "contact", "attentionItems"}.isdisjoint(detail)
    assert "contextEntries" in detail
    assert client.get(f"/api/conversations/{cid}/messages").json()  # /messages still answers
    sim.set_detail_missing(cid, [])
    assert {"history", "contact", "attentionItems", "contextEntries"} <= set(
        client.get(f"/api/conversations/{cid}").json()
    )
    with pytest.raises(ValueError, match="unknown detail parts"):
        sim.set_detail_missing(cid, ["histroy"])


def test_detail_parts_go_missing_at_the_configured_rate_deterministically() -> None:
    def missing(seed: int) -> list[frozenset[str]]:
        sim = Simulator(SimConfig(seed=seed, conversations=300, detail_missing_rate=0.1))
        return [sim.missing_parts(cid) for cid in sim.conversation_ids()]

    first = missing(4)
    assert first == missing(4)
    assert 0 < sum(1 for parts in first if parts) < 300
    for part in ("contact", "history", "contextEntries", "attentionItems", "account"):
        assert any(part in parts for parts in first)
    default = Simulator(SimConfig(seed=4, conversations=300))
    share = sum(1 for cid in default.conversation_ids() if default.missing_parts(cid)) / 300
    assert 0 < share < 0.2
