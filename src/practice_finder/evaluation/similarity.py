"""Whether "similar practices" follow the topic: for each practice, the share of its k most similar
practices that share at least one challenge its authors declared, by the practice's language group.

Declared challenges are language-independent (taxonomy ids), so they tell a suggestion on the same topic
from one merely in the same language; the share of suggestions in the practice's own language is
reported beside it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from practice_finder.query.handle import Index
from practice_finder.query.reads import PracticeSummary, similar_practices

Similar = Callable[[Index, str, int], Sequence[PracticeSummary]]


def declared_challenges(index: Index) -> dict[str, frozenset[str]]:
    """Practice id -> the challenges its authors declared."""
    out: dict[str, set[str]] = {pid: set() for pid in index.practice_language}
    rows = index.db.execute(
        "select record_id, term from tags where record_type = 'practice' "
        "and vocabulary = 'challenges' and source = 'declared'"
    )
    for rid, term in rows:
        out.setdefault(str(rid), set()).add(str(term))
    return {pid: frozenset(terms) for pid, terms in out.items()}


def practice_figures(
    found: Sequence[str],
    own: frozenset[str],
    challenges: dict[str, frozenset[str]],
    language: dict[str, str],
    own_language: str,
    k: int,
) -> dict[str, float]:
    """For one practice and its suggestions (best first): the share at k that share a challenge with it,
    the mean of that share over the cut-offs 1..k, and the share at k written in its language."""
    on_topic = [bool(own & challenges.get(rid, frozenset())) for rid in found[:k]]
    same = [language.get(rid) == own_language for rid in found[:k]]
    cutoffs = [sum(on_topic[:i]) / i for i in range(1, len(on_topic) + 1)]
    return {
        "on_topic": sum(on_topic) / k,
        "on_topic_mean_over_k": sum(cutoffs) / len(cutoffs) if cutoffs else 0.0,
        "same_language": sum(same) / k,
    }


def chance(own: frozenset[str], pid: str, challenges: dict[str, frozenset[str]]) -> float:
    """The share of all other practices sharing a challenge with this one: what suggestions drawn at
    random would reach."""
    others = [c for rid, c in challenges.items() if rid != pid]
    return sum(bool(own & c) for c in others) / len(others) if others else 0.0


def topic_agreement(
    index: Index, k: int = 5, similar: Similar = similar_practices
) -> dict[str, Any]:
    """Mean figures (see `practice_figures`, plus `chance`) for the practices not in English ("other"),
    the English ones ("en") and all; practices without declared challenges are left out."""
    challenges = declared_challenges(index)
    language = index.practice_language
    groups: dict[str, list[dict[str, float]]] = {"other": [], "en": []}
    for pid in sorted(language):
        own = challenges.get(pid, frozenset())
        if not own:
            continue
        found = [p.id for p in similar(index, pid, k)]
        figures = practice_figures(found, own, challenges, language, language[pid], k)
        figures["chance"] = chance(own, pid, challenges)
        groups["en" if language[pid] == "en" else "other"].append(figures)
    groups["all"] = groups["other"] + groups["en"]
    return {name: _means(rows) for name, rows in groups.items()}


def _means(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {"practices": 0}
    return {"practices": len(rows)} | {
        key: round(statistics.fmean(r[key] for r in rows), 4) for key in rows[0]
    }
