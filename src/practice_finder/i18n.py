"""The language people read: gettext message catalogs for the pages' words and the reasons the core
writes, numbers and place names in the reader's locale (Babel), and which of the ten languages a
request asks for.

English is the source language. The catalogs are the `.po` files in `locale/<code>/LC_MESSAGES/`,
read with Babel on first use (no compiled `.mo` in the source tree). The language of the current
request is a context variable: the web edge sets it with `speaking(code)` around one call of the
core, and the core's reasons read it through `gettext`; outside any `speaking` it is English, so the
library, the CLI and the evaluation keep writing English.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from practice_finder.languages import REGION_LANGUAGES

if TYPE_CHECKING:
    from babel import Locale
    from babel.support import NullTranslations


class Labelled(Protocol):
    """What names taxonomy terms (models.Taxonomy): a term's label in a language, and which language."""

    def label_in(self, vocabulary: str, term_id: str, language: str) -> tuple[str, str]: ...


LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
UI_LANGUAGES = REGION_LANGUAGES  # the pages and the API speak every language of the region

_CURRENT: ContextVar[str] = ContextVar("practice_finder_language", default=SOURCE_LANGUAGE)


def N_(message: str) -> str:
    """Marks a constant for the catalogs (pybabel extract finds it) without translating it yet."""
    return message


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> NullTranslations:
    """The gettext translations of one language, read from its `.po` once per process; English (and
    any language without a catalog) gets the messages as written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    path = catalog_path(language)
    if language == SOURCE_LANGUAGE or language not in UI_LANGUAGES or not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy entry stays English, as gettext does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def supported(language: str | None) -> str | None:
    """The code of a UI language for `language` ('lv', 'LV', 'lv-LV', 'nb_NO'), or None."""
    if not language:
        return None
    code = language.strip().replace("_", "-").split("-")[0].lower()
    if code == "no":  # plain Norwegian: the pages are in Bokmål
        code = "nb"
    return code if code in UI_LANGUAGES else None


def negotiate(accept_language: str | None, requested: str | None = None) -> str:
    """The language of a response: an explicit `lang=` first, else the best of `Accept-Language`
    by its q values, else English. Unknown or malformed values are ignored, never an error."""
    chosen = supported(requested)
    if chosen:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        code = supported(tag)
        if code and weight > 0:
            ranked.append((-weight, position, code))
    return min(ranked)[2] if ranked else SOURCE_LANGUAGE


@contextmanager
def speaking(language: str) -> Iterator[str]:
    """Within the block, the core writes in `language` (a UI language; anything else means English)."""
    token = _CURRENT.set(supported(language) or SOURCE_LANGUAGE)
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def current() -> str:
    """The language the core writes in now."""
    return _CURRENT.get()


def gettext(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


@cache
def locale(language: str) -> Locale:
    from babel import Locale

    return Locale.parse(supported(language) or SOURCE_LANGUAGE)


def number(value: float, language: str | None = None, pattern: str | None = None) -> str:
    """A number as the reader writes it: 12,345 in English, 12 345 in Latvian, 12.345 in German."""
    from babel.numbers import format_decimal

    return format_decimal(value, format=pattern, locale=locale(language or current()))


def percent(value: float, language: str | None = None) -> str:
    """A share as the reader writes it, whole: 40% in English, 40 % in German, 40% in Latvian."""
    from babel.numbers import format_percent

    return format_percent(value, locale=locale(language or current()))


def euros(value: float, language: str | None = None) -> str:
    """An amount in euros, whole, as the reader writes it: €10,000 in English, 10 000 € in Latvian."""
    from babel.numbers import format_currency

    where = locale(language or current())
    pattern = where.currency_formats["standard"].pattern.split(";")[0].replace(".00", "")
    return format_currency(value, "EUR", pattern, locale=where, currency_digits=False)


def country_name(code: str, language: str | None = None) -> str:
    """A country (ISO 3166 alpha-2) named in the reader's language."""
    return str(locale(language or current()).territories.get(code.upper(), code))


def language_name(code: str, language: str | None = None) -> str:
    """A language (ISO 639-1) named in the reader's language ('angļu' on a Latvian page)."""
    return str(locale(language or current()).languages.get(code, code))


def endonym(code: str) -> str:
    """A language named in itself, as a language switcher lists it ('Latviešu', 'Polski')."""
    name = language_name(code, code)
    return name[:1].upper() + name[1:]


def list_of(items: list[str], language: str | None = None) -> str:
    """Items joined as the reader's language joins a list ('a, b and c', 'a, b un c')."""
    from babel.lists import format_list

    return format_list(items, locale=locale(language or current())) if items else ""


def in_sentence(label: str, language: str) -> str:
    """A label inside a sentence: lower-case first letter, except German nouns and acronyms."""
    if language == "de" or label[1:2].isupper():
        return label
    return label[:1].lower() + label[1:]


def term_list(taxonomy: Labelled, vocabulary: str, ids: list[str] | tuple[str, ...]) -> str:
    """Taxonomy terms named inside a sentence, each in the reader's language where the taxonomy has
    a label in it (else in English)."""
    language = current()
    return ", ".join(
        in_sentence(*taxonomy.label_in(vocabulary, term_id, language)) for term_id in ids
    )
