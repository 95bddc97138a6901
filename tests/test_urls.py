"""The one credential stripper (``syncd.urls``), used by config check, the database URL shown by
commands, the NATS sink's server list and the webhook sink's redirect errors."""

from __future__ import annotations

import pytest

from syncd.urls import strip_credentials


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nats://u:p@h:4222", "nats://h:4222"),
        ("nats://token@h:4222", "nats://h:4222"),
        ("https://u:p@hooks.example/in?x=1#f", "https://hooks.example/in?x=1#f"),
        ("https://a@b:p@ss@h/x", "https://h/x"),  # the last @ ends the credentials
        ("nats://h2:4222", "nats://h2:4222"),
    ],
)
def test_without_a_mask_the_credentials_go(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg://u:***@h/db"),
        (
            "postgresql+psycopg://syncd:s3cret@db.example:5432/mirror",
            "postgresql+psycopg://syncd:***@db.example:5432/mirror",
        ),
        ("https://user:pw@hooks.example/in", "https://user:***@hooks.example/in"),
        ("https://:pw@hooks.example/in", "https://:***@hooks.example/in"),
        ("https://user@hooks.example/in", "https://user@hooks.example/in"),  # no password
    ],
)
def test_with_a_mask_the_user_stays_and_the_password_is_masked(url: str, expected: str) -> None:
    assert strip_credentials(url, mask="***") == expected


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///relative.db", "sqlite:////abs/path.db", "postgresql:///db"]
)
@pytest.mark.parametrize("mask", [None, "***"])
def test_a_url_without_credentials_comes_back_to_the_letter(url: str, mask: str | None) -> None:
    assert strip_credentials(url, mask=mask) == url


def test_an_unparsable_url_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        strip_credentials("https://u:p@[::1/x")


def test_every_former_copy_now_uses_it() -> None:
    from syncd.config import safe_database_url
    from syncd.events.sinks.nats import safe_url

    assert safe_url("nats://u:p@h:4222,nats://h2:4222") == "nats://h:4222,nats://h2:4222"
    assert safe_database_url("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
