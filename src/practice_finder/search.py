"""Hybrid search over good practices: dense (FAISS, record and passage level) + lexical (FTS5 BM25), fused by rank."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from . import fusion, languages, nlp, vectors
from .cards import FACET_VOCABULARIES, Card
from .errors import InvalidQueryError
from .filters import Filters, allowed_passages, practice_filter_sql
from .highlight import mark_spans, matched_among, stem, word_stems
from .index import Index

MODES = ("hybrid", "dense", "lexical")
MAX_QUERY_CHARS = 1000
MAX_K = 100
PASSAGES_PER_RECORD = 12  # dense depth in passages = candidates x this, to reach enough distinct records


@dataclass(frozen=True)
class SearchQuery:
    text: str
    k: int = 10
    offset: int = 0
    mode: str = "hybrid"
    filters: Filters = field(default_factory=Filters)
    diversify: bool = False


class Hit(msgspec.Struct, kw_only=True):
    """One practice in a ranked list, with the passage that matched best and why it ranks here."""

    id: str
    title: str
    municipality: str
    country: str
    years: list[int]
    population: int
    language: str
    summary: str
    score: float
    snippet: str  # HTML-escaped, with the query's words in <mark>
    why: dict[str, Any]
    challenges: list[str] = []  # declared by the practice
    assets: list[str] = []
    city: str | None = None


class SearchResult(msgspec.Struct, kw_only=True):
    query: str
    mode: str
    total: int
    offset: int
    k: int
    hits: list[Hit]
    understood: dict[str, list[str]]
    query_language: str = "en"  # detected (a region language or "und"); drives stop words, stems and tagging
    facets: dict[str, dict[str, int]] = {}
    timings_ms: dict[str, float] = {}


def validate(query: SearchQuery, index: Index) -> None:
    """Raise InvalidQueryError naming the parameter for anything that cannot be searched."""
    text = query.text.strip()
    if not text:
        raise InvalidQueryError("q", "must not be empty", "describe the challenge in a few words")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQueryError("q", f"is {len(text)} characters long; at most {MAX_QUERY_CHARS} are allowed")
    if not 1 <= query.k <= MAX_K:
        raise InvalidQueryError("k", f"must be between 1 and {MAX_K}, got {query.k}")
    if query.offset < 0:
        raise InvalidQueryError("offset", f"must be 0 or more, got {query.offset}")
    if query.mode not in MODES:
        raise InvalidQueryError("mode", f"must be one of {', '.join(MODES)}, got {query.mode!r}")
    query.filters.validate(index.taxonomy)


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


def retrieve(index: Index, query: SearchQuery, depth: int = 200, rrf_k: int = fusion.DEFAULT_RRF_K,
             dense_scoring: str = "max", taxonomy: bool = True, feedback: bool = True) -> Retrieval:
    """Run the legs the mode asks for and fuse them by rank; filters apply inside each leg.

    taxonomy=False leaves the taxonomy leg out of a hybrid search, feedback=False the English feedback
    words of a question in another language (to measure what each adds).
    """
    timings: dict[str, float] = {}
    where, params = practice_filter_sql(query.filters)
    started = time.perf_counter()
    language = languages.detect(query.text, languages.QUERY_SAMPLE_CHARS).language
    text_lang = language if language != languages.UNDETERMINED else "en"
    words = nlp.content_words(query.text, text_lang)
    timings["language"] = _ms(started)
    legs: dict[str, list[str]] = {}
    qvec = None
    if query.mode in ("hybrid", "dense"):
        started = time.perf_counter()
        qvec = index.embedder.encode([query.text], kind="query")[0]
        timings["encode"] = _ms(started)
        started = time.perf_counter()
        legs["dense"] = dense_leg(index, qvec, depth, allowed_passages(index.db, where, params), dense_scoring)
        timings["dense"] = _ms(started)
    started = time.perf_counter()
    understood = understand(index, query.text, text_lang)
    timings["tagging"] = _ms(started)
    if query.mode in ("hybrid", "lexical"):
        started = time.perf_counter()
        english = english_words(index, understood) if text_lang != "en" and taxonomy else []
        legs["lexical"] = lexical_leg(index, words, depth, where, params, text_lang, english)
        timings["lexical"] = _ms(started)
    if query.mode == "hybrid" and understood and taxonomy:
        started = time.perf_counter()
        legs["taxonomy"] = taxonomy_leg(index, understood, where, params, depth, legs.get("dense", []))
        timings["taxonomy"] = _ms(started)
    weights = LEG_WEIGHTS_OTHER_LANGUAGE if text_lang != "en" else None
    fused = fusion.reciprocal_rank_fusion(legs, k=rrf_k, weights=weights)
    if query.mode == "hybrid" and text_lang != "en" and feedback:
        started = time.perf_counter()
        extra = feedback_words(index, [rid for rid, _ in fused[:FEEDBACK_PRACTICES]])
        if extra:
            legs["lexical"] = lexical_leg(index, words, depth, where, params, text_lang, [*english, *extra])
            fused = fusion.reciprocal_rank_fusion(legs, k=rrf_k, weights=weights)
        timings["feedback"] = _ms(started)
    return Retrieval(legs, fused, understood, words, qvec, timings, language)


def search(index: Index, query: SearchQuery, depth: int = 200, rrf_k: int = fusion.DEFAULT_RRF_K) -> SearchResult:
    """Rank practices for a natural-language query; filters apply before the ranking is cut."""
    validate(query, index)
    clock = time.perf_counter()
    found = retrieve(index, query, depth, rrf_k)
    fused = maximal_marginal_relevance(index, found.fused) if query.diversify else found.fused
    page = fused[query.offset : query.offset + query.k]
    started = time.perf_counter()
    cards = index.cards([rid for rid, _ in page])
    ranks = {leg: fusion.ranks(ranked) for leg, ranked in found.legs.items()}
    hits = [_hit(cards[rid], score, found.legs, ranks, found.qvec, found.words, found.understood)
            for rid, score in page if rid in cards]
    found.timings["hits"] = _ms(started)
    started = time.perf_counter()
    facets = facet_counts(index, [rid for rid, _ in fused])
    found.timings["facets"] = _ms(started)
    found.timings["total"] = _ms(clock)
    return SearchResult(query=query.text, mode=query.mode, total=len(fused), offset=query.offset, k=query.k, hits=hits,
                        understood=found.understood, query_language=found.language, facets=facets, timings_ms=found.timings)


MMR_LAMBDA = 0.7  # 1: relevance only; 0: novelty only
MMR_POOL = 50  # only the head of the ranking is re-ordered


def maximal_marginal_relevance(index: Index, fused: list[tuple[str, float]], lam: float = MMR_LAMBDA,
                               pool_size: int = MMR_POOL) -> list[tuple[str, float]]:
    """Re-order the head of a ranking so each next practice is relevant and unlike those before it."""
    pool, rest = fused[:pool_size], fused[pool_size:]
    if len(pool) < 3:
        return fused
    cards = index.cards([rid for rid, _ in pool])
    vecs = {rid: card.record_vector for rid, card in cards.items() if card.record_vector is not None}
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


DENSE_SCORING = ("max", "record", "passages")


def dense_leg(index: Index, qvec: np.ndarray, depth: int, allowed: list[int] | None, scoring: str = "max") -> list[str]:
    """Practices ranked by their best-matching vector, relative to the other candidates in their language.

    scoring: "max" takes the best of the whole-record vector and the passage vectors; "record" and
    "passages" use one kind only (kept for tuning; see docs/benchmarks.md).
    """
    if scoring != "max":
        whole = index.whole_record_passages
        pool = allowed if allowed is not None else list(index.practice_of_passage)
        allowed = [p for p in pool if (p in whole) == (scoring == "record")]
    found = vectors.search_arrays(index.vectors["practice"], qvec, depth * PASSAGES_PER_RECORD, allowed)
    positions, similarity = index.best_per_practice(*found, depth)
    order = by_language_calibrated(index.practice_language_codes[positions], similarity)
    names = index.practice_ids
    return [names[i] for i in positions[order]]


MIN_LANGUAGE_GROUP = 3  # candidates of one language needed to estimate its own offset


def by_language_calibrated(language: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """The order of a dense ranking (`similarity`, best first, and each candidate's `language` code) once each
    similarity is taken relative to the median similarity of the candidates written in its language.

    A multilingual model scores a text in the question's own language higher than an equally relevant
    text in another language (the Finnish practice about wolves scores 0.77 for "wolves and conflict
    between villagers", its English summary 0.92). Comparing each practice with its own language's
    candidates removes that bias: on the translated domain questions the dense leg gains 0.09 nDCG@10
    and the English questions gain too (docs/benchmarks.md). With one language only, nothing moves.
    A language with fewer than MIN_LANGUAGE_GROUP candidates is compared with the median of all.
    """
    codes, group = np.unique(language, return_inverse=True)
    if len(codes) < 2:
        return np.arange(len(similarity))
    similarity = similarity.astype(np.float64)
    sizes = np.bincount(group)
    offset = np.where(sizes >= MIN_LANGUAGE_GROUP, _group_medians(similarity, group, sizes), np.median(similarity))
    return np.argsort(offset[group] - similarity, kind="stable")  # ties keep the dense order


def _group_medians(values: np.ndarray, group: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The median of `values` within each group (what np.median gives; one sort for all groups, none empty)."""
    ordered = values[np.lexsort((values, group))]
    starts = np.cumsum(sizes) - sizes
    return (ordered[starts + (sizes - 1) // 2] + ordered[starts + sizes // 2]) / 2


def fts_query(words: Sequence[str], stems: Sequence[str] = ()) -> str:
    """An FTS5 query matching any of the words in any column, or any of the stems in the `stems` column
    (each term quoted, so no word is read as an operator)."""
    def any_of(terms: Sequence[str]) -> str:
        return " OR ".join('"' + t.replace('"', '""') + '"' for t in dict.fromkeys(_searchable(terms)))

    return f"({any_of(words)}) OR stems : ({any_of(stems)})" if stems else any_of(words)


def _searchable(terms: Sequence[str]) -> list[str]:
    """Terms FTS5 can take: without NUL (it ends a quoted string there), none left empty."""
    return [c for c in (t.replace("\x00", "") for t in terms) if c.strip()]


# A question that is not in English mostly looks for practices written in English, which its own words
# rarely match: its lexical leg counts for less (measured on the translated domain set, docs/benchmarks.md).
LEG_WEIGHTS_OTHER_LANGUAGE = {"dense": 1.0, "lexical": 0.5, "taxonomy": 1.0}


def english_words(index: Index, understood: dict[str, list[str]]) -> list[str]:
    """The English label and synonyms of every taxonomy term a question mentions, as words: the taxonomy
    as a small dictionary that lets a question in any language search English text by words too."""
    phrases = [p for vocab, terms in understood.items() for t in terms for p in index.taxonomy.term(vocab, t).phrases("en")]
    return nlp.content_words(" ; ".join(phrases), "en") if phrases else []


FEEDBACK_PRACTICES = 3
FEEDBACK_WORDS = 24  # each extra word is another OR term for FTS5: unbounded, the lexical leg took 9 ms


def feedback_words(index: Index, top: Sequence[str]) -> list[str]:
    """English words for the lexical leg of a question in another language: those of the titles and summaries
    of the English practices among its first results (pseudo-relevance feedback across languages).

    Its own words rarely occur in English text, so the first fused ranking (led by the multilingual dense
    leg and the taxonomy) lends it the words of what it found; on the translated domain questions this
    lifted the mean of the nine languages by about 0.014 nDCG@10 (docs/benchmarks.md). English questions
    are left alone.
    """
    cards = index.cards(list(top))
    texts = [f"{c.row['title']}. {c.row['summary']}" for rid in top if (c := cards.get(rid)) is not None and c.language == "en"]
    return nlp.content_words(" ".join(texts), "en")[:FEEDBACK_WORDS] if texts else []


def lexical_leg(index: Index, words: Sequence[str], depth: int, where: str, params: list[Any], lang: str = "en",
                english: Sequence[str] = ()) -> list[str]:
    """Practices ranked by BM25 over title, summary, text, tag labels (all languages) and stems (the query's
    language); `english` adds English words for a question in another language (see english_words)."""
    words, english = _searchable(words), _searchable(english)
    if not words and not english:
        return []
    stems = [stem(w, lang) for w in words] + [stem(w, "en") for w in english]
    words = [*words, *english]
    from .store import BM25_WEIGHTS

    weights = ", ".join(str(w) for w in BM25_WEIGHTS["practices"])
    order = f"order by bm25(practices_fts, {weights}) limit ?"
    if not where:  # no filter: no join, the ids come from memory (a third of the leg's time)
        id_of = index.practice_id_of_rowid
        rows = index.db.execute(f"select rowid from practices_fts where practices_fts match ? {order}",
                                [fts_query(words, stems), depth])
        return [id_of[row[0]] for row in rows]
    sql = (
        f"select p.id from practices_fts join practices p on p.rowid = practices_fts.rowid "
        f"where practices_fts match ? and {where} {order}"
    )
    return [row["id"] for row in index.db.execute(sql, [fts_query(words, stems), *params, depth])]


# How much a practice's tag counts when the query mentions the term: by vocabulary, and less when the
# tag was only found in the practice's text rather than declared by its authors.
TAG_WEIGHTS = {"challenges": 1.0, "assets": 0.7, "themes": 0.4, "target_groups": 0.4, "participation": 0.3}
TEXT_TAG_FACTOR = 0.5


def taxonomy_leg(index: Index, understood: dict[str, list[str]], where: str, params: list[Any], depth: int,
                 tiebreak: Sequence[str] = ()) -> list[str]:
    """Practices ranked by the weight of the query's taxonomy terms they carry (ties: by the dense order)."""
    pairs = list(dict.fromkeys((vocab, term) for vocab, terms in understood.items() for term in terms))
    if not pairs:
        return []
    allowed = {row[0] for row in index.db.execute(f"select p.id from practices p where {where}", params)} if where else None
    scores: dict[str, float] = {}
    for vocab, term in pairs:
        weight = TAG_WEIGHTS.get(vocab, 0.0)
        for rid, declared in index.practice_tags.get((vocab, term), ()):
            if allowed is None or rid in allowed:
                scores[rid] = scores.get(rid, 0.0) + weight * (1.0 if declared else TEXT_TAG_FACTOR)
    order = fusion.ranks(tiebreak)
    scores = {rid: round(score, 9) for rid, score in scores.items()}  # the same weights in another order: still a tie
    ranked = sorted(scores, key=lambda rid: (-scores[rid], order.get(rid, len(order) + 1), rid))
    return ranked[:depth]


def understand(index: Index, text: str, lang: str = "en") -> dict[str, list[str]]:
    """Taxonomy terms the query mentions, by vocabulary: matched by the labels of its language and by the
    English ones (English words are common in any language's questions)."""
    out: dict[str, list[str]] = {}
    hits = index.tagger.tag(text, lang) + (index.tagger.tag(text, "en") if lang != "en" else [])
    for hit in hits:
        if hit.term not in out.get(hit.vocabulary, []):
            out.setdefault(hit.vocabulary, []).append(hit.term)
    return out


PASSAGE_WORD_BONUS = 0.05  # a shared query word counts this much next to the cosine of a passage


def best_passage(card: Card, qvec: np.ndarray | None, words: Sequence[str]) -> tuple[int, list[str]]:
    """The passage of a practice that best matches the query (by meaning and by shared words) and those words."""
    if not card.passages:
        return -1, []
    wanted = [w for w in word_stems(list(words), card.language) if w[1] in card.stems or w[2] in card.stems]
    matched = [matched_among(spans.keys(), wanted) for spans in card.passage_spans]
    scores = PASSAGE_WORD_BONUS * np.array([len(m) for m in matched], dtype=np.float32)
    if qvec is not None and len(card.matrix):
        scores = scores + card.matrix @ qvec
    best = int(np.argmax(scores))
    return best, matched[best]


def _hit(card: Card, score: float, legs: dict[str, list[str]], ranks: dict[str, dict[str, int]], qvec: np.ndarray | None,
         words: Sequence[str], understood: dict[str, list[str]]) -> Hit:
    row = card.row
    rid = row["id"]
    best, matched = best_passage(card, qvec, words)
    snippet = mark_spans(card.passages[best], card.passage_spans[best], list(words), card.language) if best >= 0 else ""
    why = {
        "ranks": {leg: ranks[leg].get(rid) for leg in legs},
        "challenges": [t for t in understood.get("challenges", []) if t in card.tags.get("challenges", ())],
        "assets": [t for t in understood.get("assets", []) if t in card.tags.get("assets", ())],
        "words": matched,
    }
    return Hit(
        id=rid, title=row["title"], municipality=row["municipality"], country=row["country"],
        years=row["years"], population=row["population"], language=row["language"],
        summary=row["summary"], score=round(score, 6), snippet=snippet, why=why,
        challenges=row["challenges"], assets=row["assets"], city=row["city"],
    )


def facet_counts(index: Index, record_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Counts per country, challenge, asset and theme over every candidate, not just the page."""
    counted = index.facet_table.count(record_ids)
    facets: dict[str, dict[str, int]] = {"country": {}, "language": {}, **{name: {} for name in FACET_VOCABULARIES}}
    for (facet, value), n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0][1])):
        facets[facet][value] = n
    return facets
