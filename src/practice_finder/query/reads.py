"""Reading single records from a build: practices, cities, plans, the taxonomy, and "more like this"."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from practice_finder.build.store import decode
from practice_finder.errors import InvalidQueryError, NotFoundError
from practice_finder.models import VOCABULARIES, Term
from practice_finder.query import fusion
from practice_finder.query.checks import check_countries, check_k, check_range
from practice_finder.query.handle import Index
from practice_finder.query.legs import TAG_WEIGHTS

MAX_SIMILAR_K = 50


class TextTag(msgspec.Struct):
    term: str
    phrase: str
    count: int


class RecordTags(msgspec.Struct):
    """Tags declared by the record's authors, and terms found in its text."""

    declared: dict[str, list[str]]
    from_text: dict[str, list[TextTag]]


class PracticeBase(msgspec.Struct, kw_only=True):
    """What every answer about a practice says of it: a list entry, the record in full, a search hit and
    a recommendation extend this."""

    id: str
    title: str
    municipality: str
    country: str
    years: list[int]
    summary: str
    city: str | None = None  # the corpus city the practice comes from, when it is one
    language: str | None = None  # the language the record is written in


class PracticeSummary(PracticeBase, kw_only=True):
    score: float | None = None


class PracticeDetail(PracticeBase, kw_only=True):
    population: int
    what_happened: str
    outcomes: str
    success_factors: str
    budget_band: str
    resources: str
    partners: list[str]
    language: str  # as the record declares it
    source: str
    basis: str | None
    city_name: str | None
    tags: RecordTags
    detected_language: str | None = (
        None  # what the language detector read from the text ("und": undecided)
    )
    language_confidence: float | None = None


class CitySummary(msgspec.Struct, kw_only=True):
    id: str
    name: str
    country: str
    region: str
    population: int
    settlement_type: str
    lat: float
    lon: float
    pearl_year: int | None
    practices: int = 0
    plans: int = 0


class CityDetail(msgspec.Struct, kw_only=True):
    id: str
    name: str
    country: str
    region: str
    population: int
    population_year: int
    lat: float
    lon: float
    settlement_type: str
    languages: list[str]
    pearl_year: int | None
    description: str
    tags: RecordTags
    practices: list[PracticeSummary]
    plans: list[dict[str, Any]]


class PlanDetail(msgspec.Struct, kw_only=True):
    id: str
    city: str
    city_name: str
    title: str
    years: list[int]
    status: str
    language: str
    source: str
    basis: str | None
    sections: dict[str, str]
    tags: RecordTags


class TermOut(msgspec.Struct, kw_only=True):
    id: str
    label: str  # in the language asked where the taxonomy has it, else English
    definition: str
    synonyms: list[str]
    labels: dict[str, list[str]]
    label_language: str = "en"  # the language `label` is in
    everyday: list[str] = []  # English wordings read in a search's question only
    everyday_labels: dict[str, list[str]] = {}  # the same in the other languages


def _row(index: Index, table: str, record_id: str, what: str) -> dict[str, Any]:
    row = index.db.execute(f"select * from {table} where id = ?", (record_id,)).fetchone()
    if row is None:
        raise NotFoundError(
            f"no {what} with id {record_id!r}",
            f"list them with GET /v1/{table}" if table != "plans" else "",
        )
    return decode(row)


def record_tags(index: Index, record_type: str, record_id: str) -> RecordTags:
    declared: dict[str, list[str]] = {v: [] for v in VOCABULARIES}
    found: dict[str, list[TextTag]] = {}
    rows = index.db.execute(
        "select vocabulary, term, source, phrase, count from tags where record_type = ? and record_id = ? order by rowid",
        (record_type, record_id),
    )
    for row in rows:
        if row["source"] == "declared":
            declared.setdefault(row["vocabulary"], []).append(row["term"])
        else:
            found.setdefault(row["vocabulary"], []).append(
                TextTag(row["term"], row["phrase"], row["count"])
            )
    return RecordTags({k: v for k, v in declared.items() if v}, found)


class Contact(msgspec.Struct, kw_only=True):
    """Who to ask about a practice or a town, as its page shows it (only given with consent to publish)."""

    person: str | None = None
    email: str | None = None
    website: str | None = None


def public_contact(index: Index, table: str, record_id: str) -> Contact | None:
    """The contact of a practice or a city (`table`: practices or cities) as its page may show it: only
    with consent to publish. The API's record answers never carry it. None without one (or from a build
    made before contacts)."""
    row = index.db.execute(f"select * from {table} where id = ?", (record_id,)).fetchone()
    data = dict(row) if row is not None else {}
    if not data.get("contact_consent"):
        return None
    found = {k: data.get(f"contact_{k}") or None for k in ("person", "email", "website")}
    return Contact(**found) if any(found.values()) else None


def get_practice(index: Index, practice_id: str) -> PracticeDetail:
    row = _row(index, "practices", practice_id, "practice")
    city = (
        index.db.execute("select name from cities where id = ?", (row["city"],)).fetchone()
        if row["city"]
        else None
    )
    fields = {
        f: row[f]
        for f in PracticeDetail.__struct_fields__
        if f in row and f not in ("tags", "city_name")
    }
    return PracticeDetail(
        **fields,
        city_name=city["name"] if city else None,
        tags=record_tags(index, "practice", practice_id),
    )


def practice_summaries(
    index: Index, where: str, params: list[Any], order: str = "title"
) -> list[PracticeSummary]:
    rows = index.db.execute(
        f"select id, title, municipality, country, years, summary, city, language from practices where {where} order by {order}",
        params,
    )
    return [PracticeSummary(**decode(r)) for r in rows]


# The declared tags a similar practice may share, weighted as the search's taxonomy leg weighs them. Not the
# challenges: they are what the practice is about rather than what it does, and the yardstick of
# docs/benchmarks.md#similar-practices-across-languages, which a leg on them would only repeat.
SIMILAR_TAG_VOCABULARIES = ("assets", "themes", "target_groups", "participation")


def similar_practices(index: Index, practice_id: str, k: int = 5) -> list[PracticeSummary]:
    """Practices closest in topic to one practice, itself excluded: two rankings fused by rank, one by
    meaning with each language's mean vector taken out (see topics.py), so that suggestions follow the
    topic rather than the language, and one by the declared tags they share (taxonomy ids, the same in
    every language). The score is 1 for a practice first in both."""
    check_k(k, MAX_SIMILAR_K)
    _row(index, "practices", practice_id, "practice")
    meaning = similar_in_meaning(index, practice_id)
    legs = {"meaning": meaning, "tags": shared_tag_leg(index, practice_id, meaning)}
    rrf_k = index.ranking.rrf_k
    top = fusion.reciprocal_rank_fusion(legs, k=rrf_k)[:k]
    best = sum(1.0 / (rrf_k + 1) for ranked in legs.values() if ranked)
    by_id = (
        {
            p.id: p
            for p in practice_summaries(
                index, f"id in ({','.join('?' * len(top))})", [r for r, _ in top]
            )
        }
        if top
        else {}
    )
    return [msgspec.structs.replace(by_id[rid], score=round(score / best, 4)) for rid, score in top]


def similar_in_meaning(index: Index, practice_id: str) -> list[str]:
    """Every other practice by the best similarity of its passages to this practice's whole record, both
    with their language's mean vector taken out; none for a practice without vectors."""
    names = index.practice_ids
    position = index.practice_position.get(practice_id)
    if position is None:
        return []
    owners, _ = index.topic_space.nearest(position)
    return [names[i] for i in owners]


def shared_tag_leg(index: Index, practice_id: str, tiebreak: list[str]) -> list[str]:
    """Other practices by the weight of the declared tags (SIMILAR_TAG_VOCABULARIES) they share with this one;
    ties in the order of `tiebreak`."""
    own = record_tags(index, "practice", practice_id).declared
    scores: dict[str, float] = {}
    for vocab in SIMILAR_TAG_VOCABULARIES:
        for term in own.get(vocab, []):
            sharing = {
                rid for rid, declared in index.practice_tags.get((vocab, term), ()) if declared
            }
            for rid in sharing - {practice_id}:
                scores[rid] = scores.get(rid, 0.0) + TAG_WEIGHTS[vocab]
    order = fusion.ranks(tiebreak)
    rounded = {rid: round(score, 9) for rid, score in scores.items()}
    return sorted(rounded, key=lambda rid: (-rounded[rid], order.get(rid, len(order)), rid))


def list_cities(
    index: Index,
    country: tuple[str, ...] = (),
    pearl: bool | None = None,
    population: tuple[int | None, int | None] = (None, None),
    challenge: tuple[str, ...] = (),
) -> list[CitySummary]:
    """The towns, filtered by country (any of them), Cultural Pearl or not, population (inclusive
    bounds) and the challenges the town declares (any of them)."""
    check_countries(country)
    check_range("population", *population, 0, 1_000_000_000)
    for term in challenge:
        if not index.taxonomy.has("challenges", term):
            raise InvalidQueryError(
                "challenge", f"unknown challenges id {term!r}", "see GET /v1/taxonomy for the ids"
            )
    clauses, params = ["1 = 1"], list[Any](country)
    if country:
        clauses.append(f"c.country in ({','.join('?' * len(country))})")
    if pearl is not None:
        clauses.append("c.pearl_year is not null" if pearl else "c.pearl_year is null")
    for bound, op in zip(population, (">=", "<="), strict=True):
        if bound is not None:
            clauses.append(f"c.population {op} ?")
            params.append(bound)
    if challenge:
        clauses.append(
            "exists (select 1 from tags t where t.record_type = 'city' and t.record_id = c.id "
            "and t.vocabulary = 'challenges' and t.source = 'declared' "
            f"and t.term in ({','.join('?' * len(challenge))}))"
        )
        params.extend(challenge)
    sql = (
        "select c.id, c.name, c.country, c.region, c.population, c.settlement_type, c.lat, c.lon, c.pearl_year, "
        "(select count(*) from practices p where p.city = c.id) as practices, "
        "(select count(*) from plans l where l.city = c.id) as plans "
        f"from cities c where {' and '.join(clauses)} order by c.country, c.name"
    )
    return [CitySummary(**dict(r)) for r in index.db.execute(sql, params)]


def get_city(index: Index, city_id: str) -> CityDetail:
    row = _row(index, "cities", city_id, "city")
    plans = [
        dict(r)
        for r in index.db.execute(
            "select id, title, status, years from plans where city = ? order by id", (city_id,)
        )
    ]
    for plan in plans:
        plan["years"] = json.loads(plan["years"])
    fields = {
        f: row[f]
        for f in CityDetail.__struct_fields__
        if f in row and f not in ("tags", "practices", "plans")
    }
    return CityDetail(
        **fields,
        tags=record_tags(index, "city", city_id),
        practices=practice_summaries(index, "city = ?", [city_id]),
        plans=plans,
    )


def get_plan(index: Index, plan_id: str) -> PlanDetail:
    row = _row(index, "plans", plan_id, "plan")
    return PlanDetail(
        id=row["id"],
        city=row["city"],
        city_name=row["city_name"],
        title=row["title"],
        years=row["years"],
        status=row["status"],
        language=row["language"],
        source=row["source"],
        basis=row.get("basis"),
        sections=row["body"],
        tags=record_tags(index, "plan", plan_id),
    )


def taxonomy_terms(index: Index, language: str = "en") -> dict[str, list[TermOut]]:
    """Every term; its `label` in `language` where the taxonomy has one."""
    return {
        vocab: [_term_out(index, vocab, t, language) for t in terms.values()]
        for vocab, terms in index.taxonomy.vocabularies.items()
    }


def _term_out(index: Index, vocab: str, t: Term, language: str) -> TermOut:
    label, label_language = index.taxonomy.label_in(vocab, t.id, language)
    return TermOut(
        id=t.id,
        label=label,
        label_language=label_language,
        definition=t.definition,
        synonyms=list(t.synonyms),
        labels={k: list(v) for k, v in t.labels.items()},
        everyday=list(t.everyday),
        everyday_labels={k: list(v) for k, v in t.everyday_labels.items()},
    )
