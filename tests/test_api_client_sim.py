"""Every client method against the real simulator over loopback HTTP (time is virtual)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from structlog.testing import capture_logs

from syncd.api import OhalloClient, Priority
from syncd.api.testing import FakeClock
from syncd.errors import ApiError, AuthError, MalformedResponse, NotFound, ServerError
from syncd.sim import EXAMPLE_TOKEN, SimConfig, SimServer, Simulator

CONVERSATIONS = 300


@pytest.fixture(scope="module", params=["id", "newest"])
def listing_server(request: pytest.FixtureRequest) -> Iterator[SimServer]:
    """A read-only simulator per list order (shared by the pagination tests)."""
    config = SimConfig(seed=1, conversations=CONVERSATIONS, order=request.param)
    with SimServer(Simulator(config)) as server:
        yield server


@pytest.fixture
def sim_server() -> Iterator[SimServer]:
    """A fresh simulator for tests that change state or inject faults."""
    with SimServer(Simulator(SimConfig(seed=3, conversations=60, detail_missing_rate=0.0))) as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(server: SimServer, clock: FakeClock, **kw: object) -> OhalloClient:
    options: dict[str, object] = {"clock": clock, "rng": lambda: 0.5, "max_attempts": 4}
    options.update(kw)
    return OhalloClient(server.base_url, EXAMPLE_TOKEN, **options)  # type: ignore[arg-type]


@pytest.fixture
async def api(sim_server: SimServer, clock: FakeClock) -> AsyncIterator[OhalloClient]:
    async with make_client(sim_server, clock) as client:
        yield client


# -- pagination -----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [100, 37])
async def test_walking_every_page_yields_each_conversation_exactly_once(
    listing_server: SimServer, clock: FakeClock, limit: int
) -> None:
    listing_server.reset_counts()
    sim = listing_server.simulator
    async with make_client(listing_server, clock) as api:
        pages = [
            page
            async for page in api.iter_conversation_pages(limit=limit, priority=Priority.RECONCILE)
        ]
    ids = Counter(row.id for page in pages for row in page.rows)
    assert all(count == 1 for count in ids.values())
    assert set(ids) == set(sim.conversation_ids())
    assert len(ids) == CONVERSATIONS
    assert all(page.malformed == () for page in pages)
    assert len(pages) == -(-CONVERSATIONS // limit)
    assert [page.cursor for page in pages[1:]] == [page.next_cursor for page in pages[:-1]]
    assert pages[0].cursor is None and pages[-1].next_cursor is None
    assert listing_server.request_counts["list_conversations"] == len(pages)


async def test_the_newest_first_list_really_is_newest_first(clock: FakeClock) -> None:
    config = SimConfig(seed=1, conversations=CONVERSATIONS, order="newest")
    with SimServer(Simulator(config)) as server:
        async with make_client(server, clock) as api:
            rows = [row async for page in api.iter_conversation_pages() for row in page.rows]
    stamps = [row.last_message_at for row in rows]
    assert None not in stamps
    assert stamps == sorted(stamps, reverse=True)  # type: ignore[type-var]
    assert [row.id for row in rows] != sorted(row.id for row in rows)


async def test_a_filtered_walk_returns_exactly_the_matching_conversations(
    listing_server: SimServer, clock: FakeClock
) -> None:
    sim = listing_server.simulator
    workspace = sim.workspace_ids()[0]
    async with make_client(listing_server, clock) as api:
        for status in ("open", "resolved"):
            found = [
                row
                async for page in api.iter_conversation_pages(
                    workspace_id=workspace, status=status, limit=20
                )
                for row in page.rows
            ]
            assert sorted(row.id for row in found) == sim.conversation_ids(
                workspace_id=workspace, status=status
            )
            assert {(row.workspace_id, row.status) for row in found} <= {(workspace, status)}


async def test_a_walk_resumes_from_a_checkpointed_cursor(
    listing_server: SimServer, clock: FakeClock
) -> None:
    async with make_client(listing_server, clock) as api:
        pages = api.iter_conversation_pages(limit=50)
        first = await anext(pages)
        await pages.aclose()
        rest = [
            p async for p in api.iter_conversation_pages(limit=50, start_cursor=first.next_cursor)
        ]
    ids = [row.id for page in [first, *rest] for row in page.rows]
    assert len(ids) == len(set(ids)) == CONVERSATIONS


# -- every other read -----------------------------------------------------------------------------


async def test_every_read_returns_what_the_simulator_serves(
    sim_server: SimServer, api: OhalloClient
) -> None:
    sim = sim_server.simulator
    workspace = sim.workspace_ids()[0]
    cid = sim.conversation_ids(workspace_id=workspace)[0]

    detail = await api.get_conversation(cid)
    assert detail.raw == sim.detail(cid)
    assert detail.id == cid and detail.workspace_id == workspace
    assert detail.history is not None and detail.malformed == ()
    assert [m.raw for m in detail.history] == sim.messages(cid)

    messages = await api.get_messages(cid)
    assert [m.raw for m in messages] == sim.messages(cid)
    assert all(m.sent_at is not None and m.sent_at.tzinfo is not None for m in messages)

    attachments = await api.get_attachments(cid)
    assert [a.raw for a in attachments] == sim.attachments(cid)

    items = await api.list_attention_items(status="open")
    assert [item.id for item in items] == sim.attention_item_ids(status="open")
    assert all(item.status == "open" for item in items)
    per_conversation = await api.list_attention_items(conversation_id=cid)
    assert [i.id for i in per_conversation] == sim.attention_item_ids(conversation_id=cid)

    counts = await api.get_status_counts(workspace)
    assert counts.as_dict() == sim.status_counts(workspace)

    page = await api.list_conversations(workspace_id=workspace, limit=5)
    assert [row.raw for row in page.rows] == [
        sim.list_row(c) for c in sim.conversation_ids(workspace_id=workspace)[:5]
    ]
    assert sim_server.request_counts == Counter(
        get_conversation=1,
        get_messages=1,
        get_attachments=1,
        list_attention_items=2,
        status_counts=1,
        list_conversations=1,
    )


async def test_an_unknown_conversation_is_not_found(api: OhalloClient) -> None:
    with pytest.raises(NotFound):
        await api.get_conversation("no-such-conversation")


# -- every action ---------------------------------------------------------------------------------


async def test_every_action_reaches_the_simulator(sim_server: SimServer, api: OhalloClient) -> None:
    sim = sim_server.simulator
    workspace = sim.workspace_ids()[0]
    cid = sim.conversation_ids(workspace_id=workspace, status="open")[0]
    await api.take_over(cid)
    await api.reply(cid, "Your order shipped this morning.")
    await api.assign(cid, "usr_someone")
    await api.unassign(cid)
    await api.release(cid)
    await api.approve(cid)
    await api.resolve(cid, outcome="shipped")
    item = sim.attention_item_ids(status="open")[0]
    await api.resolve_attention_item(item, reason="handled")
    channels = sim.channel_ids(workspace)
    new_id = await api.compose(
        workspace,
        channels["email"],
        "Hello Anna, the Q2 catalogue is out.",
        contact_email="anna@scandinavian-imports.se",
        contact_name="Anna Johansson",
        subject="Q2 catalogue",
    )
    assert new_id is not None
    assert (await api.get_conversation(new_id)).workspace_id == workspace
    assert (await api.get_conversation(cid)).status == "resolved"
    assert sim.attention_item(item)["status"] == "resolved"
    posted = {
        route: n for route, n in sim_server.request_counts.items() if route.startswith("post_")
    }
    assert posted == {
        route: 1
        for route in (
            "post_take_over",
            "post_reply",
            "post_assign",
            "post_unassign",
            "post_release",
            "post_approve",
            "post_resolve",
            "post_resolve_attention_item",
            "post_compose",
        )
    }


# -- faults ---------------------------------------------------------------------------------------


async def test_a_429_from_the_simulator_is_waited_out(
    sim_server: SimServer, api: OhalloClient, clock: FakeClock
) -> None:
    sim_server.simulator.fail_next("list_attention_items", 429, times=2, retry_after=2)
    await api.list_attention_items()
    assert sim_server.request_counts["list_attention_items"] == 3
    assert clock.sleeps == [2.0, 2.0]


async def test_5xx_and_dropped_connections_are_retried_for_reads(
    sim_server: SimServer, api: OhalloClient
) -> None:
    sim = sim_server.simulator
    cid = sim.conversation_ids()[0]
    sim.fail_next("get_conversation", 503, times=2)
    sim.drop_next("get_messages")
    assert (await api.get_conversation(cid)).id == cid
    assert len(await api.get_messages(cid)) == len(sim.messages(cid))
    assert sim_server.request_counts["get_conversation"] == 3
    assert sim_server.request_counts["get_messages"] == 2


async def test_a_dropped_post_is_not_repeated(sim_server: SimServer, api: OhalloClient) -> None:
    sim = sim_server.simulator
    cid = sim.conversation_ids()[0]
    sim.drop_next("post_take_over")
    with pytest.raises(ServerError):
        await api.take_over(cid)
    assert sim_server.request_counts["post_take_over"] == 1


async def test_a_401_is_not_retried(sim_server: SimServer, clock: FakeClock) -> None:
    async with OhalloClient(sim_server.base_url, "not-an-ohallo-key", clock=clock) as api:
        with pytest.raises(AuthError, match="401"):
            await api.list_conversations()
    assert sim_server.request_counts["list_conversations"] == 1
    assert clock.sleeps == []


async def test_broken_json_and_malformed_rows_from_the_simulator(
    sim_server: SimServer, api: OhalloClient
) -> None:
    sim = sim_server.simulator
    ids = sim.conversation_ids()
    sim.malform_next("get_conversation")
    with pytest.raises(MalformedResponse):
        await api.get_conversation(ids[0])
    sim.set_malformed(ids[1], kind="bad_date")
    pages = [page async for page in api.iter_conversation_pages()]
    assert [bad.id for page in pages for bad in page.malformed] == [ids[1]]
    assert sum(len(page.rows) for page in pages) == len(ids) - 1


async def test_no_log_line_or_error_of_a_failing_request_holds_the_token(
    sim_server: SimServer, clock: FakeClock
) -> None:
    token = "sf_live_v1_SimulatorLeakCanary0123456789"
    sim = sim_server.simulator
    sim.fail_next("get_conversation", 500, times=10)
    sim.fail_next("list_attention_items", 403)
    errors: list[ApiError] = []
    with capture_logs() as logs:
        async with OhalloClient(sim_server.base_url, token, clock=clock, max_attempts=3) as api:
            for call in (api.get_conversation("c1"), api.list_attention_items()):
                with pytest.raises(ApiError) as info:
                    await call
                errors.append(info.value)
    assert {e["event"] for e in logs} >= {"api_retry", "api_request_failed"}
    texts = [repr(e) for e in logs] + [f"{e} {e!r}" for e in errors]
    assert all(token not in text for text in texts)


# -- environment proxies --------------------------------------------------------------------------


async def test_an_environment_proxy_carries_the_requests(
    sim_server: SimServer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, requests go through the proxy (httpx's own proxy handling).

    The simulator stands in for the proxy: it answers an absolute-form request for a host that
    does not exist, which only a request sent through the proxy can reach.
    """
    monkeypatch.setenv("HTTP_PROXY", sim_server.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sim_server.reset_counts()
    async with OhalloClient("http://api.ohallo.invalid", EXAMPLE_TOKEN, clock=clock) as api:
        page = await api.list_conversations(limit=5)
    assert [row.raw for row in page.rows] == [
        sim_server.simulator.list_row(c) for c in sim_server.simulator.conversation_ids()[:5]
    ]
    assert sim_server.request_counts == {"list_conversations": 1}


async def test_no_proxy_sends_loopback_requests_directly(
    sim_server: SimServer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with make_client(sim_server, clock) as api:
        page = await api.list_conversations(limit=5)
    assert len(page.rows) == 5
