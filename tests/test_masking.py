"""The one secret masker (``syncd.masking``): the log pipeline, ``config check``'s dump,
configuration errors, the API client's error texts and the webhook sink's all mask through it.

The masking rules themselves stay tested where they were first written: ``tests/test_logging.py``
(patterns, nesting, secret-looking substrings), ``tests/test_config.py`` (the dump) and
``tests/test_sinks_webhook.py`` (error texts).
"""

from __future__ import annotations

from pydantic import SecretStr

import syncd.api.http
import syncd.config.secrets
import syncd.config.sources
import syncd.events.sinks.webhook
import syncd.logging
from syncd import masking
from syncd.events.sinks.webhook import WebhookSink
from syncd.masking import MASK, compile_secrets, redact, redact_text

SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ="


def test_there_is_one_copy() -> None:
    assert syncd.logging.redact is redact
    assert syncd.logging.redact_text is redact_text
    assert syncd.logging.compile_secrets is compile_secrets
    assert syncd.logging.MASK == MASK == "***"
    assert syncd.config.sources.redact_text is redact_text
    assert syncd.config.sources.compile_secrets is compile_secrets
    assert syncd.api.http.redact_text is redact_text
    assert syncd.config.secrets.redact is redact
    assert syncd.events.sinks.webhook.redact_text is redact_text
    assert masking.MIN_SECRET_LENGTH == 4


def test_a_secret_str_is_masked_by_its_type() -> None:
    assert redact({"token": SecretStr("x"), "n": [SecretStr("y")]}) == {"token": MASK, "n": [MASK]}


def test_too_short_values_are_not_secrets_the_longest_wins() -> None:
    pattern = compile_secrets(["abc", "abcd", "abcdef"])
    assert redact_text("abc abcd abcdef", pattern) == f"abc {MASK} {MASK}"


def test_the_webhook_sink_masks_its_secrets_headers_and_url_password() -> None:
    sink = WebhookSink(
        "hook",
        "https://user:url-password@hooks.example/in",
        [SECRET],
        headers={"Authorization": "Token 0123456789abcdef"},
    )
    text = f"{SECRET} {SECRET.removeprefix('whsec_')} url-password 0123456789abcdef Bearer abc.def"
    masked = sink._redact(text)
    assert masked == f"{MASK} {MASK} {MASK} {MASK} Bearer {MASK}"
