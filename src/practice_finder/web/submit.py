"""Submissions from towns: the page /submit, POST /v1/submissions, and the submitter's private status.

No key is needed; the store refuses more than a few submissions an hour from one address, and the page
has a honeypot field that people never see (a form that fills it is refused and nothing is stored).
Every problem is shown beside its field; the checks are the corpus records' own (corpus.submissions).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Template

from practice_finder import i18n
from practice_finder.corpus import submissions
from practice_finder.corpus.submissions import ReviewStore, Submission
from practice_finder.errors import CorpusError, TooManyAttemptsError
from practice_finder.models import BUDGET_BANDS, COUNTRIES
from practice_finder.query.handle import Index
from practice_finder.web.localize import VARY, content_language, page_context
from practice_finder.web.problems import problem_responses
from practice_finder.web.serving import Service

HONEYPOT = "homepage"  # hidden from people (CSS and aria-hidden); bots fill every field
TAG_FIELDS = ("challenges", "assets", "themes", "target_groups", "participation")
SECTIONS = ("what_happened", "outcomes", "success_factors")
TEXT_FIELDS = (
    "title",
    "municipality",
    "country",
    "population",
    "years",
    "summary",
    "budget_band",
    "resources",
    "partners",
    "language",
    "contact_person",
    "contact_email",
    "contact_website",
)


def client_address(request: Request[Any, Any, Any]) -> str:
    client = request.client
    return client.host if client else "unknown"


def form_payload(form: dict[str, Any]) -> dict[str, Any]:
    """A submission form as the JSON record it stands for (empty fields left out, so the checks say
    'required'); numbers that are not numbers are passed on as text, for the checks to name."""

    def many(name: str) -> list[str]:
        value = form.get(name) or []
        return [v for v in (value if isinstance(value, list) else [value]) if v]

    def text(name: str) -> str:
        value = form.get(name)
        return str(value[-1] if isinstance(value, list) else value or "").strip()

    payload: dict[str, Any] = {name: text(name) for name in TEXT_FIELDS if text(name)}
    if "population" in payload:
        raw = payload["population"].replace(" ", "").replace(",", "").replace(".", "")
        payload["population"] = int(raw) if raw.isdigit() else payload["population"]
    if "years" in payload:
        parts = [p.strip() for p in payload["years"].replace(";", ",").split(",") if p.strip()]
        payload["years"] = [int(p) if p.isdigit() else p for p in parts]
    if "partners" in payload:
        payload["partners"] = [p.strip() for p in payload["partners"].split(";") if p.strip()]
    payload.update({name: many(name) for name in TAG_FIELDS if many(name)})
    sections = {key: text(key) for key in SECTIONS if text(key)}
    if sections:
        payload["sections"] = sections
    payload["contact_consent"] = text("contact_consent") in ("on", "true", "yes", "1")
    return payload


def form_values(payload: dict[str, Any]) -> dict[str, Any]:
    """The inverse, to fill a form again: lists joined, sections spread into their fields."""
    values = {k: v for k, v in payload.items() if k != "sections"}
    values.update(payload.get("sections") or {})
    if isinstance(values.get("years"), list):
        values["years"] = ", ".join(str(y) for y in values["years"])
    if isinstance(values.get("partners"), list):
        values["partners"] = "; ".join(values["partners"])
    return values


def field_errors(exc: CorpusError) -> dict[str, list[str]]:
    """Every problem under the form field it belongs to (`sections.outcomes` -> `outcomes`)."""
    found: dict[str, list[str]] = {}
    for problem in exc.problems:
        found.setdefault(problem.field.removeprefix("sections."), []).append(problem.message)
    return found


def form_context(index: Index | None, **context: Any) -> dict[str, Any]:
    """What the submission form's fields need: the pick lists and the current values and errors
    (`errors_lang` is the language the errors were written in: English unless told)."""
    return {
        "errors_lang": i18n.SOURCE_LANGUAGE,
        "taxonomy": index.taxonomy if index else None,
        "tag_fields": TAG_FIELDS,
        "budget_bands": BUDGET_BANDS,
        "country_codes": list(COUNTRIES),
        "ui_languages": i18n.UI_LANGUAGES,
        "min_words": 120,
        "known_fields": (*TEXT_FIELDS, *TAG_FIELDS, *SECTIONS, "contact_consent", "form"),
        **context,
    }


def _page(request: Request[Any, Any, Any], index: Index | None, **context: Any) -> dict[str, Any]:
    return {
        **page_context(request),
        "path": request.url.path,
        "origin": str(request.base_url).rstrip("/"),
        **form_context(index, **context),
    }


@get("/submit", name="submit-page", sync_to_thread=True, include_in_schema=False)
def submit_form(request: Request[Any, Any, Any], service: NamedDependency[Service]) -> Template:
    """The empty form, in the reader's language (the record's language preset to it)."""
    context = _page(request, service.require(), form={}, errors={}, done=None)
    context["form"] = {"language": context["lang"]}
    return Template("submit.html", context=context)


@post("/submit", name="submit-send", sync_to_thread=True, include_in_schema=False, status_code=200)
def submit_send(
    request: Request[Any, Any, Any],
    service: NamedDependency[Service],
    review: NamedDependency[ReviewStore],
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template:
    """Check and store the form; on success the page gives the private status link, else the form again
    with every problem beside its field."""
    form = {k: v for k, v in data.items() if k not in ("_csrf_token", "lang")}
    index = service.require()
    context = _page(request, index, form=form_values(form_payload(form)), errors={}, done=None)
    context["errors_lang"] = context["lang"]  # the checks below write in the page's language
    _ = i18n.translations(context["lang"]).gettext
    if str(form.get(HONEYPOT) or "").strip():
        context["errors"] = {"form": [_("The form could not be accepted.")]}
        return Template("submit.html", context=context, status_code=400)
    try:
        with i18n.speaking(context["lang"]):
            done, token = submissions.submit(
                review, index.taxonomy, form_payload(form), client_address(request)
            )
    except CorpusError as exc:
        context["errors"] = field_errors(exc)
        return Template("submit.html", context=context, status_code=422)
    except TooManyAttemptsError:
        context["errors"] = {
            "form": [_("Too many submissions from this address; please try again in an hour.")]
        }
        return Template("submit.html", context=context, status_code=429)
    context.update(done=done, token=token)
    return Template("submit.html", context=context, status_code=201)


@get(
    "/submit/status/{token:str}", name="submit-status", sync_to_thread=True, include_in_schema=False
)
def submit_status(
    request: Request[Any, Any, Any], review: NamedDependency[ReviewStore], token: FromPath[str]
) -> Template:
    """What became of a submission, for whoever holds its link (no contact details shown)."""
    item = submissions.by_token(review, token)
    return Template("submit_status.html", context={**_page(request, None), "item": item})


class SubmissionReceived(msgspec.Struct, kw_only=True):
    """A stored submission: keep `status_url` private, it is the only way to follow the review."""

    number: int
    state: str
    status_url: str


class SubmissionStatus(msgspec.Struct, kw_only=True):
    number: int
    state: str
    comment: str
    practice_id: str | None
    updated_at: str


def _status(item: Submission) -> SubmissionStatus:
    return SubmissionStatus(
        number=item.number,
        state=item.state,
        comment=item.comment,
        practice_id=item.practice_id,
        updated_at=item.updated_at,
    )


@post(
    "/",
    operation_id="Submit",
    tags=["submissions"],
    sync_to_thread=True,
    status_code=201,
    security=[{}],
    responses=problem_responses(400, 413, 422, 429),
    summary="Submit a practice for review (no key needed)",
)
def api_submit(
    request: Request[Any, Any, Any],
    service: NamedDependency[Service],
    review: NamedDependency[ReviewStore],
    data: Annotated[dict[str, Any], Body(title="Submission")],
) -> SubmissionReceived:
    """The fields of a practice record as POST /v1/practices takes them, without `id` and `source` (the
    programme sets those on approval); `contact_*` fields are the town's contact. Checked like a corpus
    record: every problem is listed in `errors`. At most a few submissions an hour per address."""
    done, token = submissions.submit(
        review, service.require().taxonomy, data, client_address(request)
    )
    return SubmissionReceived(
        number=done.number, state=done.state, status_url=f"/v1/submissions/{token}"
    )


@get(
    "/{token:str}",
    operation_id="SubmissionStatus",
    tags=["submissions"],
    sync_to_thread=True,
    security=[{}],
    responses=problem_responses(404, 429),
    summary="Where the review of a submission stands (for the holder of its link)",
)
def api_status(review: NamedDependency[ReviewStore], token: str) -> SubmissionStatus:
    return _status(submissions.by_token(review, token))


def review_dependency(store: ReviewStore) -> dict[str, Provide]:
    def provide() -> ReviewStore:
        return store

    return {"review": Provide(provide, use_cache=True, sync_to_thread=False)}


def submission_routers(store: ReviewStore) -> list[Router]:
    """/submit (pages, under the CSRF check) and /v1/submissions (JSON, no cookies: no CSRF to fear)."""
    deps = review_dependency(store)
    pages = Router(
        path="/",
        route_handlers=[submit_form, submit_send, submit_status],
        dependencies=deps,
        response_headers=[VARY],
        after_request=content_language,
    )
    api = Router(
        path="/v1/submissions",
        route_handlers=[api_submit, api_status],
        dependencies=deps,
    )
    return [pages, api]
