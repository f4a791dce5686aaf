"""Every error of the API as RFC 9457 problem details (`application/problem+json`).

The core raises plain exceptions from errors.py; this is the one place that maps them to HTTP.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from practice_finder.errors import (
    AuthenticationError,
    BusyError,
    ConflictError,
    CorpusError,
    IndexMismatchError,
    IndexMissingError,
    IngestLockedError,
    InvalidQueryError,
    NotFoundError,
    PermissionDeniedError,
    PracticeFinderError,
    TooManyAttemptsError,
    WriteLogError,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("practice_finder.web.app")

STATUS = {
    InvalidQueryError: (400, "invalid-parameter", "Invalid parameter"),
    NotFoundError: (404, "not-found", "Not found"),
    IndexMissingError: (503, "index-missing", "No index is loaded"),
    IndexMismatchError: (503, "index-unusable", "The index cannot be used"),
    IngestLockedError: (409, "ingest-running", "An ingest is running"),
    WriteLogError: (503, "write-log-unusable", "The write log cannot be used"),
    ConflictError: (409, "conflict", "Conflict"),
    CorpusError: (422, "invalid-record", "The record is not valid"),
    AuthenticationError: (401, "unauthorized", "An API key is needed"),
    PermissionDeniedError: (403, "forbidden", "The key does not allow this"),
    BusyError: (503, "busy", "Too much heavy work at once"),
    TooManyAttemptsError: (429, "rate-limited", "Too many attempts"),
}


class FieldProblem(msgspec.Struct, omit_defaults=True):
    field: str
    message: str
    record: str | None = None  # a conflict: the other record the write would leave invalid


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details, the body of every error of the API."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    parameter: str | None = None
    hint: str | None = None
    errors: list[FieldProblem] | None = None  # an invalid record: every field that is wrong


DESCRIPTIONS = {
    400: "A parameter or the body cannot be used",
    401: "No API key, or not a valid one",
    403: "The key's scope does not allow this",
    404: "No such record",
    409: "Conflicts with what is stored",
    413: "The body is too large",
    422: "The record is not valid",
    429: "Too many requests from this client",
    503: (
        "No usable index is loaded, the write log cannot be used (writes and exports), or too much "
        "heavy work at once (see Retry-After)"
    ),
}


def problem_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the problem responses a route can give."""
    return {
        code: ResponseSpec(
            data_container=Problem, description=DESCRIPTIONS[code], media_type=PROBLEM_JSON
        )
        for code in codes
    }


def problem(
    request: Request[Any, Any, Any],
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    body = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extra.items() if v not in (None, "")})
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(status: int, slug: str, title: str, detail: str, instance: str) -> bytes:
    """The JSON of a problem, for answers given below the framework (the edge's 414)."""
    return msgspec.json.encode(
        Problem(
            type=f"/problems/{slug}", title=title, status=status, detail=detail, instance=instance
        )
    )


def _core_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, PracticeFinderError)
    status, slug, title = next(
        (v for cls, v in STATUS.items() if isinstance(exc, cls)),
        (400, "bad-request", "Bad request"),
    )
    parameter = getattr(exc, "parameter", None)
    errors = _field_problems(exc)
    detail = exc.message
    if isinstance(exc, CorpusError):
        detail = f"{len(exc.problems)} problem(s): " + "; ".join(
            f"{p.field}: {p.message}" for p in exc.problems[:3]
        )
    headers = _error_headers(exc)
    hint = (
        "fix the fields listed in `errors` and send the record again"
        if isinstance(exc, CorpusError)
        else exc.hint
    )
    return problem(
        request, status, slug, title, detail, headers, parameter=parameter, hint=hint, errors=errors
    )


def _field_problems(exc: PracticeFinderError) -> list[dict[str, str]] | None:
    """`errors`: every field at fault in the record sent, or in the other records a conflicting write names."""
    if isinstance(exc, CorpusError):
        return [{"field": p.field, "message": p.message} for p in exc.problems]
    if isinstance(exc, ConflictError) and exc.problems:
        return [{"record": p.path, "field": p.field, "message": p.message} for p in exc.problems]
    return None


def _error_headers(exc: PracticeFinderError) -> dict[str, str] | None:
    if isinstance(exc, AuthenticationError):
        return {"WWW-Authenticate": 'Bearer realm="practice-finder"'}
    if isinstance(exc, (BusyError, TooManyAttemptsError)):
        return {"Retry-After": str(exc.retry_after)}
    return None


def _validation_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Litestar's own checks (types, ranges, malformed JSON) in the same shape, naming the parameter."""
    assert isinstance(exc, ValidationException)
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    detail = first.get("message") or exc.detail
    named = re.search(r"parameter '([^']+)'", str(detail))
    parameter = (
        first.get("key")
        or (named.group(1) if named else None)
        or ("body" if request.method in ("POST", "PUT") else None)
    )
    if parameter == "data":  # the request body: name the field inside it when msgspec says where
        inside = re.search(r"at `\$\.([^`]+)`", str(detail))
        parameter = inside.group(1) if inside else "body"
    if parameter and detail and not str(detail).startswith(f"{parameter}:"):
        detail = f"{parameter}: {detail}"
    return problem(
        request,
        400,
        "invalid-parameter",
        "Invalid parameter",
        str(detail),
        None,
        parameter=parameter,
    )


def _not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return problem(
        request,
        404,
        "not-found",
        "Not found",
        f"nothing at {request.url.path}",
        None,
        hint="see /schema/swagger for the routes",
    )


def _http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # e.g. a body that is not JSON
        return problem(
            request,
            400,
            "invalid-parameter",
            "Invalid parameter",
            f"body: {exc.detail}",
            None,
            parameter="body",
        )
    slug = {413: "body-too-large", 429: "rate-limited", 405: "method-not-allowed"}.get(
        exc.status_code, "http-error"
    )
    headers = dict(exc.headers or {})
    if exc.status_code == 429 and "RateLimit-Reset" in headers:
        # seconds until the window lets this client in again
        headers["Retry-After"] = headers["RateLimit-Reset"]
    return problem(
        request, exc.status_code, slug, str(exc.detail), str(exc.detail), headers or None
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unexpected error on %s", request.url.path)
    return problem(
        request,
        500,
        "internal-error",
        "Internal error",
        "an unexpected error occurred; it has been logged",
    )


def exception_handlers() -> ExceptionHandlersMap:
    return {
        PracticeFinderError: _core_error,
        ValidationException: _validation_error,
        NotFoundException: _not_found,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
