"""Logging: JSON lines when not a TTY, levels, quiet libraries, and secrets never rendered."""

from __future__ import annotations

import io
import json
import logging
import string
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from syncd.errors import ConfigError
from syncd.logging import (
    THIRD_PARTY_LOGGERS,
    SecretRedactor,
    compile_secrets,
    configure_logging,
    redact,
    redact_registered,
    redact_text,
    register_secret,
)

TOKEN = "sf_live_v1_R3dact3dT0kenValue"
OPAQUE_SECRET = "opaque-secret-0f9e8d7c"


@pytest.fixture
def logging_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Put structlog and the stdlib root logger back as they were after the test."""
    monkeypatch.delenv("SYNCD_LOG_LEVEL", raising=False)
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    names = ("syncd", *THIRD_PARTY_LOGGERS)
    saved_levels = {name: logging.getLogger(name).level for name in names}
    yield
    structlog.configure(**saved_config)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class TtyStream(io.StringIO):
    """A stderr that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


# --- format and level -------------------------------------------------------------------------


@pytest.mark.usefixtures("logging_state")
def test_json_lines_on_stderr_when_stderr_is_not_a_tty(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    structlog.get_logger("syncd.sync.hot").info("page_synced", workspace="ws_1", rows=3)
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = json_lines(err)
    assert line["event"] == "page_synced"
    assert line["level"] == "info"
    assert line["logger"] == "syncd.sync.hot"
    assert (line["workspace"], line["rows"]) == ("ws_1", 3)
    assert line["timestamp"].endswith("Z")
    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]


@pytest.mark.usefixtures("logging_state")
def test_console_rendering_when_stderr_is_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = TtyStream()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("info")
    structlog.get_logger("syncd").info("page_synced", rows=3)
    text = stream.getvalue()
    assert "page_synced" in text and "rows" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.usefixtures("logging_state")
def test_format_json_is_forced_even_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = TtyStream()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("info", fmt="json")
    structlog.get_logger().info("started")
    assert json_lines(stream.getvalue())[0]["event"] == "started"


@pytest.mark.usefixtures("logging_state")
def test_level_argument_filters_events(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning")
    log = structlog.get_logger("syncd")
    log.info("hidden")
    log.warning("shown")
    assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["shown"]


@pytest.mark.usefixtures("logging_state")
def test_syncd_log_level_overrides_the_argument(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "DEBUG")
    configure_logging("error")
    structlog.get_logger("syncd").debug("detail")
    assert json_lines(capsys.readouterr().err)[0]["event"] == "detail"
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "error")
    configure_logging("debug")
    structlog.get_logger("syncd").warning("quiet")
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("logging_state")
def test_an_unknown_syncd_log_level_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="SYNCD_LOG_LEVEL: must be one of"):
        configure_logging("info")


@pytest.mark.usefixtures("logging_state")
def test_library_logging_shows_warnings_only_through_the_same_renderer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("debug")
    logging.getLogger("httpx").info('HTTP Request: GET https://api.ohallo.eu/api "200 OK"')
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("alembic.runtime.migration").warning("slow migration %s", "0001")
    (line,) = json_lines(capsys.readouterr().err)
    # A stable event name per library (searchable, like syncd's own), its sentence in `message`.
    assert line["event"] == "alembic_log"
    assert line["message"] == "slow migration 0001"
    assert line["logger"] == "alembic.runtime.migration"
    assert line["level"] == "warning"
    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]


@pytest.mark.usefixtures("logging_state")
def test_configuring_twice_does_not_duplicate_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    configure_logging("info")
    logging.getLogger("aiohttp.server").error("broken")
    assert len(json_lines(capsys.readouterr().err)) == 1


# --- redaction through the configured pipeline --------------------------------------------------


@pytest.mark.usefixtures("logging_state")
def test_configured_token_is_masked_in_nested_values(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", secrets=[OPAQUE_SECRET])
    structlog.get_logger("syncd").info(
        "request_failed",
        headers={"Authorization": f"Bearer {OPAQUE_SECRET}"},
        attempts=[{"note": f"key={OPAQUE_SECRET}"}, (OPAQUE_SECRET,)],
        **{OPAQUE_SECRET: "as a key"},
    )
    err = capsys.readouterr().err
    assert OPAQUE_SECRET not in err
    (line,) = json_lines(err)
    assert line["headers"] == {"Authorization": "Bearer ***"}
    assert line["attempts"] == [{"note": "key=***"}, ["***"]]


@pytest.mark.usefixtures("logging_state")
def test_token_is_masked_in_exception_messages_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", secrets=[OPAQUE_SECRET])

    def call_api(token: str = OPAQUE_SECRET) -> None:
        raise RuntimeError(f"rejected {token} and {TOKEN}")

    log = structlog.get_logger("syncd")
    try:
        call_api()
    except RuntimeError:
        log.exception("api_failed")
    try:
        call_api()
    except RuntimeError as exc:
        log.error("api_failed_again", error=exc)
        logging.getLogger("httpx").error("library saw it", exc_info=True)
    err = capsys.readouterr().err
    assert OPAQUE_SECRET not in err and TOKEN not in err
    first, second, third = json_lines(err)
    assert "Traceback" in first["exception"] and "RuntimeError: rejected ***" in first["exception"]
    assert "***" in second["error"]
    assert "sf_live_v1_***" in third["exception"]


@pytest.mark.usefixtures("logging_state")
def test_a_secret_registered_later_is_masked_from_then_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info")
    late = "late-registered-secret-42"
    register_secret(late)
    structlog.get_logger().info("event", value=f"x{late}y")
    assert json_lines(capsys.readouterr().err)[0]["value"] == "x***y"
    assert redact_registered({"k": late}) == {"k": "***"}


@pytest.mark.usefixtures("logging_state")
def test_console_output_masks_secrets_too(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = TtyStream()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("info", fmt="console", secrets=[OPAQUE_SECRET])
    try:
        raise ValueError(OPAQUE_SECRET)
    except ValueError:
        structlog.get_logger().exception("failed", detail={"k": [OPAQUE_SECRET]})
    text = stream.getvalue()
    assert OPAQUE_SECRET not in text
    assert "ValueError: ***" in text


# --- the pure redaction functions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {TOKEN} used", "key sf_live_v1_*** used"),
        ("test key sf_test_v1_abc-DEF_123", "test key sf_test_v1_***"),
        ("signing with whsec_MfKQ9r8GKYqrTwjUPD8I=", "signing with whsec_***"),
        ("Authorization: Bearer abc.def-ghi~jkl+/=", "Authorization: Bearer ***"),
        ("authorization: bearer abc", "authorization: bearer ***"),
        ("no secret here", "no secret here"),
    ],
)
def test_secret_looking_substrings_are_masked_without_registration(
    text: str, expected: str
) -> None:
    assert redact_text(text) == expected


def test_short_values_are_not_treated_as_secrets() -> None:
    assert compile_secrets(["", "ab"]) is None
    assert redact_text("abc", compile_secrets(["abc"])) == "abc"


def test_masking_never_leaves_a_secret_formed_by_the_mask_itself() -> None:
    assert "****" not in redact_text("*****", compile_secrets(["****"]))


def test_objects_whose_repr_holds_a_secret_are_replaced_by_the_masked_repr() -> None:
    class Holder:
        def __repr__(self) -> str:
            return f"Holder({OPAQUE_SECRET})"

    pattern = compile_secrets([OPAQUE_SECRET])
    assert redact(Holder(), pattern) == "Holder(***)"
    assert redact(b"bytes " + OPAQUE_SECRET.encode(), pattern) == "b'bytes ***'"
    plain = object()
    assert redact(plain, pattern) is plain


SECRET_ALPHABET = string.ascii_letters + string.digits + "_-"
secrets_strategy = st.text(SECRET_ALPHABET, min_size=8, max_size=40)


@st.composite
def events_with_secret(draw: st.DrawFn) -> tuple[str, dict[str, Any], bool]:
    """A secret, an event dict holding it somewhere (maybe only in an exception), and exc flag."""
    secret = draw(secrets_strategy)
    bearing = st.builds(lambda a, b: a + secret + b, st.text(max_size=10), st.text(max_size=10))
    leaves = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), bearing
    )
    keys = st.one_of(st.text(max_size=10), bearing)
    tree = st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, children, max_size=4),
            st.tuples(children, children),
        ),
        max_leaves=20,
    )
    event = draw(st.dictionaries(st.text(max_size=10), tree, max_size=4))
    event["event"] = draw(st.one_of(st.just("something_happened"), bearing))
    event[draw(st.sampled_from(["payload", "error", "detail"]))] = draw(bearing)
    with_exception = draw(st.booleans())
    return secret, event, with_exception


@given(events_with_secret())
def test_no_rendered_event_contains_a_registered_secret(
    case: tuple[str, dict[str, Any], bool],
) -> None:
    secret, event, with_exception = case
    redactor = SecretRedactor([secret])
    if with_exception:
        try:
            raise ValueError(f"failed with {secret}")
        except ValueError:
            event["exc_info"] = sys.exc_info()
    formatted = structlog.processors.format_exc_info(None, "error", event)
    masked = redactor(None, "error", formatted)
    as_json = structlog.processors.JSONRenderer()(None, "error", dict(masked))
    console = structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )(None, "error", dict(masked))
    assert secret not in as_json
    assert secret not in console


@given(secrets_strategy, st.integers(min_value=0))
def test_numbers_spelling_a_secret_are_masked(secret: str, number: int) -> None:
    rendered = json.dumps(redact({"n": number}, compile_secrets([secret])))
    assert secret not in rendered
