"""What one page or answer shows, made by one call: a town, a recommendation with its peers, a practice.

Each view reads every record once and works out a town's vector once (read for a corpus city, the
text encoded for a described town); recommendations and both kinds of peers share it.
"""

from __future__ import annotations

import msgspec

from practice_finder.query.handle import Index
from practice_finder.query.peers import PeerResult, find_peers
from practice_finder.query.profiles import ResolvedTown, city_town, resolve_town
from practice_finder.query.reads import (
    CityDetail,
    Contact,
    PlanDetail,
    PracticeDetail,
    PracticeSummary,
    get_city,
    get_plan,
    get_practice,
    public_contact,
    similar_practices,
)
from practice_finder.query.recommend import (
    RecommendationRequest,
    RecommendationResult,
    recommend,
    validate,
)


class TownView(msgspec.Struct, kw_only=True):
    """A corpus city with its plans, comparable towns and mentors."""

    city: CityDetail
    plans: list[PlanDetail]
    similar: PeerResult
    mentors: PeerResult
    contact: Contact | None = None  # only when the town consented to publish it


class RecommendationView(msgspec.Struct, kw_only=True):
    """Recommended practices for a town, and the towns it could learn from."""

    result: RecommendationResult
    similar: PeerResult
    mentors: PeerResult


class PracticeView(msgspec.Struct, kw_only=True):
    """A practice in full and the practices closest to it in meaning."""

    practice: PracticeDetail
    similar: list[PracticeSummary]
    contact: Contact | None = None  # only when its authors consented to publish it


def town_view(index: Index, city_id: str, similar_k: int = 6, mentors_k: int = 5) -> TownView:
    city = get_city(index, city_id)
    town = city_town(index, city)
    similar, mentors = _peers(index, town, similar_k, mentors_k)
    plans = [get_plan(index, plan["id"]) for plan in city.plans]
    contact = public_contact(index, "cities", city_id)
    return TownView(city=city, plans=plans, similar=similar, mentors=mentors, contact=contact)


def recommendation_view(
    index: Index, request: RecommendationRequest, similar_k: int = 5, mentors_k: int = 5
) -> RecommendationView:
    validate(request)
    town = resolve_town(index, request)
    result = recommend(index, request, town=town)
    similar, mentors = _peers(index, town, similar_k, mentors_k)
    return RecommendationView(result=result, similar=similar, mentors=mentors)


def practice_view(index: Index, practice_id: str, similar_k: int = 5) -> PracticeView:
    practice = get_practice(index, practice_id)
    return PracticeView(
        practice=practice,
        similar=similar_practices(index, practice_id, similar_k),
        contact=public_contact(index, "practices", practice_id),
    )


def _peers(
    index: Index, town: ResolvedTown, similar_k: int, mentors_k: int
) -> tuple[PeerResult, PeerResult]:
    """Comparable towns and mentors of one town, from its one vector."""
    return (
        find_peers(index, town.profile, town.vector, "similar", similar_k),
        find_peers(index, town.profile, town.vector, "mentors", mentors_k),
    )
