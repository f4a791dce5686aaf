"""The service's edge, around every HTTP request: request id, security headers, query length limit,
HEAD answered as GET without the body, metrics and one structured log line per request.

It wraps Litestar's whole ASGI handler (not a route middleware), so 404s, 405s and CORS preflights are
counted, logged and given headers too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from practice_finder.web.logs import REQUEST_ID
from practice_finder.web.metrics import Metrics
from practice_finder.web.problems import problem_body
from practice_finder.web.security import security_headers

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Edge:
    """ASGI wrapper: request id, limits, security headers, metrics and the access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_query_string: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_query_string = max_query_string
        self.log = logging.getLogger("practice_finder.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = [500]
        headers = _response_headers(scope, request_id)
        # HEAD is routed as the GET it asks about; the headers go out, the body does not
        method = str(dict(scope)["method"])
        if method == "HEAD":
            scope = cast("Scope", {**scope, "method": "GET"})
        self.metrics.active += 1

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), *headers(message)]
            elif method == "HEAD":
                message = cast("Message", {**message, "body": b""})
            await send(message)

        try:
            if len(scope.get("query_string", b"")) > self.max_query_string:
                await _too_long(scope, send_with_headers, self.max_query_string)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.active -= 1
            self._record(scope, method, status[0], time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _record(self, scope: Any, method: str, status: int, seconds: float) -> None:
        route = scope.get("path_template") or ("unmatched" if status == 404 else "-")
        self.metrics.requests.labels(route, method, str(status)).inc()
        self.metrics.latency.labels(route, method).observe(seconds)
        self.log.info(
            "request",
            extra={
                "event": "request",
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "ms": round(seconds * 1000, 2),
                "client": _client(scope),
            },
        )


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a plain token (it joins their logs to ours), else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _VALID_ID.match(given):
                return given
    return uuid.uuid4().hex


def _response_headers(scope: Scope, request_id: str) -> Callable[[Any], list[tuple[bytes, bytes]]]:
    def extra(message: Any) -> list[tuple[bytes, bytes]]:
        content_type = next(
            (v for k, v in message.get("headers", []) if k.lower() == b"content-type"), b""
        )
        return [
            (b"x-request-id", request_id.encode()),
            *security_headers(scope["path"], content_type),
        ]

    return extra


async def _too_long(scope: Any, send: Any, limit: int) -> None:
    detail = f"the query string has {len(scope['query_string'])} characters; at most {limit} are accepted"
    body = problem_body(414, "query-too-long", "Query string too long", detail, scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": 414,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}" if client else "-"
