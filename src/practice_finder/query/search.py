"""Hybrid search over good practices: dense (FAISS, record and passage level), lexical (FTS5 BM25) and taxonomy
legs, fused by their scaled scores (or by rank, PF_FUSION=ranks)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache, cached_property, partial
from typing import Any

import msgspec
import numpy as np

from practice_finder import languages
from practice_finder.build import encoders
from practice_finder.errors import InvalidQueryError
from practice_finder.query import fusion
from practice_finder.query.cards import FACET_VOCABULARIES, Card
from practice_finder.query.checks import check_k, check_language_prior
from practice_finder.query.constraints import BOOST_SHARE, Constraint, read_constraints
from practice_finder.query.constraints import met as constraint_met
from practice_finder.query.filters import (
    Filters,
    allowed_passages,
    allowed_practices,
    practice_filter_sql,
)
from practice_finder.query.fusion import Scored
from practice_finder.query.handle import Index
from practice_finder.query.legs import (
    FEEDBACK_PRACTICES,
    SCORE_FLOORS,
    VECTOR_FEEDBACK_PRACTICES,
    LexicalTerms,
    PassageHits,
    bm25_extended,
    bm25_ranked,
    dense_leg,
    english_words,
    feedback_vector,
    feedback_words,
    glossable,
    glossed,
    ids,
    language_weights,
    names_in,
    passage_hits,
    question_vectors,
    score_weights,
    tags_leg,
    taxonomy_leg,
    toward_english,
    with_gloss,
)
from practice_finder.query.matching import Matches, Question, lexical_matches, match
from practice_finder.query.reads import PracticeBase
from practice_finder.text import diacritics, pipelines
from practice_finder.text.reading import Reading, read_text
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
    # when the question matches no practice: the first of the ranking, offered as the closest ideas
    closest: list[Hit] = []
    # the question as it was read, when it was typed without its letters' marks and they were restored
    # ("pludi" read as "plūdi"; text.diacritics); absent otherwise
    read_as: str | None = None
    understood: dict[str, list[str]]
    # constraints read from the question (a town's size, a budget, countries, target groups): soft
    # preferences of the ranking, each with the filter it becomes
    constraints: list[Constraint] = []
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

    scored: dict[str, Scored]  # each leg's practices with its scores, best first
    fused: list[tuple[str, float]]
    understood: dict[str, list[str]]
    words: list[str]
    qvec: np.ndarray | None
    timings: dict[str, float]
    language: str = "en"
    languages: tuple[str, ...] = ()
    gloss: list[str] = field(default_factory=list)  # the question's dictionary translation
    main: str = "en"  # the language its words are read in
    constraints: list[Constraint] = field(default_factory=list)
    met: dict[str, list[str]] = field(default_factory=dict)  # practice -> the constraints it meets
    moved: dict[str, int] = field(
        default_factory=dict
    )  # practice -> places the constraints moved it up
    # the dense leg's nearest vectors, when it searched with no filter at the index's depth
    nearest: PassageHits | None = None
    # the practices the question's words match (matching.lexical_matches), when asked for
    matched_words: tuple[frozenset[str], bool] | None = None
    # the question with its words' marks restored, when it was typed without them (text.diacritics)
    read_as: str | None = None

    @cached_property
    def legs(self) -> dict[str, list[str]]:
        """Each leg's practices, best first."""
        return {leg: ids(found) for leg, found in self.scored.items()}

    def question(self) -> Question:
        """What the match set reads of this question."""
        return Question(
            words=self.words,
            language=self.main,
            also=[code for code in self.languages if code != self.main],
            english=gloss_words(self.gloss),
            understood=self.understood,
            vector=self.qvec,
            nearest=self.nearest,
            matched_words=self.matched_words,
        )


def gloss_words(gloss: Sequence[str]) -> list[str]:
    """The content words of a question's dictionary translation."""
    return pipelines.content_words(" ; ".join(gloss), "en") if gloss else []


@dataclass
class QuestionWords:
    """What a search reads of a question's words: its reading (languages, taxonomy terms), content words,
    dictionary words, its lexical leg with the terms it searched (None outside the hybrid and lexical
    modes), the constraints it names, the practices its words match (matching.lexical_matches, when
    asked for), and each stage's milliseconds."""

    reading: Reading
    words: list[str]
    gloss: list[str]
    reads_gloss: bool
    terms: LexicalTerms | None
    lexical: Scored | None
    timings: dict[str, float]
    # the town size, budget, countries named
    constraints: list[Constraint] = field(default_factory=list)
    matched_words: tuple[frozenset[str], bool] | None = None


def question_words(
    index: Index,
    query: SearchQuery,
    where: str,
    params: list[Any],
    depth: int,
    taxonomy: bool = True,
    dictionaries: bool = True,
    match_words: bool = False,
) -> QuestionWords:
    """Read a question's words and run its lexical leg (retrieve), and with `match_words` find the practices
    its words match (the match set's first criterion): the part of a search that does not wait for the
    question's vector."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    reading = read_text(
        index.tagger,
        query.text,
        query.language_prior,
        languages.QUERY_SAMPLE_CHARS,
        question=True,
    )
    text_lang, understood = reading.main, reading.understood
    also = [code for code in reading.languages if code != text_lang]
    words = pipelines.content_words(query.text, text_lang)
    constraints = read_constraints(query.text, understood)
    timings["reading"] = _ms(started)
    gloss: list[str] = []
    # whether a dictionary of the build reads the question's language (fusion weighs the legs by it)
    reads_gloss = dictionaries and glossable(index, text_lang)
    if text_lang != "en" and dictionaries:
        started = time.perf_counter()
        gloss = glossed(index, words, text_lang, names_in(query.text, text_lang))
        timings["dictionary"] = _ms(started)
    lexical: Scored | None = None
    terms: LexicalTerms | None = None
    if query.mode in ("hybrid", "lexical"):
        started = time.perf_counter()
        english = english_words(index, understood) if text_lang != "en" and taxonomy else []
        english += gloss_words(gloss)
        terms = LexicalTerms.of(words, text_lang, english, also)
        lexical = bm25_ranked(index, terms, depth, where, params)
        timings["lexical"] = _ms(started)
    matched_words = None
    if match_words:
        started = time.perf_counter()
        asked = Question(words=words, language=text_lang, also=also, english=gloss_words(gloss))
        matched_words = lexical_matches(index, asked)
        timings["match_words"] = _ms(started)
    return QuestionWords(
        reading, words, gloss, reads_gloss, terms, lexical, timings, constraints, matched_words
    )


# Threads that read and search a question's words while the request's own thread encodes it
# (read_while_encoding): more than the requests a process serves at once, so that none waits for another's.
ALONGSIDE_THREADS = 16


@cache
def _alongside() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(ALONGSIDE_THREADS, thread_name_prefix="pf-words")


def read_while_encoding(
    index: Index, text: str, read_words: Callable[[], QuestionWords]
) -> tuple[QuestionWords, np.ndarray, np.ndarray, float]:
    """The question's words (`read_words`, question_words), read and searched on another thread while this
    one encodes the question `text` (retrieve does so when no other question of the process is being
    encoded); then its dictionary words are encoded, and the dense leg's vector made of both
    (legs.question_vectors). ONNX Runtime lets go of the GIL while it runs, so on two cores the words
    cost a search next to nothing (docs/benchmarks.md#words-read-while-the-question-is-encoded).
    Returns the words, the question's vector as written, the dense leg's vector, and the milliseconds
    from the start of the encoding to the dense leg's vector (the words' own stages are timed where
    they ran)."""
    pending = _alongside().submit(read_words)
    started = time.perf_counter()
    written = index.admission.encode([text], kind="query")[0]
    asked = pending.result()
    lang = asked.reading.main
    if asked.gloss:
        english = index.admission.encode([" ".join(asked.gloss)], kind="query")[0]
        qvec = with_gloss(index, written, english, lang)
    else:
        qvec = toward_english(index, written, lang)
    return asked, written, qvec, _ms(started)


def retrieve(
    index: Index,
    query: SearchQuery,
    depth: int | None = None,
    rrf_k: int | None = None,
    dense_scoring: str = "max",
    taxonomy: bool = True,
    feedback: bool = True,
    dictionaries: bool = True,
    match_words: bool = False,
) -> Retrieval:
    """Run the legs the mode asks for and fuse them by rank; filters apply inside each leg.

    A hybrid search of a question not in English also compares it with the practices' tags written out in
    its language (legs.tags_leg). taxonomy=False leaves both taxonomy legs out of a hybrid search,
    feedback=False the English feedback
    words of a question in another language and its dense leg's second search (legs.feedback_vector),
    dictionaries=False its dictionary words and weighs the legs
    as a build without dictionaries would (to measure what each adds). `depth` (practices per leg) and
    `rrf_k` default to the index's ranking settings. match_words=True also finds the practices the
    question's words match, for the match set (search).
    """
    depth = index.ranking.candidates if depth is None else depth
    rrf_k = index.ranking.rrf_k if rrf_k is None else rrf_k
    where, params = practice_filter_sql(query.filters)
    started = time.perf_counter()
    spelled = diacritics.restored(query.text, query.language_prior, index.tagger.vocabulary)
    marks_ms = _ms(started)
    read_as = spelled if spelled != query.text else None
    if read_as is not None:
        query = replace(query, text=spelled)
    read_words = partial(
        question_words, index, query, where, params, depth, taxonomy, dictionaries, match_words
    )
    written = qvec = None
    if query.mode in ("hybrid", "dense") and index.admission.idle:
        asked, written, qvec, encoded = read_while_encoding(index, query.text, read_words)
    else:
        # a busy process has no core to spare: one step after the other
        asked = read_words()
    timings = {"marks": marks_ms, **asked.timings}
    reading, words, gloss, lexical = asked.reading, asked.words, asked.gloss, asked.lexical
    text_lang, understood = reading.main, reading.understood
    reads_gloss, terms = asked.reads_gloss, asked.terms
    scored: dict[str, Scored] = {}  # dense first: fusion breaks ties by the order of the legs
    allowed: list[int] | None = None
    nearest: PassageHits | None = None
    if query.mode in ("hybrid", "dense"):
        if qvec is None:
            started = time.perf_counter()
            written, qvec = question_vectors(index, query.text, gloss, text_lang)
            encoded = _ms(started)
        timings["encode"] = encoded
        started = time.perf_counter()
        allowed = allowed_passages(index.db, where, params)
        found = passage_hits(index, qvec, depth, allowed) if dense_scoring == "max" else None
        scored["dense"] = dense_leg(index, qvec, depth, allowed, dense_scoring, found)
        if allowed is None and depth == index.ranking.candidates:
            nearest = found  # what the match set reads too
        timings["dense"] = _ms(started)
    if lexical is not None:
        scored["lexical"] = lexical
    if query.mode == "hybrid" and understood and taxonomy:
        started = time.perf_counter()
        mentions = {(hit.vocabulary, hit.term): hit.count for hit in reading.hits}
        scored["taxonomy"] = taxonomy_leg(
            index, understood, where, params, depth, ids(scored.get("dense", [])), mentions
        )
        timings["taxonomy"] = _ms(started)
    if query.mode == "hybrid" and written is not None and text_lang != "en" and taxonomy:
        started = time.perf_counter()
        found_tags = tags_leg(index, written, text_lang, depth, where, params)
        if found_tags:
            scored["tags"] = found_tags
        timings["tags"] = _ms(started)
    fused = fuse_legs(index, scored, text_lang, rrf_k, reads_gloss)
    if query.mode == "hybrid" and text_lang != "en" and feedback:
        started = time.perf_counter()
        extra = feedback_words(index, [rid for rid, _ in fused[:FEEDBACK_PRACTICES]])
        if extra and lexical is not None and terms is not None:
            scored["lexical"] = bm25_extended(index, lexical, terms, extra, depth, where, params)
            fused = fuse_legs(index, scored, text_lang, rrf_k, reads_gloss)
        fed_back = (
            feedback_vector(index, qvec, ids(fused[:VECTOR_FEEDBACK_PRACTICES]))
            if qvec is not None
            else None
        )
        if fed_back is not None:
            scored["dense"] = dense_leg(index, fed_back, depth, allowed, dense_scoring)
            fused = fuse_legs(index, scored, text_lang, rrf_k, reads_gloss)
        timings["feedback"] = _ms(started)
    constraints = asked.constraints
    # the legs alone (dense, lexical modes) stay as they are, to measure each
    fused, met, moved = prefer(index, fused, constraints if query.mode == "hybrid" else [])
    return Retrieval(
        scored,
        fused,
        understood,
        words,
        qvec,
        timings,
        reading.language,
        reading.languages,
        gloss,
        text_lang,
        constraints,
        met,
        moved,
        nearest,
        asked.matched_words,
        read_as,
    )


def fuse_legs(
    index: Index, scored: dict[str, Scored], text_lang: str, rrf_k: int, glossed: bool = True
) -> list[tuple[str, float]]:
    """One ranking from the legs, as the index's ranking settings say (PF_FUSION): by the legs' scaled scores
    (weights: legs.score_weights), or by their ranks; a question not in English weighs its lexical leg
    less either way, and its taxonomy leg more when no dictionary glossed its language (`glossed`)."""
    if index.ranking.fusion == "ranks":
        ranked = {leg: ids(found) for leg, found in scored.items()}
        weights = language_weights(text_lang, glossed)
        return fusion.reciprocal_rank_fusion(ranked, k=rrf_k, weights=weights)
    reads_question = encoders.reads(index.manifest.model.name, text_lang)
    weights = score_weights(scored, reads_question, text_lang, glossed)
    return fusion.score_fusion(scored, weights, SCORE_FLOORS)


def prefer(
    index: Index, fused: list[tuple[str, float]], constraints: Sequence[Constraint]
) -> tuple[list[tuple[str, float]], dict[str, list[str]], dict[str, int]]:
    """The fused ranking with each practice lifted by the share of the question's lifting constraints
    (Constraint.lifts: a size in numbers, a budget, countries) it meets (at most constraints.BOOST_SHARE of
    the best score), which constraints each meets, and how many places they moved each practice that
    moved. Target groups lift nothing here: the taxonomy leg ranks by them already (lifting them again
    lowered domain nDCG@10), and nor does a village named in words."""
    if not constraints or not fused:
        return fused, {}, {}
    facts = index.practice_facts
    groups = {
        term: frozenset(
            rid
            for rid, declared in index.practice_tags.get(("target_groups", term), ())
            if declared
        )
        for c in constraints
        if c.kind == "target_group"
        for term in c.values
    }
    met: dict[str, list[str]] = {}
    for rid, _ in fused:
        declared = frozenset(term for term, ids in groups.items() if rid in ids)
        kinds = constraint_met(constraints, facts.get(rid, (0, "", "")), declared)
        if kinds:
            met[rid] = kinds
    lifting = {c.kind for c in constraints if c.lifts}
    if not lifting:
        return fused, met, {}
    lift = BOOST_SHARE * fused[0][1] / len(lifting)
    before = fusion.ranks([rid for rid, _ in fused])
    boosted = sorted(
        ((rid, score + lift * len(set(met.get(rid, ())) & lifting)) for rid, score in fused),
        key=lambda kv: -kv[1],
    )
    after = fusion.ranks([rid for rid, _ in boosted])
    moved = {rid: before[rid] - after[rid] for rid in before if before[rid] != after[rid]}
    return boosted, met, moved


CLOSEST = 5  # practices offered, labelled as such, when a question matches none


def search(
    index: Index, query: SearchQuery, depth: int | None = None, rrf_k: int | None = None
) -> SearchResult:
    """Rank practices for a natural-language query; filters apply before the ranking is cut.

    The ranking keeps the practices the question matches (matching.py); `total` and the facets count
    them. A question that matches none gets `closest`, the first practices of the ranking, instead.
    `depth` and `rrf_k` override the index's ranking settings (PF_CANDIDATES, PF_RRF_K)."""
    validate(query, index)
    clock = time.perf_counter()
    # the words the match set reads are matched alongside the encoding too
    found = retrieve(index, query, depth, rrf_k, match_words=query.mode != "lexical")
    started = time.perf_counter()
    question = found.question()
    if (
        query.mode == "lexical"
    ):  # the lexical leg alone: the practices that hold any word of the question
        matches = Matches({"words": lexical_matches(index, question, share=1.0)[0]})
    else:
        matches = match(index, question)
    matched = matches.ids
    found.timings["match"] = _ms(started)
    ranked = [(rid, score) for rid, score in found.fused if rid in matched]
    fused = maximal_marginal_relevance(index, ranked) if query.diversify else ranked
    page = fused[query.offset : query.offset + query.k]
    started = time.perf_counter()
    hits = _hits(index, found, page, matches)
    closest = [] if ranked else _hits(index, found, found.fused[: min(CLOSEST, query.k)], matches)
    found.timings["hits"] = _ms(started)
    started = time.perf_counter()
    facets = facet_counts(index, matched, query.filters)
    found.timings["facets"] = _ms(started)
    found.timings["total"] = _ms(clock)
    return SearchResult(
        query=query.text,
        mode=query.mode,
        total=len(fused),
        offset=query.offset,
        k=query.k,
        hits=hits,
        closest=closest,
        read_as=found.read_as,
        understood=found.understood,
        constraints=found.constraints,
        query_language=found.language,
        query_languages=list(found.languages),
        facets=facets,
        timings_ms=found.timings,
    )


def _hits(
    index: Index, found: Retrieval, page: list[tuple[str, float]], matches: Matches
) -> list[Hit]:
    cards = index.cards([rid for rid, _ in page])
    ranks = {leg: fusion.ranks(ranked) for leg, ranked in found.legs.items()}
    hits = []
    for rid, score in page:
        if rid in cards:
            hit = _hit(
                cards[rid], score, found.legs, ranks, found.qvec, found.words, found.understood
            )
            hit.why["matched"] = matches.reasons(rid)
            hit.why["constraints"] = found.met.get(rid, [])
            if rid in found.moved:
                hit.why["moved_by_constraints"] = found.moved[rid]
            hits.append(hit)
    return hits


MMR_LAMBDA = 0.7  # 1: relevance only; 0: novelty only
MMR_POOL = 50  # only the head of the ranking is re-ordered


def maximal_marginal_relevance(
    index: Index, fused: list[tuple[str, float]], lam: float = MMR_LAMBDA, pool_size: int = MMR_POOL
) -> list[tuple[str, float]]:
    """Re-order the head of a ranking so each next practice is relevant and unlike those before it.

    How alike two practices are is the cosine of their whole-record vectors in the topic space, each
    language's mean taken out (query/topics.py, as for "more like this"). With multilingual-e5-small
    the raw vectors of any two practices have a cosine of about 0.8, so likeness hardly differed between
    candidates and the head barely changed (docs/benchmarks.md#diversify)."""
    pool, rest = fused[:pool_size], fused[pool_size:]
    if len(pool) < 3:
        return fused
    space = index.topic_space
    position = index.practice_position
    found = {rid: space.record_vector(position.get(rid, -1)) for rid, _ in pool}
    vecs = {rid: vec for rid, vec in found.items() if vec is not None}
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


FACETS = ("country", "language", "budget", *FACET_VOCABULARIES)


def facet_counts(
    index: Index, matched: Collection[str], filters: Filters | None = None
) -> dict[str, dict[str, int]]:
    """Counts per country, language, budget band, challenge, asset, theme and target group over the
    practices a question matches.

    Each facet is counted without its own filter (with every other filter), as search engines count a
    disjunctive facet: with country=LV chosen, the country facet still says how many practices each
    other country would add."""
    filters = filters or Filters()
    # facets whose own filter is not set share the same practices: counted once
    counts: dict[Filters, dict[tuple[str, str], int]] = {}
    facets: dict[str, dict[str, int]] = {}
    for facet in FACETS:
        others = filters.without(facet)
        if others not in counts:
            allowed = allowed_practices(index.db, others)
            ids = sorted(matched if allowed is None else set(matched) & allowed)
            counts[others] = index.facet_table.count(ids)
        counted = [(value, n) for (name, value), n in counts[others].items() if name == facet]
        facets[facet] = dict(sorted(counted, key=lambda kv: (-kv[1], kv[0])))
    return facets
