"""The ranking pieces that the query path made faster, checked against plain reference versions of themselves.

Reciprocal rank fusion, the dense leg's per-language calibration and the taxonomy leg were rewritten for
speed (numpy instead of dictionaries, memory instead of SQL). Each test here states what the piece computes
in the simplest way and compares, on generated input or on the whole shipped corpus.
"""

from __future__ import annotations

import threading
from typing import Any

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from practice_finder.build import vectors
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.query import fusion, legs
from practice_finder.query.filters import Filters, practice_filter_sql
from practice_finder.query.handle import Index, open_index
from practice_finder.query.search import SearchQuery, retrieve

from .fakes import HashingEmbedder

# -- reciprocal rank fusion ---------------------------------------------------------------------------------


def reference_rrf(
    lists: dict[str, list[str]], k: int, weights: dict[str, float] | None
) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    first_seen: dict[str, int] = {}
    for name, ranked in lists.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        counted: set[str] = set()
        for rank, key in enumerate(ranked, start=1):
            first_seen.setdefault(key, len(first_seen))
            if key not in counted:
                counted.add(key)
                scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))


ids = st.sampled_from([f"p{i}" for i in range(12)])


@settings(max_examples=300, deadline=None)
@given(
    lists=st.dictionaries(
        st.sampled_from(["dense", "lexical", "taxonomy"]), st.lists(ids, max_size=15), max_size=3
    ),
    k=st.integers(1, 100),
    weighted=st.booleans(),
)
def test_rrf_matches_its_definition(lists: dict[str, list[str]], k: int, weighted: bool) -> None:
    weights = {"dense": 1.0, "lexical": 0.5} if weighted else None
    assert fusion.reciprocal_rank_fusion(lists, k=k, weights=weights) == reference_rrf(
        lists, k, weights
    )


# -- per-language calibration of the dense leg ---------------------------------------------------------------


def reference_calibration(language: list[int], similarity: list[float]) -> list[int]:
    groups: dict[int, list[float]] = {}
    for lang, sim in zip(language, similarity, strict=True):
        groups.setdefault(lang, []).append(sim)
    if len(groups) < 2:
        return list(range(len(similarity)))
    overall = float(np.median(similarity))
    offset = {
        lang: float(np.median(v)) if len(v) >= legs.MIN_LANGUAGE_GROUP else overall
        for lang, v in groups.items()
    }
    return sorted(range(len(similarity)), key=lambda i: -(similarity[i] - offset[language[i]]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(-1, 1, width=32)), max_size=60))
def test_language_calibration_matches_per_language_medians(
    candidates: list[tuple[int, float]],
) -> None:
    candidates.sort(key=lambda c: -c[1])  # a dense ranking comes best first
    language = [c[0] for c in candidates]
    similarity = np.array([c[1] for c in candidates], dtype=np.float32)
    got = legs.by_language_calibrated(np.array(language, dtype=np.int64), similarity).tolist()
    assert got == reference_calibration(language, [float(s) for s in similarity])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.floats(-10, 10)), min_size=1, max_size=40))
def test_group_medians_are_numpys_medians(items: list[tuple[int, float]]) -> None:
    codes, group = np.unique([g for g, _ in items], return_inverse=True)
    values = np.array([v for _, v in items])
    got = legs._group_medians(values, group, np.bincount(group))
    assert got.tolist() == [float(np.median(values[group == g])) for g in range(len(codes))]


# -- the taxonomy leg, from memory --------------------------------------------------------------------------


def sql_taxonomy_leg(
    index: Index,
    understood: dict[str, list[str]],
    where: str,
    params: list[Any],
    tiebreak: list[str],
) -> list[str]:
    """What the taxonomy leg computed in SQL before it moved to memory (sums rounded the same way)."""
    pairs = [(vocab, term) for vocab, terms in understood.items() for term in terms]
    match = " or ".join("(t.vocabulary = ? and t.term = ?)" for _ in pairs)
    weight = " ".join(f"when '{v}' then {w}" for v, w in legs.TAG_WEIGHTS.items())
    sql = (
        f"select t.record_id as id, round(sum((case t.vocabulary {weight} else 0 end) * "
        f"(case t.source when 'declared' then 1.0 else {legs.TEXT_TAG_FACTOR} end)), 9) as s "
        f"from tags t join practices p on p.id = t.record_id "
        f"where t.record_type = 'practice' and ({match}) {'and ' + where if where else ''} group by t.record_id"
    )
    rows = index.db.execute(sql, [x for pair in pairs for x in pair] + params).fetchall()
    order = fusion.ranks(tiebreak)
    return [
        r[0] for r in sorted(rows, key=lambda r: (-r[1], order.get(r[0], len(order) + 1), r[0]))
    ]


def test_taxonomy_leg_from_memory_matches_the_store(minilm_index: Index) -> None:
    index = minilm_index
    terms = [
        (str(r[0]), str(r[1]))
        for r in index.db.execute("select distinct vocabulary, term from tags order by 1, 2")
    ]
    assert len(terms) > 50
    tiebreak = [str(r[0]) for r in index.db.execute("select id from practices order by title")]
    queries: list[dict[str, list[str]]] = [{vocab: [term]} for vocab, term in terms]
    for i in range(0, len(terms) - 2, 3):  # several terms at once, of one or more vocabularies
        understood: dict[str, list[str]] = {}
        for vocab, term in terms[i : i + 3]:
            understood.setdefault(vocab, []).append(term)
        queries.append(understood)
    filters = [
        Filters(),
        Filters(country=("SE", "FI")),
        Filters(population_max=20_000, language=("en",)),
    ]
    checked = 0
    for f in filters:
        where, params = practice_filter_sql(f)
        for understood in queries:
            expected = sql_taxonomy_leg(index, understood, where, params, tiebreak)
            assert legs.taxonomy_leg(index, understood, where, params, 500, tiebreak) == expected, (
                understood
            )
            checked += bool(expected)
    assert checked > 100  # most term sets find practices


# -- FAISS threads on the query side --------------------------------------------------------------------------


class _Recording:
    """A FAISS index stand-in that notes how many OpenMP threads a search was allowed."""

    def __init__(self, inner: faiss.Index) -> None:
        self.inner = inner
        self.ntotal = inner.ntotal
        self.threads: list[int] = []

    def search(self, x: np.ndarray, k: int, params: Any = None) -> tuple[np.ndarray, np.ndarray]:
        self.threads.append(faiss.omp_get_max_threads())
        return self.inner.search(x, k, params=params)  # type: ignore[no-any-return]


def test_a_search_in_any_thread_runs_faiss_on_one_thread() -> None:
    """OpenMP counts threads per calling thread: a setting made once at start-up did not reach the service's
    request threads, whose searches then ran FAISS on every core and slowed the query encoder."""
    vectors_ = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
    flat = faiss.IndexIDMap(faiss.IndexFlatIP(8))
    flat.add_with_ids(vectors_, np.arange(50, dtype=np.int64))
    recording = _Recording(flat)
    after: list[int] = []

    def request_thread() -> None:
        faiss.omp_set_num_threads(2)  # what a fresh thread may start with
        vectors.search_arrays(recording, vectors_[0], 5)  # type: ignore[arg-type]
        after.append(faiss.omp_get_max_threads())

    thread = threading.Thread(target=request_thread)
    thread.start()
    thread.join()
    assert recording.threads == [1]
    assert after == [2]  # the thread's own setting is left as it was, for anything else it runs


@pytest.mark.parametrize("scoring", ["max", "record", "passages"])
def test_dense_leg_is_the_best_passage_order_calibrated(minilm_index: Index, scoring: str) -> None:
    """The dense leg, recomputed from FAISS hits with dictionaries: practice order by best passage, then the
    per-language calibration."""
    index = minilm_index
    qvec = index.embedder.encode(["lonely older men in a fishing village"], kind="query")[0]
    got = legs.dense_leg(index, qvec, 50, None, scoring)
    whole = index.whole_record_passages
    allowed = (
        None
        if scoring == "max"
        else [p for p in index.practice_of_passage if (p in whole) == (scoring == "record")]
    )
    ids, scores = vectors.search_arrays(
        index.vectors["practice"], qvec, 50 * legs.PASSAGES_PER_RECORD, allowed
    )
    best: dict[str, float] = {}
    for pid, score in zip(ids.tolist(), scores.tolist(), strict=True):
        rid = index.practice_of_passage.get(pid)
        if rid is not None and rid not in best:
            best[rid] = score
    ranked = list(best)[:50]
    codes = {lang: i for i, lang in enumerate(sorted(set(index.practice_language.values())))}
    order = reference_calibration(
        [codes[index.practice_language[r]] for r in ranked], [best[r] for r in ranked]
    )
    assert got == [ranked[i] for i in order]
    assert len(got) == 50


class _ThreadRecordingEmbedder(HashingEmbedder):
    """Records the thread each question is encoded on."""

    def __init__(self) -> None:
        super().__init__()
        self.query_threads: list[str] = []

    def encode(self, texts: Any, *, kind: str = "passage", progress: bool = False) -> np.ndarray:
        if kind == "query":
            self.query_threads.append(threading.current_thread().name)
        return super().encode(texts, kind=kind, progress=progress)


def test_the_question_is_encoded_while_it_is_read(tiny: Settings) -> None:
    """The question goes to the index's encoder threads first, so reading it (spaCy, the language guess)
    and the lexical leg run while the model works; the vector is the one a direct encode gives."""
    ingest(tiny, HashingEmbedder)
    recording = _ThreadRecordingEmbedder()
    index = open_index(tiny, lambda: recording)
    try:
        text = "older residents living alone in the library"
        found = retrieve(index, SearchQuery(text=text))
        assert recording.query_threads and all(
            name.startswith("pf-encode") for name in recording.query_threads
        ), recording.query_threads
        assert found.qvec is not None
        assert np.allclose(found.qvec, HashingEmbedder().encode([text], kind="query")[0])
    finally:
        index.close()
