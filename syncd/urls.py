"""The one credential stripper: a URL as it may be shown in logs, errors and ``config check``."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["strip_credentials"]


def strip_credentials(url: str, *, mask: str | None = None) -> str:
    """``url`` without the credentials of its ``user:password@`` part.

    Without ``mask`` the whole ``user:password@`` part goes (``nats://h:4222``); with it the
    user stays and a password shows as ``mask`` (``postgresql://u:***@h/db``). A URL with no
    ``@`` in its authority comes back unchanged, to the letter.

    :raises ValueError: the URL cannot be parsed (an unclosed ``[`` of an IPv6 host, say).
    """
    parts = urlsplit(url)
    _userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    if mask is None:
        netloc = host
    elif parts.password is None:
        return url
    else:
        netloc = f"{parts.username or ''}:{mask}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
