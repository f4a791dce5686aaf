"""Measured relevance: run every query in each mode and score the rankings with ir-measures (trec_eval).

Two datasets: an external benchmark in BEIR layout (e.g. SciFact), ingested into a temporary index
by the product's own pipeline, and the domain set in eval/domain/ judged on the shipped corpus.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from practice_finder.build.encoders import Embedder
from practice_finder.config import Settings
from practice_finder.errors import NotFoundError
from practice_finder.evaluation import beir
from practice_finder.languages import LANGUAGES
from practice_finder.query import fusion
from practice_finder.query.handle import Index, open_index
from practice_finder.query.search import MAX_QUERY_CHARS, MODES, Retrieval, SearchQuery, retrieve

DEPTH = 100
MEASURES = ("nDCG@10", "R@100", "RR@10")
LABELS = {"nDCG@10": "nDCG@10", "R@100": "Recall@100", "RR@10": "MRR@10"}

# Published nDCG@10 on BEIR SciFact, from ../shared/eval/README.md (sources named there).
SCIFACT_REFERENCE = {
    "BM25 (Anserini, flat)": 0.6789,
    "SQLite FTS5 BM25 (QuackIR)": 0.6862,
    "all-MiniLM-L6-v2 dense (MTEB paper)": 0.6451,
    "BGE-base dense": 0.7408,
    "BM25 + BGE-base RRF": 0.7440,
}


def run_queries(
    index: Index,
    queries: dict[str, str],
    mode: str,
    depth: int = DEPTH,
    rrf_k: int | None = None,
    candidates: int | None = None,
    dense_scoring: str = "max",
    taxonomy: bool = True,
    feedback: bool = True,
    dictionaries: bool = True,
    language: str | None = None,
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """The ranking of every query in one mode, and the time each query took (ms).

    `rrf_k` and `candidates` override the index's ranking settings (PF_RRF_K, PF_CANDIDATES); `language`
    is the language the questions are known to be written in, passed as a page passes its own."""
    candidates = index.ranking.candidates if candidates is None else candidates
    runs: dict[str, dict[str, float]] = {}
    times: list[float] = []
    for qid, text in queries.items():
        started = time.perf_counter()
        query = SearchQuery(text[:MAX_QUERY_CHARS], k=depth, mode=mode, language_prior=language)
        found = retrieve(
            index,
            query,
            max(candidates, depth),
            rrf_k,
            dense_scoring,
            taxonomy=taxonomy,
            feedback=feedback,
            dictionaries=dictionaries,
        )
        times.append((time.perf_counter() - started) * 1000)
        ranked = found.fused[:depth]
        # RRF scores can tie; trec_eval breaks ties by document id, so give strictly falling scores.
        runs[qid] = {rid: float(len(ranked) - i) for i, (rid, _) in enumerate(ranked)}
    return runs, times


def score(qrels: dict[str, dict[str, int]], runs: dict[str, dict[str, float]]) -> dict[str, float]:
    import ir_measures
    from ir_measures import RR, R, nDCG

    measures = [nDCG @ 10, R @ 100, RR @ 10]
    result = ir_measures.calc_aggregate(measures, qrels, runs)
    return {str(m): round(float(v), 4) for m, v in result.items()}


HYBRID_WITHOUT_TAXONOMY = (
    "hybrid-no-taxonomy"  # an evaluation-only mode: dense + lexical, no taxonomy leg
)
# evaluation only: no feedback (the English words, the dense leg's second search) for other languages
HYBRID_WITHOUT_FEEDBACK = "hybrid-no-feedback"


HYBRID_WITHOUT_DICTIONARIES = (
    "hybrid-no-dictionaries"  # evaluation only: no dictionary words for other languages
)


def evaluate(
    index: Index,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    modes: Iterable[str] = MODES,
    rrf_k: int | None = None,
    candidates: int | None = None,
    dense_scoring: str = "max",
    language: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in modes:
        variants = (HYBRID_WITHOUT_TAXONOMY, HYBRID_WITHOUT_FEEDBACK, HYBRID_WITHOUT_DICTIONARIES)
        base = "hybrid" if mode in variants else mode
        runs, times = run_queries(
            index,
            queries,
            base,
            rrf_k=rrf_k,
            candidates=candidates,
            dense_scoring=dense_scoring,
            taxonomy=mode != HYBRID_WITHOUT_TAXONOMY,
            feedback=mode != HYBRID_WITHOUT_FEEDBACK,
            dictionaries=mode != HYBRID_WITHOUT_DICTIONARIES,
            language=language,
        )
        out[mode] = {**score(qrels, runs), "median_ms": round(statistics.median(times), 2)}
    return out


def beir_eval(
    path: Path,
    settings: Settings,
    make_embedder: Callable[[], Embedder],
    modes: Iterable[str] = MODES,
    sample_docs: int | None = None,
    keep_index: Path | None = None,
) -> dict[str, Any]:
    """Ingest a BEIR dataset with the product pipeline into a temporary index, then evaluate every mode."""
    from practice_finder.build.ingest import ingest

    data = beir.load(path)
    if sample_docs:
        data = beir.sample(data, sample_docs)
    with tempfile.TemporaryDirectory(prefix="pf-eval-") as tmp:
        index_dir = keep_index or Path(tmp) / "indexes"
        # every other setting carries over; no vectors kept between questions, so each mode's time
        # includes its own encoding
        run_settings = replace(
            settings, corpus_dir=path, index_dir=index_dir, question_vectors_kept=0
        )
        started = time.perf_counter()
        report = ingest(run_settings, make_embedder, corpus=beir.as_corpus(data))
        ingest_s = time.perf_counter() - started
        index = open_index(run_settings, make_embedder)
        try:
            metrics = evaluate(index, data.queries, data.qrels, modes, language=beir.LANGUAGE)
        finally:
            index.close()
    result: dict[str, Any] = {
        "dataset": data.name,
        "documents": len(data.docs),
        "queries": len(data.queries),
        "model": settings.model,
        "rrf_k": settings.rrf_k,
        "candidates": settings.candidates,
        "modes": metrics,
        "ingest": {
            "seconds": round(ingest_s, 1),
            "passages": report.counts.get("passages"),
            "embedded": report.embedded,
        },
    }
    if data.name == "scifact":
        result["reference_ndcg@10"] = SCIFACT_REFERENCE
    return result


DOMAIN_DIR = Path("eval/domain")


def load_domain(folder: Path = DOMAIN_DIR) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The domain questions (all queries-*.jsonl files) and their graded judgments (qrels-*.tsv)."""
    import json

    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for path in sorted(folder.glob("queries*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                queries[q["_id"]] = q["text"]
    for path in sorted(folder.glob("qrels*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[2].strip().isdigit():
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return queries, qrels


def recommendation_eval(index: Index, folder: Path = DOMAIN_DIR, k: int = 10) -> dict[str, Any]:
    """Profiles with the practices a mentor would recommend first: how many of those the endpoint ranks in its top k."""
    import json

    from practice_finder.query.profiles import ProfileIn
    from practice_finder.query.recommend import RecommendationRequest, recommend

    path = folder / "recommendations.jsonl"
    if not path.exists():
        return {}
    qrels: dict[str, dict[str, int]] = {}
    runs: dict[str, dict[str, float]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            case = json.loads(line)
            result = recommend(
                index, RecommendationRequest(profile=ProfileIn(**case["profile"]), k=k)
            )
            ids = [r.id for r in result.recommendations]
            runs[case["_id"]] = {rid: float(len(ids) - i) for i, rid in enumerate(ids)}
            qrels[case["_id"]] = {pid: 1 for pid in case["best"]}
    import ir_measures
    from ir_measures import RR, R, nDCG

    values = ir_measures.calc_aggregate([nDCG @ 10, R @ 10, RR @ 10], qrels, runs)
    return {"profiles": len(qrels), **{str(m): round(float(v), 4) for m, v in values.items()}}


def domain_eval(
    settings: Settings,
    make_embedder: Callable[[], Embedder],
    folder: Path = DOMAIN_DIR,
    modes: Iterable[str] = MODES,
    lang: str | None = None,
    explain: bool = False,
) -> dict[str, Any]:
    """Evaluate the current build of the shipped corpus on a question set (its translations into `lang`
    when given, judged with the English questions' judgments) and its recommendation profiles; with
    `explain`, also what the hybrid ranking missed for each question (see explain)."""
    queries, qrels = load_domain(folder)
    if lang is not None and lang != "en":
        queries = translated_questions(folder, lang)
    # no vectors kept between questions, so each mode's time includes its own encoding
    index = open_index(replace(settings, question_vectors_kept=0), make_embedder)
    try:
        metrics = evaluate(index, queries, qrels, modes)
        recommendations = recommendation_eval(index, folder) if lang in (None, "en") else {}
        explained = explain_misses(index, queries, qrels) if explain else None
    finally:
        index.close()
    result = {
        "dataset": folder.name,
        "language": lang or "en",
        "queries": len(queries),
        "judgments": sum(len(r) for r in qrels.values()),
        "model": settings.model,
        "build": index.build_id,
        "modes": metrics,
        "recommendations": recommendations,
    }
    if explained is not None:
        result["explain"] = explained
    return result


def translated_questions(folder: Path, lang: str) -> dict[str, str]:
    """The questions of a set in one of its translations (translations/queries.<lang>.jsonl)."""
    translations = load_translations(folder)
    if lang not in translations:
        have = ", ".join(["en", *translations]) or "en only"
        raise NotFoundError(
            f"{folder} has no translation into {lang!r}",
            f"choose one of: {have} (files {folder}/translations/queries.<lang>.jsonl)",
        )
    return translations[lang]


# letters no decomposition takes apart, as a keyboard without them types them
_UNMARKED = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "ß": "ss"})


def without_marks(text: str) -> str:
    """A question as a keyboard without its language's marks types it ("Mūsų młodzież, søster": "Musu
    mlodziez, soster"): to measure how questions typed so are read (text.diacritics)."""
    plain = unicodedata.normalize("NFD", text.translate(_UNMARKED))
    return unicodedata.normalize("NFC", "".join(c for c in plain if not unicodedata.combining(c)))


EXPLAIN_TOP = (
    10  # a relevant practice outside the first EXPLAIN_TOP of the hybrid ranking is missed
)
EXPLAINED_LEGS = ("dense", "lexical", "taxonomy", "tags")


def explain_misses(
    index: Index,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    top: int = EXPLAIN_TOP,
) -> list[dict[str, Any]]:
    """For each question, weakest first: its hybrid nDCG@10, the taxonomy terms understood in it, and the
    relevant practices (grade 1 or more, highest grade first) missing from the hybrid's first `top`, with the
    rank each leg and the fusion gave them (None: not returned). What a ranking change should look at."""
    import ir_measures
    from ir_measures import nDCG

    runs: dict[str, dict[str, float]] = {}
    found: dict[str, Retrieval] = {}
    for qid, text in queries.items():
        query = SearchQuery(text[:MAX_QUERY_CHARS], k=DEPTH, mode="hybrid")
        found[qid] = retrieve(index, query, max(index.ranking.candidates, DEPTH))
        ranked = found[qid].fused[:DEPTH]
        runs[qid] = {rid: float(len(ranked) - i) for i, (rid, _) in enumerate(ranked)}
    per_question = {
        m.query_id: float(m.value) for m in ir_measures.iter_calc([nDCG @ 10], qrels, runs)
    }
    out = [
        _explained(qid, queries[qid], per_question.get(qid, 0.0), found[qid], qrels[qid], top)
        for qid in queries
        if qid in qrels
    ]
    return sorted(out, key=lambda q: (q["nDCG@10"], q["id"]))


def _explained(
    qid: str, text: str, ndcg: float, found: Retrieval, judged: dict[str, int], top: int
) -> dict[str, Any]:
    """One question's entry of explain_misses."""
    fused = fusion.ranks([rid for rid, _ in found.fused])
    legs = {leg: fusion.ranks(found.legs.get(leg, [])) for leg in EXPLAINED_LEGS}
    relevant = sorted((p for p, g in judged.items() if g >= 1), key=lambda p: (-judged[p], p))
    missed = [
        {
            "id": pid,
            "grade": judged[pid],
            "hybrid": fused.get(pid),
            **{leg: legs[leg].get(pid) for leg in EXPLAINED_LEGS},
        }
        for pid in relevant
        if fused.get(pid, top + 1) > top
    ]
    return {
        "id": qid,
        "text": text,
        "language": found.language,
        "nDCG@10": round(ndcg, 4),
        "understood": found.understood,
        "relevant": len(relevant),
        "missed": missed,
    }


def load_translations(folder: Path = DOMAIN_DIR) -> dict[str, dict[str, str]]:
    """The domain questions translated into the region's languages: language -> question id -> text
    (files translations/queries.<lang>.jsonl; the judgments are the English questions')."""
    import json

    out: dict[str, dict[str, str]] = {}
    for path in sorted((folder / "translations").glob("queries.*.jsonl")):
        lang = path.name.split(".")[1]
        out[lang] = {
            q["_id"]: q["text"]
            for q in map(json.loads, path.read_text(encoding="utf-8").splitlines())
            if q
        }
    return out


TATOEBA_CODES = {language.code: language.tatoeba for language in LANGUAGES if language.tatoeba}


def load_tatoeba(folder: Path, lang: str, limit: int = 0) -> tuple[list[str], list[str]]:
    """Parallel sentences (in `lang`, in English) of a LASER Tatoeba test set; line i translates line i."""
    code = TATOEBA_CODES[lang]
    source = (folder / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()
    english = (folder / f"tatoeba.{code}-eng.eng").read_text(encoding="utf-8").splitlines()
    if len(source) != len(english):
        raise ValueError(
            f"tatoeba {code}: {len(source)} sentences but {len(english)} English lines"
        )
    return (source[:limit], english[:limit]) if limit else (source, english)


def tatoeba_accuracy(embedder: Embedder, sentences: list[str], english: list[str]) -> float:
    """Share of sentences whose nearest English sentence (of all of them) is their own translation.

    The sentence is encoded as a query and the English side as passages, as the service does with a
    question in any language over English practices.
    """
    import numpy as np

    queries = embedder.encode(sentences, kind="query")
    targets = embedder.encode(english, kind="passage")
    best = np.argmax(queries @ targets.T, axis=1)
    return float(np.mean(best == np.arange(len(sentences))))
