"""The pages' language: chosen per request (`lang=`, else `Accept-Language`, else English), kept in
every link the page renders, and handed to Jinja's i18n extension and to the core.

The gettext callables installed in Jinja read the language from the template's context, so one
environment serves every language at once (no global `install_gettext_translations` per request).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter, QueryParameter
from markupsafe import Markup, escape

from practice_finder import i18n
from practice_finder.languages import NAMES
from practice_finder.models import COUNTRIES

# The language of the words an API answer writes (reasons, labels): `lang=` or `Accept-Language`
Lang = Annotated[
    str | None,
    QueryParameter(
        description="Language of labels and reasons: "
        + ", ".join(i18n.UI_LANGUAGES)
        + " (overrides Accept-Language; English by default, and for any other value).",
    ),
]
AcceptLanguage = Annotated[
    str | None,
    HeaderParameter(name="accept-language", description="Used when `lang` is not given."),
]


VARY = ResponseHeader(name="Vary", value="Accept-Language")  # for caches: the answer depends on it


async def content_language(response: Any) -> Any:
    """A page says its language in the Content-Language header too."""
    context = getattr(response, "context", None)
    if isinstance(context, dict) and context.get("lang"):
        response.headers["Content-Language"] = context["lang"]
    return response


def api_language(lang: str | None, accept_language: str | None) -> str:
    return i18n.negotiate(accept_language, lang)


def request_language(request: Any) -> str:
    """The language a request asks for: `lang=` overrides `Accept-Language`; English by default."""
    return i18n.negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))


def page_context(request: Any) -> dict[str, Any]:
    """What every template needs to speak the reader's language and keep it in its links."""
    lang = request_language(request)
    keep = lang != i18n.SOURCE_LANGUAGE or "lang" in request.query_params
    pairs = [
        (k, v)
        for k, values in request.query_params.dict().items()
        for v in values
        if k not in ("lang", "partial")
    ]
    path = request.url.path
    return {
        "lang": lang,
        "keep_lang": keep,
        "countries": {code: i18n.country_name(code, lang) for code in COUNTRIES},
        "language_names": {code: i18n.language_name(code, lang) for code in NAMES},
        "switcher": [
            {
                "code": code,
                "name": i18n.endonym(code),
                "url": path + "?" + urlencode([*pairs, ("lang", code)]),
            }
            for code in i18n.UI_LANGUAGES
        ],
    }


def _lang(context: Context) -> str:
    return str(context.get("lang") or i18n.SOURCE_LANGUAGE)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.translations(_lang(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.translations(_lang(context)).ngettext(singular, plural, n)


@pass_context
def url(
    context: Context, path: str, pairs: list[tuple[str, Any]] | None = None, **params: Any
) -> str:
    """A link on this site that keeps the page's language (and the parameters given)."""
    pairs = [*(pairs or []), *((k, v) for k, v in params.items() if v is not None)]
    if context.get("keep_lang"):
        pairs.append(("lang", _lang(context)))
    return path + ("?" + urlencode(pairs) if pairs else "")


@pass_context
def term(context: Context, vocabulary: str, term_id: str, plain: bool = False) -> str:
    """A taxonomy term's label in the page's language; an English fallback carries lang="en"."""
    taxonomy = context.get("taxonomy")
    if taxonomy is None:
        return term_id
    label, language = taxonomy.label_in(vocabulary, term_id, _lang(context))
    if plain or language == _lang(context):
        return label if plain else escape(label)
    return Markup('<span lang="{}">{}</span>').format(language, label)


@pass_context
def english(context: Context, text: str) -> Markup:
    """A message the core wrote in English (an error's detail), marked as English on other pages."""
    if _lang(context) == i18n.SOURCE_LANGUAGE or not text:
        return escape(text)
    return Markup('<span lang="en">{}</span>').format(text)


@pass_context
def number(context: Context, value: float, pattern: str | None = None) -> str:
    """A number in the page's locale: 12,345 on an English page, 12 345 on a Latvian one."""
    return i18n.number(value, _lang(context), pattern)


@pass_context
def euros(context: Context, value: float) -> str:
    return i18n.euros(value, _lang(context))


def configure(env: Any) -> None:
    """Jinja's i18n extension with language-aware callables, and the functions and filters the templates call."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    env.globals.update(url=url, term=term, english=english)
    env.filters["num"] = number
    env.filters["euros"] = euros
