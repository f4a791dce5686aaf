"""Each full-text phrase's BM25 score per practice, read from FTS5 once per build and kept.

FTS5's bm25() is a sum over the query's phrases, each scored on its own (its rarity in the corpus times how
often the practice holds it, against the practice's length), added in the order the query writes them. So a
query's scores are the sums of its phrases' scores read one phrase at a time, added in that order: the same
numbers to the bit. A question's lexical leg has about 70 phrases (its words, their stems in each language it
may be written in, dictionary and feedback words); most were in some earlier question, and a phrase read
once costs nothing again. Without the store FTS5 works out every phrase's score for every practice that
holds any of them, on each question: about 4 ms a question on the demo corpus against 0.5 ms with every
phrase kept (docs/benchmarks.md#phrase-scores-kept-between-questions).

A build never changes once loaded (a write makes a new build and a new Index), so nothing here goes stale.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence

import cachetools
import numpy as np

# how many (practice, score) pairs are kept in all, over every phrase: about 16 bytes each, so 4M is ~64 MB
# at most; the demo corpus's every question in ten languages needs about a tenth of it
POSTINGS_KEPT = 4_000_000

Phrase = tuple[np.ndarray, np.ndarray]  # rowids of the practices holding it, their BM25 scores


class PhraseScores:
    """BM25 scores of single FTS5 phrases (`'"word"'`, `'stems : ("stem")'`) in one table, kept by phrase,
    least recently used dropped first; safe to share between threads."""

    def __init__(
        self,
        db: Callable[[], sqlite3.Connection],
        table: str,
        weights: Sequence[float],
        kept: int = POSTINGS_KEPT,
    ) -> None:
        self._db = db
        columns = ", ".join(str(w) for w in weights)
        # bm25() is lower for a better match: its negation is the score
        self._sql = f"select rowid, -bm25({table}, {columns}) from {table} where {table} match ?"
        self._kept: cachetools.LRUCache[str, Phrase] = cachetools.LRUCache(
            maxsize=kept, getsizeof=lambda found: len(found[0]) + 1
        )
        self._lock = threading.Lock()

    def phrase(self, phrase: str) -> Phrase:
        """The practices (rowids) that hold `phrase`, and the BM25 score the phrase alone gives each."""
        with self._lock:
            found = self._kept.get(phrase)
        if found is not None:
            return found
        rows = self._db().execute(self._sql, [phrase]).fetchall()
        found = (
            np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)),
        )
        # a phrase larger than all that is kept (ValueError) is read again when asked
        with self._lock, contextlib.suppress(ValueError):
            self._kept[phrase] = found
        return found

    def ranked(
        self, phrases: Sequence[str], depth: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """The `depth` rowids with the highest BM25 for any of `phrases` (in the order the FTS5 query would
        write them), best first, ties by rowid, with that score: what FTS5 ranks for the query `a OR b OR
        ...`; only rowids in `allowed` when given."""
        found = [self.phrase(p) for p in phrases]
        rowids = np.concatenate([f[0] for f in found]) if found else np.empty(0, np.int64)
        if not len(rowids):
            return []
        scores = np.concatenate([f[1] for f in found])
        unique, sums = _summed(rowids, scores)
        if allowed is not None:
            keep = np.isin(unique, np.asarray(allowed, dtype=np.int64))
            unique, sums = unique[keep], sums[keep]
        order = np.lexsort((unique, -sums))[:depth]
        return [(int(unique[i]), float(sums[i])) for i in order]

    def holding(self, phrases: Sequence[str]) -> np.ndarray:
        """The rowids (sorted, each once) of the practices that hold any of `phrases`."""
        found = [self.phrase(p)[0] for p in phrases]
        return _distinct(np.concatenate(found)) if found else np.empty(0, np.int64)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


# Rowids are small numbers (a practice's place in the table, with gaps after writes), so they are counted into
# a table as long as the largest one rather than sorted (docs/benchmarks.md#phrase-scores-kept-between-questions).
# The table is kept in proportion: at most this many slots a rowid, beyond a length that costs nothing.
DENSE_SLOTS_PER_ROWID = 8
DENSE_SLOTS_FREE = 4096


def _dense(rowids: np.ndarray) -> bool:
    """Whether `rowids` (not empty) are near enough to one another to be counted rather than sorted."""
    return int(rowids.max()) < DENSE_SLOTS_PER_ROWID * len(rowids) + DENSE_SLOTS_FREE


def _summed(rowids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct rowid (ascending) and the sum of its scores, added in input order (the phrases'
    order, as FTS5 adds them: bincount adds each bin's weights in the order it meets them)."""
    if _dense(rowids):
        sums = np.bincount(rowids, weights=scores)
        present = np.bincount(rowids) > 0
        return np.flatnonzero(present), sums[present]
    unique, where = np.unique(rowids, return_inverse=True)
    return unique, np.bincount(where, weights=scores)


def _distinct(rowids: np.ndarray) -> np.ndarray:
    """The distinct rowids, ascending (np.unique's answer)."""
    if not len(rowids) or not _dense(rowids):
        return np.unique(rowids)
    present = np.zeros(int(rowids.max()) + 1, dtype=bool)
    present[rowids] = True
    return np.flatnonzero(present)
