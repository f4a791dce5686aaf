"""Peer matching for mentors: comparable towns, and experienced towns that already worked on the same challenges."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any, TypeVar

import msgspec
import numpy as np

from practice_finder import i18n
from practice_finder.errors import InvalidQueryError
from practice_finder.i18n import N_
from practice_finder.query.checks import check_countries, check_k, country_codes
from practice_finder.query.handle import Index, record_vector
from practice_finder.query.profiles import (
    Profile,
    ProfileIn,
    Town,
    distance_km,
    jaccard,
    population_similarity,
    proximity,
    resolve_town,
    size_comparison,
    type_similarity,
)
from practice_finder.query.topics import relative_to_language

MODES = ("similar", "mentors")
MAX_K = 50
# Weights of the 'similar' score; they sum to 1. A component that cannot be computed (no coordinates,
# no population) is left out and the remaining weights are scaled up, so scores stay comparable.
SIMILAR_WEIGHTS: dict[str, float] = {
    "challenges": 0.30,  # Jaccard overlap of challenges
    "population": 0.20,  # log-scale size similarity
    "assets": 0.15,  # Jaccard overlap of cultural assets
    "plan": 0.15,  # cosine similarity of action plans (or profile texts)
    "type": 0.10,  # urban / town / rural
    "distance": 0.10,  # 1 / (1 + km / 500)
}
# The 'mentors' score: experience with the town's challenges first, comparability second.
MENTOR_PRACTICE_WEIGHT = 1.0  # per shared challenge per practice of the candidate town
MENTOR_PLAN_WEIGHT = 0.5  # per shared challenge in the candidate's action plan
MENTOR_PEARL_BONUS = 1.0  # a Cultural Pearl title
MENTOR_SIMILARITY_WEIGHT = 1.0  # times the 'similar' score


class Component(msgspec.Struct):
    value: float  # 0..1
    weight: float
    contribution: float


class Peer(msgspec.Struct, kw_only=True):
    city: str
    name: str
    country: str
    population: int
    settlement_type: str
    pearl_year: int | None
    score: float
    distance_km: float | None
    shared_challenges: list[str]
    shared_assets: list[str]
    components: dict[str, Component]
    reason: str
    experience: dict[str, Any] | None = None


class PeerResult(msgspec.Struct, kw_only=True):
    mode: str
    profile: Profile
    weights: dict[str, float]
    peers: list[Peer]


DEFAULT_PROFILE = msgspec.structs.asdict(ProfileIn())  # the top-level fields when none is given
DEPRECATED = msgspec.Meta(
    extra_json_schema={
        "description": "Deprecated: send the town as `profile` (or `city`), as recommendations take it.",
        "extra": {"deprecated": True},
    }
)


class PeersRequest(Town, kw_only=True, forbid_unknown_fields=True):
    """Either `city` (an id of the corpus) or `profile`, as recommendations take a town; plus which peers.

    The profile's fields at the top level (the earlier shape of this request) are still understood."""

    mode: str = "similar"
    k: int = 10
    # only towns of these countries (not `country`, which the earlier shape uses for the town's own)
    country_filter: list[str] = []
    name: Annotated[str | None, DEPRECATED] = None
    country: Annotated[str | None, DEPRECATED] = None
    population: Annotated[int | None, DEPRECATED] = None
    settlement_type: Annotated[str | None, DEPRECATED] = None
    lat: Annotated[float | None, DEPRECATED] = None
    lon: Annotated[float | None, DEPRECATED] = None
    challenges: Annotated[list[str], DEPRECATED] = []
    assets: Annotated[list[str], DEPRECATED] = []
    text: Annotated[str, DEPRECATED] = ""

    def town(self) -> Town:
        """The town asked about, from either shape; the top-level fields with `city` or `profile` are refused."""
        flat = {f: getattr(self, f) for f in ProfileIn.__struct_fields__}
        if flat == DEFAULT_PROFILE:
            return Town(city=self.city, profile=self.profile, language_prior=self.language_prior)
        if self.city is not None or self.profile is not None:
            raise InvalidQueryError(
                "body", "give the town's fields inside `profile`, not beside `city` or `profile`"
            )
        return Town(profile=ProfileIn(**flat), language_prior=self.language_prior)


def validate(mode: str, k: int, country: Sequence[str]) -> None:
    if mode not in MODES:
        raise InvalidQueryError("mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    check_k(k, MAX_K)
    check_countries(country)


def peers_for(index: Index, request: PeersRequest) -> PeerResult:
    """Peers of the town a request names (a corpus city or a described town)."""
    country = country_codes(request.country_filter)
    validate(request.mode, request.k, country)
    town = resolve_town(index, request.town())
    return find_peers(index, town.profile, town.vector, request.mode, request.k, country)


def find_peers(
    index: Index,
    profile: Profile,
    vector: np.ndarray,
    mode: str = "similar",
    k: int = 10,
    country: Sequence[str] = (),
) -> PeerResult:
    """Towns ranked for a mentor; not all from one country unless `country` asks for it. `vector` is the
    town's (see `profiles.resolve_town`)."""
    validate(mode, k, country)
    candidates = [
        c
        for c in _cities(index)
        if c["id"] != profile.city and (not country or c["country"] in country)
    ]
    plan = plan_similarities(index, vector, candidates)
    peers = [_similar(index, profile, c, p) for c, p in zip(candidates, plan, strict=True)]
    if mode == "mentors":
        peers = [p for p in (_as_mentor(index, profile, p) for p in peers) if p is not None]
    peers.sort(key=lambda p: (-p.score, p.name))
    chosen = peers[:k] if country else spread_countries(peers, k, key=lambda p: p.country)
    weights = dict(SIMILAR_WEIGHTS)
    if mode == "mentors":
        weights = {
            "practice_per_shared_challenge": MENTOR_PRACTICE_WEIGHT,
            "plan_per_shared_challenge": MENTOR_PLAN_WEIGHT,
            "pearl_title": MENTOR_PEARL_BONUS,
            "similarity": MENTOR_SIMILARITY_WEIGHT,
        }
    return PeerResult(mode=mode, profile=profile, weights=weights, peers=chosen)


T = TypeVar("T")


def spread_countries(ranked: list[T], k: int, key: Callable[[T], str]) -> list[T]:
    """The best k, with no country taking more than a third of the places while others are available."""
    cap = max(1, math.ceil(k / 3))
    chosen: list[T] = []
    held: list[T] = []
    counts: dict[str, int] = {}
    for item in ranked:
        if len(chosen) == k:
            break
        if counts.get(key(item), 0) < cap:
            chosen.append(item)
            counts[key(item)] = counts.get(key(item), 0) + 1
        else:
            held.append(item)
    chosen.extend(held[: k - len(chosen)])
    order = {id(item): i for i, item in enumerate(ranked)}
    return sorted(chosen, key=lambda item: order[id(item)])


def _cities(index: Index) -> list[dict[str, Any]]:
    rows = index.db.execute(
        "select id, name, country, population, settlement_type, lat, lon, pearl_year from cities"
    ).fetchall()
    tags = index.db.execute(
        "select t.record_id, t.vocabulary, t.term from tags t where t.record_type = 'city' and t.source = 'declared' "
        "union select p.city, t.vocabulary, t.term from tags t join plans p on p.id = t.record_id "
        "where t.record_type = 'plan' and t.source = 'declared'"
    ).fetchall()
    out = {r["id"]: {**dict(r), "challenges": set(), "assets": set()} for r in rows}
    for rid, vocab, term in tags:
        if rid in out and vocab in ("challenges", "assets"):
            out[rid][vocab].add(term)
    return list(out.values())


def _city_vector(index: Index, city_id: str) -> tuple[np.ndarray, str]:
    """A town's vector (of its first plan, else of its profile) and the language of that text."""
    plan = index.db.execute(
        "select id, language from plans where city = ? order by id limit 1", (city_id,)
    ).fetchone()
    if plan:
        return record_vector(index, "plan", plan["id"]), str(plan["language"])
    row = index.db.execute(
        "select detected_language from cities where id = ?", (city_id,)
    ).fetchone()
    return record_vector(index, "city", city_id), str(row["detected_language"] or "und")


def plan_similarities(
    index: Index, mine: np.ndarray, cities: Sequence[dict[str, Any]]
) -> list[float]:
    """The cosine of the town's vector with each candidate's plan (or profile), made comparable across the
    candidates' languages (topics.relative_to_language) and kept within 0..1."""
    if not cities:
        return []
    found = [_city_vector(index, c["id"]) for c in cities]
    raw = np.array([float(mine @ vector) for vector, _ in found])
    calibrated = relative_to_language(raw, np.array([lang for _, lang in found]))
    return [float(v) for v in np.clip(calibrated, 0.0, 1.0)]


def _similar(index: Index, profile: Profile, city: dict[str, Any], plan: float) -> Peer:
    km = distance_km(profile, city["lat"], city["lon"])
    values: dict[str, float | None] = {
        "challenges": jaccard(profile.all_challenges(), city["challenges"]),
        "population": population_similarity(profile.population, city["population"]),
        "assets": jaccard(profile.all_assets(), city["assets"]),
        "plan": plan,
        "type": type_similarity(profile.settlement_type, city["settlement_type"]),
        "distance": proximity(km),
    }
    usable = {k: v for k, v in values.items() if v is not None}
    total_weight = sum(SIMILAR_WEIGHTS[k] for k in usable)
    components = {
        k: Component(
            round(v, 3), SIMILAR_WEIGHTS[k], round(v * SIMILAR_WEIGHTS[k] / total_weight, 4)
        )
        for k, v in usable.items()
    }
    shared_c = [t for t in profile.all_challenges() if t in city["challenges"]]
    shared_a = [t for t in profile.all_assets() if t in city["assets"]]
    peer = Peer(
        city=city["id"],
        name=city["name"],
        country=city["country"],
        population=city["population"],
        settlement_type=city["settlement_type"],
        pearl_year=city["pearl_year"],
        score=round(sum(c.contribution for c in components.values()), 4),
        distance_km=km,
        shared_challenges=shared_c,
        shared_assets=shared_a,
        components=components,
        reason="",
    )
    peer.reason = similar_reason(index, profile, peer)
    return peer


# How a comparable town is introduced, per settlement type (a sentence each, for the grammar)
INTRODUCTIONS = {
    "urban": N_("%(name)s (%(country)s) is an urban municipality of %(population)s inhabitants"),
    "town": N_("%(name)s (%(country)s) is a town municipality of %(population)s inhabitants"),
    "rural": N_("%(name)s (%(country)s) is a rural municipality of %(population)s inhabitants"),
}
INTRODUCTION_UNKNOWN_TYPE = N_(
    "%(name)s (%(country)s) is a municipality of %(population)s inhabitants"
)


def similar_reason(index: Index, profile: Profile, peer: Peer) -> str:
    """Why a town is comparable, in the language of `i18n.speaking`."""
    _ = i18n.gettext
    labels = partial(i18n.term_list, index.taxonomy)
    parts = [
        _(INTRODUCTIONS.get(peer.settlement_type, INTRODUCTION_UNKNOWN_TYPE))
        % {"name": peer.name, "country": peer.country, "population": i18n.number(peer.population)}
    ]
    size = size_comparison(peer.population, profile.population)
    if size is not None:
        kind, figure = size
        parts[0] += {
            "same": _(" (about the same size as yours)"),
            "times": _(" (%(ratio)s times yours)") % {"ratio": figure},
            "share": _(" (%(share)s of yours)") % {"share": figure},
        }[kind]
    if peer.distance_km is not None:
        parts.append(_("%(km)s km away") % {"km": i18n.number(round(peer.distance_km))})
    if peer.shared_challenges:
        parts.append(
            _("shares your challenges: %(labels)s")
            % {"labels": labels("challenges", peer.shared_challenges)}
        )
    if peer.shared_assets:
        parts.append(
            _("has the same assets: %(labels)s") % {"labels": labels("assets", peer.shared_assets)}
        )
    return "; ".join(parts) + "."


def _as_mentor(index: Index, profile: Profile, peer: Peer) -> Peer | None:
    """Rescore a town by what it already did on the profile's challenges; None when it did nothing relevant."""
    wanted = set(profile.all_challenges())
    practices = []
    for row in index.db.execute(
        "select p.id, p.title, group_concat(t.term) as terms from practices p join tags t on t.record_id = p.id "
        "and t.record_type = 'practice' and t.vocabulary = 'challenges' and t.source = 'declared' where p.city = ? group by p.id",
        (peer.city,),
    ):
        shared = sorted(wanted & set(row["terms"].split(",")))
        if shared:
            practices.append({"id": row["id"], "title": row["title"], "shared_challenges": shared})
    plan_rows = index.db.execute(
        "select distinct t.term from tags t join plans p on p.id = t.record_id where t.record_type = 'plan' "
        "and t.vocabulary = 'challenges' and t.source = 'declared' and p.city = ?",
        (peer.city,),
    ).fetchall()
    plan_shared = sorted(wanted & {r["term"] for r in plan_rows})
    if not practices and not plan_shared:
        return None
    experience_score = (
        MENTOR_PRACTICE_WEIGHT * sum(len(p["shared_challenges"]) for p in practices)
        + MENTOR_PLAN_WEIGHT * len(plan_shared)
        + (MENTOR_PEARL_BONUS if peer.pearl_year else 0.0)
    )
    experience = {
        "practices": practices,
        "plan_challenges": plan_shared,
        "pearl_year": peer.pearl_year,
        "experience_score": round(experience_score, 3),
        "similarity": peer.score,
    }
    reason = mentor_reason(index, peer, practices, plan_shared)
    score = round(experience_score + MENTOR_SIMILARITY_WEIGHT * peer.score, 4)
    return msgspec.structs.replace(peer, score=score, experience=experience, reason=reason)


def mentor_reason(
    index: Index, peer: Peer, practices: list[dict[str, Any]], plan_shared: list[str]
) -> str:
    """What a town already did on the profile's challenges, then why it is comparable."""
    _ = i18n.gettext
    parts = []
    if practices:
        titles = "; ".join(f"'{p['title']}'" for p in practices[:3])
        parts.append(
            i18n.ngettext(
                "%(name)s ran %(num)d practice on your challenges (%(titles)s)",
                "%(name)s ran %(num)d practices on your challenges (%(titles)s)",
                len(practices),
            )
            % {"name": peer.name, "num": len(practices), "titles": titles}
        )
    if plan_shared:
        parts.append(
            _("its action plan addresses %(labels)s")
            % {"labels": i18n.term_list(index.taxonomy, "challenges", plan_shared)}
        )
    if peer.pearl_year:
        parts.append(_("BSR Cultural Pearl %(year)s") % {"year": peer.pearl_year})
    said = "; ".join(parts)
    return said[:1].upper() + said[1:] + ". " + peer.reason  # then how comparable it is
