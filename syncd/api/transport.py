"""An httpx transport on aiohttp's connection pool: the same exchange for a fraction of the CPU.

The client speaks httpx (requests, responses, exceptions, and the injectable transport tests use),
but httpx's own pool (httpcore on anyio and h11) costs about 1 ms of CPU per request: more than a
whole backfill's latency bound allows when 16 requests are in flight every 20 ms (see
benchmarks/backfill.py). aiohttp's pool does the same work in a fraction of that, so
``HttpCore`` uses this transport unless a transport is injected or an environment proxy applies
(httpx honours ``HTTP(S)_PROXY`` itself; those set-ups keep httpx's transport).

It behaves like httpx's default transport where the client can tell: the same pool limits
(100 connections, idle ones closed after 5 s), the same TLS context (``httpx.create_ssl_context``:
certifi, ``SSL_CERT_FILE``/``SSL_CERT_DIR``), the request's own connect/read/pool timeouts, no
redirects, the body handed to httpx undecoded (httpx decodes ``Content-Encoding`` as usual), the
URL sent exactly as httpx built it, and failures raised as the httpx exceptions the retry policy
classifies (``syncd.api.retry.classify_transport_error``): a connection that was never made is a
``ConnectError``/``ConnectTimeout``, a timeout after sending a ``ReadTimeout``, a dropped or broken
connection a ``RemoteProtocolError``/``ReadError``. aiohttp's own silent resend of an idempotent
request on a dropped connection is switched off: retrying is the client's policy alone.
"""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any, Final

import aiohttp
import httpx
from yarl import URL

MAX_CONNECTIONS: Final = 100
"""Like httpx's default ``Limits(max_connections=100)``."""
KEEPALIVE_EXPIRY_S: Final = 5.0
"""Like httpx's default ``keepalive_expiry``."""


# aiohttp >= 3.10 tells a connect timeout apart; older ones raise ServerTimeoutError for both.
_CONNECT_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    kind for kind in (getattr(aiohttp, "ConnectionTimeoutError", None),) if kind is not None
)


def environment_proxies() -> bool:
    """Whether any proxy variable is set (``*_proxy``, ``no_proxy``): httpx then handles it."""
    return bool(urllib.request.getproxies())


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncBaseTransport`` over one ``aiohttp.ClientSession``, opened on first use.

    The session belongs to the event loop of the first request; using the transport from
    another event loop is an error (httpx's pool is no more portable).
    """

    def __init__(self) -> None:
        self._ssl = httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def _session_for_this_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise RuntimeError("the transport is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_EXPIRY_S, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes, as it does for its own transport
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies are httpx's business
                # Only what httpx put in the request goes out (no default User-Agent etc.).
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                trust_env=False,
            )
            # Retries are the client's policy (retry.py), not a silent resend (aiohttp >= 3.10).
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("AiohttpTransport used from a second event loop")
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; the whole body is read before returning (the client reads it all)."""
        session = self._session_for_this_loop()
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),  # waiting for a pooled connection (and connecting)
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        body = await request.aread()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        ]
        try:
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                content = await response.read()
                return httpx.Response(
                    response.status,
                    headers=list(response.raw_headers),
                    content=content,
                    extensions=_extensions(response),
                    request=request,
                )
        except _CONNECT_TIMEOUT as exc:
            raise httpx.ConnectTimeout(_text(exc), request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(_text(exc), request=request) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(_text(exc), request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise httpx.RemoteProtocolError(_text(exc), request=request) from exc
        except aiohttp.ClientResponseError as exc:  # an unparsable status line or headers
            raise httpx.RemoteProtocolError(_text(exc), request=request) from exc
        except aiohttp.ClientError as exc:  # reset, broken pipe and the like, after connecting
            raise httpx.ReadError(_text(exc), request=request) from exc

    async def aclose(self) -> None:
        """Close the pool (idempotent)."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _extensions(response: aiohttp.ClientResponse) -> dict[str, Any]:
    version = response.version
    http_version = f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1"
    return {
        "http_version": http_version.encode("ascii"),
        "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
    }


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
