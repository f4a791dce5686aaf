"""nDCG@10 in every language of the region on both question sets, with each language's share of English.

    .venv/bin/python scripts/eval_languages.py --index indexes [--index /tmp/idx-minilm] [--mode dense] [--without-marks] [--json out.json]

For each build (`--index`, repeatable) and each question set (eval/domain and eval/officers: English
questions, their translations in translations/queries.<lang>.jsonl, judged with the English questions'
judgments) it prints nDCG@10 of each mode (default hybrid) per language, and each language's figure as a
share of the English one of the same build, set and mode. Each build is evaluated with the model it was
made with. The figures of the table in docs/benchmarks.md#per-language-as-shipped come from this script.
With --without-marks the translated questions are typed as a keyboard without the languages' marks types
them (evaluation.relevance.without_marks; English is left as it is): the table in
docs/benchmarks.md#questions-typed-without-diacritics.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from practice_finder import Settings
from practice_finder.evaluation.relevance import (
    evaluate,
    load_domain,
    load_translations,
    without_marks,
)
from practice_finder.languages import REGION_LANGUAGES
from practice_finder.query.handle import open_as_built

ROOT = Path(__file__).resolve().parents[1]
SETS = ("domain", "officers")


def evaluate_build(index_dir: Path, modes: list[str], plain: bool = False) -> dict[str, Any]:
    """set -> mode -> language -> {"ndcg": ..., "share": ...} for one build."""
    index = open_as_built(Settings.from_env(index_dir=index_dir))
    out: dict[str, Any] = {"model": index.manifest.model.name, "build": index.build_id, "sets": {}}
    try:
        for name in SETS:
            english, qrels = load_domain(ROOT / "eval" / name)
            translations = load_translations(ROOT / "eval" / name)
            if plain:
                translations = {
                    lang: {qid: without_marks(text) for qid, text in asked.items()}
                    for lang, asked in translations.items()
                }
            questions = {"en": english, **translations}
            by_mode: dict[str, dict[str, dict[str, float]]] = {}
            for mode in modes:
                figures = {
                    lang: evaluate(index, questions[lang], qrels, [mode])[mode]["nDCG@10"]
                    for lang in REGION_LANGUAGES
                    if lang in questions
                }
                by_mode[mode] = {
                    lang: {"ndcg": value, "share": round(value / figures["en"], 3)}
                    for lang, value in figures.items()
                }
            out["sets"][name] = by_mode
    finally:
        index.close()
    return out


def print_table(index_dir: Path, result: dict[str, Any]) -> None:
    print(f"\n{index_dir} ({result['model']}, build {result['build']})")
    for name, by_mode in result["sets"].items():
        for mode, figures in by_mode.items():
            lowest = min(f["share"] for f in figures.values())
            print(f"  {name:9} {mode:8} lowest share {lowest:.3f}")
            for lang, f in figures.items():
                print(f"    {lang}  {f['ndcg']:.4f}  {f['share']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, action="append", required=True)
    parser.add_argument("--mode", action="append", choices=["hybrid", "dense", "lexical"])
    parser.add_argument(
        "--without-marks",
        action="store_true",
        help="the translated questions typed without their letters' marks",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    modes = args.mode or ["hybrid"]
    results = {}
    for index_dir in args.index:
        results[str(index_dir)] = result = evaluate_build(index_dir, modes, args.without_marks)
        print_table(index_dir, result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
