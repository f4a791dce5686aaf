"""The write side of the JSON API: records from the portal, re-index and status, and export.

Writes need an admin key. An accepted write is in the write log on disk before the 202 goes out; it is
searchable once the background re-index has swapped in a build that includes it (see /v1/admin/status).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import Body, QueryParameter

from practice_finder.corpus.catalog import KINDS
from practice_finder.corpus.sheets import write_jsonl
from practice_finder.corpus.write_log import WriteResult
from practice_finder.errors import InvalidQueryError
from practice_finder.web.auth import is_admin, require_admin
from practice_finder.web.problems import problem_responses
from practice_finder.web.serving import AdminStatus, Service

EXAMPLES = {
    "practices": {
        "id": "reading-benches-example",
        "title": "Reading benches on the lake shore",
        "municipality": "Example Town",
        "country": "LV",
        "population": 9000,
        "years": [2024],
        "challenges": ["loneliness"],
        "assets": ["library"],
        "themes": ["community-building"],
        "target_groups": ["seniors"],
        "summary": "One sentence on what was done.",
        "budget_band": "under-10k",
        "resources": "Library staff time and volunteers.",
        "language": "en",
        "source": "illustrative",
        "sections": {
            "what_happened": "At least 120 words on what happened ...",
            "outcomes": "What came of it.",
            "success_factors": "What made it work.",
        },
    },
    "cities": {
        "id": "example-town",
        "name": "Example Town",
        "country": "LV",
        "region": "Vidzeme",
        "population": 9000,
        "population_year": 2024,
        "lat": 57.3,
        "lon": 25.2,
        "settlement_type": "town",
        "challenges": ["ageing"],
        "assets": ["lake"],
        "description": "A profile of the town in a few paragraphs.",
    },
    "plans": {
        "id": "example-town-curap",
        "city": "example-town",
        "title": "Culture and Resilience Action Plan",
        "years": [2025, 2026],
        "status": "draft",
        "challenges": ["ageing"],
        "assets": ["lake"],
        "language": "en",
        "source": "illustrative",
        "sections": {"local_context": "...", "challenges": "...", "goals": "..."},
    },
}
RECORD_DOC = (
    "The record as JSON: the fields of a corpus file's front matter (see corpus/README.md), plus its text: "
    "`sections` for practices and plans (one key per section), `description` for cities. "
    "It is checked exactly like a corpus file; every problem is listed in `errors`."
)


class WriteAccepted(WriteResult, frozen=True, kw_only=True):
    """A write in the log. `status`: pending (searchable after the next re-index) or unchanged (same as stored)."""

    status: str
    status_url: str = "/v1/admin/status"


class ReindexAccepted(msgspec.Struct, kw_only=True):
    requested: bool
    status_url: str = "/v1/admin/status"


def _accepted(result: WriteResult) -> WriteAccepted:
    return WriteAccepted(
        **msgspec.structs.asdict(result), status="pending" if result.changed else "unchanged"
    )


RecordBody = Annotated[dict[str, Any], Body(title="Record", description=RECORD_DOC)]


ADMIN_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]


def collection_router(collection: str, require_read_key: bool) -> Router:
    """POST /v1/<collection>, PUT and DELETE /v1/<collection>/{id}, and the export GET /v1/<collection>."""
    kind = KINDS[collection]
    name = collection.capitalize()
    guarded: dict[str, Any] = {
        "guards": [require_admin],
        "tags": ["writes"],
        "sync_to_thread": True,
        "status_code": 202,
        "security": ADMIN_SECURITY,
    }
    errors = problem_responses(400, 401, 403, 409, 413, 422, 429, 503)

    @post(
        "/",
        operation_id=f"Create{name}",
        summary=f"Add a record to {collection}",
        responses=errors,
        **guarded,
    )
    def create(service: NamedDependency[Service], data: RecordBody) -> WriteAccepted:
        """Add a record; sending the same record again is accepted and changes nothing (retries are safe)."""
        return _accepted(service.catalog.put(kind, data, create_only=True))

    param = f"{kind}_id"  # the same name as the read routes' parameter at this path

    @put(
        f"/{{{param}:str}}",
        operation_id=f"Put{name}",
        summary=f"Add or replace a record of {collection}",
        responses=errors,
        **guarded,
    )
    def replace(
        request: Request[Any, Any, Any], service: NamedDependency[Service], data: RecordBody
    ) -> WriteAccepted:
        """Add or replace the record with this id (the body's `id`, when given, must be the same)."""
        return _accepted(service.catalog.put(kind, data, record_id=request.path_params[param]))

    @delete(
        f"/{{{param}:str}}",
        operation_id=f"Delete{name}",
        summary=f"Remove a record of {collection}",
        responses=problem_responses(400, 401, 403, 404, 409, 429, 503),
        **guarded,
    )
    def remove(request: Request[Any, Any, Any], service: NamedDependency[Service]) -> WriteAccepted:
        """Remove a record (a city only when no practice or plan names it)."""
        return _accepted(service.catalog.delete(kind, request.path_params[param]))

    handlers: list[Any] = [create, replace, remove]
    if collection != "cities":  # GET /v1/cities lists summaries; its export is ?format=jsonl there
        handlers.append(_export_handler(collection, require_read_key))
    return Router(path=f"/{collection}", route_handlers=handlers)


def _export_handler(collection: str, require_read_key: bool) -> Any:
    security: list[dict[str, list[str]]] = (
        [{"bearer": []}] if require_read_key else [{}, {"bearer": []}]
    )

    @get(
        "/",
        operation_id=f"Export{collection.capitalize()}",
        tags=["export"],
        sync_to_thread=True,
        security=security,
        media_type=NDJSON,
        responses=problem_responses(400, 401, 429, 503),
        summary=f"Every record of {collection}, pending writes included",
    )
    def export(
        request: Request[Any, Any, Any],
        service: NamedDependency[Service],
        format: Annotated[
            Literal["jsonl"], QueryParameter(description="jsonl: one record per line")
        ] = "jsonl",
    ) -> Response[bytes]:
        """Everything, in the shape POST and PUT accept (one JSON object per line): the portal can take it all
        back out. The contact fields are sent only to an admin key."""
        return export_response(request, service, KINDS[collection], format)

    return export


NDJSON = "application/x-ndjson"


def export_response(
    request: Request[Any, Any, Any], service: Service, kind: str, format: str
) -> Response[bytes]:
    """NDJSON of every record (built whole: Litestar's Stream would take the route's JSON media type);
    contacts only for an admin key: the export is public unless PF_REQUIRE_READ_KEY is on."""
    if format != "jsonl":
        raise InvalidQueryError("format", f"{format!r} is not known", "use format=jsonl")
    body = write_jsonl(service.catalog.export(kind, contacts=is_admin(request)))
    return Response(content=body, media_type=NDJSON)


@post(
    "/reindex",
    operation_id="Reindex",
    tags=["admin"],
    guards=[require_admin],
    status_code=202,
    sync_to_thread=False,
    security=ADMIN_SECURITY,
    responses=problem_responses(401, 403, 429),
)
def reindex(service: NamedDependency[Service]) -> ReindexAccepted:
    """Start a full re-index in the background (a new build, even if nothing changed); follow it in the status."""
    service.request_reindex()
    return ReindexAccepted(requested=True)


@get(
    "/status",
    operation_id="AdminStatus",
    tags=["admin"],
    guards=[require_admin],
    sync_to_thread=True,
    security=ADMIN_SECURITY,
    responses=problem_responses(401, 403, 429),
)
def status(service: NamedDependency[Service]) -> AdminStatus:
    """The build served, writes not in it yet, the last re-index and any build refused as unusable."""
    return service.status()


def write_routers(require_read_key: bool) -> list[Router]:
    admin = Router(path="/admin", route_handlers=[reindex, status])
    return [admin, *(collection_router(c, require_read_key) for c in KINDS)]
