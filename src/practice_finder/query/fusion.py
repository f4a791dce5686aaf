"""Fusion: pure functions that turn the ranked lists of a search's legs into one ranking, by the legs' ranks
(reciprocal rank fusion) or by their scores, each leg's scaled to 0..1 over its own candidates."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

Scored = list[tuple[str, float]]  # a leg's practices and its own scores, best first, higher better

FUSIONS = ("scores", "ranks")  # PF_FUSION: how a search fuses its legs (see Ranking)

DEFAULT_RRF_K = 60


def ranks(ranked: Sequence[K]) -> dict[K, int]:
    """1-based rank of each id in a ranked list (first occurrence wins)."""
    out: dict[K, int] = {}
    for position, key in enumerate(ranked, start=1):
        out.setdefault(key, position)
    return out


def reciprocal_rank_fusion(
    lists: Mapping[str, Sequence[K]],
    k: int = DEFAULT_RRF_K,
    weights: Mapping[str, float] | None = None,
) -> list[tuple[K, float]]:
    """Fuse ranked lists: score(d) = sum over lists of weight / (k + rank of d). Best first, ties by first appearance."""
    scores: dict[K, float] = {}
    for name, ranked in lists.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for key, rank in ranks(ranked).items():
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    # stable: ties stay in order of first appearance
    return sorted(scores.items(), key=lambda kv: -kv[1])


def score_fusion(
    lists: Mapping[str, Sequence[tuple[K, float]]],
    weights: Mapping[str, float] | None = None,
    floors: Mapping[str, float] | None = None,
) -> list[tuple[K, float]]:
    """Fuse scored lists (key and score, best first, higher better) by their scores: each list's scores are
    scaled to 0..1 (its best 1, its lowest 0, or its floor 0 when `floors` gives one: a score with a
    natural zero, such as a sum of tag weights), weighted and summed; a key missing from a list gets
    nothing from it. Unlike ranks, scaled scores keep how far apart a leg places its candidates: a leg
    sure of its first few lifts them well above the rest, one that finds everything alike lifts none.
    Best first, ties in order of first appearance; a list whose scores are all equal gives each 1."""
    fused: dict[K, float] = {}
    for name, scored in lists.items():
        if not scored:
            continue
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        values = [score for _, score in scored]
        top = max(values)
        low = min(values) if floors is None or name not in floors else floors[name]
        span = top - low
        seen: set[K] = set()
        for key, score in scored:
            if key in seen:  # first occurrence wins, as in ranks()
                continue
            seen.add(key)
            share = (score - low) / span if span > 0 else 1.0
            fused[key] = fused.get(key, 0.0) + weight * share
    return sorted(fused.items(), key=lambda kv: -kv[1])
