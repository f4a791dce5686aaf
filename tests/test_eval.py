"""Relevance is measured, not assumed: the domain set on the real model, a quick SciFact run, metric plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from practice_finder.config import ENGLISH_MODEL, Settings
from practice_finder.evaluation import beir
from practice_finder.evaluation.relevance import evaluate, load_domain, score

from .conftest import CORPUS, ROOT, SHARED

DOMAIN = ROOT / "eval" / "domain"
BASELINE = json.loads((DOMAIN / "baseline.json").read_text())
TOLERANCE = 0.02


def test_domain_set_is_well_formed() -> None:
    queries, qrels = load_domain(DOMAIN)
    assert len(queries) >= 50 and set(qrels) == set(queries)
    ids = {p.stem for p in (CORPUS / "practices").glob("*.md")}
    for qid, judged in qrels.items():
        assert set(judged) <= ids, qid
        assert 3 in judged.values(), f"{qid} has no grade-3 practice"


@pytest.fixture(scope="module")
def domain_metrics(real_index) -> dict:  # type: ignore[no-untyped-def,type-arg]
    queries, qrels = load_domain(DOMAIN)
    return evaluate(real_index, queries, qrels)


def test_hybrid_has_not_regressed(domain_metrics: dict) -> None:  # type: ignore[type-arg]
    recorded = BASELINE["modes"]["hybrid"]["nDCG@10"]
    assert domain_metrics["hybrid"]["nDCG@10"] >= recorded - TOLERANCE, (domain_metrics, recorded)


def test_hybrid_beats_both_legs_on_the_domain_set(domain_metrics: dict) -> None:  # type: ignore[type-arg]
    hybrid = domain_metrics["hybrid"]["nDCG@10"]
    assert (
        hybrid > domain_metrics["dense"]["nDCG@10"]
        and hybrid > domain_metrics["lexical"]["nDCG@10"]
    ), domain_metrics


def test_recommendations_find_the_known_best_practices(real_index) -> None:  # type: ignore[no-untyped-def]
    from practice_finder.evaluation.relevance import recommendation_eval

    result = recommendation_eval(real_index, DOMAIN)
    assert result["profiles"] >= 10
    assert result["nDCG@10"] >= BASELINE["recommendations"]["nDCG@10"] - TOLERANCE, result


def test_metrics_come_from_trec_eval() -> None:
    qrels = {"q": {"a": 2, "b": 1}}
    assert score(qrels, {"q": {"a": 2.0, "b": 1.0}})["nDCG@10"] == 1.0
    assert score(qrels, {"q": {"x": 3.0, "a": 2.0}})["RR@10"] == 0.5


def test_beir_reader_keeps_only_judged_queries(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "T", "text": "x"}\n{"_id": "d2", "title": "", "text": "y"}\n'
    )
    (tmp_path / "queries.jsonl").write_text(
        '{"_id": "1", "text": "judged"}\n{"_id": "2", "text": "not judged"}\n'
    )
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td2\t1\n")
    data = beir.load(tmp_path)
    assert (
        data.queries == {"1": "judged"} and data.qrels == {"1": {"d2": 1}} and len(data.docs) == 2
    )
    corpus = beir.as_corpus(data)
    assert [p.title for p in corpus.practices] == ["T", "y"]


SAMPLE_DOCS = 400  # embedding dominates: 800 documents took four minutes of the suite


@pytest.mark.skipif(
    not (SHARED / "eval" / "scifact").exists(),
    reason="../shared/eval/scifact is absent: the SciFact check needs the shared evaluation data",
)
def test_quick_scifact_run_on_the_real_model(tmp_path: Path, minilm_embedder) -> None:  # type: ignore[no-untyped-def]
    """300 claims against the 283 abstracts judged for them plus random others, 400 in all (the full run is
    `practice-finder eval --beir`).

    all-MiniLM-L6-v2, whose published figures the benchmark is compared with. The same index is then
    searched with the torch and float ONNX encoders: the ONNX query path must not change nDCG.
    """
    from dataclasses import replace

    from practice_finder.evaluation.relevance import beir_eval
    from practice_finder.query.handle import open_index

    settings = Settings(index_dir=tmp_path / "unused", progress=False, model=ENGLISH_MODEL)
    path = SHARED / "eval" / "scifact"
    result = beir_eval(
        path,
        settings,
        lambda: minilm_embedder,
        sample_docs=SAMPLE_DOCS,
        keep_index=tmp_path / "idx",
    )
    modes = result["modes"]
    assert result["queries"] == 300 and result["documents"] == SAMPLE_DOCS
    assert modes["hybrid"]["nDCG@10"] >= 0.75 and modes["hybrid"]["R@100"] >= 0.95, modes
    data = beir.sample(beir.load(path), SAMPLE_DOCS)
    dense = {}
    for encoder in ("torch", "onnx"):
        other = open_index(
            replace(settings, index_dir=tmp_path / "idx", query_encoder=encoder),
            lambda: minilm_embedder,
        )
        try:
            dense[encoder] = evaluate(other, data.queries, data.qrels, modes=("dense",))["dense"][
                "nDCG@10"
            ]
        finally:
            other.close()
    # the float export ranks as sentence-transformers does
    assert abs(dense["onnx"] - dense["torch"]) <= 0.002, dense
    # int8 (the default) loses almost nothing
    assert modes["dense"]["nDCG@10"] >= dense["torch"] - 0.01, (
        modes,
        dense,
    )
