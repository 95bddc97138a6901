"""``syncd.errors.first_line``: an exception as one line for a log field."""

from __future__ import annotations

from syncd.errors import StoreError, first_line


def test_first_line_is_the_message_s_first_line_or_the_type_name() -> None:
    assert first_line(StoreError("the database failed\nSQL: SELECT 1")) == "the database failed"
    assert first_line(TimeoutError()) == "TimeoutError"
    assert first_line(ValueError("  \n")) == "ValueError"
