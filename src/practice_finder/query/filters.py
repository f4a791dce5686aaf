"""Search filters over practices, checked against the taxonomy and turned into SQL.

Values within one filter are alternatives (any of them); different filters must all hold.
A taxonomy filter matches declared tags and tags found in the record's text.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields, replace
from typing import Any

from practice_finder.errors import InvalidQueryError
from practice_finder.languages import REGION_LANGUAGES
from practice_finder.models import BUDGET_BANDS, Taxonomy
from practice_finder.query.checks import check_countries, check_range

TAG_FILTERS = {
    "challenge": "challenges",
    "asset": "assets",
    "theme": "themes",
    "target_group": "target_groups",
}
# A text-derived tag counts for filtering once the record mentions the term at least this often.
TEXT_TAG_MIN_COUNT = 1
TAG_SQL = (
    "id in (select record_id from tags where record_type = 'practice' and vocabulary = ? and term in ({marks}) "
    f"and (source = 'declared' or count >= {TEXT_TAG_MIN_COUNT}))"
)


@dataclass(frozen=True)
class Filters:
    country: tuple[str, ...] = ()
    challenge: tuple[str, ...] = ()
    asset: tuple[str, ...] = ()
    theme: tuple[str, ...] = ()
    target_group: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    budget: tuple[str, ...] = ()  # budget bands (models.BUDGET_BANDS)
    population_min: int | None = None
    population_max: int | None = None
    year_from: int | None = None
    year_to: int | None = None

    def without(self, name: str) -> Filters:
        """These filters less one of those with several values (a facet is counted without its own)."""
        cleared: dict[str, Any] = {name: ()}
        return replace(self, **cleared)

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in ((), None) for f in fields(self))

    def validate(self, taxonomy: Taxonomy) -> None:
        """Raise InvalidQueryError naming the first filter that cannot be applied."""
        check_countries(self.country)
        for code in self.language:
            if code not in REGION_LANGUAGES:
                raise InvalidQueryError(
                    "language",
                    f"unknown language code {code!r}",
                    f"use one of {', '.join(REGION_LANGUAGES)}",
                )
        for band in self.budget:
            if band not in BUDGET_BANDS:
                raise InvalidQueryError(
                    "budget",
                    f"unknown budget band {band!r}",
                    f"use one of {', '.join(BUDGET_BANDS)}",
                )
        for name, vocab in TAG_FILTERS.items():
            for term in getattr(self, name):
                if not taxonomy.has(vocab, term):
                    raise InvalidQueryError(
                        name, f"unknown {vocab} id {term!r}", "see GET /v1/taxonomy for the ids"
                    )
        check_range("population", self.population_min, self.population_max, 0, 1_000_000_000)
        check_range("year", self.year_from, self.year_to, 1900, 2100)


def practice_filter_sql(filters: Filters, alias: str = "p") -> tuple[str, list[Any]]:
    """A WHERE clause over the `practices` table (aliased) and its parameters; ('', []) when unfiltered."""
    clauses: list[str] = []
    params: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        clauses.append(clause)
        params.extend(values)

    if filters.country:
        add(f"{alias}.country in ({_marks(filters.country)})", *filters.country)
    if filters.language:
        add(f"{alias}.language in ({_marks(filters.language)})", *filters.language)
    if filters.budget:
        add(f"{alias}.budget_band in ({_marks(filters.budget)})", *filters.budget)
    for name, vocab in TAG_FILTERS.items():
        terms = getattr(filters, name)
        if terms:
            add(f"{alias}." + TAG_SQL.format(marks=_marks(terms)), vocab, *terms)
    if filters.population_min is not None:
        add(f"{alias}.population >= ?", filters.population_min)
    if filters.population_max is not None:
        add(f"{alias}.population <= ?", filters.population_max)
    if filters.year_from is not None:
        add(f"{alias}.year_end >= ?", filters.year_from)
    if filters.year_to is not None:
        add(f"{alias}.year_start <= ?", filters.year_to)
    return " and ".join(clauses), params


def allowed_passages(db: sqlite3.Connection, where: str, params: list[Any]) -> list[int] | None:
    """Passage ids of the practices that pass the filters; None when nothing is filtered."""
    if not where:
        return None
    sql = f"select ps.id from passages ps join practices p on p.id = ps.record_id where ps.record_type = 'practice' and {where}"
    return [row[0] for row in db.execute(sql, params)]


def practice_rowids(db: sqlite3.Connection, where: str, params: list[Any]) -> list[int] | None:
    """SQLite rowids of the practices that pass the filters; None when nothing is filtered."""
    if not where:
        return None
    return [row[0] for row in db.execute(f"select p.rowid from practices p where {where}", params)]


def allowed_practices(db: sqlite3.Connection, filters: Filters) -> frozenset[str] | None:
    """Ids of the practices that pass the filters; None when nothing is filtered."""
    where, params = practice_filter_sql(filters)
    if not where:
        return None
    return frozenset(
        row[0] for row in db.execute(f"select p.id from practices p where {where}", params)
    )


def _marks(values: tuple[Any, ...]) -> str:
    return ",".join("?" * len(values))
