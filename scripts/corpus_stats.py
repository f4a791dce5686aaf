"""Corpus statistics: counts per country, tag coverage, text lengths and the closest pairs of practices.

    .venv/bin/python scripts/corpus_stats.py [--corpus corpus] [--index indexes]

The closest pairs (cosine of the record vectors of the current build) are how we look for
near-copies: a demo corpus of templated variations would show many pairs above 0.9.
"""

from __future__ import annotations

import argparse
import re
import statistics
from collections import Counter
from pathlib import Path

import numpy as np

from practice_finder.build import store, versions
from practice_finder.corpus.folder import load_corpus


def words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--index", type=Path, default=Path("indexes"))
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    practices = corpus.practices
    print(
        f"practices {len(practices)}, cities {len(corpus.cities)}, plans {len(corpus.plans)}, "
        f"Cultural Pearls {sum(1 for c in corpus.cities if c.pearl_year)}"
    )
    print("practices per country:", dict(sorted(Counter(p.country for p in practices).items())))
    print("practices per language:", dict(Counter(p.language for p in practices).most_common()))
    sizes = sorted(p.population for p in practices)
    print(
        f"population of the practices' towns: min {sizes[0]:,}, median {statistics.median(sizes):,.0f}, max {sizes[-1]:,}"
    )
    print(f"practices linked to a city profile: {sum(1 for p in practices if p.city)}")
    lengths = [words(p.what_happened) for p in practices]
    print(
        f"'What happened' words: min {min(lengths)}, median {statistics.median(lengths):.0f}, max {max(lengths)}"
    )
    for vocab in ("challenges", "assets", "themes", "target_groups", "participation"):
        used = Counter(t for p in practices for t in getattr(p.tags, vocab))
        unused = sorted(set(corpus.taxonomy.vocabularies[vocab]) - set(used))
        print(
            f"{vocab}: {len(used)} of {len(corpus.taxonomy.vocabularies[vocab])} terms used; least used "
            f"{used.most_common()[-3:]}; unused {unused}"
        )
    print("budget bands:", dict(Counter(p.budget_band for p in practices)))
    openings = Counter(" ".join(p.what_happened.split()[:3]).lower() for p in practices)
    print("most repeated openings of 'What happened':", openings.most_common(3))
    closest_pairs(args.index)


def closest_pairs(index_dir: Path, top: int = 5) -> None:
    build = versions.current_build(index_dir)
    if build is None:
        print("(no index built: skipping the closest pairs)")
        return
    conn = store.connect(build / "store.db")
    rows = conn.execute(
        "select record_id, embedding from passages where record_type = 'practice' and seq = 0"
    ).fetchall()
    ids = [r["record_id"] for r in rows]
    matrix = np.stack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows])
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -1)
    upper = np.triu_indices(len(ids), 1)
    order = np.argsort(-sims[upper])[:top]
    print(
        f"closest pairs of practices (cosine of record vectors; {int((sims[upper] > 0.9).sum())} pairs above 0.9):"
    )
    for i in order:
        a, b = upper[0][i], upper[1][i]
        print(f"  {sims[a, b]:.3f}  {ids[a]}  ~  {ids[b]}")


if __name__ == "__main__":
    main()
