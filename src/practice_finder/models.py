"""The records of the corpus and the taxonomy, as plain immutable structs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import msgspec

from practice_finder.i18n import N_

COUNTRIES: dict[str, str] = {
    "DK": "Denmark",
    "EE": "Estonia",
    "FI": "Finland",
    "DE": "Germany",
    "LV": "Latvia",
    "LT": "Lithuania",
    "PL": "Poland",
    "SE": "Sweden",
    "NO": "Norway",
}
VOCABULARIES = ("challenges", "assets", "themes", "target_groups", "participation")
BUDGET_BANDS = ("under-10k", "10k-50k", "50k-250k", "over-250k", "unknown")
SETTLEMENT_TYPES = ("urban", "town", "rural")
PLAN_STATUSES = ("draft", "submitted", "adopted")
# Who to ask about a practice or a town. Kept in the corpus and the write log for the programme's staff;
# published (on the record's page only) when `contact_consent` is true; never in the search text, the
# public API or the public exports (see docs/reliability.md#contacts).
CONTACT_FIELDS = ("contact_person", "contact_email", "contact_website", "contact_consent")


class Term(msgspec.Struct, frozen=True, kw_only=True):
    """One controlled-vocabulary term."""

    id: str
    vocabulary: str
    label: str
    definition: str = ""
    synonyms: tuple[str, ...] = ()
    # English wordings people type for the term ("nobody to talk to"): read in a search's question, where
    # they name what is asked, but not in plans or the practices' records, where they more often name a
    # passing detail (docs/benchmarks.md#everyday-english-wordings)
    everyday: tuple[str, ...] = ()
    labels: dict[str, tuple[str, ...]] = {}
    # the everyday wordings in the other languages, read where the English ones are
    # (docs/benchmarks.md#everyday-wordings-in-every-language)
    everyday_labels: dict[str, tuple[str, ...]] = {}

    def phrases(self, language: str = "en") -> list[str]:
        """The phrases that mean this term in a language (English: label and synonyms)."""
        if language == "en":
            return [self.label, *self.synonyms]
        return list(self.labels.get(language, ()))

    def everyday_phrases(self, language: str = "en") -> list[str]:
        """The wordings people type for this term in a language, read in a search's question only."""
        if language == "en":
            return list(self.everyday)
        return list(self.everyday_labels.get(language, ()))


class Taxonomy(msgspec.Struct, frozen=True):
    """The five vocabularies, term ids unique within each."""

    vocabularies: dict[str, dict[str, Term]]

    def terms(self) -> Iterator[Term]:
        for vocab in self.vocabularies.values():
            yield from vocab.values()

    def has(self, vocabulary: str, term_id: str) -> bool:
        return term_id in self.vocabularies.get(vocabulary, {})

    def term(self, vocabulary: str, term_id: str) -> Term:
        return self.vocabularies[vocabulary][term_id]

    def label(self, vocabulary: str, term_id: str) -> str:
        term = self.vocabularies.get(vocabulary, {}).get(term_id)
        return term.label if term else term_id

    def label_in(self, vocabulary: str, term_id: str, language: str) -> tuple[str, str]:
        """A term's first label in `language` and the language it is really in: English where the
        taxonomy has no label in that language."""
        term = self.vocabularies.get(vocabulary, {}).get(term_id)
        if term is None:
            return term_id, "en"
        localized = term.labels.get(language) if language != "en" else None
        return (localized[0], language) if localized else (term.label, "en")


class Tags(msgspec.Struct, frozen=True, kw_only=True):
    """Taxonomy ids attached to a record, per vocabulary."""

    challenges: tuple[str, ...] = ()
    assets: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    target_groups: tuple[str, ...] = ()
    participation: tuple[str, ...] = ()

    def items(self) -> Iterator[tuple[str, str]]:
        """(vocabulary, term id) pairs."""
        for vocab in VOCABULARIES:
            for term_id in getattr(self, vocab):
                yield vocab, term_id


class Practice(msgspec.Struct, frozen=True, kw_only=True):
    """A good practice: what a town did with its cultural assets, and what came of it."""

    id: str
    title: str
    municipality: str
    country: str
    population: int
    years: tuple[int, ...]
    tags: Tags
    summary: str
    what_happened: str
    outcomes: str
    success_factors: str
    budget_band: str
    resources: str
    language: str
    source: str
    city: str | None = None
    partners: tuple[str, ...] = ()
    basis: str | None = None
    contact_person: str | None = None
    contact_email: str | None = None
    contact_website: str | None = None
    contact_consent: bool = False
    path: str = ""

    def sections(self) -> list[tuple[str, str]]:
        """The record's text, section by section, in reading order."""
        return [
            ("summary", self.summary),
            ("what_happened", self.what_happened),
            ("outcomes", self.outcomes),
            ("success_factors", self.success_factors),
        ]


class City(msgspec.Struct, frozen=True, kw_only=True):
    """A municipality of the region: size, place, type, challenges and assets."""

    id: str
    name: str
    country: str
    region: str
    population: int
    population_year: int
    lat: float
    lon: float
    settlement_type: str
    tags: Tags
    description: str
    languages: tuple[str, ...] = ()
    pearl_year: int | None = None
    contact_person: str | None = None
    contact_email: str | None = None
    contact_website: str | None = None
    contact_consent: bool = False
    path: str = ""

    def sections(self) -> list[tuple[str, str]]:
        return [("description", self.description)]


PLAN_SECTIONS: tuple[tuple[str, str], ...] = (  # key, heading (translated on the pages)
    ("local_context", N_("Local context")),
    ("challenges", N_("Challenges")),
    ("goals", N_("Goals")),
    ("target_groups", N_("Target groups")),
    ("cultural_assets", N_("Cultural assets")),
    ("actions", N_("Actions")),
    ("participation", N_("Participation")),
    ("expected_outcomes", N_("Expected outcomes")),
)


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """A Culture and Resilience Action Plan (CuReAP) of one town."""

    id: str
    city: str
    title: str
    years: tuple[int, ...]
    status: str
    tags: Tags
    body: dict[str, str]
    language: str
    source: str
    basis: str | None = None
    path: str = ""

    def sections(self) -> list[tuple[str, str]]:
        return [(key, self.body.get(key, "")) for key, _ in PLAN_SECTIONS]


Record = Practice | City | Plan


def record_data(record: Record) -> dict[str, Any]:
    """The record as plain data, without where its file lies (and without contact fields left empty,
    so that a record without a contact has the same digest as before contacts existed)."""
    data: dict[str, Any] = msgspec.to_builtins(record)
    data.pop("path", None)
    for name in CONTACT_FIELDS:
        if name in data and not data[name]:
            del data[name]
    return data


def record_digest(record: Record) -> str:
    """SHA-256 of the record's content (its file's place left out): equal for the same record sent twice."""
    text = json.dumps(record_data(record), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RecordKind(msgspec.Struct, frozen=True):
    """A kind of record: its name, its plural (the store's table, the API's collection and the corpus
    folder, and the `Corpus` field that holds them) and its struct."""

    name: str
    table: str
    model: type[Practice] | type[City] | type[Plan]


RECORD_KINDS: tuple[RecordKind, ...] = (
    RecordKind("practice", "practices", Practice),
    RecordKind("city", "cities", City),
    RecordKind("plan", "plans", Plan),
)
RECORD_TYPES = tuple(kind.name for kind in RECORD_KINDS)  # 'practice', 'city', 'plan'
TABLES = {kind.name: kind.table for kind in RECORD_KINDS}  # 'practice' -> 'practices'
_KIND_OF_MODEL = {kind.model: kind.name for kind in RECORD_KINDS}


def record_type(record: Record) -> str:
    """'practice', 'city' or 'plan'."""
    return _KIND_OF_MODEL[type(record)]


class Corpus(msgspec.Struct, frozen=True):
    """Everything read from a corpus directory, already validated."""

    taxonomy: Taxonomy
    practices: tuple[Practice, ...]
    cities: tuple[City, ...]
    plans: tuple[Plan, ...]

    def records(self) -> Iterator[Record]:
        for kind in RECORD_TYPES:
            yield from self.of_kind(kind)

    def of_kind(self, kind: str) -> tuple[Record, ...]:
        """The records of one kind ('practice', 'city' or 'plan'), in id order."""
        records: tuple[Record, ...] = getattr(self, TABLES[kind])  # the fields are named by table
        return records
