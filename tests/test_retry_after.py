"""The one Retry-After parser, shared by the API client and the webhook sink.

The union of the tests each of the two former copies had (``tests/test_api_retry.py`` and
``tests/test_sinks_webhook.py``), with the inputs on which they disagreed decided once:
a negative, ``nan`` or ``inf`` is not a usable delay (None), an HTTP date in the past is 0,
an HTTP date without a zone (RFC 850, asctime) is GMT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from syncd.retry_after import parse_retry_after

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def test_retry_after_in_the_past_means_retry_now() -> None:
    header = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(header, NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "  ", "later", "nan", "inf", "-inf", "-1", "-3", "-5", "1e400", "Fri, 99 Foo"],
)
def test_unusable_retry_after_values_are_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("12", 12.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("Wed, 01 Jan 2030 12:01:00 GMT", 60.0),
        ("Wed, 01 Jan 2030 11:00:00 GMT", 0.0),
        ("Wednesday, 01-Jan-30 12:01:00 GMT", 60.0),  # RFC 850
        ("Wed Jan  1 12:01:00 2030", 60.0),  # asctime: no zone, GMT
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == expected


def test_the_client_and_the_webhook_sink_use_the_one_parser() -> None:
    import syncd.api
    import syncd.api.retry
    import syncd.events.sinks.webhook

    assert syncd.api.parse_retry_after is parse_retry_after
    assert syncd.api.retry.parse_retry_after is parse_retry_after
    assert syncd.events.sinks.webhook.parse_retry_after is parse_retry_after
