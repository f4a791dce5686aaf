"""What each retrieval setting does to nDCG@10 on a benchmark whose index was kept by
`practice-finder eval --beir PATH --keep-index DIR` (so no variant re-embeds anything).

    .venv/bin/python scripts/tune_hybrid.py ../shared/eval/scifact /tmp/scifact-idx --split train --split test

Varies one setting at a time from the shipped defaults (RRF k 60, 200 candidates per leg, dense
score = best of whole-record and passage vectors) and prints the table of docs/benchmarks.md#hybrid-settings,
one column per split: a setting is chosen on the train split's questions and reported on the test split's
(the documents are the same; the questions and their judgments are not).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from practice_finder import Settings, load_embedder, open_index
from practice_finder.evaluation import beir
from practice_finder.evaluation.relevance import evaluate

VARIANTS: list[tuple[str, dict[str, object]]] = [
    ("defaults (k=60, 200 candidates, max of record and passages)", {}),
    ("RRF k=10", {"rrf_k": 10}),
    ("RRF k=30", {"rrf_k": 30}),
    ("RRF k=100", {"rrf_k": 100}),
    ("100 candidates per leg", {"candidates": 100}),
    ("500 candidates per leg", {"candidates": 500}),
    ("dense: whole-record vectors only", {"dense_scoring": "record"}),
    ("dense: passage vectors only", {"dense_scoring": "passages"}),
    ("dense: record and passage rankings fused by rank", {"dense_scoring": "fused"}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "benchmark", type=Path, help="a dataset in BEIR layout, e.g. ../shared/eval/scifact"
    )
    parser.add_argument(
        "index", type=Path, help="the index kept by `practice-finder eval --keep-index`"
    )
    parser.add_argument(
        "--split",
        action="append",
        help="qrels/<split>.tsv to measure on (repeatable) [default: test]",
    )
    parser.add_argument("--model", default=None, help="the model the index was built with")
    args = parser.parse_args()
    splits = {split: beir.load(args.benchmark, split) for split in args.split or ["test"]}
    settings = Settings.from_env(index_dir=args.index, model=args.model)
    index = open_index(settings, partial(load_embedder, settings.model))
    heads = [f"{mode} {split}" for split in splits for mode in ("hybrid", "dense", "lexical")]
    print(f"{'variant':<52}" + "".join(f"{h:>15}" for h in heads))
    for name, options in VARIANTS:
        modes = (
            ("hybrid", "dense", "lexical")
            if not options or "dense_scoring" in options
            else ("hybrid",)
        )
        cells = []
        for data in splits.values():
            m = evaluate(index, data.queries, data.qrels, modes, language=beir.LANGUAGE, **options)  # type: ignore[arg-type]
            cells += [
                f"{m[mode]['nDCG@10']:>15.4f}" if mode in m else f"{'':>15}"
                for mode in ("hybrid", "dense", "lexical")
            ]
        print(f"{name:<52}{''.join(cells)}", flush=True)


if __name__ == "__main__":
    main()
