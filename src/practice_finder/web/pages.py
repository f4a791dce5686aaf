"""The web pages for city officers and mentors: server-rendered, usable without JavaScript.

Every page calls the same core functions as the API and renders the result with Jinja templates;
record text is always escaped (snippets arrive escaped, with only <mark> added by the core).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Response, Template
from litestar.static_files import create_static_files_router

from practice_finder import i18n
from practice_finder.errors import InvalidQueryError, NotFoundError
from practice_finder.i18n import N_
from practice_finder.models import PLAN_SECTIONS
from practice_finder.query.checks import country_codes
from practice_finder.query.constraints import SIZE_BANDS as POPULATION_BANDS
from practice_finder.query.constraints import Constraint
from practice_finder.query.filters import Filters
from practice_finder.query.handle import Index
from practice_finder.query.profiles import ProfileIn
from practice_finder.query.reads import list_cities
from practice_finder.query.recommend import RecommendationRequest
from practice_finder.query.search import MAX_QUERY_CHARS, SearchQuery, search
from practice_finder.query.views import practice_view, recommendation_view, town_view
from practice_finder.web.auth import NO_CSRF, PUBLIC
from practice_finder.web.localize import (
    VARY,
    configure,
    content_language,
    page_context,
    request_language,
)
from practice_finder.web.serving import Service
from practice_finder.web.townmap import View, town_map

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PAGE_SIZE = 10
# the label (its numbers filled in the reader's format: `low` the least, `high` one above the most)
SIZE_LABELS = {
    "village": N_("under %(high)s"),
    "small": N_("%(low)s – %(high)s"),
    "medium": N_("%(low)s – %(high)s"),
    "large": N_("%(low)s and more"),
}
SIZE_BANDS: dict[str, tuple[str, int | None, int | None]] = {
    key: (SIZE_LABELS[key], *POPULATION_BANDS[key]) for key in POPULATION_BANDS
}
FACET_SHOWN = 8  # values of a facet shown before "show more"
EXAMPLES = [  # shown, and searched, in the reader's language
    N_("young people leave our small town, how can culture keep them"),
    N_("older people in the villages are lonely since the bus line closed"),
    N_("refugee families arrived and feel like outsiders"),
    N_("the high street is full of empty shops"),
    N_("floods and storms make people anxious"),
    N_("our wooden old town is decaying"),
]

Multi = Annotated[list[str] | None, QueryParameter()]


def _base(request: Request[Any, Any, Any], index: Index | None, **context: Any) -> dict[str, Any]:
    """What every template gets: the page's language, the taxonomy, country names, the current path."""
    return {
        **page_context(request),
        "taxonomy": index.taxonomy if index else None,
        "path": request.url.path,
        # the printed address; canonical links are root-relative, so a forged Host header changes none
        "host": request.url.netloc,
        "max_query": MAX_QUERY_CHARS,
        **context,
    }


def error_page(
    request: Request[Any, Any, Any],
    service: Service,
    status: int,
    title: str,
    message: str,
    hint: str = "",
    english: tuple[bool, bool] = (True, True),
) -> Template:
    """A page saying what went wrong (with the taxonomy's labels when an index is loaded);
    `english` says whether the message and the hint are the core's English words."""
    return Template(
        "error.html",
        context=_base(
            request,
            service.index,
            title=title,
            message=message,
            hint=hint,
            status=status,
            message_en=english[0],
            hint_en=english[1],
        ),
        status_code=status,
    )


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@get("/", name="search-page", sync_to_thread=True, include_in_schema=False, opt=NO_CSRF)
def search_page(
    request: Request[Any, Any, Any],
    index: NamedDependency[Index],
    q: FromQuery[str] = "",
    country: Multi = None,
    challenge: Multi = None,
    asset: Multi = None,
    theme: Multi = None,
    target_group: Multi = None,
    budget: Multi = None,
    language: Multi = None,
    size: FromQuery[str] = "",
    page: FromQuery[int] = 1,
    partial: FromQuery[bool] = False,
) -> Template:
    """Search: one question box, filters with counts, results with marked snippets, pages."""
    selected = {
        "country": list(country_codes(_split(country))),
        "challenge": _split(challenge),
        "asset": _split(asset),
        "theme": _split(theme),
        "target_group": _split(target_group),
        "budget": _split(budget),
        "language": _split(language),
    }
    band = SIZE_BANDS.get(size)
    filters = Filters(
        country=tuple(selected["country"]),
        challenge=tuple(selected["challenge"]),
        asset=tuple(selected["asset"]),
        theme=tuple(selected["theme"]),
        target_group=tuple(selected["target_group"]),
        budget=tuple(selected["budget"]),
        language=tuple(selected["language"]),
        population_min=band[1] if band else None,
        population_max=band[2] if band else None,
    )
    context = _base(
        request,
        index,
        q=q,
        selected=selected,
        size=size,
        sizes=SIZE_BANDS,
        examples=EXAMPLES,
        result=None,
        error=None,
        page=max(page, 1),
        pages=0,
        page_url=_page_url(request),
        search_link=search_link(request),
        constraint_url=_constraint_url(request),
        facet_shown=FACET_SHOWN,
    )
    status = 200
    if q.strip():
        try:
            with i18n.speaking(context["lang"]):
                result = search(
                    index,
                    SearchQuery(
                        q,
                        k=PAGE_SIZE,
                        offset=(max(page, 1) - 1) * PAGE_SIZE,
                        filters=filters,
                        language_prior=context[
                            "lang"
                        ],  # a short question: the page's language first
                    ),
                )
            context.update(result=result, pages=math.ceil(result.total / PAGE_SIZE))
        except InvalidQueryError as exc:
            context["error"], status = said(exc, context["lang"]), 400
    elif len(q) > 0:
        _ = i18n.translations(context["lang"]).gettext
        context["error"], status = (
            Said(_("The question is empty."), _("Describe the challenge in a few words.")),
            400,
        )
    return Template(
        "_partial.html" if partial else "search.html", context=context, status_code=status
    )


def _search_pairs(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    """The question, the filters and the language of this search, in the order asked: what its stable
    link carries."""
    query = request.scope.get("query_string", b"").decode("utf-8", "replace")
    return [
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in ("page", "partial")
    ]


def search_link(request: Request[Any, Any, Any]) -> str:
    """This search's stable link (first page): the same question and filters give the same results."""
    return "/?" + urlencode(_search_pairs(request))


def _page_url(request: Request[Any, Any, Any]) -> Any:
    """A function for the template: this search's URL on another page."""
    pairs = _search_pairs(request)

    def url(page: int) -> str:
        return "/?" + urlencode([*pairs, ("page", str(page))])

    return url


def _constraint_url(request: Request[Any, Any, Any]) -> Any:
    """A function for the template: this search with a constraint read from the question as a filter
    (None when the filter is on already)."""
    from urllib.parse import urlencode

    pairs = [
        (k, v)
        for k, values in request.query_params.dict().items()
        for v in values
        if k not in ("page", "partial")
    ]

    def url(constraint: Constraint) -> str | None:
        name = "size" if constraint.kind == "size" else constraint.kind
        added = [(name, v) for v in constraint.values if (name, v) not in pairs]
        if not added:
            return None
        kept = [(k, v) for k, v in pairs if not (name == "size" and k == "size")]
        return "/?" + urlencode([*kept, *added])

    return url


@get(
    "/practices/{practice_id:str}",
    name="practice-page",
    sync_to_thread=True,
    include_in_schema=False,
)
def practice_page(
    request: Request[Any, Any, Any], index: NamedDependency[Index], practice_id: FromPath[str]
) -> Template:
    """One practice in full, its town, and similar practices."""
    with i18n.speaking(request_language(request)):
        view = practice_view(index, practice_id)
    return Template(
        "practice.html",
        context=_base(
            request, index, practice=view.practice, similar=view.similar, contact=view.contact
        ),
    )


@get("/towns", name="towns-page", sync_to_thread=True, include_in_schema=False)
def towns_page(
    request: Request[Any, Any, Any],
    index: NamedDependency[Index],
    country: Multi = None,
    size: FromQuery[str] = "",
    pearl: FromQuery[bool] = False,
    challenge: FromQuery[str] = "",
    zoom: FromQuery[int | None] = None,
    x: FromQuery[float] = 0.5,
    y: FromQuery[float] = 0.5,
) -> Template:
    """A map of the towns (Natural Earth's outlines, drawn here) and the towns grouped by country,
    both showing the towns the filters keep; without a zoom in the address (as after choosing
    filters) the map shows those towns as closely as it can."""
    band = SIZE_BANDS.get(size)
    countries = country_codes(_split(country))
    cities = list_cities(
        index,
        tuple(countries),
        pearl=True if pearl else None,
        population=(band[1], band[2]) if band else (None, None),
        challenge=(challenge,) if challenge else (),
    )
    filters = {"country": list(countries), "size": size, "pearl": pearl, "challenge": challenge}
    context = _base(
        request,
        index,
        cities=cities,
        total=len(list_cities(index)),
        selected=filters,
        sizes=SIZE_BANDS,
        map=town_map(cities, View.fitting(cities) if zoom is None else View.of(zoom, x, y)),
        kept=_filter_pairs(filters),
    )
    return Template("towns.html", context=context)


def _filter_pairs(filters: dict[str, Any]) -> list[tuple[str, str]]:
    """The filters of /towns as address parameters (for the zoom links, which keep them)."""
    pairs = [("country", code) for code in filters["country"]]
    pairs += [(k, str(filters[k])) for k in ("size", "challenge") if filters[k]]
    return pairs + ([("pearl", "true")] if filters["pearl"] else [])


@get("/towns/{city_id:str}", name="town-page", sync_to_thread=True, include_in_schema=False)
def town_page(
    request: Request[Any, Any, Any], index: NamedDependency[Index], city_id: FromPath[str]
) -> Template:
    """A town: profile, challenges, assets, plan, practices, comparable towns and mentors, with reasons."""
    with i18n.speaking(request_language(request)):
        view = town_view(index, city_id, similar_k=6, mentors_k=5)
    context = _base(
        request,
        index,
        city=view.city,
        plans=view.plans,
        similar=view.similar,
        mentors=view.mentors,
        contact=view.contact,
        plan_headings=dict(PLAN_SECTIONS),
    )
    return Template("town.html", context=context)


@get("/recommend", name="recommend-page", sync_to_thread=True, include_in_schema=False)
def recommend_form(request: Request[Any, Any, Any], index: NamedDependency[Index]) -> Template:
    return Template(
        "recommend.html", context=_base(request, index, form={}, outcome=None, error=None)
    )


@post(
    "/recommend",
    name="recommend-submit",
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def recommend_submit(
    request: Request[Any, Any, Any],
    index: NamedDependency[Index],
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template:
    """The recommendation form: what was understood from the text, recommended practices and peers."""
    form = _form_values(data)
    context = _base(request, index, form=form, outcome=None, error=None)
    try:
        request_in = RecommendationRequest(
            profile=_profile_from_form(form, _repeated(data)), k=8, language_prior=context["lang"]
        )
        with i18n.speaking(context["lang"]):
            context["outcome"] = recommendation_view(index, request_in, similar_k=5, mentors_k=5)
        return Template("recommend.html", context=context)
    except InvalidQueryError as exc:
        context["error"] = said(exc, context["lang"])
        return Template("recommend.html", context=context, status_code=400)


class Said(NamedTuple):
    """An error as a page shows it: in the reader's words, or in the core's English (then marked);
    `field` is the form field it is about (shown beside it, which takes the focus), if any."""

    message: str
    hint: str = ""
    english: bool = False
    field: str | None = None


SINGLE_FIELDS = ("name", "country", "population", "text")  # the form's fields that take one value
REPEATED = "was sent more than once; send it once"


def said(exc: InvalidQueryError, lang: str) -> Said:
    """The invalid input a page's user can cause, in the reader's words; any other error keeps the
    core's English detail (an English page always does: it names the parameter and the limit)."""
    _ = i18n.translations(lang).gettext
    named = exc.parameter.removeprefix("profile.")
    field = named if named in SINGLE_FIELDS else None
    known = {
        "q": _("The question is too long: at most %(max)s characters."),
        "profile": _(
            "Write a few sentences about your town, or tick a challenge or a cultural asset."
        ),
        "population": _("The population must be a whole number, such as 8000."),
    }
    if exc.reason == REPEATED:
        return Said(_("This field was sent more than once; fill it in once."), field=field)
    if lang == i18n.SOURCE_LANGUAGE or exc.parameter not in known:
        return Said(exc.message, exc.hint, english=True, field=field)
    return Said(known[exc.parameter] % {"max": i18n.number(MAX_QUERY_CHARS, lang)}, field=field)


def _form_values(data: dict[str, Any]) -> dict[str, Any]:
    """The form as sent, for the page to show again: the picks as lists, every other field one value
    (the first, when a field was sent more than once)."""
    form: dict[str, Any] = {}
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        if key in ("challenges", "assets"):
            form[key] = [str(v) for v in values]
        elif key != "lang":
            form[key] = str(values[0]) if values else ""
    return form


def _repeated(data: dict[str, Any]) -> list[str]:
    """The single-valued fields sent more than once (a form of this page never does that)."""
    return [k for k in SINGLE_FIELDS if isinstance(data.get(k), list) and len(data[k]) > 1]


def _profile_from_form(form: dict[str, Any], repeated: list[str] | None = None) -> ProfileIn:
    if repeated:
        raise InvalidQueryError(repeated[0], REPEATED)

    def number(name: str) -> int | None:
        raw = str(form.get(name) or "").replace(" ", "").replace(",", "")
        if not raw:
            return None
        if not (
            raw.isascii() and raw.isdigit()
        ):  # str.isdigit alone takes "²³", which int() refuses
            raise InvalidQueryError(name, f"{form.get(name)!r} is not a whole number")
        return int(raw)

    return ProfileIn(
        name=(form.get("name") or "").strip() or None,
        country=(form.get("country") or None),
        population=number("population"),
        challenges=[c for c in form.get("challenges", []) if c],
        assets=[a for a in form.get("assets", []) if a],
        text=str(form.get("text") or ""),
    )


@get("/town", name="town-redirect", include_in_schema=False, sync_to_thread=False)
def town_redirect(city: FromQuery[str] = "", lang: FromQuery[str] = "") -> Redirect:
    """The town picker of the map page, for browsers without JavaScript (keeping the page's language)."""
    kept = i18n.supported(lang)
    return Redirect((f"/towns/{city}" if city else "/towns") + (f"?lang={kept}" if kept else ""))


def markdown_filter() -> Any:
    """Record text is Markdown (paragraphs, lists, bold); raw HTML in it is escaped, never rendered."""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    md = MarkdownIt("commonmark", {"html": False, "linkify": False})

    def render(text: str) -> Markup:
        return Markup(md.render(text or ""))  # noqa: S704 - markdown-it escapes HTML when html=False

    return render


def configure_templates(engine: Any) -> None:
    engine.engine.filters["md"] = markdown_filter()
    configure(engine.engine)


def web_router() -> Router:
    static = create_static_files_router(
        path="/static/app", directories=[STATIC], name="app-static", opt=PUBLIC
    )
    return Router(
        path="/",
        response_headers=[VARY],  # a page is in the language the browser asks for
        after_request=content_language,
        route_handlers=[
            search_page,
            practice_page,
            towns_page,
            town_page,
            recommend_form,
            recommend_submit,
            town_redirect,
            static,
        ],
    )


API_PATHS = ("/v1", "/schema", "/health", "/ready", "/metrics", "/static")  # errors there stay JSON
TITLES = {
    401: N_("A key is needed"),
    403: N_("A key is needed"),
    404: N_("Not found"),
    429: N_("Too many requests"),
    503: N_("The service is not ready"),
}
OTHER_TITLE = N_("That did not work")  # any other status


def html_errors(
    request: Request[Any, Any, Any], service: Service, exc: Exception, answer: Response[Any]
) -> Template | None:
    """An error on a web page as a page, with the status and headers (Retry-After, WWW-Authenticate) of
    `answer`, the API's problem details for it; None on the API's routes, which keep `answer`."""
    if request.url.path.startswith(API_PATHS):
        return None
    status = answer.status_code or 500
    problem = answer.content if isinstance(answer.content, dict) else {}
    _ = i18n.translations(request_language(request)).gettext
    message, hint, english = _page_words(request, exc, status, answer, _) or (
        str(problem.get("detail", "")),
        str(problem.get("hint") or ""),
        (True, True),
    )
    title = _(TITLES.get(status, OTHER_TITLE))
    page = error_page(request, service, status, title, message, hint, english)
    page.headers.update({k: v for k, v in answer.headers.items() if k.lower() != "content-type"})
    return page


def _page_words(
    request: Request[Any, Any, Any],
    exc: Exception,
    status: int,
    answer: Response[Any],
    _: Callable[[str], str],
) -> tuple[str, str, tuple[bool, bool]] | None:
    """What a page says in the reader's words: message, hint, and whether each is the core's English;
    None for the API's English detail and hint."""
    if isinstance(exc, NotFoundError):
        return exc.message, _("Go back to the search, or browse the towns."), (True, False)
    if isinstance(exc, NotFoundException):
        return _("There is no page at %(path)s.") % {"path": request.url.path}, "", (False, False)
    if isinstance(exc, ValidationException):
        return _("A value in the address is not valid."), str(exc.detail), (False, True)
    if status == 429:
        message = _(
            "Too many requests from your address in a minute: try again in %(seconds)s seconds."
        )
        return message % {"seconds": answer.headers.get("Retry-After", "60")}, "", (False, False)
    return None
