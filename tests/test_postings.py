"""Phrase scores kept between questions (query.postings) rank as FTS5 ranks the whole query, to the bit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from practice_finder.build.store import FTS_TOKENIZER
from practice_finder.query import postings
from practice_finder.query.legs import fts_phrases, fts_query
from practice_finder.query.postings import PhraseScores

WEIGHTS = (4.0, 1.0, 1.5)
WORDS = [
    "library", "libraries", "choir", "kör", "bibliotek", "Straße", "strasse", "jauniešu",
    "flood", "Ida-Virumaa", "virumaa", "e-sport", "IL-10", "10", "it's", "—", "o'clock", "ö",
]  # fmt: skip


def _table(docs: list[tuple[str, str, str]]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute(f"create virtual table t using fts5(title, text, stems, tokenize={FTS_TOKENIZER!r})")
    db.executemany("insert into t(title, text, stems) values (?, ?, ?)", docs)
    db.execute("delete from t where rowid = 2")  # rowids with a gap, as after a write
    return db


def _fts5(db: sqlite3.Connection, words: list[str], stems: list[str], depth: int) -> list:
    """The reference: FTS5 itself on the whole query, best first, ties by rowid."""
    weights = ", ".join(str(w) for w in WEIGHTS)
    rows = db.execute(
        f"select rowid, -bm25(t, {weights}) as score from t where t match ? "
        "order by score desc, rowid limit ?",
        [_query(words, stems), depth],
    )
    return [(r[0], r[1]) for r in rows]


def _query(words: list[str], stems: list[str]) -> str:
    return fts_query(words, stems) if words else f"stems : ({fts_query(stems)})"


_DOC = st.lists(st.sampled_from(WORDS + ["the", "a", "town"]), max_size=30).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(
    docs=st.lists(st.tuples(_DOC, _DOC, _DOC), min_size=3, max_size=25),
    words=st.lists(st.sampled_from(WORDS), max_size=8),
    stems=st.lists(st.sampled_from(WORDS), max_size=4),
    depth=st.sampled_from([3, 500]),
)
def test_kept_phrases_rank_as_fts5_ranks_the_whole_query(
    docs: list[tuple[str, str, str]], words: list[str], stems: list[str], depth: int
) -> None:
    if not words and not stems:
        return
    db = _table(docs)
    kept = PhraseScores(lambda: db, "t", WEIGHTS)
    phrases = fts_phrases(words, stems)
    expected = _fts5(db, words, stems, depth)
    assert kept.ranked(phrases, depth) == expected  # scores equal to the bit, same order
    assert kept.ranked(phrases, depth) == expected  # and again, from what was kept
    matched = db.execute("select rowid from t where t match ?", [_query(words, stems)])
    assert kept.holding(phrases).tolist() == sorted(r[0] for r in matched)


@pytest.fixture
def corpus() -> Iterator[sqlite3.Connection]:
    docs = [
        ("village library", "volunteers run the library", "librari"),
        ("choir", "a choir for lonely men", "choir"),
        ("flood", "flood stories in the library", "flood librari"),
        ("kör", "ett bibliotek med kör", "bibliotek kör"),
    ]
    db = _table(docs)
    yield db
    db.close()


def test_phrases_are_read_once_and_the_least_used_dropped_first(corpus: sqlite3.Connection) -> None:
    statements: list[str] = []
    corpus.set_trace_callback(statements.append)

    def reads() -> list[str]:
        return [s.rsplit(" match ", 1)[1] for s in statements if "-bm25(" in s]

    # rowid 2 is gone: "library" is in 1 and 3 (kept as 3), the stem too, "flood" in 3 (kept as 2)
    kept = PhraseScores(lambda: corpus, "t", WEIGHTS, kept=7)
    phrases = fts_phrases(["library"], ["librari"])
    first = kept.ranked(phrases, 10)
    assert [rowid for rowid, _ in first] == [1, 3] and len(reads()) == 2 and len(kept) == 2
    assert kept.ranked(phrases, 10) == first and len(reads()) == 2  # nothing read again
    kept.ranked(
        fts_phrases(["flood"]), 10
    )  # no room for all three: "library", least recently used, goes
    assert len(kept) == 2 and len(reads()) == 3
    assert kept.holding(fts_phrases(["flood"])).tolist() == [3] and len(reads()) == 3
    assert kept.ranked(phrases, 10) == first  # read again when asked, the same scores
    assert reads()[3] == "'\"library\"'"


def test_filtered_ranking_keeps_the_allowed_practices_in_order(corpus: sqlite3.Connection) -> None:
    kept = PhraseScores(lambda: corpus, "t", WEIGHTS)
    phrases = fts_phrases(["library", "flood"])
    whole = kept.ranked(phrases, 10)
    allowed = [rowid for rowid, _ in whole][1:]
    assert kept.ranked(phrases, 10, allowed) == whole[1:]
    assert kept.ranked(phrases, 10, []) == []
    assert kept.ranked([], 10) == [] and kept.holding([]).tolist() == []


@settings(max_examples=60, deadline=None)
@given(
    rowids=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=80),
    scale=st.sampled_from([1, 10**9]),
)
def test_counting_and_sorting_give_the_same_sums_to_the_bit(rowids: list[int], scale: int) -> None:
    """Rowids far apart (scale 10**9) are sorted, near ones counted: the same practices, the same sums."""
    ids = np.asarray(rowids, dtype=np.int64) * scale
    scores = np.random.default_rng(len(rowids)).random(len(ids)) * 7.3
    assert postings._dense(ids) == (scale == 1)
    unique, where = np.unique(ids, return_inverse=True)
    got_ids, got_sums = postings._summed(ids, scores)
    assert got_ids.tolist() == unique.tolist()
    assert (
        got_sums.tolist() == np.bincount(where, weights=scores).tolist()
    )  # equal floats, not close
    assert postings._distinct(ids).tolist() == unique.tolist()
