"""The service's edge, around every HTTP request: request id, security headers, query length limit,
Prometheus metrics and one structured log line per request.

It wraps Litestar's whole ASGI handler (not a route middleware), so 404s, 405s and CORS preflights are
counted, logged and given headers too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from .service import ReindexRun, Service

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REINDEX_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)

# Pages may load scripts, styles, images and fonts from this service only; nothing may frame them.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI sets style attributes on the elements it draws.
DOCS_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
          (b"cross-origin-opener-policy", b"same-origin")]


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app: tests make many apps)."""

    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("pf_http_requests_total", "HTTP requests by route, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("pf_http_request_duration_seconds", "Time from the request to the end of the response.",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.reindex = Histogram("pf_reindex_duration_seconds", "Duration of re-indexes run by this process.",
                                 ["trigger", "result"], buckets=REINDEX_BUCKETS, registry=self.registry)
        self.active = 0  # HTTP requests in progress in this process (counted by Edge, on the event loop)
        Gauge("pf_http_requests_in_progress", "HTTP requests being served by this process.",
              registry=self.registry).set_function(lambda: self.active)
        self.registry.register(_IndexCollector(service))
        service.reindexer.listeners.append(self.observe_reindex)

    def observe_reindex(self, run: ReindexRun) -> None:
        self.reindex.labels(run.trigger, "ok" if run.ok else "error").observe(run.seconds or 0.0)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _IndexCollector:
    """Read at scrape time from the service: the build served, its record counts, writes not yet in it."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        index = self.service.index
        ready = GaugeMetricFamily("pf_index_ready", "1 while a usable index is loaded.")
        ready.add_metric([], 1.0 if index is not None else 0.0)
        yield ready
        if index is None:
            return
        info = InfoMetricFamily("pf_index", "The build being served.")
        manifest = index.manifest
        info.add_metric([], {"build": index.build_id, "model": str(manifest.get("model", {}).get("name")),
                             "built_at": str(manifest.get("built_at"))})
        yield info
        records = GaugeMetricFamily("pf_index_records", "Records in the build being served.", labels=["kind"])
        for kind, count in manifest.get("counts", {}).items():
            records.add_metric([kind], float(count))
        yield records
        pending = GaugeMetricFamily("pf_pending_writes", "Records written since the build being served.")
        pending.add_metric([], float(self.service.catalog.log.pending(self.service.served_seq())))
        yield pending
        refused = GaugeMetricFamily("pf_refused_builds", "Builds that could not be served (damaged or another model).")
        refused.add_metric([], float(len(self.service.refused)))
        yield refused


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
        self.metrics.active += 1

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), *headers(message)]
            await send(message)

        try:
            if len(scope.get("query_string", b"")) > self.max_query_string:
                await _too_long(scope, send_with_headers, self.max_query_string)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.active -= 1
            self._record(scope, status[0], time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _record(self, scope: Any, status: int, seconds: float) -> None:
        route = scope.get("path_template") or ("unmatched" if status == 404 else "-")
        method = scope["method"]
        self.metrics.requests.labels(route, method, str(status)).inc()
        self.metrics.latency.labels(route, method).observe(seconds)
        self.log.info("request", extra={"event": "request", "method": method, "path": scope["path"], "route": route,
                                        "status": status, "ms": round(seconds * 1000, 2), "client": _client(scope)})


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
        out = [(b"x-request-id", request_id.encode()), *ALWAYS]
        content_type = next((v for k, v in message.get("headers", []) if k.lower() == b"content-type"), b"")
        if content_type.startswith(b"text/html"):
            policy = DOCS_POLICY if scope["path"].startswith("/schema") else PAGE_POLICY
            out.append((b"content-security-policy", policy.encode()))
        return out

    return extra


async def _too_long(scope: Any, send: Any, limit: int) -> None:
    body = json.dumps({"type": "/problems/query-too-long", "title": "Query string too long", "status": 414,
                       "detail": f"the query string has {len(scope['query_string'])} characters; at most {limit} are accepted",
                       "instance": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 414,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}" if client else "-"


# -- logs --------------------------------------------------------------------------------------


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.__dict__.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
        return True


def configure_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    """One JSON object per line on stderr (`fmt="text"`: plain lines), each with the request id.

    Nothing logs headers or bodies: keys and the text people search for stay out of the logs.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s", timestamp="time",
                                           rename_fields={"levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    for name in ("practice_finder", "uvicorn", "uvicorn.error", "litestar"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True  # our own access line carries the request id


def uvicorn_log_config() -> dict[str, Any]:
    """Leave uvicorn's loggers to configure_logging (called when the app is made)."""
    return {"version": 1, "disable_existing_loggers": False}
