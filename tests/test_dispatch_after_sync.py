"""``deliver_after_sync``: the delivery step of ``syncd sync``, its summary lines, its limits."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dispatch_support import append_many, state
from sqlalchemy import Engine

from syncd.commands.sync import deliver_after_sync
from syncd.config import load_settings


def context(engine: Engine, **settings: Any) -> Any:
    # These tests store events before the sinks are first seen (a real `syncd sync` registers
    # its sinks before the first pass): they start at the first event, not at the end.
    for sink in settings.get("sinks", []):
        sink.setdefault("start", "earliest")
    return SimpleNamespace(engine=engine, settings=load_settings(None, **settings))


@pytest.mark.usefixtures("isolated_config")
async def test_every_sink_gets_the_pending_events_and_one_summary_line(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sent = append_many(engine, 7)
    out = tmp_path / "events.jsonl"
    ctx = context(
        engine,
        events={"drain_timeout_s": 0},
        sinks=[
            {"name": "file", "type": "file", "path": str(out)},
            {"name": "none", "type": "file", "path": str(tmp_path / "x"), "events": ["x.*"]},
        ],
    )
    from syncd.clock import utc_now

    ctx.clock = utc_now
    reports = await deliver_after_sync(ctx)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == sent
    assert reports["file"].delivered == 7 and reports["none"].passed_over == 7
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("delivery")]
    assert lines == [
        "delivery       file: delivered 7, pending 0, dead 0",
        "delivery       none: delivered 0, pending 0, dead 0",
    ]


@pytest.mark.usefixtures("isolated_config")
async def test_a_failing_sink_is_reported_and_stays_pending_without_raising(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    append_many(engine, 2)
    blocked = tmp_path / "a-directory"
    blocked.mkdir()
    ctx = context(
        engine,
        events={"drain_timeout_s": 0},
        sinks=[{"name": "file", "type": "file", "path": str(blocked)}],
    )
    from syncd.clock import utc_now

    ctx.clock = utc_now
    reports = await deliver_after_sync(ctx)
    assert reports["file"].failed_attempts == 1
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("delivery")]
    assert line.startswith("delivery       file: delivered 0, pending 2, dead 0, failing since ")
    assert "last error: file file: cannot repair" in line and "Is a directory" in line
    assert state(engine, "file")["head_attempts"] == 1


@pytest.mark.usefixtures("isolated_config")
async def test_without_sinks_nothing_is_delivered_or_printed(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    append_many(engine, 2)
    assert await deliver_after_sync(context(engine)) == {}
    assert capsys.readouterr().out == ""
