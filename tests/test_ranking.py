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
from practice_finder.build.store import BM25_WEIGHTS
from practice_finder.query import fusion, legs
from practice_finder.query.filters import Filters, practice_filter_sql
from practice_finder.query.handle import Index

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


# -- fusion by scores -----------------------------------------------------------------------------------------


def test_score_fusion_scales_each_leg_to_its_own_candidates() -> None:
    """Each leg's best counts 1 and its lowest 0 (or its floor 0), times the leg's weight; a practice a leg
    did not return gets nothing from it."""
    fused = fusion.score_fusion(
        {
            "dense": [("a", 0.9), ("b", 0.7), ("c", 0.5)],
            "lexical": [("c", 12.0), ("d", 4.0)],
            "taxonomy": [("b", 2.0), ("d", 1.0)],
        },
        weights={"dense": 2.0},
        floors={"taxonomy": 0.0},
    )
    assert dict(fused) == pytest.approx({"a": 2.0, "b": 1.0 + 1.0, "c": 0.0 + 1.0, "d": 0.5})
    assert [key for key, _ in fused] == ["a", "b", "c", "d"]  # a and b tie: first seen first


def test_a_leg_sure_of_its_first_lifts_it_where_ranks_would_not() -> None:
    """What scores keep and ranks lose: dense finds "a" far ahead of everything; lexical finds "b" and "a"
    nearly alike. By rank, "b" (2nd and 1st) and "a" (1st and 2nd) tie; by score "a" leads."""
    lists = {
        "dense": [("a", 0.9), ("b", 0.4), ("c", 0.3)],
        "lexical": [("b", 10.0), ("a", 9.9), ("c", 1.0)],
    }
    by_rank = fusion.reciprocal_rank_fusion({n: [k for k, _ in v] for n, v in lists.items()})
    assert by_rank[0][1] == by_rank[1][1]
    assert fusion.score_fusion(lists)[0][0] == "a"


def test_a_leg_whose_scores_are_all_equal_gives_each_full_weight() -> None:
    assert fusion.score_fusion({"taxonomy": [("a", 0.7), ("b", 0.7)]}) == [("a", 1.0), ("b", 1.0)]
    assert fusion.score_fusion({"dense": [], "lexical": [("a", -3.0)]}) == [("a", 1.0)]


scored_lists = st.dictionaries(
    st.sampled_from(["dense", "lexical", "taxonomy"]),
    st.lists(st.tuples(ids, st.integers(-200, 200).map(lambda i: i / 4)), max_size=15).map(
        lambda items: sorted(dict(items).items(), key=lambda kv: -kv[1])
    ),
    max_size=3,
)


def test_a_question_no_dictionary_glosses_weighs_its_taxonomy_leg_more() -> None:
    legs_found = {"dense": [("a", 0.9)], "lexical": [("a", 3.0)], "taxonomy": [("a", 1.0)]}
    glossed = legs.score_weights(legs_found, True, "pl")
    unglossed = legs.score_weights(legs_found, True, "lv", glossed=False)
    assert unglossed["taxonomy"] == legs.TAXONOMY_WEIGHT_UNGLOSSED * glossed["taxonomy"]
    assert {k: v for k, v in unglossed.items() if k != "taxonomy"} == {
        k: v for k, v in glossed.items() if k != "taxonomy"
    }
    # English needs no dictionary: its weights are the same either way
    assert legs.score_weights(legs_found, True, "en", glossed=False) == legs.score_weights(
        legs_found, True, "en"
    )
    assert legs.language_weights("et", glossed=False)["taxonomy"] == legs.TAXONOMY_WEIGHT_UNGLOSSED


def test_a_language_is_glossable_when_the_build_holds_its_dictionary_or_the_one_it_reads_beside() -> (
    None
):
    from types import SimpleNamespace

    def index(held: dict[str, str] | None, has: bool = True) -> Any:
        return SimpleNamespace(manifest=SimpleNamespace(dictionaries=held), has_glossary=has)

    danish_only = index({"da": "freedict-dan-eng 0.3.1"})
    assert legs.glossable(danish_only, "da") and legs.glossable(danish_only, "nb")
    assert legs.glossable(danish_only, "no")  # "no" is read as Bokmål
    assert not legs.glossable(danish_only, "lv") and not legs.glossable(danish_only, "sv")
    assert legs.glossable(danish_only, "en")  # English needs none
    assert not legs.glossable(index({"da": "x"}, has=False), "da")  # a manifest without its file
    assert not legs.glossable(index(None, has=False), "pl")


@settings(max_examples=300, deadline=None)
# scores, scales and shifts that floats hold exactly, so that no two scores merge on the way
@given(lists=scored_lists, scale=st.sampled_from([0.25, 0.5, 2.0, 8.0]), shift=st.integers(-64, 64))
def test_score_fusion_does_not_depend_on_a_legs_units(
    lists: dict[str, list[tuple[str, float]]], scale: float, shift: float
) -> None:
    """BM25 and cosines live on different scales: stretching or shifting one leg's scores changes nothing."""
    weights = {"dense": 2.0, "lexical": 0.5}
    before = fusion.score_fusion(lists, weights)
    moved = {
        name: [(key, score * scale + shift) for key, score in scored]
        for name, scored in lists.items()
    }
    after = fusion.score_fusion(moved, weights)
    assert dict(after) == pytest.approx(dict(before), abs=1e-6)
    assert set(dict(after)) == {key for scored in lists.values() for key, _ in scored}
    assert all(0.0 <= score <= 2.0 + 0.5 + 1.0 + 1e-9 for _, score in after)  # the weights' sum


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
    relative = legs.language_calibrated(np.array(language, dtype=np.int64), similarity)
    got = np.argsort(-relative, kind="stable").tolist()
    assert got == reference_calibration(language, [float(s) for s in similarity])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.floats(-10, 10)), min_size=1, max_size=40))
def test_group_medians_are_numpys_medians(items: list[tuple[int, float]]) -> None:
    codes, group = np.unique([g for g, _ in items], return_inverse=True)
    values = np.array([v for _, v in items])
    got = legs.group_medians(values, group, np.bincount(group))
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
            got = legs.taxonomy_leg(index, understood, where, params, 500, tiebreak)
            assert legs.ids(got) == expected, understood
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


# -- passage pooling -----------------------------------------------------------------------------------------


def reference_pooling(hits: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Each practice's best similarity plus POOL_WEIGHT x the mean of its next ones (missing ones count as the
    lowest similarity of all hits), best first, ties by practice id."""
    lowest = min(score for _, score in hits)
    mine: dict[str, list[float]] = {}
    for rid, score in hits:
        mine.setdefault(rid, []).append(score)
    size = legs.POOLED_VECTORS - 1
    pooled = {}
    for rid, scores in mine.items():
        scores = sorted(scores, reverse=True)
        rest = (scores[1:] + [lowest] * size)[:size]
        pooled[rid] = scores[0] + legs.POOL_WEIGHT * sum(rest) / size
    return sorted(pooled.items(), key=lambda kv: (-kv[1], kv[0]))


@given(
    st.lists(st.tuples(st.integers(0, 6), st.floats(-1, 1, width=32)), min_size=1, max_size=40),
    st.integers(1, 8),
)
def test_pooling_matches_its_definition(hits: list[tuple[int, float]], depth: int) -> None:
    hits = sorted(hits, key=lambda h: -h[1])
    owner = np.array([h[0] for h in hits])
    similarity = np.array([h[1] for h in hits], dtype=np.float32)
    positions, pooled = legs.pooled_per_practice(owner, similarity, depth)
    want = reference_pooling(
        [(f"{o:02d}", float(s)) for o, s in zip(owner, similarity, strict=True)]
    )
    assert np.allclose(pooled, [score for _, score in want[:depth]], atol=1e-6)
    # each practice comes with its own pooled similarity (equal ones may come in either order)
    expected = dict(want)
    assert all(abs(expected[f"{p:02d}"] - v) < 1e-6 for p, v in zip(positions, pooled, strict=True))


def test_a_practice_that_answers_in_several_passages_beats_one_lucky_passage() -> None:
    owner = np.array([0, 1, 1, 1, 2])
    similarity = np.array([0.90, 0.88, 0.87, 0.86, 0.50], dtype=np.float32)
    positions, _ = legs.pooled_per_practice(owner, similarity, 3)
    assert positions.tolist() == [1, 0, 2]


@pytest.mark.parametrize("scoring", ["max", "record", "passages"])
def test_dense_leg_is_the_best_passage_order_calibrated(minilm_index: Index, scoring: str) -> None:
    """The dense leg, recomputed from FAISS hits with dictionaries: practice order by best passage, then the
    per-language calibration."""
    index = minilm_index
    qvec = index.embedder.encode(["lonely older men in a fishing village"], kind="query")[0]
    scored = legs.dense_leg(index, qvec, 50, None, scoring)
    got = legs.ids(scored)
    relative = [score for _, score in scored]
    assert relative == sorted(relative, reverse=True)  # each with the similarity it is ranked by
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
    hits: list[tuple[str, float]] = []
    for pid, score in zip(ids.tolist(), scores.tolist(), strict=True):
        rid = index.practice_of_passage.get(pid)
        if rid is not None:
            hits.append((rid, score))
            best.setdefault(rid, score)
    if scoring == "max":  # the best vector and the next ones pooled
        best = dict(reference_pooling(hits)[:50])
    ranked = list(best)[:50]
    codes = {lang: i for i, lang in enumerate(sorted(set(index.practice_language.values())))}
    order = reference_calibration(
        [codes[index.practice_language[r]] for r in ranked], [best[r] for r in ranked]
    )
    assert got == [ranked[i] for i in order]
    assert len(got) == 50


# -- how central a taxonomy term is to the question ----------------------------------------------------------


def test_a_term_named_once_among_terms_the_question_returns_to_weighs_less() -> None:
    pairs = [("challenges", "loneliness"), ("assets", "library"), ("assets", "choir")]
    mentions = {("challenges", "loneliness"): 3, ("assets", "library"): 1}
    assert legs.centrality(pairs, mentions) == [1.0, 1 / 3, 1 / 3]
    assert legs.centrality(pairs, {}) == [1.0, 1.0, 1.0]


def test_fused_dense_leg_fuses_the_record_and_passage_rankings(minilm_index: Index) -> None:
    """scoring="fused": the whole-record ranking and the best-passage ranking, each calibrated, fused by rank
    (their cosines are on different scales: a 200-word text against a 70-word passage)."""
    index = minilm_index
    qvec = index.embedder.encode(["volunteers running a village library"], kind="query")[0]
    record = legs.ids(legs.dense_leg(index, qvec, 40, None, "record"))
    passages = legs.ids(legs.dense_leg(index, qvec, 40, None, "passages"))
    got = legs.ids(legs.dense_leg(index, qvec, 40, None, "fused"))
    fused = reference_rrf({"record": record, "passages": passages}, fusion.DEFAULT_RRF_K, None)
    assert got == [rid for rid, _ in fused][:40]
    assert set(got) <= set(record) | set(passages) and len(got) == 40


# -- the lexical leg's second pass and the match set's vectors --------------------------------------------------


def _title_words(index: Index) -> list[list[str]]:
    titles = [str(r[0]) for r in index.db.execute("select title from practices order by id")]
    return [[w.lower() for w in title.split() if w.isalpha()] for title in titles]


def _ranked_by_score(scored: legs.Scored) -> list[tuple[str, float]]:
    return sorted(((rid, round(score, 9)) for rid, score in scored), key=lambda kv: (-kv[1], kv[0]))


@pytest.mark.parametrize("depth", [500, 20])  # 20: fewer than match, so the whole query runs again
def test_bm25_extended_gives_what_the_whole_query_gives(minilm_index: Index, depth: int) -> None:
    """FTS5's BM25 is a sum over the query's terms: the new terms' scores added to the first ranking's
    are the scores of the whole query."""
    index = minilm_index
    titles = _title_words(index)
    checked = 0
    for f in (Filters(), Filters(country=("SE", "FI", "LV"))):
        where, params = practice_filter_sql(f)
        for first, second in zip(titles[::7], titles[3::7], strict=False):
            terms = legs.LexicalTerms.of(first[:3], "sv", ["library"], ["da"])
            more = legs.LexicalTerms.of(first[:3], "sv", ["library", *second], ["da"])
            ranked = legs.bm25_ranked(index, terms, depth, where, params)
            got = legs.bm25_extended(index, ranked, terms, second, depth, where, params)
            whole = legs.bm25_ranked(index, more, depth, where, params)
            assert _ranked_by_score(got) == _ranked_by_score(whole)
            # the second words found practices the first did not, or (depth 20) the first was cut
            checked += len(whole) > len(ranked) if depth > 20 else len(ranked) == depth
    assert checked > 5


def test_the_lexical_leg_ranks_as_fts5_ranks_the_whole_query(minilm_index: Index) -> None:
    """Each phrase's scores kept between questions (query.postings): the same practices, scores to the
    bit and order as FTS5's own query over the index's table, filtered or not."""
    index = minilm_index
    weights = ", ".join(str(w) for w in BM25_WEIGHTS["practices"])
    for f in (Filters(), Filters(country=("SE", "FI", "LV"))):
        where, params = practice_filter_sql(f)
        for words in _title_words(index)[::9]:
            terms = legs.LexicalTerms.of(words[:4], "sv", ["library", "volunteers"], ["da"])
            sql = (
                f"select p.id, -bm25(practices_fts, {weights}) as score from practices_fts "
                "join practices p on p.rowid = practices_fts.rowid where practices_fts match ? "
                f"{'and ' + where if where else ''} order by score desc, p.rowid limit 30"
            )
            expected = [tuple(r) for r in index.db.execute(sql, [terms.query(), *params])]
            assert legs.bm25_ranked(index, terms, 30, where, params) == expected


def test_lexical_terms_leave_out_what_is_searched_already() -> None:
    terms = legs.LexicalTerms.of(["bibliotek", "kör"], "sv", ["choir"])
    more = legs.LexicalTerms.of(["bibliotek", "kör"], "sv", ["choir", "library", "kör"])
    assert terms.with_english(["library", "kör"]) == more
    new = more.without(terms)
    assert new.words == ("library",)
    assert "kör" not in new.stems and "choir" not in new.stems
    assert legs.LexicalTerms((), ("bibliotek",)).query() == 'stems : ("bibliotek")'
    assert not legs.LexicalTerms.of([], "sv", [" "])


_WORDS = st.lists(
    st.sampled_from(
        ["bibliotek", "kör", "choir", "library", "Straße", "jauniešu", "flood", " ", "a\x00b"]
    ),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(
    _WORDS,
    _WORDS,
    _WORDS,
    st.sampled_from(["sv", "lv", "et", "de", "en"]),
    st.lists(st.sampled_from(["da", "nb", "fi"]), max_size=2),
)
def test_english_words_added_later_give_the_terms_given_at_once(
    words: list[str], english: list[str], extra: list[str], lang: str, also: list[str]
) -> None:
    """The feedback pass adds English words to a question's terms: the same terms, in the same order,
    as reading the question with all of them."""
    at_once = legs.LexicalTerms.of(words, lang, [*english, *extra], also)
    assert legs.LexicalTerms.of(words, lang, english, also).with_english(extra) == at_once


def test_feedback_words_are_the_content_words_of_the_english_headings(minilm_index: Index) -> None:
    from practice_finder.text import pipelines

    index = minilm_index
    practices = [str(r[0]) for r in index.db.execute("select id from practices order by id")]
    for start in range(0, 60, 3):
        top = practices[start : start + 3]
        cards = index.cards(top)
        texts = [
            f"{cards[rid].row['title']}. {cards[rid].row['summary']}"
            for rid in top
            if cards[rid].language == "en"
        ]
        joined = pipelines.content_words(" ".join(texts), "en") if texts else []
        assert legs.feedback_words(index, top) == joined[: legs.FEEDBACK_WORDS]


def test_the_match_set_reads_the_dense_legs_vectors_as_if_it_searched_them(
    minilm_index: Index,
) -> None:
    from practice_finder.query import matching

    index = minilm_index
    for text in ("choir for lonely older people", "flood memories", "kora dziedāšana"):
        qvec = index.admission.encode([text], kind="query")[0]
        hits = legs.passage_hits(index, qvec, index.ranking.candidates)
        assert matching.meaning_scores(index, qvec, hits) == matching.meaning_scores(index, qvec)


# -- the dense leg fed back ---------------------------------------------------------------------------------


def test_the_fed_back_vector_leans_towards_the_first_practices_record(minilm_index: Index) -> None:
    from practice_finder.query.handle import record_vector

    index = minilm_index
    qvec = index.admission.encode(["kora dziedāšana vientuļiem senioriem"], kind="query")[0]
    first = str(index.db.execute("select id from practices order by id").fetchone()[0])
    record = record_vector(index, "practice", first).astype(np.float64)
    fed_back = legs.feedback_vector(index, qvec, [first])
    assert fed_back is not None
    expected = qvec + legs.VECTOR_FEEDBACK_WEIGHT * record / np.linalg.norm(record)
    np.testing.assert_allclose(fed_back, expected / np.linalg.norm(expected), atol=1e-6)
    assert float(fed_back @ record) > float(qvec @ record)
    assert legs.feedback_vector(index, qvec, []) is None
    assert legs.feedback_vector(index, qvec, ["no-such-practice"]) is None


@pytest.mark.parametrize(
    ("text", "fed_back"),
    [("jauniešu aizplūšana no laukiem", True), ("young people leaving the villages", False)],
)
def test_only_a_question_not_in_english_searches_its_dense_leg_again(
    minilm_index: Index, text: str, fed_back: bool
) -> None:
    """The dense leg of a question in another language is searched from its vector moved towards the first
    practice of the ranking the other feedback gave; an English question's dense leg is its own."""
    from practice_finder.query.search import SearchQuery, fuse_legs, retrieve

    index = minilm_index
    depth = index.ranking.candidates
    found = retrieve(index, SearchQuery(text))
    own = legs.dense_leg(index, found.qvec, depth, None)
    if not fed_back:
        assert found.main == "en" and found.scored["dense"] == own
        return
    assert found.main == "lv"
    before = fuse_legs(
        index,
        {**found.scored, "dense": own},
        found.main,
        index.ranking.rrf_k,
        legs.glossable(index, "lv"),
    )
    moved = legs.feedback_vector(
        index, found.qvec, legs.ids(before[: legs.VECTOR_FEEDBACK_PRACTICES])
    )
    assert moved is not None
    assert found.scored["dense"] == legs.dense_leg(index, moved, depth, None)
    assert found.scored["dense"] != own
    assert retrieve(index, SearchQuery(text), feedback=False).scored["dense"] == own
