"""The change-event envelope: its JSON text, its ids and its timestamps stay as they were."""

from __future__ import annotations

import dataclasses
import enum
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_store_engine import json_values, plain_json_values

from syncd.events import envelope
from syncd.events.envelope import ChangeEvent, format_timestamp, new_event_id

NOW = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


class _Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class _Point:
    x: int


# Values only ``default=str`` can write: they must come out as str() of themselves, as before.
_odd_objects = st.one_of(
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))])),
    st.dates(),
    st.uuids(),
    st.decimals(allow_nan=False),
    st.just(_Colour.RED),
    st.builds(_Point, st.integers()),
    st.frozensets(st.integers(), max_size=2),
    st.binary(max_size=4),
)
_payloads = st.dictionaries(
    st.text(max_size=6),
    st.one_of(plain_json_values, json_values, _odd_objects, st.lists(_odd_objects, max_size=2)),
    max_size=6,
)


def _reference_json(event: ChangeEvent) -> str:
    """``to_json`` as it was: the stdlib encoder alone."""
    return json.dumps(event.envelope(), ensure_ascii=False, separators=(",", ":"), default=str)


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "text", fn()
    except Exception as exc:
        return "error", type(exc)


@settings(max_examples=1000)
@given(
    data=_payloads,
    changes=st.one_of(
        st.none(),
        st.dictionaries(st.text(max_size=6), st.tuples(json_values, json_values).map(list)),
    ),
    # the fields are typed, not checked: whatever they hold is written as before
    workspace_id=st.one_of(st.none(), st.text(max_size=8), st.integers(), _odd_objects),
    backfill=st.one_of(st.booleans(), st.integers(0, 1)),
    kind=st.one_of(st.just("conversation.updated"), st.integers()),
    event_id=st.one_of(st.none(), st.text(max_size=8), st.uuids()),
    observed_at=st.datetimes(
        min_value=datetime(1000, 1, 2), timezones=st.sampled_from([UTC, timezone(timedelta(0))])
    ),
)
def test_to_json_is_the_stdlib_text_for_any_event(
    data: dict[str, Any],
    changes: dict[str, list[Any]] | None,
    workspace_id: Any,
    backfill: Any,
    kind: Any,
    event_id: Any,
    observed_at: datetime,
) -> None:
    extra = {} if event_id is None else {"id": event_id}
    event = ChangeEvent(
        type=kind,
        workspace_id=workspace_id,
        subject_id="c1",
        data=data,
        observed_at=observed_at,
        changes=changes,
        backfill=backfill,
        **extra,
    )
    assert _outcome(event.to_json) == _outcome(lambda: _reference_json(event))


@settings(max_examples=500)
@given(plain_json_values)
def test_to_json_of_api_shaped_data_is_the_stdlib_text(value: Any) -> None:
    event = ChangeEvent(
        type="message.received",
        workspace_id="w1",
        subject_id="m1",
        data={"id": "m1", "value": value},
        observed_at=NOW,
        changes={"value": [None, value]},
    )
    assert event.to_json() == _reference_json(event)


def test_to_json_keeps_the_envelope_shape() -> None:
    event = ChangeEvent(
        type="message.sent",
        workspace_id=None,
        subject_id="m1",
        data={"id": "m1", "body": "Grüße 😀", "size": 2**70, "score": 1e-05},
        observed_at=NOW,
        id="evt_x",
    )
    assert event.to_json() == (
        '{"id":"evt_x","type":"message.sent","timestamp":"2024-05-01T12:00:00.123Z",'
        '"workspaceId":null,"data":{"id":"m1","body":"Grüße 😀","size":'
        '1180591620717411303424,"score":1e-05},"backfill":false}'
    )


# --- timestamps --------------------------------------------------------------------------------


def _reference_timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@settings(max_examples=500)
@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.sampled_from(
                [
                    UTC,
                    timezone(timedelta(0)),
                    timezone(timedelta(hours=5, minutes=45)),
                    timezone.min,
                ]
            ),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_format_timestamp_is_the_strftime_text(moments: list[datetime]) -> None:
    for moment in moments + moments[::-1]:  # again: the same object, from the last-value cache
        assert format_timestamp(moment) == _reference_timestamp(moment)


def test_format_timestamp_of_early_years_and_naive_values() -> None:
    for moment in (
        datetime(987, 6, 5, 4, 3, 2, 999999, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 0),  # naive: local time, as astimezone reads it
    ):
        assert format_timestamp(moment) == _reference_timestamp(moment)
        assert format_timestamp(moment) == _reference_timestamp(moment)


# --- event ids ---------------------------------------------------------------------------------


def _parsed(event_id: str) -> uuid.UUID:
    assert event_id.startswith("evt_") and len(event_id) == 36
    parsed = uuid.UUID(event_id[4:])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert parsed.hex == event_id[4:]
    return parsed


def test_event_ids_are_uuid7_in_increasing_order_and_carry_the_time() -> None:
    before = datetime.now(UTC)
    ids = [new_event_id() for _ in range(20_000)]
    after = datetime.now(UTC)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for event_id in (ids[0], ids[-1]):
        ms = _parsed(event_id).int >> 80
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        assert before - timedelta(milliseconds=1) <= moment <= after


def test_event_ids_stay_increasing_when_a_millisecond_runs_out_or_the_clock_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now_ns = [datetime(2030, 1, 1, tzinfo=UTC).timestamp() * 1e9]
    monkeypatch.setattr(envelope, "time", SimpleNamespace(time_ns=lambda: int(now_ns[0])))
    ids = [new_event_id()]
    with envelope._id_lock:  # rand_b about to overflow into rand_a
        envelope._low = envelope._LOW_END - 2
    ids += [new_event_id() for _ in range(3)]
    with envelope._id_lock:  # the millisecond's last id
        envelope._low = envelope._LOW_END - 2
        envelope._rand_a = envelope._RAND_A_MAX
        envelope._set_head()
    ids += [new_event_id() for _ in range(3)]
    borrowed_ms = _parsed(ids[-1]).int >> 80
    now_ns[0] -= 5e9  # the clock steps back five seconds
    ids += [new_event_id() for _ in range(3)]
    now_ns[0] += 60e9
    ids += [new_event_id() for _ in range(3)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for event_id in ids:
        _parsed(event_id)
    assert borrowed_ms == int(datetime(2030, 1, 1, tzinfo=UTC).timestamp() * 1000) + 1
    assert _parsed(ids[-1]).int >> 80 == int(
        datetime(2030, 1, 1, 0, 0, 55, tzinfo=UTC).timestamp() * 1000
    )


def test_event_ids_are_unique_across_threads() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(new_event_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(out,)) for out in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [event_id for out in found for event_id in out]
    assert len(set(every)) == len(every)
    for out in found:  # each thread sees its own ids increase
        assert out == sorted(out)


def test_a_change_event_gets_a_fresh_id() -> None:
    events = [
        ChangeEvent(type="x", workspace_id=None, subject_id="s", data={}, observed_at=NOW)
        for _ in range(3)
    ]
    assert len({event.id for event in events}) == 3
    assert [event.id for event in events] == sorted(event.id for event in events)
