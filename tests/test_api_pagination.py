"""The cursor walk: pure, no network."""

from __future__ import annotations

import pytest

from syncd.api import CursorWalk
from syncd.errors import PaginationError


def walk_all(cursors: list[str | None], start: str | None = None) -> list[str | None]:
    walk = CursorWalk(start)
    used = []
    for next_cursor in cursors:
        used.append(walk.current)
        if walk.advance(next_cursor) is None:
            break
    return used


def test_a_walk_follows_each_next_cursor_until_it_is_absent() -> None:
    assert walk_all(["a", "b", None]) == [None, "a", "b"]


@pytest.mark.parametrize("end", [None, ""])
def test_a_null_or_empty_next_cursor_ends_the_walk(end: str | None) -> None:
    walk = CursorWalk()
    assert walk.advance("a") == "a"
    assert walk.advance(end) is None
    assert walk.done
    assert walk.pages == 2


def test_a_single_page_walk_ends_at_once() -> None:
    walk = CursorWalk()
    assert walk.advance(None) is None
    assert walk.done


def test_a_repeated_cursor_raises_instead_of_looping() -> None:
    walk = CursorWalk()
    walk.advance("a")
    walk.advance("b")
    with pytest.raises(PaginationError, match="repeated a cursor after 3 page"):
        walk.advance("a")


def test_a_page_pointing_at_its_own_cursor_is_a_loop() -> None:
    walk = CursorWalk()
    walk.advance("a")
    with pytest.raises(PaginationError):
        walk.advance("a")


def test_a_resumed_walk_refuses_its_start_cursor() -> None:
    walk = CursorWalk("resume-here")
    assert walk.current == "resume-here"
    with pytest.raises(PaginationError):
        walk.advance("resume-here")


def test_advancing_a_finished_walk_is_a_bug() -> None:
    walk = CursorWalk()
    walk.advance(None)
    with pytest.raises(RuntimeError):
        walk.advance("x")


def test_the_error_does_not_quote_the_cursor() -> None:
    walk = CursorWalk("eyJsYXN0SWQiOiJjOWY4In0=")
    with pytest.raises(PaginationError) as info:
        walk.advance("eyJsYXN0SWQiOiJjOWY4In0=")
    assert "eyJ" not in str(info.value)
