"""Every search of the question sets, written as JSON: to check that a change to the query path leaves
the results as they were.

    .venv/bin/python scripts/search_snapshot.py --index indexes --out after.json
    PYTHONPATH=/tmp/before/src .venv/bin/python scripts/search_snapshot.py --index indexes --out before.json
    cmp before.json after.json

Runs each question of eval/domain and eval/officers, in English and in each translation, as a hybrid
search for 20 practices, each English one again with a filter on the Nordic countries, and one
more filtered search; writes each whole result (hits, scores, reasons,
snippets, facets, constraints, languages) less its timings, keys sorted. Two snapshots of the same
build are the same file when the code gives the same results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from practice_finder.evaluation.relevance import load_domain, load_translations
from practice_finder.query.filters import Filters
from practice_finder.query.search import SearchQuery, search

sys.path.insert(0, str(Path(__file__).parent))
from eval_multilingual import open_build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = ("domain", "officers")
FILTERED = SearchQuery(
    text="choir for lonely older people",
    k=20,
    filters=Filters(country=("LV", "EE"), population_max=30_000),
)
NORDIC = Filters(country=("DK", "FI", "NO", "SE"))


def snapshot(
    index: Any, sets: tuple[str, ...] = SETS, languages: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Each search's result by set/language/question, less timings (`languages`: only these)."""
    out: dict[str, Any] = {}
    for name in sets:
        folder = ROOT / "eval" / name
        questions = {"en": load_domain(folder)[0], **load_translations(folder)}
        for lang, texts in questions.items():
            if languages is not None and lang not in languages:
                continue
            for qid, text in texts.items():
                out[f"{name}/{lang}/{qid}"] = _plain(search(index, SearchQuery(text=text, k=20)))
    out["filtered"] = _plain(search(index, FILTERED))
    for (
        name
    ) in sets:  # each English question filtered too (the lexical leg ranks the allowed practices)
        if languages is None or "en" in languages:
            for qid, text in load_domain(ROOT / "eval" / name)[0].items():
                query = SearchQuery(text=text, k=20, filters=NORDIC)
                out[f"{name}/en/{qid}/nordic"] = _plain(search(index, query))
    return out


def _plain(result: Any) -> Any:
    data = msgspec.to_builtins(result)
    data.pop("timings_ms", None)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "indexes")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    results = snapshot(open_build(args.index)[0])
    args.out.write_text(json.dumps(results, sort_keys=True) + "\n")
    print(f"{len(results)} searches written to {args.out}")


if __name__ == "__main__":
    main()
