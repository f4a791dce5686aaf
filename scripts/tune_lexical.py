"""Try FTS5 set-ups for the lexical leg on a BEIR dataset, without embeddings (seconds per variant).

    .venv/bin/python scripts/tune_lexical.py ../shared/eval/scifact

Each variant builds an in-memory FTS5 table and scores nDCG@10 / Recall@100 with ir-measures.
Used to choose the tokenizer, the column weights and the query construction of the lexical leg.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import ir_measures
from ir_measures import R, nDCG

from practice_finder.evaluation import beir
from practice_finder.text import pipelines


def build(docs: dict[str, tuple[str, str]], tokenizer: str) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(
        f"create virtual table d using fts5(id unindexed, title, text, tokenize='{tokenizer}')"
    )
    db.executemany("insert into d values (?, ?, ?)", [(i, t, x) for i, (t, x) in docs.items()])
    return db


def words_all(q: str) -> list[str]:
    return list(dict.fromkeys(w.lower() for w in re.findall(r"\w+", q)))


def run(
    db: sqlite3.Connection,
    queries: dict[str, str],
    make_words: Callable[[str], list[str]],
    weights: tuple[float, float],
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for qid, q in queries.items():
        words = make_words(q)
        if not words:
            out[qid] = {}
            continue
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = db.execute(
            f"select id from d where d match ? order by bm25(d, 0, {weights[0]}, {weights[1]}) limit 100",
            (match,),
        ).fetchall()
        out[qid] = {r[0]: float(100 - i) for i, r in enumerate(rows)}
    return out


def main() -> None:
    data = beir.load(Path(sys.argv[1]))

    def no_stop(q: str) -> list[str]:
        stops = pipelines.pipeline("en").Defaults.stop_words
        return [w for w in words_all(q) if w not in stops]

    variants: list[tuple[str, str, Callable[[str], list[str]], tuple[float, float]]] = [
        ("porter unicode61, all words, weights 1/1", "porter unicode61", words_all, (1.0, 1.0)),
        (
            "porter unicode61 remove_diacritics 2, all words, 1/1",
            "porter unicode61 remove_diacritics 2",
            words_all,
            (1.0, 1.0),
        ),
        (
            "porter unicode61, alphabetic non-stop words only, 1/1",
            "porter unicode61",
            partial(pipelines.content_words, lang="en"),
            (1.0, 1.0),
        ),
        (
            "porter unicode61, all words but stop words, 1/1",
            "porter unicode61",
            no_stop,
            (1.0, 1.0),
        ),
        (
            "porter unicode61, all words but stop words, title 2/1",
            "porter unicode61",
            no_stop,
            (2.0, 1.0),
        ),
        (
            "porter unicode61, all words but stop words, title 4/1",
            "porter unicode61",
            no_stop,
            (4.0, 1.0),
        ),
        (
            "porter unicode61, all words but stop words, title 0.5/1",
            "porter unicode61",
            no_stop,
            (0.5, 1.0),
        ),
        ("porter unicode61, all words, title 2/1", "porter unicode61", words_all, (2.0, 1.0)),
    ]
    dbs: dict[str, sqlite3.Connection] = {}
    for name, tokenizer, make_words, weights in variants:
        db = dbs.setdefault(tokenizer, build(data.docs, tokenizer))
        result = ir_measures.calc_aggregate(
            [nDCG @ 10, R @ 100], data.qrels, run(db, data.queries, make_words, weights)
        )
        print(f"{name:<58} nDCG@10 {result[nDCG @ 10]:.4f}  R@100 {result[R @ 100]:.4f}")


if __name__ == "__main__":
    main()
