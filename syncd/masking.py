"""The one secret masker: known secrets and secret-looking substrings shown as ``***``.

Used by the log pipeline (``syncd.logging``), the configuration as ``config check`` shows it
(``syncd.config.secrets``), configuration errors, and the webhook sink's error texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr

__all__ = ["MASK", "MIN_SECRET_LENGTH", "compile_secrets", "redact", "redact_text"]

MASK = "***"
# Shorter "secrets" would mask ordinary words all over the output and protect nothing.
MIN_SECRET_LENGTH = 4

# RFC 6750 token68: the characters a bearer token (and an oHallo key) may hold.
_TOKEN_CHARS = r"[A-Za-z0-9\-._~+/]+=*"  # noqa: S105 (a pattern, not a password)
_SECRET_LOOKING = re.compile(
    rf"(?P<keep>sf_(?:live|test)_v1_|whsec_|[Bb][Ee][Aa][Rr][Ee][Rr]\s+){_TOKEN_CHARS}"
)
_PLAIN = (str, int, float, bool, type(None))


def compile_secrets(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of ``secrets`` (longest first); None when there are none."""
    usable = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    if not usable:
        return None
    return re.compile("|".join(re.escape(s) for s in usable))


def redact_text(text: str, secrets: re.Pattern[str] | None = None) -> str:
    """``text`` with every match of ``secrets`` and every secret-looking substring masked."""
    if secrets is not None:
        # Repeat: masking can join the ends around a secret into another occurrence of it.
        masked = secrets.sub(MASK, text)
        while masked != text:
            text, masked = masked, secrets.sub(MASK, masked)
    return _SECRET_LOOKING.sub(lambda m: m.group("keep") + MASK, text)


def redact(value: Any, secrets: re.Pattern[str] | None = None, _depth: int = 0) -> Any:
    """A copy of ``value`` (nested dicts, lists, tuples, sets) with every secret masked.

    A pydantic ``SecretStr`` is a secret by its type: it becomes ``MASK``.
    """
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str):
        return redact_text(value, secrets)
    if _depth > 32:
        return redact_text(repr(value), secrets)
    if isinstance(value, Mapping):
        return {
            redact(key, secrets, _depth + 1): redact(item, secrets, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = [redact(item, secrets, _depth + 1) for item in value]
        if isinstance(value, list | tuple):
            return items if isinstance(value, list) else tuple(items)
        return frozenset(items) if isinstance(value, frozenset) else set(items)
    # Anything else reaches the output through repr() (JSON fallback, console) or str().
    rendered = repr(value)
    if redact_text(rendered, secrets) != rendered or (
        not isinstance(value, _PLAIN) and redact_text(str(value), secrets) != str(value)
    ):
        return redact_text(rendered, secrets)
    return value
