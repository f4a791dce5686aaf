"""Recommendations of good practices for one municipality, each with a reason a person can read.

Four ranked lists are fused by rank (RRF): practices close in meaning to the town's plan or text,
practices addressing the town's challenges, practices building on assets the town has, and
practices from comparable towns (size, type, distance). The town's own practices are left out.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import msgspec
import numpy as np

from practice_finder import i18n
from practice_finder.i18n import N_
from practice_finder.query import fusion
from practice_finder.query.checks import check_k
from practice_finder.query.filters import Filters, allowed_passages, practice_filter_sql
from practice_finder.query.handle import Index
from practice_finder.query.legs import dense_leg
from practice_finder.query.profiles import (
    Profile,
    ResolvedTown,
    Town,
    distance_km,
    estimate_settlement_type,
    population_similarity,
    proximity,
    resolve_town,
    size_comparison,
    type_similarity,
)
from practice_finder.query.reads import PracticeBase

MAX_K = 100
LEG_WEIGHTS = {"meaning": 1.0, "challenges": 1.0, "assets": 0.5, "comparable": 0.5}


class RecommendationRequest(Town, kw_only=True, forbid_unknown_fields=True):
    """Either `city` (an id of the corpus) or `profile`; plus how many and which practices."""

    k: int = 10
    country: list[str] = []
    challenge: list[str] = []
    asset: list[str] = []
    theme: list[str] = []
    target_group: list[str] = []
    language: list[str] = []
    population_min: int | None = None
    population_max: int | None = None
    year_from: int | None = None
    year_to: int | None = None

    def filters(self) -> Filters:
        return Filters(
            country=tuple(self.country),
            challenge=tuple(self.challenge),
            asset=tuple(self.asset),
            theme=tuple(self.theme),
            target_group=tuple(self.target_group),
            language=tuple(self.language),
            population_min=self.population_min,
            population_max=self.population_max,
            year_from=self.year_from,
            year_to=self.year_to,
        )


class Comparability(msgspec.Struct, kw_only=True):
    municipality: str
    population: int
    settlement_type: str
    population_similarity: float | None
    type_similarity: float | None
    distance_km: float | None


class Recommendation(PracticeBase, kw_only=True):
    score: float
    reason: str
    addresses_challenges: list[str]
    builds_on_assets: list[str]
    comparability: Comparability
    ranks: dict[str, int | None]


class RecommendationResult(msgspec.Struct, kw_only=True):
    profile: Profile
    recommendations: list[Recommendation]
    excluded_own_practices: list[str]
    weights: dict[str, float]


def validate(request: RecommendationRequest) -> None:
    """Exactly one of `city` and `profile`, and k in range (the profile is checked when resolved)."""
    request.check()
    check_k(request.k, MAX_K)


def recommend(
    index: Index,
    request: RecommendationRequest,
    depth: int | None = None,
    rrf_k: int | None = None,
    *,
    town: ResolvedTown | None = None,
) -> RecommendationResult:
    """The best k practices for the town, fused from four legs. `depth` (of the meaning leg) and `rrf_k`
    override the index's ranking settings (PF_CANDIDATES, PF_RRF_K); `town` is the request's town when
    the caller resolved it already."""
    depth = index.ranking.candidates if depth is None else depth
    rrf_k = index.ranking.rrf_k if rrf_k is None else rrf_k
    validate(request)
    town = town or resolve_town(index, request)
    profile = town.profile
    filters = request.filters()
    filters.validate(index.taxonomy)
    where, params = practice_filter_sql(filters)
    if profile.city:
        where, params = (
            (f"({where}) and " if where else "") + "(p.city is null or p.city != ?)",
            [*params, profile.city],
        )
    rows = _candidates(index, where, params)
    legs = _legs(index, profile, town.vector, rows, where, params, depth)
    fused = fusion.reciprocal_rank_fusion(legs, k=rrf_k, weights=LEG_WEIGHTS)[: request.k]
    own = (
        [
            r["id"]
            for r in index.db.execute("select id from practices where city = ?", (profile.city,))
        ]
        if profile.city
        else []
    )
    recs = [_recommendation(index, profile, rows[rid], score, legs) for rid, score in fused]
    return RecommendationResult(
        profile=profile, recommendations=recs, excluded_own_practices=own, weights=dict(LEG_WEIGHTS)
    )


def _candidates(index: Index, where: str, params: list[Any]) -> dict[str, dict[str, Any]]:
    """Every practice passing the filters, with its origin town and its tags."""
    sql = (
        "select p.id, p.title, p.municipality, p.country, p.population, p.years, p.summary, p.city, p.language, "
        "c.settlement_type, c.lat, c.lon from practices p left join cities c on c.id = p.city"
        + (f" where {where}" if where else "")
    )
    rows = {
        r["id"]: {**dict(r), "challenges": {}, "assets": {}} for r in index.db.execute(sql, params)
    }
    for r in index.db.execute(
        "select record_id, vocabulary, term, source from tags where record_type = 'practice' "
        "and vocabulary in ('challenges', 'assets')"
    ):
        if r["record_id"] in rows:
            weight = 1.0 if r["source"] == "declared" else 0.5
            tags = rows[r["record_id"]][r["vocabulary"]]
            tags[r["term"]] = max(tags.get(r["term"], 0.0), weight)
    return rows


def _overlap_leg(
    rows: dict[str, dict[str, Any]], vocab: str, wanted: list[str], tiebreak: list[str]
) -> list[str]:
    order = fusion.ranks(tiebreak)
    scored = [(rid, sum(r[vocab].get(t, 0.0) for t in wanted)) for rid, r in rows.items()]
    scored = [(rid, s) for rid, s in scored if s > 0]
    scored.sort(key=lambda x: (-x[1], order.get(x[0], len(order) + 1)))
    return [rid for rid, _ in scored]


def _comparability(profile: Profile, row: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    pop = population_similarity(profile.population, row["population"])
    kind = row["settlement_type"] or estimate_settlement_type(row["population"])
    typ = type_similarity(profile.settlement_type, kind)
    km = distance_km(profile, row["lat"], row["lon"])
    values = [v for v in (pop, typ, proximity(km)) if v is not None]
    detail = {
        "population_similarity": None if pop is None else round(pop, 3),
        "type_similarity": typ,
        "distance_km": km,
        "settlement_type": kind,
    }
    return (sum(values) / len(values) if values else 0.0), detail


def _legs(
    index: Index,
    profile: Profile,
    vector: np.ndarray,
    rows: dict[str, dict[str, Any]],
    where: str,
    params: list[Any],
    depth: int,
) -> dict[str, list[str]]:
    found = dense_leg(index, vector, depth, allowed_passages(index.db, where, params))
    meaning = [rid for rid, _ in found if rid in rows]
    legs = {
        "meaning": meaning,
        "challenges": _overlap_leg(rows, "challenges", profile.all_challenges(), meaning),
        "assets": _overlap_leg(rows, "assets", profile.all_assets(), meaning),
    }
    if profile.population or profile.lat is not None:
        scored = {rid: _comparability(profile, row)[0] for rid, row in rows.items()}
        legs["comparable"] = sorted(scored, key=lambda rid: -scored[rid])
    return legs


def _recommendation(
    index: Index, profile: Profile, row: dict[str, Any], score: float, legs: dict[str, list[str]]
) -> Recommendation:
    import json

    addressed = [t for t in profile.all_challenges() if t in row["challenges"]]
    assets = [t for t in profile.all_assets() if t in row["assets"]]
    _, detail = _comparability(profile, row)
    comparability = Comparability(
        municipality=row["municipality"], population=row["population"], **detail
    )
    ranks = {
        leg: (ranked.index(row["id"]) + 1 if row["id"] in ranked else None)
        for leg, ranked in legs.items()
    }
    return Recommendation(
        id=row["id"],
        title=row["title"],
        municipality=row["municipality"],
        country=row["country"],
        years=json.loads(row["years"]),
        summary=row["summary"],
        score=round(score, 6),
        reason=reason(index, profile, addressed, assets, comparability, ranks.get("meaning")),
        addresses_challenges=addressed,
        builds_on_assets=assets,
        comparability=comparability,
        ranks=ranks,
        city=row["city"],
        language=row["language"],
    )


# How a recommendation's origin is introduced, per settlement type (a sentence each: the articles
# and the adjective agree differently in every language)
ORIGINS = {
    "urban": N_("From %(place)s, an urban municipality of %(population)s inhabitants"),
    "town": N_("From %(place)s, a town municipality of %(population)s inhabitants"),
    "rural": N_("From %(place)s, a rural municipality of %(population)s inhabitants"),
}
ORIGIN_UNKNOWN_TYPE = N_("From %(place)s, a municipality of %(population)s inhabitants")


def reason(
    index: Index,
    profile: Profile,
    challenges: list[str],
    assets: list[str],
    comp: Comparability,
    meaning_rank: int | None,
) -> str:
    """One or two sentences a culture officer can read, in the language of `i18n.speaking`."""
    _ = i18n.gettext
    labels = partial(i18n.term_list, index.taxonomy)
    parts = []
    if challenges:
        parts.append(
            _("Addresses your challenges: %(labels)s.")
            % {"labels": labels("challenges", challenges)}
        )
    if assets:
        parts.append(
            _("Builds on assets you have: %(labels)s.") % {"labels": labels("assets", assets)}
        )
    if not challenges and not assets and meaning_rank:
        close = (
            _("Close in content to your plan (#%(rank)s by meaning).")
            if profile.city
            else _("Close in content to your description (#%(rank)s by meaning).")
        )
        parts.append(close % {"rank": meaning_rank})
    origin = _(ORIGINS.get(comp.settlement_type, ORIGIN_UNKNOWN_TYPE)) % {
        "place": comp.municipality,
        "population": i18n.number(comp.population),
    }
    size = size_comparison(comp.population, profile.population)
    if size is not None:
        kind, figure = size
        origin += {
            "same": _(", about your size"),
            "times": _(", %(ratio)s times your population") % {"ratio": figure},
            "share": _(", %(share)s of your population") % {"share": figure},
        }[kind]
    if comp.distance_km is not None:
        origin += _(", %(km)s km from you") % {"km": i18n.number(round(comp.distance_km))}
    parts.append(origin + ".")
    return " ".join(parts)
