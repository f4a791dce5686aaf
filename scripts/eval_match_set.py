"""How well the match set of a search (query/matching.py) covers the judged practices of the domain questions.

    .venv/bin/python scripts/eval_match_set.py --index /tmp/idx-e5 [--index /tmp/idx-minilm] [--calibrate]

For each build (its model) and each language (English and the nine translations in
eval/domain/translations/, judged with the English questions' judgments) it prints the mean over the
questions of the match set's precision (judged practices among those matched; an unjudged practice
counts as not relevant, so this is a lower bound), its recall (matched among those judged, any grade)
and their F1, the mean size of the set, and the same for each criterion alone (words, terms, meaning).

With --calibrate it first chooses, for each language, the meaning threshold (standard deviations above
the median of the practice's language, see matching.meaning_scores) with the best mean F1 of the whole
set, among 1.0, 1.25, ... 4.0, prints the table for matching.THRESHOLDS, and reports with those.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from practice_finder.evaluation.relevance import load_domain, load_translations
from practice_finder.query import matching
from practice_finder.query.search import SearchQuery, retrieve

sys.path.insert(0, str(Path(__file__).parent))
from eval_multilingual import open_build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRID = [1.0 + 0.25 * i for i in range(13)]


def read_questions(index: Any, questions: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per question: the practices its words and its terms match, and every candidate's meaning score."""
    out = {}
    for qid, text in questions.items():
        question = retrieve(index, SearchQuery(text)).question()
        fixed = matching.match(index, question, threshold=float("inf"))
        out[qid] = {
            "words": fixed.by["words"],
            "terms": fixed.by["terms"],
            "scores": matching.meaning_scores(index, question.vector)
            if question.vector is not None and _understood(index, question)
            else {},
        }
    return out


def _understood(index: Any, question: matching.Question) -> bool:
    """Whether the meaning criterion applies to the question (some word of it occurs, or it names a term)."""
    return matching.lexical_matches(index, question)[1] or bool(
        matching.term_matches(index, question.understood or {})
    )


def measure(
    read: dict[str, dict[str, Any]],
    judged: dict[str, dict[str, int]],
    chosen: Callable[[dict[str, Any]], set[str]],
) -> dict[str, float]:
    """Mean precision, recall, F1 and size of the sets `chosen` picks, over the judged questions."""
    rows = []
    for qid, parts in read.items():
        relevant = set(judged.get(qid, {}))
        if not relevant:
            continue
        found = chosen(parts)
        hit = len(found & relevant)
        p = hit / len(found) if found else 0.0
        r = hit / len(relevant)
        rows.append((p, r, 2 * p * r / (p + r) if hit else 0.0, len(found)))
    return {
        name: round(statistics.mean(row[i] for row in rows), 3)
        for i, name in enumerate(("precision", "recall", "F1", "size"))
    }


def whole(threshold: float) -> Callable[[dict[str, Any]], set[str]]:
    def chosen(parts: dict[str, Any]) -> set[str]:
        meaning = {rid for rid, z in parts["scores"].items() if z >= threshold}
        return set(parts["words"]) | set(parts["terms"]) | meaning

    return chosen


def only(criterion: str, threshold: float) -> Callable[[dict[str, Any]], set[str]]:
    """The practices one criterion alone matches."""

    def chosen(parts: dict[str, Any]) -> set[str]:
        if criterion == "meaning":
            return {rid for rid, z in parts["scores"].items() if z >= threshold}
        return set(parts[criterion])

    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", action="append", type=Path, required=True)
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    english, judged = load_domain(ROOT / "eval/domain")
    sets = {"en": english, **load_translations(ROOT / "eval/domain")}
    for index_dir in args.index:
        index, model, build = open_build(index_dir)
        print(f"\n{model} ({build.name})")
        thresholds = {}
        print(
            "| language | threshold | precision | recall | F1 | size | words P/R | terms P/R | meaning P/R |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for lang, questions in sets.items():
            read = read_questions(index, questions)
            if args.calibrate:
                best = max(GRID, key=lambda t: (measure(read, judged, whole(t))["F1"], t))
                thresholds[lang] = best
            limit = thresholds.get(lang, matching.threshold_for(model, lang))
            total = measure(read, judged, whole(limit))
            alone = [
                measure(read, judged, only(name, limit)) for name in ("words", "terms", "meaning")
            ]
            parts = " | ".join(f"{a['precision']:.3f} / {a['recall']:.3f}" for a in alone)
            print(
                f"| {lang} | {limit:g} | {total['precision']:.3f} | {total['recall']:.3f} | "
                f"{total['F1']:.3f} | {total['size']:.1f} | {parts} |"
            )
        if args.calibrate:
            print(f'\n"{model}": {thresholds},')


if __name__ == "__main__":
    main()
