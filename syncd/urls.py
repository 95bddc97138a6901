"""The one credential stripper: a URL as it may be shown in logs, errors and ``config check``."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit, urlunsplit

__all__ = ["mask_url", "strip_credentials", "url_secrets"]


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


def _servers(url: str, many: bool) -> list[str]:
    return [server.strip() for server in url.split(",")] if many else [url]


def mask_url(url: str, mask: str, *, many: bool = False) -> str:
    """``url`` as it may be shown: the password of its ``user:password@`` part and every query
    value (webhook URLs often carry ``?token=...``) as ``mask``. ``many``: a comma-separated
    list of server URLs (NATS), each masked, a user name without a password (a NATS token) too."""
    shown = []
    for server in _servers(url, many):
        parts = urlsplit(server)
        if parts.query:
            masked = "&".join(
                f"{key}={mask}" if sep else key
                for key, sep, _ in (item.partition("=") for item in parts.query.split("&"))
            )
            parts = parts._replace(query=masked)
        if many and parts.username and parts.password is None:  # NATS: a token as the user
            parts = parts._replace(netloc=f"{mask}@{parts.netloc.rpartition('@')[2]}")
        shown.append(strip_credentials(urlunsplit(parts), mask=mask))
    return ",".join(shown)


def url_secrets(url: str, *, many: bool = False) -> list[str]:
    """What ``mask_url`` hides, for the log masker: passwords and query values (and a user
    name given without a password, a token by NATS's convention)."""
    found: list[str] = []
    for server in _servers(url, many):
        parts = urlsplit(server)
        if parts.password:
            found.append(parts.password)
        elif many and parts.username:
            found.append(parts.username)
        found.extend(value for _, value in parse_qsl(parts.query) if value)
    return found
