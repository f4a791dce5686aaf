"""The schema of corpus records: which fields each kind has and what makes a value valid.

Checks collect problems instead of raising, so one run of ingest reports everything wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from practice_finder import i18n
from practice_finder.i18n import N_
from practice_finder.models import (
    BUDGET_BANDS,
    COUNTRIES,
    PLAN_STATUSES,
    SETTLEMENT_TYPES,
    Taxonomy,
)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$")
MIN_YEAR, MAX_YEAR = 1990, 2035
CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
)  # control characters but tab and line ends

# Longest value of each kind (in characters, or items for lists): a few times the longest in the shipped
# corpus (measured: id 53, title 101, summary 415, resources 358, basis 271, a body section 1,850, a
# city's description 886, partners 6 of up to 59, tags 7 per vocabulary), so a real record never meets
# them, while one field can no longer make a re-index take ten times as long (docs/reliability.md).
MAX_ID = 120
MAX_NAME = 300  # titles, names, municipalities, regions, one partner
MAX_SHORT_TEXT = 2_000  # summary, resources, basis, source
MAX_SECTION = 20_000  # one section of a practice or plan, a city's description
MAX_ITEMS = 50  # partners, years, languages
MAX_TAGS = 30  # ids of one vocabulary

Check = Callable[[Any], str | None]  # returns a problem message, or None when valid

# The messages are in the language of `i18n.speaking` (a page shows them beside its fields); outside
# it they are the English that the API, the CLI and the logs have always written.
_ = i18n.gettext


def count(value: int) -> str:
    """A count or a limit in a message: in the reader's locale (20 000 in Latvian); plain digits in
    English, so the API's and the CLI's messages read as they always have."""
    return str(value) if i18n.current() == i18n.SOURCE_LANGUAGE else i18n.number(value)


@dataclass(frozen=True)
class Field:
    """One front-matter field: whether it is required and how its value is checked."""

    name: str
    check: Check
    required: bool = True


def text_problem(value: str, limit: int) -> str | None:
    """What is wrong with a text's length or characters, if anything."""
    if len(value) > limit:
        return _("is %(length)s characters long; at most %(limit)s are allowed") % {
            "length": count(len(value)),
            "limit": count(limit),
        }
    if CONTROL.search(value):
        return _(
            "contains a control character (such as NUL); only tabs and line breaks are allowed"
        )
    return None


def _text_upto(limit: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return _("must be non-empty text")
        return text_problem(value, limit)

    return check


_name = _text_upto(MAX_NAME)
_text = _text_upto(MAX_SHORT_TEXT)


def _slug(value: Any) -> str | None:
    if isinstance(value, str) and len(value) > MAX_ID:
        return text_problem(value, MAX_ID)
    if not isinstance(value, str) or not SLUG.match(value):
        return _("%(value)s is not a slug (lowercase a-z, 0-9 and single hyphens)") % {
            "value": repr(value)
        }
    return None


def _items(value: list[Any], limit: int) -> str | None:
    if len(value) <= limit:
        return None
    return _("has %(items)s items; at most %(limit)s are allowed") % {
        "items": count(len(value)),
        "limit": count(limit),
    }


def _int_between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return _("%(value)s is not a whole number") % {"value": repr(value)}
        if not low <= value <= high:
            return _outside(value, low, high)
        return None

    return check


def _float_between(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _("%(value)s is not a number") % {"value": repr(value)}
        if not low <= value <= high:
            return _outside(value, low, high)
        return None

    return check


def _outside(value: float, low: float, high: float) -> str:
    english = i18n.current() == i18n.SOURCE_LANGUAGE
    value_, low_, high_ = (str(n) if english else i18n.number(n) for n in (value, low, high))
    return _("%(value)s is outside %(low)s..%(high)s") % {
        "value": value_,
        "low": low_,
        "high": high_,
    }


def _one_of(choices: tuple[str, ...] | list[str], what: str) -> Check:
    """`what` is marked with N_ and said in the reader's language."""

    def check(value: Any) -> str | None:
        if value not in choices:
            return _("%(value)s is not a known %(what)s (expected one of: %(choices)s)") % {
                "value": repr(value),
                "what": _(what),
                "choices": ", ".join(choices),
            }
        return None

    return check


def _years(value: Any) -> str | None:
    items = value if isinstance(value, list) else [value]
    if not items:
        return _("needs at least one year")
    if len(items) > MAX_ITEMS:
        return _items(items, MAX_ITEMS)
    bad = [
        y
        for y in items
        if isinstance(y, bool) or not isinstance(y, int) or not MIN_YEAR <= y <= MAX_YEAR
    ]
    if bad:
        return _("%(value)s is not a year between %(first)s and %(last)s") % {
            "value": repr(bad[0]),
            "first": MIN_YEAR,
            "last": MAX_YEAR,
        }
    return None


def _text_list(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return _("must be a list of non-empty texts")
    return _items(value, MAX_ITEMS) or next(
        (
            _("item %(number)s %(problem)s") % {"number": count(i + 1), "problem": m}
            for i, v in enumerate(value)
            if (m := text_problem(v, MAX_NAME))
        ),
        None,
    )


def _language(value: Any) -> str | None:
    if not isinstance(value, str) or not LANGUAGE.match(value):
        return _("%(value)s is not a lowercase ISO 639 language code") % {"value": repr(value)}
    return None


def _languages(value: Any) -> str | None:
    if not isinstance(value, list):
        return _("must be a list of ISO 639 language codes")
    return _items(value, MAX_ITEMS) or next((m for m in map(_language, value) if m), None)


def _source(value: Any) -> str | None:
    if isinstance(value, str) and len(value) > MAX_SHORT_TEXT:
        return text_problem(value, MAX_SHORT_TEXT)
    if value == "illustrative" or (isinstance(value, str) and URL.match(value)):
        return None
    return _("%(value)s is neither an http(s) URL nor 'illustrative'") % {"value": repr(value)}


def _optional_year(value: Any) -> str | None:
    return None if value is None else _int_between(2020, MAX_YEAR)(value)


def tag_list(taxonomy: Taxonomy, vocabulary: str, minimum: int) -> Check:
    """A list of ids that must all exist in one vocabulary of the taxonomy."""
    known = taxonomy.vocabularies.get(vocabulary, {})

    def check(value: Any) -> str | None:
        named = {"vocabulary": vocabulary, "minimum": count(minimum)}
        if not isinstance(value, list):
            return _("must be a list of %(vocabulary)s ids") % named
        if not all(isinstance(v, str) for v in value):
            return _("must be a list of %(vocabulary)s ids (texts)") % named
        if len(value) < minimum:
            return _("needs at least %(minimum)s %(vocabulary)s id(s)") % named
        if len(value) > MAX_TAGS:
            return _items(value, MAX_TAGS)
        unknown = [v for v in value if v not in known]
        if unknown:
            return _("unknown %(vocabulary)s id %(value)s (see corpus/taxonomy.yaml)") % {
                **named,
                "value": repr(unknown[0]),
            }
        return None

    return check


def _tag_fields(taxonomy: Taxonomy, minimums: Mapping[str, int]) -> list[Field]:
    return [
        Field(vocab, tag_list(taxonomy, vocab, minimum), required=minimum > 0)
        for vocab, minimum in minimums.items()
    ]


COUNTRY = _one_of(list(COUNTRIES), N_("country code"))


def practice_fields(taxonomy: Taxonomy) -> list[Field]:
    tags = {"challenges": 1, "assets": 1, "themes": 1, "target_groups": 1, "participation": 0}
    return [
        Field("id", _slug),
        Field("title", _name),
        Field("municipality", _name),
        Field("city", _slug, required=False),
        Field("country", COUNTRY),
        Field("population", _int_between(100, 3_000_000)),
        Field("years", _years),
        *contact_fields(),
        *_tag_fields(taxonomy, tags),
        Field("summary", _text),
        Field("budget_band", _one_of(BUDGET_BANDS, N_("budget band"))),
        Field("resources", _text),
        Field("partners", _text_list, required=False),
        Field("language", _language),
        Field("source", _source),
        Field("basis", _text, required=False),
    ]


def city_fields(taxonomy: Taxonomy) -> list[Field]:
    return [
        Field("id", _slug),
        Field("name", _name),
        Field("country", COUNTRY),
        Field("region", _name),
        Field("population", _int_between(100, 3_000_000)),
        Field("population_year", _int_between(2000, MAX_YEAR)),
        Field("lat", _float_between(49.0, 71.5)),
        Field("lon", _float_between(4.0, 32.0)),
        Field("settlement_type", _one_of(SETTLEMENT_TYPES, N_("settlement type"))),
        *contact_fields(),
        *_tag_fields(taxonomy, {"challenges": 1, "assets": 1}),
        Field("languages", _languages, required=False),
        Field("pearl_year", _optional_year, required=False),
    ]


def plan_fields(taxonomy: Taxonomy) -> list[Field]:
    tags = {"challenges": 1, "assets": 1, "target_groups": 0, "participation": 0, "themes": 0}
    return [
        Field("id", _slug),
        Field("city", _slug),
        Field("title", _name),
        Field("years", _years),
        Field("status", _one_of(PLAN_STATUSES, N_("plan status"))),
        *_tag_fields(taxonomy, tags),
        Field("language", _language),
        Field("source", _source),
        Field("basis", _text, required=False),
    ]


PRACTICE_SECTIONS = {
    "what_happened": "What happened",
    "outcomes": "Outcomes and evidence",
    "success_factors": "Success factors",
}
MIN_WHAT_HAPPENED_WORDS = 120


def check_fields(meta: Mapping[str, Any], spec: list[Field]) -> list[tuple[str, str]]:
    """(field, message) for every missing, invalid or unknown field."""
    problems: list[tuple[str, str]] = []
    known = {f.name for f in spec}
    for f in spec:
        value = meta.get(f.name)
        if value is None or value == "" or value == []:
            if f.required:
                problems.append((f.name, _("is required but missing")))
            continue
        message = f.check(value)
        if message:
            problems.append((f.name, message))
    for name in meta:
        if name not in known:
            problems.append(
                (
                    str(name),
                    _("is not a known field (known: %(fields)s)")
                    % {"fields": ", ".join(sorted(known))},
                )
            )
    return problems


def body_problem(text: str) -> str | None:
    """What is wrong with one section of a record's body (or a city's description), if anything."""
    return text_problem(text, MAX_SECTION)


def word_count(text: str) -> int:
    return len(re.findall(r"\w+", text))


# -- contacts: their checks never repeat the value, so no address reaches a log through an error ---------

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: Any) -> str | None:
    if not isinstance(value, str) or not EMAIL.match(value):
        return _("is not an e-mail address (name@example.org)")
    return None


def _website(value: Any) -> str | None:
    if not isinstance(value, str) or not URL.match(value):
        return _("is not an http(s) URL")
    return None


def _consent(value: Any) -> str | None:
    if not isinstance(value, bool):
        return _("must be true or false")
    return None


def _person(value: Any) -> str | None:
    return _("must be non-empty text") if _text(value) else None


def contact_fields() -> list[Field]:
    """A practice's or a town's contact (models.CONTACT_FIELDS): all optional; published only with consent."""
    return [
        Field("contact_person", _person, required=False),
        Field("contact_email", _email, required=False),
        Field("contact_website", _website, required=False),
        Field("contact_consent", _consent, required=False),
    ]
