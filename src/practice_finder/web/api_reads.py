"""The read side of the JSON API: search, records, peers, recommendations, health and metrics.

Each handler parses the request, calls the core once and returns its structs. The quick reads (a
search, one record) run on the event loop itself when they are the only request the process is
serving, else in a worker thread (see `run_core`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar import Request, get, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from practice_finder import __version__, i18n
from practice_finder.build.manifest import Manifest
from practice_finder.query import peers, reads
from practice_finder.query import search as core
from practice_finder.query.checks import country_codes
from practice_finder.query.filters import Filters
from practice_finder.query.handle import Index
from practice_finder.query.peers import PeerResult, PeersRequest, peers_for
from practice_finder.query.reads import (
    CityDetail,
    CitySummary,
    PlanDetail,
    PracticeDetail,
    PracticeSummary,
    TermOut,
    similar_practices,
    taxonomy_terms,
)
from practice_finder.query.recommend import RecommendationRequest, RecommendationResult, recommend
from practice_finder.query.search import SearchQuery, SearchResult
from practice_finder.web.auth import PUBLIC, may_read, require_metrics_reader
from practice_finder.web.localize import VARY, AcceptLanguage, Lang, api_language
from practice_finder.web.metrics import Metrics
from practice_finder.web.problems import problem_responses
from practice_finder.web.serving import Service

T = TypeVar("T")


async def run_core(metrics: Metrics, fn: Callable[..., T], *args: Any) -> T:
    """Call a quick synchronous core function: on the event loop when this request is the only one the
    process is serving, else in a worker thread so that the loop goes on reading other requests.

    Handing a call to a worker thread and back takes two thread wake-ups; on the 2-vCPU machines this was
    measured on, that is about 0.7 ms of a 9 ms search (docs/benchmarks.md#what-the-figures-rest-on). An idle
    process gains that time and blocks nobody; under load every request still goes to the pool. The
    price: while a lone search runs, the loop reads nothing else (with the default multilingual model a
    long question holds it for up to about 140 ms).
    """
    if metrics.active <= 1:
        return fn(*args)
    return await sync_to_thread(fn, *args)


def _split(values: list[str] | None, upper: bool = False) -> tuple[str, ...]:
    """Repeated and comma-separated values: ?country=LV&country=EE or ?country=LV,EE."""
    out = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return country_codes(out) if upper else tuple(out)


Multi = Annotated[
    list[str] | None,
    QueryParameter(description="Repeat the parameter or separate values with commas."),
]


@get("/health", tags=["service"], sync_to_thread=False, opt=PUBLIC)
def health() -> dict[str, str]:
    """The process is up (says nothing about the index)."""
    return {"status": "ok", "version": __version__}


class Ready(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Readiness; the build, its manifest and the refused builds only to a reader (PF_REQUIRE_READ_KEY)."""

    ready: bool
    build: str | None = None
    manifest: Manifest | None = None
    # builds passed over as unusable (damaged, another model): served is an older one
    refused_builds: list[dict[str, str]] | None = None
    # searches are served, but writes are refused: the write log is damaged or ends before the build
    write_log_error: str | None = None
    # the last re-index failed (the build served is older than the corpus and the log): why, and which records
    reindex_error: str | None = None


@get(
    "/ready",
    tags=["service"],
    sync_to_thread=True,  # it reads the write log
    responses=problem_responses(503),
    opt=PUBLIC,  # a probe needs no key; the manifest needs one when reads do
)
def ready(request: Request[Any, Any, Any], service: NamedDependency[Service]) -> Ready:
    """A usable index is loaded; reports its manifest, and what does not work beside it, to readers. 503
    while none is (or while the build served turned out damaged and is being replaced)."""
    index = service.require()
    if not may_read(request):
        return Ready(ready=True)
    refused = [{"build": b, "reason": r} for b, r in service.refused]
    service.check_log()
    return Ready(
        ready=True,
        build=index.build_id,
        manifest=index.manifest,
        refused_builds=refused,
        write_log_error=service.log_problem,
        reindex_error=service.reindex_error(),
    )


@get(
    "/metrics",
    tags=["service"],
    sync_to_thread=False,
    media_type="text/plain; version=0.0.4",
    opt=PUBLIC,
    guards=[require_metrics_reader],  # its own switch, PF_REQUIRE_METRICS_KEY
    responses=problem_responses(401),
)
def metrics(metrics: NamedDependency[Metrics]) -> bytes:
    """Prometheus metrics of this process: requests and latency per route, the index served, re-indexes."""
    return metrics.render()


@get("/search", tags=["search"], responses=problem_responses(400, 401, 429, 503))
async def search(
    metrics: NamedDependency[Metrics],
    index: NamedDependency[Index],
    q: Annotated[
        str,
        QueryParameter(
            description="The challenge in your own words.", max_length=core.MAX_QUERY_CHARS
        ),
    ],
    k: Annotated[int, QueryParameter(ge=1, le=core.MAX_K)] = 10,
    offset: Annotated[int, QueryParameter(ge=0, le=10_000)] = 0,
    mode: Annotated[str, QueryParameter(description="hybrid | dense | lexical")] = "hybrid",
    country: Multi = None,
    challenge: Multi = None,
    asset: Multi = None,
    theme: Multi = None,
    target_group: Multi = None,
    language: Multi = None,
    budget: Annotated[
        list[str] | None,
        QueryParameter(
            description="Budget bands: under-10k, 10k-50k, 50k-250k, over-250k, unknown. "
            "Repeat the parameter or separate values with commas."
        ),
    ] = None,
    population_min: Annotated[int | None, QueryParameter(ge=0, le=1_000_000_000)] = None,
    population_max: Annotated[int | None, QueryParameter(ge=0, le=1_000_000_000)] = None,
    year_from: Annotated[int | None, QueryParameter(ge=1900, le=2100)] = None,
    year_to: Annotated[int | None, QueryParameter(ge=1900, le=2100)] = None,
    diversify: Annotated[
        bool, QueryParameter(description="Re-rank the page for variety (MMR).")
    ] = False,
    language_prior: Annotated[
        str | None,
        QueryParameter(
            description="The language the question is most likely written in (such as the page's: "
            "en, sv, fi, et, lv, lt, pl, de, da, nb, ru or uk); it counts when the question alone "
            "does not tell."
        ),
    ] = None,
) -> SearchResult:
    """Hybrid search over good practices, with snippets, reasons and facets.

    `total` and `facets` count the practices the question matches (a rare word of it, a taxonomy term
    it mentions, or a close meaning); each facet is counted without its own filter, so several values
    of one facet can be chosen (any of them) and different facets combine (all of them). A question
    that matches nothing has no hits and `closest`, the nearest practices, instead. `constraints` are
    what the question says of the town's size, the budget, the countries and the target groups: they
    lift the practices that meet them a little, and each names the filter it becomes."""
    filters = Filters(
        country=_split(country, upper=True),
        challenge=_split(challenge),
        asset=_split(asset),
        theme=_split(theme),
        target_group=_split(target_group),
        language=_split(language),
        budget=_split(budget),
        population_min=population_min,
        population_max=population_max,
        year_from=year_from,
        year_to=year_to,
    )
    query = SearchQuery(
        q,
        k=k,
        offset=offset,
        mode=mode,
        filters=filters,
        diversify=diversify,
        language_prior=language_prior,
    )
    return await run_core(metrics, core.search, index, query)


@get(
    "/practices/{practice_id:str}",
    tags=["records"],
    responses=problem_responses(401, 404, 429, 503),
)
async def get_practice(
    metrics: NamedDependency[Metrics], index: NamedDependency[Index], practice_id: FromPath[str]
) -> PracticeDetail:
    """One good practice, with its declared tags and the terms found in its text."""
    return await run_core(metrics, reads.get_practice, index, practice_id)


@get(
    "/practices/{practice_id:str}/similar",
    tags=["records"],
    responses=problem_responses(400, 401, 404, 429, 503),
)
async def get_similar(
    metrics: NamedDependency[Metrics],
    index: NamedDependency[Index],
    practice_id: FromPath[str],
    k: Annotated[int, QueryParameter(ge=1, le=reads.MAX_SIMILAR_K)] = 5,
) -> list[PracticeSummary]:
    """More like this: the practices closest in meaning, itself excluded."""
    return await run_core(metrics, similar_practices, index, practice_id, k)


@get(
    "/cities",
    tags=["records"],
    sync_to_thread=True,
    responses=problem_responses(400, 401, 429, 503),
)
def list_cities(
    request: Request[Any, Any, Any],
    service: NamedDependency[Service],
    index: NamedDependency[Index],
    country: Multi = None,
    pearl: FromQuery[bool | None] = None,
    population_min: Annotated[int | None, QueryParameter(ge=0, le=1_000_000_000)] = None,
    population_max: Annotated[int | None, QueryParameter(ge=0, le=1_000_000_000)] = None,
    challenge: Multi = None,
    format: Annotated[
        Literal["summary", "jsonl"], QueryParameter(description="summary | jsonl (the export)")
    ] = "summary",
) -> list[CitySummary]:
    """The municipalities of the corpus, with coordinates, size and Pearl title: all of them, or those of
    the countries given (any of them), Cultural Pearls or not (`pearl`), of a population between
    `population_min` and `population_max` (inclusive), declaring any of the challenges given (ids of
    GET /v1/taxonomy); the filters of the towns page. `format=jsonl` is the export instead: every city
    in the shape POST and PUT accept, pending writes included, as `application/x-ndjson`."""
    if format != "summary":
        from practice_finder.web.api_writes import export_response

        return export_response(request, service, "city", format)  # type: ignore[return-value]
    return reads.list_cities(
        index,
        _split(country, upper=True),
        pearl,
        (population_min, population_max),
        _split(challenge),
    )


@get("/cities/{city_id:str}", tags=["records"], responses=problem_responses(401, 404, 429, 503))
async def get_city(
    metrics: NamedDependency[Metrics], index: NamedDependency[Index], city_id: FromPath[str]
) -> CityDetail:
    """One municipality, its tags, its practices and its action plans."""
    return await run_core(metrics, reads.get_city, index, city_id)


@get(
    "/cities/{city_id:str}/peers",
    tags=["peers"],
    sync_to_thread=True,
    response_headers=[VARY],
    responses=problem_responses(400, 401, 404, 429, 503),
)
def city_peers(
    index: NamedDependency[Index],
    city_id: FromPath[str],
    mode: FromQuery[str] = "similar",
    k: Annotated[int, QueryParameter(ge=1, le=peers.MAX_K)] = 10,
    country: Multi = None,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> PeerResult:
    """Comparable towns (mode=similar) or experienced towns to learn from (mode=mentors), with
    reasons in the language asked."""
    request = PeersRequest(city=city_id, mode=mode, k=k, country_filter=list(_split(country)))
    with i18n.speaking(api_language(lang, accept_language)):
        return peers_for(index, request)


@post(
    "/peers",
    tags=["peers"],
    sync_to_thread=True,
    status_code=200,
    response_headers=[VARY],
    responses=problem_responses(400, 401, 413, 429, 503),
)
def profile_peers(
    index: NamedDependency[Index],
    data: JSONBody[PeersRequest],
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> PeerResult:
    """Peers for a town: `city` (an id of the corpus) or `profile`, as recommendations take it. The
    profile's fields at the top level (the earlier shape) still work and are marked deprecated."""
    with i18n.speaking(api_language(lang, accept_language)):
        return peers_for(index, data)


@post(
    "/recommendations",
    tags=["recommendations"],
    sync_to_thread=True,
    status_code=200,
    response_headers=[VARY],
    responses=problem_responses(400, 401, 404, 413, 429, 503),
)
def recommendations(
    index: NamedDependency[Index],
    data: JSONBody[RecommendationRequest],
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> RecommendationResult:
    """Practices for one municipality (a corpus city or a described profile), each with a reason
    in the language asked."""
    with i18n.speaking(api_language(lang, accept_language)):
        return recommend(index, data)


@get("/plans/{plan_id:str}", tags=["records"], responses=problem_responses(401, 404, 429, 503))
async def get_plan(
    metrics: NamedDependency[Metrics], index: NamedDependency[Index], plan_id: FromPath[str]
) -> PlanDetail:
    """One Culture and Resilience Action Plan, section by section."""
    return await run_core(metrics, reads.get_plan, index, plan_id)


@get(
    "/taxonomy",
    tags=["records"],
    sync_to_thread=True,
    response_headers=[VARY],
    responses=problem_responses(401, 429, 503),
)
def taxonomy(
    index: NamedDependency[Index], lang: Lang = None, accept_language: AcceptLanguage = None
) -> dict[str, list[TermOut]]:
    """Every vocabulary and term, with synonyms and labels in the region's languages; `label` is
    in the language asked where the taxonomy has it (`label_language` says which)."""
    return taxonomy_terms(index, api_language(lang, accept_language))
