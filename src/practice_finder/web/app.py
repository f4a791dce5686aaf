"""The JSON API (Litestar): parse the request, call the core once, return its structs.

Heavy resources (model, FAISS, SQLite) are opened once in the lifespan and handed to handlers by
dependency injection; the handlers themselves live in `api_reads`, `api_writes` and `pages`.
"""

from __future__ import annotations

import html
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from practice_finder import __version__
from practice_finder.build.encoders import Embedder
from practice_finder.config import Settings
from practice_finder.corpus.submissions import ReviewStore
from practice_finder.errors import PracticeFinderError
from practice_finder.web.api_reads import (
    city_peers,
    get_city,
    get_plan,
    get_practice,
    get_similar,
    health,
    list_cities,
    metrics,
    profile_peers,
    ready,
    recommendations,
    search,
    taxonomy,
)
from practice_finder.web.api_writes import write_routers
from practice_finder.web.auth import PUBLIC, KeyRing, rate_limit_identity, require_reader
from practice_finder.web.bodies import BodyRequest
from practice_finder.web.edge import Edge
from practice_finder.web.logs import configure_logging
from practice_finder.web.metrics import Metrics
from practice_finder.web.problems import exception_handlers
from practice_finder.web.ratelimit import CostRateLimitConfig
from practice_finder.web.serving import Service
from practice_finder.web.staff import csrf_config, session_store, staff_router
from practice_finder.web.staff_import import import_router
from practice_finder.web.submit import submission_routers


class _SwaggerPage(SwaggerRenderPlugin):
    """Swagger UI started by a script file rather than an inline script, so the page keeps a strict
    Content-Security-Policy; the UI fetches the OpenAPI document itself."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        return (
            f"<!DOCTYPE html><html><head><title>{title}</title>{self.favicon}<meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link href='{self.css_url}' rel='stylesheet'><script src='{self.js_url}'></script>"
            f"<script src='{self.standalone_preset_js_url}'></script></head>"
            f"<body><div id='swagger-container'></div><script src='/static/app/swagger-init.js'></script></body></html>"
        ).encode()


def _swagger_router() -> tuple[SwaggerRenderPlugin, Router]:
    """Swagger UI served from the swagger-ui-bundle package: no CDN, works offline."""
    import swagger_ui_bundle

    base = "/static/swagger-ui"
    plugin = _SwaggerPage(
        js_url=f"{base}/swagger-ui-bundle.js",
        css_url=f"{base}/swagger-ui.css",
        standalone_preset_js_url=f"{base}/swagger-ui-standalone-preset.js",
        path="/swagger",
        favicon=f"<link rel='icon' type='image/png' href='{base}/favicon-32x32.png'>",
    )
    return plugin, create_static_files_router(
        path=base, directories=[swagger_ui_bundle.swagger_ui_path], name="swagger-ui", opt=PUBLIC
    )


def with_html_pages(handlers: Mapping[Any, Any], service: Service) -> dict[Any, Any]:
    """Errors on web pages render a page, with the status and headers of the API's answer to the same
    error; errors on the API stay problem details."""
    from practice_finder.web.pages import html_errors

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        def handle(request: Request[Any, Any, Any], exc: Exception) -> Any:
            answer = handler(request, exc)
            page = html_errors(request, service, exc, answer)
            return page if page is not None else answer

        return handle

    return {kind: wrap(handler) for kind, handler in handlers.items()}


def with_damage_check(handlers: Mapping[Any, Any], service: Service) -> dict[Any, Any]:
    """A SQLite error that reaches a handler came from the build served (the write log has its own errors):
    the service is told, and when the file is damaged the answer is that error, as a page or a problem."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Any:
        assert isinstance(exc, sqlite3.DatabaseError)
        known = service.read_failed(exc)
        if known is None:
            return handlers[Exception](request, exc)
        return handlers[PracticeFinderError](request, known)

    return {**handlers, sqlite3.DatabaseError: handle}


def create_app(
    settings: Settings | None = None,
    make_embedder: Callable[[], Embedder] | None = None,
    watch: bool = True,
) -> Litestar:
    """The application; the index is opened once at start-up, in a worker thread, then watched (`watch`):
    a new build is swapped in, and pending writes are re-indexed in the background."""
    settings = settings or Settings.from_env()
    if make_embedder is None:
        from practice_finder.build.encoders import load_embedder

        make_embedder = partial(
            load_embedder, settings.model, settings.batch_size, settings.threads
        )
    configure_logging(settings.log_format)
    service = Service(settings, make_embedder)
    app_metrics = Metrics(service)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        import anyio.to_thread

        await anyio.to_thread.run_sync(service.load)
        service.warm_this_thread()  # a lone search runs on the event loop's thread (see api_reads.run_core)
        if watch:
            service.watch()
        try:
            yield
        finally:
            service.close()

    review = ReviewStore(settings.state_dir)
    app = Litestar(
        route_handlers=[
            *_routes(settings.require_read_key),
            *submission_routers(review),
            staff_router(review, settings.state_dir),
            import_router(review, settings.state_dir),
        ],
        stores={"staff_sessions": session_store(settings.state_dir)},
        csrf_config=csrf_config(settings.state_dir),
        guards=[require_reader],  # every route, the pages and /schema too, unless marked public
        template_config=_templates(),
        lifespan=[lifespan],
        state=State({"service": service, "keys": KeyRing(settings), "metrics": app_metrics}),
        exception_handlers=with_damage_check(
            with_html_pages(exception_handlers(), service), service
        ),
        dependencies=dependencies(service, app_metrics),
        openapi_config=_openapi(),
        middleware=[_rate_limit(settings)] if settings.rate_limit > 0 else [],
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
        if settings.cors_origins
        else None,
        request_max_body_size=settings.max_body_bytes,
        request_class=BodyRequest,
        compression_config=COMPRESSION,
    )
    app.asgi_handler = Edge(app.asgi_handler, app_metrics, settings.max_query_string)
    return app


# Pages and answers gzip-compressed for a client that accepts it (the towns page travels at about 40 % of
# its size): towns on slow rural lines wait less. Level 6, not Litestar's 9: nearly as small, several times
# less CPU per answer. Bodies under 1 kB are sent as they are. The pages that hold a CSRF token beside
# text the visitor sent (/submit, /staff) stay uncompressed: compressed, their length could leak the
# token to someone who can make a browser send guesses (BREACH).
COMPRESSION = CompressionConfig(
    backend="gzip", gzip_compress_level=6, minimum_size=1024, exclude=[r"^/(submit|staff)"]
)


def dependencies(service: Service, app_metrics: Metrics) -> dict[str, Provide]:
    """What handlers get by name: the process's `service`, the `index` it serves (503 while there is
    none) and the `metrics` (whose count of requests in progress `run_core` reads)."""

    def provide_service() -> Service:
        return service

    def provide_metrics() -> Metrics:
        return app_metrics

    return {
        "service": Provide(provide_service, use_cache=True, sync_to_thread=False),
        "index": Provide(service.require, sync_to_thread=False),
        "metrics": Provide(provide_metrics, use_cache=True, sync_to_thread=False),
    }


def _routes(require_read_key: bool) -> list[Any]:
    from practice_finder.web.pages import web_router

    _, static = _swagger_router()
    reads = Router(
        path="/",
        route_handlers=[
            search,
            get_practice,
            get_similar,
            list_cities,
            get_city,
            city_peers,
            profile_peers,
            recommendations,
            get_plan,
            taxonomy,
        ],
        security=[{"bearer": []}]
        if require_read_key
        else [{}, {"bearer": []}],  # {}: no key needed
    )
    v1 = Router(
        path="/v1",
        route_handlers=[reads, *write_routers(require_read_key)],
    )
    return [health, ready, metrics, v1, static, web_router()]


def _templates() -> Any:
    from litestar.plugins.jinja import JinjaTemplateEngine
    from litestar.template.config import TemplateConfig

    from practice_finder.web.pages import TEMPLATES, configure_templates

    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure_templates
    )


def _openapi() -> OpenAPIConfig:
    swagger, _ = _swagger_router()
    return OpenAPIConfig(
        title="practice-finder",
        version=__version__,
        path="/schema",
        description=(
            "Search, recommendations and peer matching over the good practices of the BSR Cultural Pearls programme. "
            "Writes and /v1/admin need an admin key (`Authorization: Bearer <key>`); reads need a key only "
            "when the service is configured so."
        ),
        render_plugins=[JsonRenderPlugin(path="/openapi.json"), swagger],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http", scheme="bearer", description="An admin or read key"
                )
            }
        ),
    )


def _rate_limit(settings: Settings) -> Any:
    """Per client (its key when valid, else its address), per process, a large body counting as several
    requests (see web.ratelimit); health, readiness and metrics are exempt."""
    return CostRateLimitConfig(
        rate_limit=("minute", settings.rate_limit),
        exclude=["^/health$", "^/ready$", "^/metrics$", "^/static/"],
        identifier_for_request=rate_limit_identity,
        body_unit=settings.rate_limit_body_bytes,
        max_body=settings.max_body_bytes,
    ).middleware


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` (settings read when a worker starts, not at import)."""
    return create_app(Settings.from_env())
