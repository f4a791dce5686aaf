"""Rank fusion: pure functions over ranked lists of ids. Fused by rank, never by raw scores."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

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
