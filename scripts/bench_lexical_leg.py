"""What the lexical leg's BM25 costs: FTS5 on the whole query against the phrase scores kept between
questions (query.postings), on the queries real searches make.

    .venv/bin/python scripts/bench_lexical_leg.py --index indexes [--rounds 5] [--json out.json]

Runs the 1,060 questions of both sets in English and the nine translations (one fixed shuffled order)
through `search` once, recording every BM25 query its lexical leg makes (the first pass, the feedback words'
second one). Then times those queries, per question, in alternating rounds: FTS5's own `bm25()` on the whole
query (what the leg did before), the phrase scores read cold (an empty store: each phrase read from FTS5 on
its own, then kept) and warm (every phrase kept). Checks that all three give the same practices, scores and
order, and prints the share of phrase look-ups a store that starts empty answers from what it kept over
the 1,060 questions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from practice_finder import Settings
from practice_finder.build.store import BM25_WEIGHTS
from practice_finder.query import legs, search
from practice_finder.query.handle import Index, open_as_built
from practice_finder.query.postings import PhraseScores

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import load_inputs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def recorded(index: Index, texts: list[str]) -> list[tuple[legs.LexicalTerms, int]]:
    """Every unfiltered BM25 query the searches of `texts` make: its terms and depth."""
    calls: list[tuple[legs.LexicalTerms, int]] = []
    ranked = legs.bm25_ranked

    def record(index: Index, terms: legs.LexicalTerms, depth: int, where: str, params: Any) -> Any:
        if not where:
            calls.append((terms, depth))
        return ranked(index, terms, depth, where, params)

    search.bm25_ranked = legs.bm25_ranked = record
    try:
        for text in texts:
            search.search(index, search.SearchQuery(text=text))
    finally:
        search.bm25_ranked = legs.bm25_ranked = ranked
    return calls


def fts5_whole(index: Index, terms: legs.LexicalTerms, depth: int) -> list[tuple[int, float]]:
    weights = ", ".join(str(w) for w in BM25_WEIGHTS["practices"])
    rows = index.db.execute(
        f"select rowid, -bm25(practices_fts, {weights}) as score from practices_fts "
        "where practices_fts match ? order by score desc, rowid limit ?",
        [terms.query(), depth],
    )
    return [(r[0], r[1]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "indexes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    index = open_as_built(Settings(index_dir=args.index, threads=1))
    texts = load_inputs("all")[0]  # the 1,060 questions, shuffled as bench_http.py shuffles them
    calls = recorded(index, texts)
    weights = BM25_WEIGHTS["practices"]

    def store() -> PhraseScores:
        return PhraseScores(lambda: index.db, "practices_fts", weights)

    first = store()
    looked_up = sum(len(terms.phrases()) for terms, _ in calls)
    for terms, depth in calls:
        assert first.ranked(terms.phrases(), depth) == fts5_whole(index, terms, depth)
    kept = len(first)
    warm = store()
    for terms, depth in calls:
        warm.ranked(terms.phrases(), depth)

    def timed(run: Any) -> float:
        started = time.perf_counter()
        for terms, depth in calls:
            run(terms, depth)
        return (time.perf_counter() - started) * 1000 / len(texts)

    times: dict[str, list[float]] = {"fts5": [], "cold": [], "warm": []}
    for _ in range(args.rounds):
        cold = store()
        times["fts5"].append(timed(lambda t, d: fts5_whole(index, t, d)))
        times["cold"].append(timed(lambda t, d, cold=cold: cold.ranked(t.phrases(), d)))
        times["warm"].append(timed(lambda t, d: warm.ranked(t.phrases(), d)))
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    result = {
        "questions": len(texts),
        "bm25_queries": len(calls),
        "phrases_per_query": round(looked_up / len(calls), 1),
        "phrases_kept": kept,
        "kept_share_of_look_ups": round(1 - kept / looked_up, 3),
        "ms_per_question_median": medians,
        "ratio_to_fts5": {k: round(v / medians["fts5"], 3) for k, v in medians.items()},
        "rounds": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
