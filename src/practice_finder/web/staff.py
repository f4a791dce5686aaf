"""The staff's review pages under /staff: sign-in, the queue, one submission beside the published
practices it may duplicate, edit, approve, send back, reject, and the audit log.

Sign-ins are kept by Litestar's server-side session middleware (files in `state_dir/staff-logins`, so
every worker sees them), with a cookie that is Secure, HttpOnly, SameSite=Strict and sent only to
/staff; signing in gives the browser a new session identifier and deletes the old one, signing out
deletes it (`staff_sessions`). Every form carries Litestar's CSRF token (the app's CSRFConfig, see
`csrf_config`). Without a session every page and action answers with a redirect to the sign-in
page and does nothing.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from litestar.stores.file import FileStore

from practice_finder import i18n
from practice_finder.corpus import submissions
from practice_finder.corpus.staff_accounts import sign_in
from practice_finder.corpus.submissions import ReviewStore, Submission
from practice_finder.errors import (
    AuthenticationError,
    CorpusError,
    InvalidQueryError,
    TooManyAttemptsError,
)
from practice_finder.languages import NAMES
from practice_finder.models import COUNTRIES
from practice_finder.query.search import SearchQuery, search
from practice_finder.web.auth import NO_CSRF
from practice_finder.web.serving import Service
from practice_finder.web.staff_sessions import RenewingSessionConfig, renew_session
from practice_finder.web.submit import (
    client_address,
    field_errors,
    form_context,
    form_payload,
    form_values,
    review_dependency,
)

SESSION_COOKIE = "pf_staff"
SESSION_HOURS = 8
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


class SignInNeeded(NotAuthorizedException):
    """A staff page or action asked for without a staff session."""


def require_staff(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not connection.session.get("staff"):
        raise SignInNeeded("sign in first")


def to_sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return Redirect("/staff/sign-in", status_code=303)


def who(request: Request[Any, Any, Any]) -> str:
    return str(request.session["staff"])


def staff_page(request: Request[Any, Any, Any], **context: Any) -> dict[str, Any]:
    return {
        "lang": "en",
        "keep_lang": False,
        "switcher": [],
        "countries": {code: i18n.country_name(code, "en") for code in COUNTRIES},
        "language_names": {code: i18n.language_name(code, "en") for code in NAMES},
        "path": request.url.path,
        "staff": request.session.get("staff") if "session" in request.scope else None,
        **context,
    }


# -- signing in and out ----------------------------------------------------------------------


@get("/sign-in", name="staff-sign-in", include_in_schema=False, sync_to_thread=False)
def sign_in_form(request: Request[Any, Any, Any]) -> Template:
    return Template("staff_sign_in.html", context=staff_page(request, error=None, name=""))


@post(
    "/sign-in",
    name="staff-sign-in-send",
    include_in_schema=False,
    sync_to_thread=True,
    status_code=200,
)
def sign_in_send(
    request: Request[Any, Any, Any], review: NamedDependency[ReviewStore], data: Form
) -> Response[Any]:
    """A right name and password open a session under a new identifier (the one the browser
    brought, signed in or not, is deleted: no one who knew it holds the sign-in)."""
    name = str(data.get("name") or "").strip()
    try:
        staff = sign_in(review, name, str(data.get("password") or ""), client_address(request))
    except (AuthenticationError, TooManyAttemptsError) as exc:
        status = 429 if isinstance(exc, TooManyAttemptsError) else 401
        context = staff_page(request, error=f"{exc.message}: {exc.hint}", name=name)
        return Template("staff_sign_in.html", context=context, status_code=status)
    renew_session(request, {"staff": staff})
    return Redirect("/staff", status_code=303)


@post(
    "/sign-out",
    name="staff-sign-out",
    include_in_schema=False,
    sync_to_thread=False,
    guards=[require_staff],
)
def sign_out(request: Request[Any, Any, Any]) -> Redirect:
    """The session is deleted from the store and the browser's cookie expires."""
    request.clear_session()
    return Redirect("/staff/sign-in", status_code=303)


# -- the queue and one submission ----------------------------------------------------------------


@get("/", name="staff-queue", include_in_schema=False, sync_to_thread=True, guards=[require_staff])
def queue_page(request: Request[Any, Any, Any], review: NamedDependency[ReviewStore]) -> Template:
    items = submissions.queue(review)
    return Template("staff_queue.html", context=staff_page(request, items=items))


def possible_duplicates(service: Service, item: Submission, k: int = 5) -> list[Any]:
    """Published practices closest to the submission: a search with its title and summary."""
    index = service.index
    if index is None:
        return []
    text = f"{item.payload.get('title', '')}. {item.payload.get('summary', '')}"
    return list(search(index, SearchQuery(text[:1000], k=k)).hits)


def _review_page(
    request: Request[Any, Any, Any],
    service: Service,
    item: Submission,
    errors: dict[str, list[str]] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Template:
    context = staff_page(
        request,
        item=item,
        duplicates=possible_duplicates(service, item),
        source=item.payload.get("contact_website", ""),
    )
    context.update(
        form_context(service.index, form=form or form_values(item.payload), errors=errors or {})
    )
    return Template("staff_review.html", context=context, status_code=status)


@get(
    "/submissions/{number:int}",
    name="staff-review",
    include_in_schema=False,
    sync_to_thread=True,
    guards=[require_staff],
)
def review_page(
    request: Request[Any, Any, Any],
    service: NamedDependency[Service],
    review: NamedDependency[ReviewStore],
    number: FromPath[int],
) -> Template:
    return _review_page(request, service, submissions.by_number(review, number))


@post(
    "/submissions/{number:int}/{action:str}",
    name="staff-act",
    include_in_schema=False,
    sync_to_thread=True,
    guards=[require_staff],
    status_code=200,
)
def act(
    request: Request[Any, Any, Any],
    service: NamedDependency[Service],
    review: NamedDependency[ReviewStore],
    number: FromPath[int],
    action: FromPath[str],
    data: Form,
) -> Response[Any]:
    """edit | approve | send-back | reject; a problem shows the review page again with it."""
    try:
        _decide(service, review, number, who(request), action, data)
    except CorpusError as exc:
        item = submissions.by_number(review, number)
        shown = form_values(form_payload(data)) if action == "edit" else None
        return _review_page(request, service, item, field_errors(exc), shown, status=422)
    except InvalidQueryError as exc:
        item = submissions.by_number(review, number)
        return _review_page(request, service, item, {exc.parameter: [exc.reason]}, status=400)
    return Redirect(
        f"/staff/submissions/{number}" if action == "edit" else "/staff", status_code=303
    )


def _decide(
    service: Service,
    review: ReviewStore,
    number: int,
    staff: str,
    action: str,
    data: dict[str, Any],
) -> None:
    comment = str(data.get("comment") or "")
    if action == "edit":
        form = {k: v for k, v in data.items() if k != "_csrf_token"}
        submissions.edit(review, service.require().taxonomy, number, staff, form_payload(form))
    elif action == "approve":
        submissions.approve(review, service.catalog, number, staff, str(data.get("source") or ""))
    elif action == "send-back":
        submissions.send_back(review, number, staff, comment)
    elif action == "reject":
        submissions.reject(review, number, staff, comment)
    else:
        raise InvalidQueryError(
            "action", f"{action!r} is not one of edit, approve, send-back, reject"
        )


@get(
    "/audit",
    name="staff-audit",
    include_in_schema=False,
    sync_to_thread=True,
    guards=[require_staff],
)
def audit_page(request: Request[Any, Any, Any], review: NamedDependency[ReviewStore]) -> Template:
    return Template("staff_audit.html", context=staff_page(request, entries=review.audit_log()))


# -- wiring ------------------------------------------------------------------------------


def session_config(state_dir: Path) -> RenewingSessionConfig:
    """Secure always: the service is reached over TLS through its reverse proxy."""
    return RenewingSessionConfig(
        key=SESSION_COOKIE,
        store="staff_sessions",
        path="/staff",
        secure=True,
        httponly=True,
        samesite="strict",
        max_age=SESSION_HOURS * 3600,
    )


def session_store(state_dir: Path) -> FileStore:
    return FileStore(state_dir / "staff-logins", create_directories=True)


# Paths outside the CSRF check: all but /submit and /staff. The pattern needs a character after the
# slash, so the home page is left out by its handler's option (NO_CSRF) instead: Litestar warns that
# a pattern matching "/" "effectively disables" the middleware, which here it does not.
CSRF_EXCLUDED = r"^/(?!submit|staff)."


def csrf_config(state_dir: Path) -> CSRFConfig:
    """Litestar's double-submit CSRF check on /submit and /staff (the JSON API sends no cookies);
    the secret is made once and kept in the state folder, so every worker checks the same tokens."""
    return CSRFConfig(
        secret=_secret(state_dir),
        cookie_name="pf_csrf",
        cookie_secure=True,
        cookie_samesite="strict",
        cookie_httponly=True,
        exclude=[CSRF_EXCLUDED],
        exclude_from_csrf_key=next(iter(NO_CSRF)),
    )


def _secret(state_dir: Path) -> str:
    path = state_dir / "csrf.secret"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def staff_router(store: ReviewStore, state_dir: Path) -> Router:
    return Router(
        path="/staff",
        route_handlers=[
            sign_in_form,
            sign_in_send,
            sign_out,
            queue_page,
            review_page,
            act,
            audit_page,
        ],
        dependencies=review_dependency(store),
        middleware=[session_config(state_dir).middleware],
        exception_handlers={SignInNeeded: to_sign_in},
        include_in_schema=False,
    )
