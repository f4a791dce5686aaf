"""Hybrid search over good practices: dense (FAISS, record and passage level) + lexical (FTS5 BM25), fused by rank."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from practice_finder import languages
from practice_finder.errors import InvalidQueryError
from practice_finder.query import fusion
from practice_finder.query.cards import FACET_VOCABULARIES, Card
from practice_finder.query.checks import check_k, check_language_prior
from practice_finder.query.filters import Filters, allowed_passages, practice_filter_sql
from practice_finder.query.handle import Index
from practice_finder.query.legs import (
    FEEDBACK_PRACTICES,
    LEG_WEIGHTS_OTHER_LANGUAGE,
    dense_leg,
    english_words,
    feedback_words,
    glossed,
    lexical_leg,
    question_vector,
    taxonomy_leg,
)
from practice_finder.query.reads import PracticeBase
from practice_finder.text import pipelines
from practice_finder.text.reading import read_text
from practice_finder.text.snippets import mark_spans, matched_among, word_stems

MODES = ("hybrid", "dense", "lexical")
MAX_QUERY_CHARS = 1000
MAX_K = 100


@dataclass(frozen=True)
class SearchQuery:
    text: str
    k: int = 10
    offset: int = 0
    mode: str = "hybrid"
    filters: Filters = field(default_factory=Filters)
    diversify: bool = False
    # the language the question is most likely written in (a code of languages.QUESTION_LANGUAGES), such as
    # the page's: it weighs in when the question alone does not tell (see languages.guess)
    language_prior: str | None = None


class Hit(PracticeBase, kw_only=True):
    """One practice in a ranked list, with the passage that matched best and why it ranks here."""

    population: int
    language: str
    score: float
    snippet: str  # HTML-escaped, with the query's words in <mark>
    why: dict[str, Any]
    challenges: list[str] = []  # declared by the practice
    assets: list[str] = []


class SearchResult(msgspec.Struct, kw_only=True):
    query: str
    mode: str
    total: int
    offset: int
    k: int
    hits: list[Hit]
    understood: dict[str, list[str]]
    query_language: str = "en"  # detected (a region language, "ru", "uk" or "und"); drives stop words, stems and tagging
    # the languages the question was read in, likeliest first: one when its language is clear, a few when
    # not (their stems and taxonomy labels are all searched), none for a question of no language
    query_languages: list[str] = []
    facets: dict[str, dict[str, int]] = {}
    timings_ms: dict[str, float] = {}


def validate(query: SearchQuery, index: Index) -> None:
    """Raise InvalidQueryError naming the parameter for anything that cannot be searched."""
    text = query.text.strip()
    if not text:
        raise InvalidQueryError("q", "must not be empty", "describe the challenge in a few words")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQueryError(
            "q", f"is {len(text)} characters long; at most {MAX_QUERY_CHARS} are allowed"
        )
    check_k(query.k, MAX_K)
    if query.offset < 0:
        raise InvalidQueryError("offset", f"must be 0 or more, got {query.offset}")
    if query.mode not in MODES:
        raise InvalidQueryError("mode", f"must be one of {', '.join(MODES)}, got {query.mode!r}")
    query.filters.validate(index.taxonomy)
    check_language_prior(query.language_prior)


@dataclass
class Retrieval:
    """The legs of one query and their fusion, before any decoration (snippets, facets)."""

    legs: dict[str, list[str]]
    fused: list[tuple[str, float]]
    understood: dict[str, list[str]]
    words: list[str]
    qvec: np.ndarray | None
    timings: dict[str, float]
    language: str = "en"
    languages: tuple[str, ...] = ()


def retrieve(
    index: Index,
    query: SearchQuery,
    depth: int | None = None,
    rrf_k: int | None = None,
    dense_scoring: str = "max",
    taxonomy: bool = True,
    feedback: bool = True,
    dictionaries: bool = True,
) -> Retrieval:
    """Run the legs the mode asks for and fuse them by rank; filters apply inside each leg.

    taxonomy=False leaves the taxonomy leg out of a hybrid search, feedback=False the English feedback
    words of a question in another language, dictionaries=False its dictionary words (to measure what each
    adds). `depth` (practices per leg) and
    `rrf_k` default to the index's ranking settings.
    """
    depth = index.ranking.candidates if depth is None else depth
    rrf_k = index.ranking.rrf_k if rrf_k is None else rrf_k
    timings: dict[str, float] = {}
    where, params = practice_filter_sql(query.filters)
    dense = query.mode in ("hybrid", "dense")
    # the question is encoded on the index's encoder threads while this thread reads it and runs the
    # lexical leg (docs/benchmarks.md#where-a-search-spends-its-time)
    soon = index.encode_soon(query.text) if dense else None
    started = time.perf_counter()
    reading = read_text(
        index.tagger, query.text, query.language_prior, languages.QUERY_SAMPLE_CHARS
    )
    text_lang, understood = reading.main, reading.understood
    also = [code for code in reading.languages if code != text_lang]
    words = pipelines.content_words(query.text, text_lang)
    timings["reading"] = _ms(started)
    gloss: list[str] = []
    if text_lang != "en" and dictionaries:
        started = time.perf_counter()
        gloss = glossed(index, words, text_lang)
        timings["dictionary"] = _ms(started)
    gloss_soon = index.encode_soon(" ".join(gloss)) if dense and gloss else None
    lexical: list[str] | None = None
    english: list[str] = []
    if query.mode in ("hybrid", "lexical"):
        started = time.perf_counter()
        english = english_words(index, understood) if text_lang != "en" and taxonomy else []
        if gloss:
            english += pipelines.content_words(" ; ".join(gloss), "en")
        lexical = lexical_leg(index, words, depth, where, params, text_lang, english, also)
        timings["lexical"] = _ms(started)
    legs: dict[str, list[str]] = {}  # dense first: fusion breaks ties by the order of the legs
    qvec = None
    if soon is not None:
        started = time.perf_counter()
        qvec = question_vector(soon, gloss_soon)
        timings["encode"] = _ms(started)  # the wait for the encoder, not its whole run
        started = time.perf_counter()
        legs["dense"] = dense_leg(
            index, qvec, depth, allowed_passages(index.db, where, params), dense_scoring
        )
        timings["dense"] = _ms(started)
    if lexical is not None:
        legs["lexical"] = lexical
    if query.mode == "hybrid" and understood and taxonomy:
        started = time.perf_counter()
        legs["taxonomy"] = taxonomy_leg(
            index, understood, where, params, depth, legs.get("dense", [])
        )
        timings["taxonomy"] = _ms(started)
    weights = LEG_WEIGHTS_OTHER_LANGUAGE if text_lang != "en" else None
    fused = fusion.reciprocal_rank_fusion(legs, k=rrf_k, weights=weights)
    if query.mode == "hybrid" and text_lang != "en" and feedback:
        started = time.perf_counter()
        extra = feedback_words(index, [rid for rid, _ in fused[:FEEDBACK_PRACTICES]])
        if extra:
            legs["lexical"] = lexical_leg(
                index, words, depth, where, params, text_lang, [*english, *extra], also
            )
            fused = fusion.reciprocal_rank_fusion(legs, k=rrf_k, weights=weights)
        timings["feedback"] = _ms(started)
    return Retrieval(
        legs, fused, understood, words, qvec, timings, reading.language, reading.languages
    )


def search(
    index: Index, query: SearchQuery, depth: int | None = None, rrf_k: int | None = None
) -> SearchResult:
    """Rank practices for a natural-language query; filters apply before the ranking is cut.

    `depth` and `rrf_k` override the index's ranking settings (PF_CANDIDATES, PF_RRF_K)."""
    validate(query, index)
    clock = time.perf_counter()
    found = retrieve(index, query, depth, rrf_k)
    fused = maximal_marginal_relevance(index, found.fused) if query.diversify else found.fused
    page = fused[query.offset : query.offset + query.k]
    started = time.perf_counter()
    cards = index.cards([rid for rid, _ in page])
    ranks = {leg: fusion.ranks(ranked) for leg, ranked in found.legs.items()}
    hits = [
        _hit(cards[rid], score, found.legs, ranks, found.qvec, found.words, found.understood)
        for rid, score in page
        if rid in cards
    ]
    found.timings["hits"] = _ms(started)
    started = time.perf_counter()
    facets = facet_counts(index, [rid for rid, _ in fused])
    found.timings["facets"] = _ms(started)
    found.timings["total"] = _ms(clock)
    return SearchResult(
        query=query.text,
        mode=query.mode,
        total=len(fused),
        offset=query.offset,
        k=query.k,
        hits=hits,
        understood=found.understood,
        query_language=found.language,
        query_languages=list(found.languages),
        facets=facets,
        timings_ms=found.timings,
    )


MMR_LAMBDA = 0.7  # 1: relevance only; 0: novelty only
MMR_POOL = 50  # only the head of the ranking is re-ordered


def maximal_marginal_relevance(
    index: Index, fused: list[tuple[str, float]], lam: float = MMR_LAMBDA, pool_size: int = MMR_POOL
) -> list[tuple[str, float]]:
    """Re-order the head of a ranking so each next practice is relevant and unlike those before it."""
    pool, rest = fused[:pool_size], fused[pool_size:]
    if len(pool) < 3:
        return fused
    cards = index.cards([rid for rid, _ in pool])
    vecs = {
        rid: card.record_vector for rid, card in cards.items() if card.record_vector is not None
    }
    pool = [(rid, score) for rid, score in pool if rid in vecs]
    top = pool[0][1] or 1.0
    relevance = {rid: score / top for rid, score in pool}
    chosen: list[tuple[str, float]] = []
    left = dict(pool)
    while left:

        def gain(rid: str) -> float:
            novelty = max((float(vecs[rid] @ vecs[c]) for c, _ in chosen), default=0.0)
            return lam * relevance[rid] - (1 - lam) * novelty

        best = max(left, key=gain)
        chosen.append((best, left.pop(best)))
    return chosen + rest


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


PASSAGE_WORD_BONUS = 0.05  # a shared query word counts this much next to the cosine of a passage


def best_passage(
    card: Card, qvec: np.ndarray | None, words: Sequence[str]
) -> tuple[int, list[str]]:
    """The passage of a practice that best matches the query (by meaning and by shared words) and those words."""
    if not card.passages:
        return -1, []
    wanted = [
        w
        for w in word_stems(list(words), card.language)
        if w[1] in card.stems or w[2] in card.stems
    ]
    matched = [matched_among(spans.keys(), wanted) for spans in card.passage_spans]
    scores = PASSAGE_WORD_BONUS * np.array([len(m) for m in matched], dtype=np.float32)
    if qvec is not None and len(card.matrix):
        scores = scores + card.matrix @ qvec
    best = int(np.argmax(scores))
    return best, matched[best]


def _hit(
    card: Card,
    score: float,
    legs: dict[str, list[str]],
    ranks: dict[str, dict[str, int]],
    qvec: np.ndarray | None,
    words: Sequence[str],
    understood: dict[str, list[str]],
) -> Hit:
    row = card.row
    rid = row["id"]
    best, matched = best_passage(card, qvec, words)
    snippet = (
        mark_spans(card.passages[best], card.passage_spans[best], list(words), card.language)
        if best >= 0
        else ""
    )
    why = {
        "ranks": {leg: ranks[leg].get(rid) for leg in legs},
        "challenges": [
            t for t in understood.get("challenges", []) if t in card.tags.get("challenges", ())
        ],
        "assets": [t for t in understood.get("assets", []) if t in card.tags.get("assets", ())],
        "words": matched,
    }
    return Hit(
        id=rid,
        title=row["title"],
        municipality=row["municipality"],
        country=row["country"],
        years=row["years"],
        population=row["population"],
        language=row["language"],
        summary=row["summary"],
        score=round(score, 6),
        snippet=snippet,
        why=why,
        challenges=row["challenges"],
        assets=row["assets"],
        city=row["city"],
    )


def facet_counts(index: Index, record_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Counts per country, challenge, asset and theme over every candidate, not just the page."""
    counted = index.facet_table.count(record_ids)
    facets: dict[str, dict[str, int]] = {
        "country": {},
        "language": {},
        **{name: {} for name in FACET_VOCABULARIES},
    }
    for (facet, value), n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0][1])):
        facets[facet][value] = n
    return facets
