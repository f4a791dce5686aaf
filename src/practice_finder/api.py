"""The JSON API (Litestar): parse the request, call the core once, return its structs.

Heavy resources (model, FAISS, SQLite) are opened once in the lifespan and handed to handlers by
dependency injection. Handlers call the synchronous core in a worker thread, off the event loop; the quick
reads (a search, one record) run on the event loop itself when they are the only request the process
is serving (see `run_core`).
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar import Litestar, Request, Router, get, post
from litestar.concurrency import sync_to_thread
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.static_files import create_static_files_router

from . import __version__
from .api_writes import write_routers
from .auth import KeyRing, rate_limit_identity, require_reader
from .config import Settings
from .embedding import Embedder
from .filters import Filters
from .index import Index
from .observability import Edge, Metrics, configure_logging
from .peers import PeerResult, find_peers
from .problems import exception_handlers, problem_responses
from .profiles import ProfileIn, from_city, from_input
from .recommend import RecommendationRequest, RecommendationResult, recommend
from .records import City, CitySummary, Plan, Practice, PracticeSummary, TermOut, similar_practices, taxonomy_terms
from .records import get_city as core_get_city
from .records import get_plan as core_get_plan
from .records import get_practice as core_get_practice
from .records import list_cities as core_list_cities
from .search import SearchQuery, SearchResult
from .search import search as core_search
from .service import Service

T = TypeVar("T")


def _service(request: Request[Any, Any, Any]) -> Service:
    return request.app.state["service"]


def provide_index(request: Request[Any, Any, Any]) -> Index:
    return _service(request).require()


async def run_core(request: Request[Any, Any, Any], fn: Callable[..., T], *args: Any) -> T:
    """Call a quick synchronous core function: on the event loop when this request is the only one the
    process is serving, else in a worker thread so that the loop goes on reading other requests.

    Handing a call to a worker thread and back takes two thread wake-ups; on the 2-vCPU machines this was
    measured on, that is about 0.7 ms of a 9 ms search (docs/benchmarks.md, "Seventh session"). An idle
    process gains that time and blocks nobody; under load every request still goes to the pool. The
    price: while a lone search runs, the loop reads nothing else (with the default multilingual model a
    long question holds it for up to about 140 ms).
    """
    if request.app.state["metrics"].active <= 1:
        return fn(*args)
    return await sync_to_thread(fn, *args)


def _split(values: list[str] | None, upper: bool = False) -> tuple[str, ...]:
    """Repeated and comma-separated values: ?country=LV&country=EE or ?country=LV,EE."""
    out = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return tuple(v.upper() for v in out) if upper else tuple(out)


Multi = Annotated[list[str] | None, QueryParameter(description="Repeat the parameter or separate values with commas.")]


@get("/health", tags=["service"], sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is up (says nothing about the index)."""
    return {"status": "ok", "version": __version__}


class Ready(msgspec.Struct, kw_only=True):
    ready: bool
    build: str
    manifest: dict[str, Any]
    refused_builds: list[dict[str, str]]  # builds passed over as unusable (damaged, another model): served is an older one


@get("/ready", tags=["service"], sync_to_thread=False, responses=problem_responses(503))
def ready(request: Request[Any, Any, Any]) -> Ready:
    """A usable index is loaded; reports its manifest. 503 while none is."""
    service = _service(request)
    index = service.require()
    refused = [{"build": b, "reason": r} for b, r in service.refused]
    return Ready(ready=True, build=index.build_id, manifest=index.manifest, refused_builds=refused)


@get("/metrics", tags=["service"], sync_to_thread=False, media_type="text/plain; version=0.0.4")
def metrics(request: Request[Any, Any, Any]) -> bytes:
    """Prometheus metrics of this process: requests and latency per route, the index served, re-indexes."""
    return request.app.state["metrics"].render()


@get("/search", tags=["search"], responses=problem_responses(400, 401, 429, 503))
async def search(
    request: Request[Any, Any, Any],
    index: NamedDependency[Index],
    q: Annotated[str, QueryParameter(description="The challenge in your own words.", max_length=1000)],
    k: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    offset: Annotated[int, QueryParameter(ge=0, le=10_000)] = 0,
    mode: Annotated[str, QueryParameter(description="hybrid | dense | lexical")] = "hybrid",
    country: Multi = None,
    challenge: Multi = None,
    asset: Multi = None,
    theme: Multi = None,
    target_group: Multi = None,
    language: Multi = None,
    population_min: Annotated[int | None, QueryParameter(ge=0, le=1_000_000_000)] = None,
    population_max: Annotated[int | None, QueryParameter(ge=0, le=1_000_000_000)] = None,
    year_from: Annotated[int | None, QueryParameter(ge=1900, le=2100)] = None,
    year_to: Annotated[int | None, QueryParameter(ge=1900, le=2100)] = None,
    diversify: Annotated[bool, QueryParameter(description="Re-rank the page for variety (MMR).")] = False,
) -> SearchResult:
    """Hybrid search over good practices, with snippets, reasons and facets."""
    filters = Filters(
        country=_split(country, upper=True), challenge=_split(challenge), asset=_split(asset), theme=_split(theme),
        target_group=_split(target_group), language=_split(language), population_min=population_min,
        population_max=population_max, year_from=year_from, year_to=year_to,
    )
    query = SearchQuery(q, k=k, offset=offset, mode=mode, filters=filters, diversify=diversify)
    return await run_core(request, core_search, index, query)


@get("/practices/{practice_id:str}", tags=["records"], responses=problem_responses(401, 404, 429, 503))
async def get_practice(request: Request[Any, Any, Any], index: NamedDependency[Index], practice_id: FromPath[str]) -> Practice:
    """One good practice, with its declared tags and the terms found in its text."""
    return await run_core(request, core_get_practice, index, practice_id)


@get("/practices/{practice_id:str}/similar", tags=["records"], responses=problem_responses(400, 401, 404, 429, 503))
async def get_similar(request: Request[Any, Any, Any], index: NamedDependency[Index], practice_id: FromPath[str],
                      k: Annotated[int, QueryParameter(ge=1, le=50)] = 5) -> list[PracticeSummary]:
    """More like this: the practices closest in meaning, itself excluded."""
    return await run_core(request, similar_practices, index, practice_id, k)


@get("/cities", tags=["records"], sync_to_thread=True, responses=problem_responses(400, 401, 429, 503))
def list_cities(request: Request[Any, Any, Any], index: NamedDependency[Index], country: Multi = None,
                pearl: FromQuery[bool | None] = None,
                format: Annotated[Literal["summary", "jsonl"], QueryParameter(description="summary | jsonl (the export)")] = "summary",
                ) -> list[CitySummary]:
    """All municipalities of the corpus, with coordinates, size and Pearl title. `format=jsonl` is the export
    instead: every city in the shape POST and PUT accept, pending writes included, as `application/x-ndjson`."""
    if format != "summary":
        from .api_writes import export_response

        return export_response(_service(request), "city", format)  # type: ignore[return-value]
    return core_list_cities(index, _split(country, upper=True), pearl)


@get("/cities/{city_id:str}", tags=["records"], responses=problem_responses(401, 404, 429, 503))
async def get_city(request: Request[Any, Any, Any], index: NamedDependency[Index], city_id: FromPath[str]) -> City:
    """One municipality, its tags, its practices and its action plans."""
    return await run_core(request, core_get_city, index, city_id)


@get("/cities/{city_id:str}/peers", tags=["peers"], sync_to_thread=True, responses=problem_responses(400, 401, 404, 429, 503))
def city_peers(index: NamedDependency[Index], city_id: FromPath[str], mode: FromQuery[str] = "similar", k: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
               country: Multi = None) -> PeerResult:
    """Comparable towns (mode=similar) or experienced towns to learn from (mode=mentors)."""
    from .profiles import city_text

    return find_peers(index, from_city(index, city_id), city_text(index, city_id), mode, k, _split(country, upper=True))


class PeersRequest(ProfileIn, kw_only=True, forbid_unknown_fields=True):
    mode: str = "similar"
    k: int = 10
    country_filter: list[str] = []


@post("/peers", tags=["peers"], sync_to_thread=True, status_code=200, responses=problem_responses(400, 401, 413, 429, 503))
def profile_peers(index: NamedDependency[Index], data: JSONBody[PeersRequest]) -> PeerResult:
    """Peers for a town described in the request (the same fields as a recommendation profile)."""
    fields = {f: getattr(data, f) for f in ProfileIn.__struct_fields__}
    profile = from_input(index, ProfileIn(**fields))
    return find_peers(index, profile, data.text, data.mode, data.k, tuple(c.upper() for c in data.country_filter))


@post("/recommendations", tags=["recommendations"], sync_to_thread=True, status_code=200, responses=problem_responses(400, 401, 404, 413, 429, 503))
def recommendations(index: NamedDependency[Index], data: JSONBody[RecommendationRequest]) -> RecommendationResult:
    """Practices for one municipality (a corpus city or a described profile), each with a reason."""
    return recommend(index, data)


@get("/plans/{plan_id:str}", tags=["records"], responses=problem_responses(401, 404, 429, 503))
async def get_plan(request: Request[Any, Any, Any], index: NamedDependency[Index], plan_id: FromPath[str]) -> Plan:
    """One Culture and Resilience Action Plan, section by section."""
    return await run_core(request, core_get_plan, index, plan_id)


@get("/taxonomy", tags=["records"], sync_to_thread=True, responses=problem_responses(401, 429, 503))
def taxonomy(index: NamedDependency[Index]) -> dict[str, list[TermOut]]:
    """Every vocabulary and term, with synonyms and labels in the region's languages."""
    return taxonomy_terms(index)


class _SwaggerPage(SwaggerRenderPlugin):
    """Swagger UI started by a script file rather than an inline script, so the page keeps a strict
    Content-Security-Policy; the UI fetches the OpenAPI document itself."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        return (f"<!DOCTYPE html><html><head><title>{title}</title>{self.favicon}<meta charset='utf-8'>"
                f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<link href='{self.css_url}' rel='stylesheet'><script src='{self.js_url}'></script>"
                f"<script src='{self.standalone_preset_js_url}'></script></head>"
                f"<body><div id='swagger-container'></div><script src='/static/app/swagger-init.js'></script></body></html>").encode()


def _swagger_router() -> tuple[SwaggerRenderPlugin, Router]:
    """Swagger UI served from the swagger-ui-bundle package: no CDN, works offline."""
    import swagger_ui_bundle

    base = "/static/swagger-ui"
    plugin = _SwaggerPage(
        js_url=f"{base}/swagger-ui-bundle.js", css_url=f"{base}/swagger-ui.css",
        standalone_preset_js_url=f"{base}/swagger-ui-standalone-preset.js", path="/swagger",
        favicon=f"<link rel='icon' type='image/png' href='{base}/favicon-32x32.png'>",
    )
    return plugin, create_static_files_router(path=base, directories=[swagger_ui_bundle.swagger_ui_path], name="swagger-ui")


def with_html_pages(handlers: Mapping[Any, Any]) -> dict[Any, Any]:
    """Errors on web pages render a page; errors on the API stay problem details."""
    from .web import html_errors

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        def handle(request: Request[Any, Any, Any], exc: Exception) -> Any:
            page = html_errors(request, exc)
            return page if page is not None else handler(request, exc)

        return handle

    return {kind: wrap(handler) for kind, handler in handlers.items()}


def create_app(settings: Settings | None = None, make_embedder: Callable[[], Embedder] | None = None,
               watch: bool = True) -> Litestar:
    """The application; the index is opened once at start-up, in a worker thread, then watched (`watch`):
    a new build is swapped in, and pending writes are re-indexed in the background."""
    settings = settings or Settings.from_env()
    if make_embedder is None:
        from .embedding import load_embedder

        make_embedder = partial(load_embedder, settings.model, settings.batch_size, settings.threads)
    configure_logging(settings.log_format)
    service = Service(settings, make_embedder)
    app_metrics = Metrics(service)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        import anyio.to_thread

        await anyio.to_thread.run_sync(service.load)
        _warm_event_loop_thread(service)
        if watch:
            service.watch()
        try:
            yield
        finally:
            service.close()

    app = Litestar(
        route_handlers=_routes(settings.require_read_key),
        template_config=_templates(),
        lifespan=[lifespan],
        state=State({"service": service, "keys": KeyRing(settings), "metrics": app_metrics}),
        exception_handlers=with_html_pages(exception_handlers()),
        openapi_config=_openapi(),
        middleware=[_rate_limit(settings)] if settings.rate_limit > 0 else [],
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "PUT", "DELETE"],
                               allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
                               expose_headers=["X-Request-ID", "Retry-After"], max_age=600) if settings.cors_origins else None,
        request_max_body_size=settings.max_body_bytes,
    )
    app.asgi_handler = Edge(app.asgi_handler, app_metrics, settings.max_query_string)
    return app


def _warm_event_loop_thread(service: Service) -> None:
    """One search on the event loop's own thread before the first request: a lone search runs there (see
    `run_core`), and a thread's first search opens its SQLite connection and ONNX Runtime or OpenMP state."""
    from .index import WARM_UP_QUESTION

    if service.index is not None:
        core_search(service.index, SearchQuery(WARM_UP_QUESTION))


def _routes(require_read_key: bool) -> list[Any]:
    from .web import web_router

    _, static = _swagger_router()
    reads = Router(
        path="/",
        route_handlers=[search, get_practice, get_similar, list_cities, get_city, city_peers, profile_peers,
                        recommendations, get_plan, taxonomy],
        security=[{"bearer": []}] if require_read_key else [{}, {"bearer": []}],  # {}: no key needed
    )
    v1 = Router(path="/v1", route_handlers=[reads, *write_routers(require_read_key)], guards=[require_reader],
                dependencies={"index": Provide(provide_index, sync_to_thread=False)})
    return [health, ready, metrics, v1, static, web_router()]


def _templates() -> Any:
    from litestar.plugins.jinja import JinjaTemplateEngine
    from litestar.template.config import TemplateConfig

    from .web import TEMPLATES, configure_templates

    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure_templates)


def _openapi() -> OpenAPIConfig:
    swagger, _ = _swagger_router()
    return OpenAPIConfig(
        title="practice-finder", version=__version__, path="/schema",
        description=("Search, recommendations and peer matching over the good practices of the BSR Cultural Pearls programme. "
                     "Writes and /v1/admin need an admin key (`Authorization: Bearer <key>`); reads need a key only "
                     "when the service is configured so."),
        render_plugins=[JsonRenderPlugin(path="/openapi.json"), swagger],
        components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer",
                                                                         description="An admin or read key")}),
    )


def _rate_limit(settings: Settings) -> Any:
    """Per client (its key when valid, else its address), per process; health, readiness and metrics are exempt."""
    return RateLimitConfig(rate_limit=("minute", settings.rate_limit), exclude=["^/health$", "^/ready$", "^/metrics$", "^/static/"],
                           identifier_for_request=rate_limit_identity).middleware


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` (settings read when a worker starts, not at import)."""
    return create_app(Settings.from_env())
