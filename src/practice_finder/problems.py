"""Every error of the API as RFC 9457 problem details (`application/problem+json`).

The core raises plain exceptions from errors.py; this is the one place that maps them to HTTP.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.types import ExceptionHandlersMap

from .errors import (
    IndexMismatchError,
    IndexMissingError,
    IngestLockedError,
    InvalidQueryError,
    NotFoundError,
    PracticeFinderError,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("practice_finder.api")

STATUS = {
    InvalidQueryError: (400, "invalid-parameter", "Invalid parameter"),
    NotFoundError: (404, "not-found", "Not found"),
    IndexMissingError: (503, "index-missing", "No index is loaded"),
    IndexMismatchError: (503, "index-unusable", "The index cannot be used"),
    IngestLockedError: (409, "ingest-running", "An ingest is running"),
}


def problem(request: Request[Any, Any, Any], status: int, slug: str, title: str, detail: str, **extra: Any) -> Response[Any]:
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail, "instance": request.url.path}
    body.update({k: v for k, v in extra.items() if v not in (None, "")})
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON)


def _core_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, PracticeFinderError)
    status, slug, title = next((v for cls, v in STATUS.items() if isinstance(exc, cls)), (400, "bad-request", "Bad request"))
    parameter = getattr(exc, "parameter", None)
    return problem(request, status, slug, title, exc.message, parameter=parameter, hint=exc.hint)


def _validation_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Litestar's own checks (types, ranges, malformed JSON) in the same shape, naming the parameter."""
    assert isinstance(exc, ValidationException)
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    detail = first.get("message") or exc.detail
    named = re.search(r"parameter '([^']+)'", str(detail))
    parameter = first.get("key") or (named.group(1) if named else None) or ("body" if request.method in ("POST", "PUT") else None)
    if parameter == "data":  # the request body: name the field inside it when msgspec says where
        inside = re.search(r"at `\$\.([^`]+)`", str(detail))
        parameter = inside.group(1) if inside else "body"
    if parameter and detail and not str(detail).startswith(f"{parameter}:"):
        detail = f"{parameter}: {detail}"
    return problem(request, 400, "invalid-parameter", "Invalid parameter", str(detail), parameter=parameter)


def _not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return problem(request, 404, "not-found", "Not found", f"nothing at {request.url.path}", hint="see /schema/swagger for the routes")


def _http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # e.g. a body that is not JSON
        return problem(request, 400, "invalid-parameter", "Invalid parameter", f"body: {exc.detail}", parameter="body")
    return problem(request, exc.status_code, "http-error", str(exc.detail), str(exc.detail))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unexpected error on %s", request.url.path)
    return problem(request, 500, "internal-error", "Internal error", "an unexpected error occurred; it has been logged")


def exception_handlers() -> ExceptionHandlersMap:
    return {
        PracticeFinderError: _core_error,
        ValidationException: _validation_error,
        NotFoundException: _not_found,
        HTTPException: _http_error,
        Exception: _unexpected,
    }

