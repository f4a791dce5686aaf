"""How `practice-finder serve` runs the application under uvicorn: the limits of its connections and the
proxies whose forwarded headers it believes (docs/reliability.md#connections-and-proxies).

uvicorn bounds idle keep-alive connections and the connections one worker holds, but has no deadline for
a request's headers and no size limit for them with its httptools parser; `GuardedHttpProtocol` adds both.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from practice_finder.config import Settings

_SAID = b"the request's headers are too large"
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_SAID), _SAID)
)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of `uvicorn.run` (or `uvicorn.Config`) that carry the settings' limits."""
    trusted = list(settings.trusted_proxies)
    return {
        "http": partial(
            GuardedHttpProtocol,
            header_timeout=settings.header_timeout,
            max_header_bytes=settings.max_header_bytes,
        ),
        "timeout_keep_alive": settings.timeout_keep_alive,
        "limit_concurrency": settings.limit_concurrency or None,
        # forwarded headers are believed from the configured proxies only (uvicorn's own default: 127.0.0.1)
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted,
    }


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request line and headers take longer than
    `header_timeout` seconds, and answering 431 when they pass `max_header_bytes`."""

    def __init__(self, *args: Any, header_timeout: float, max_header_bytes: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.header_bytes = 0
        self.too_large = False
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = 0
        if self.deadline is None:  # the next request on a kept-alive connection
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if not self.too_large:
            super().send_400_response(msg)
            return
        self.transport.write(TOO_LARGE)
        self.transport.close()

    def _count(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > self.max_header_bytes:
            self.too_large = True
            raise ValueError(
                "headers too large"
            )  # the parser stops; uvicorn answers, through send_400_response

    def _arm(self) -> None:
        self.deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _too_slow(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()
