"""The rate limit, with a request's cost counted: a large body weighs as several requests.

Litestar's limiter counts every request once. A profile of 20,000 characters costs the service
hundreds of times the work of a search, so here each started `PF_RATE_LIMIT_BODY_BYTES` of the body
(by its Content-Length, read before the body is) count as one more request in the same per-client
window. A body sent without a length (chunked) is counted at the largest size accepted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware

if TYPE_CHECKING:
    from litestar.types import Receive, Scope, Send


def request_cost(headers: Iterable[tuple[bytes, bytes]], unit: int, max_body: int) -> int:
    """How many requests this one counts as: 1, plus 1 for each started `unit` bytes of its body."""
    if unit <= 0:
        return 1
    size = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            try:
                size = max(0, int(value))
            except ValueError:
                size = max_body
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if size is None:
        size = max_body if chunked else 0
    return 1 + -(-min(size, max_body) // unit)


class CostRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter, with `request_cost` entries added to the client's window per request."""

    config: CostRateLimitConfig

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request: Any = app.request_class(scope)
        if await self.should_check_request(request=request):
            store = self.config.get_store_from_app(app)
            key = self.cache_key_from_request(request)
            cost = request_cost(
                scope.get("headers", []), self.config.body_unit, self.config.max_body
            )
            async with self._lock:
                cache_object = await self.retrieve_cached_history(key, store)
                if len(cache_object.history) + cost > self.max_requests:
                    raise TooManyRequestsException(
                        headers=self.create_response_headers(cache_object=cache_object)
                        if self.config.set_rate_limit_headers
                        else None
                    )
                cache_object.history[:0] = [int(time.time())] * (cost - 1)
                await self.set_cached_history(key=key, cache_object=cache_object, store=store)
            if self.config.set_rate_limit_headers:
                send = self.create_send_wrapper(send=send, cache_object=cache_object)
        await self.app(scope, receive, send)


@dataclass
class CostRateLimitConfig(RateLimitConfig):
    """Litestar's rate limit settings, plus the bytes of body that count as one more request."""

    body_unit: int = 0  # 0: every request counts once
    max_body: int = 0  # the size a body without a length is counted at
    middleware_class: type[RateLimitMiddleware] = field(default=CostRateLimitMiddleware)
