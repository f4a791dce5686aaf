"""What diversify (maximal marginal relevance) does to the first ten results of the domain questions.

    .venv/bin/python scripts/eval_diversify.py --index indexes [--index /tmp/idx-minilm] [--lang lv] [--json out.json]

For each build and each language asked (default English; others are the translations in
eval/domain/translations/), every domain question is searched as the API does (`k=10`), without and with
`diversify`, and the script prints nDCG@10 of the first ten (judged with the English questions'
judgments), and the mean number of distinct towns, countries and declared challenges among them, and on
how many questions diversify changed the first ten's order. The figures of
docs/benchmarks.md#diversify come from this script.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from practice_finder import Settings
from practice_finder.evaluation.relevance import load_domain, load_translations, score
from practice_finder.query.handle import Index, open_as_built
from practice_finder.query.search import SearchQuery, search

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ROOT / "eval/domain"


def first_tens(index: Index, questions: dict[str, str], diversify: bool) -> dict[str, list[Any]]:
    """Question id -> its first ten hits."""
    return {
        qid: search(index, SearchQuery(text, k=10, diversify=diversify)).hits
        for qid, text in questions.items()
    }


def summary(hits: dict[str, list[Any]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    runs = {qid: {h.id: 10.0 - i for i, h in enumerate(found)} for qid, found in hits.items()}
    return {
        "ndcg@10": round(score(qrels, runs)["nDCG@10"], 4),
        "towns": round(
            statistics.fmean(len({h.municipality for h in f}) for f in hits.values()), 2
        ),
        "countries": round(statistics.fmean(len({h.country for h in f}) for f in hits.values()), 2),
        "challenges": round(
            statistics.fmean(len({c for h in f for c in h.challenges}) for f in hits.values()), 2
        ),
    }


def evaluate_build(index_dir: Path, languages: list[str]) -> dict[str, Any]:
    index = open_as_built(Settings.from_env(index_dir=index_dir))
    english, qrels = load_domain(DOMAIN)
    translations = load_translations(DOMAIN)
    out: dict[str, Any] = {
        "model": index.manifest.model.name,
        "build": index.build_id,
        "languages": {},
    }
    try:
        for lang in languages:
            questions = english if lang == "en" else translations[lang]
            plain = first_tens(index, questions, diversify=False)
            varied = first_tens(index, questions, diversify=True)
            reordered = sum(
                [h.id for h in plain[q]] != [h.id for h in varied[q]] for q in questions
            )
            out["languages"][lang] = {
                "without": summary(plain, qrels),
                "diversify": summary(varied, qrels),
                "reordered": f"{reordered} of {len(questions)}",
            }
    finally:
        index.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, action="append", required=True)
    parser.add_argument("--lang", action="append", help="default: en")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {str(path): evaluate_build(path, args.lang or ["en"]) for path in args.index}
    for path, result in results.items():
        print(f"{path} ({result['model']})")
        for lang, found in result["languages"].items():
            for label in ("without", "diversify"):
                row = found[label]
                print(
                    f"  {lang} {label:9s} nDCG@10 {row['ndcg@10']:.4f}  towns {row['towns']:.2f}  "
                    f"countries {row['countries']:.2f}  challenges {row['challenges']:.2f}"
                )
            print(f"  {lang} first ten reordered on {found['reordered']} questions")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
