"""Each practice's declared tags written out in the region's languages (build/tag_texts.py), and the search
leg that compares a question with those of its own language (query.legs.tags_leg)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from practice_finder.build import store, tag_texts, versions
from practice_finder.build.analysis import Analysis, sha256
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.corpus.folder import load_taxonomy
from practice_finder.languages import LABEL_LANGUAGES
from practice_finder.query import legs
from practice_finder.query.filters import Filters, practice_filter_sql
from practice_finder.query.handle import Index

from .fakes import HashingEmbedder

TAXONOMY = Path(__file__).resolve().parents[1] / "corpus" / "taxonomy.yaml"


def _analysis(kind: str, rid: str, tags: list[tuple[str, str, str]]) -> Analysis:
    rows = [{"vocabulary": v, "term": t, "source": source} for v, t, source in tags]
    return Analysis(kind=kind, id=rid, row={}, passages=[], tags=rows)


def test_a_tag_text_is_the_first_labels_of_each_tag_in_the_language() -> None:
    taxonomy = load_taxonomy(TAXONOMY)
    tags = [("challenges", "youth-out-migration"), ("assets", "library"), ("assets", "no-such")]
    text = tag_texts.tag_text(tags, taxonomy, "lv")
    youth = taxonomy.term("challenges", "youth-out-migration").labels["lv"]
    library = taxonomy.term("assets", "library").labels["lv"]
    expected = [*youth[: tag_texts.TAG_PHRASES], *library[: tag_texts.TAG_PHRASES]]
    assert text == "; ".join(dict.fromkeys(expected))
    assert youth[0] in text and "jauniešu" in text
    assert (
        tag_texts.tag_text(tags, taxonomy, "xx") == ""
    )  # a language the taxonomy has no labels in


def test_tag_texts_are_written_for_practices_from_their_declared_topics_only() -> None:
    assert tag_texts.TAG_VOCABULARIES == ("challenges", "assets", "themes")
    taxonomy = load_taxonomy(TAXONOMY)
    analyses = [
        _analysis(
            "practice",
            "p1",
            [
                ("challenges", "loneliness", "declared"),
                ("assets", "museum", "text"),
                ("target_groups", "older-people", "declared"),  # whom for: not written out
            ],
        ),
        _analysis("city", "c1", [("challenges", "loneliness", "declared")]),
        _analysis("practice", "p2", [("assets", "museum", "text")]),  # nothing declared
    ]
    rows = tag_texts.texts(analyses, taxonomy)
    assert {r["record_id"] for r in rows} == {"p1"}
    assert [r["language"] for r in rows] == list(LABEL_LANGUAGES)
    for r in rows:
        labels = taxonomy.term("challenges", "loneliness").labels[r["language"]]
        assert r["text"] == "; ".join(labels[: tag_texts.TAG_PHRASES])
        assert r["text_hash"] == sha256(r["text"])


def test_only_texts_missing_from_the_cache_are_encoded() -> None:
    rows = [{"text": t, "text_hash": sha256(t)} for t in ("a b", "c d", "a b")]
    kept = np.full(4, 0.5, dtype=np.float32)
    asked: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        asked.append(texts)
        return np.ones((len(texts), 4), dtype=np.float32)

    matrix, encoded = tag_texts.embed(rows, {sha256("a b"): kept.tobytes()}, encode, 4)
    assert asked == [["c d"]] and encoded == 1
    np.testing.assert_array_equal(matrix, [kept, np.ones(4), kept])
    matrix, encoded = tag_texts.embed(rows[:1], {sha256("a b"): kept.tobytes()}, encode, 4)
    assert encoded == 0 and len(asked) == 1


def test_the_tags_leg_counts_for_half_the_dense_leg_and_is_no_word_leg() -> None:
    found = {"dense": [("a", 0.9)], "lexical": [("a", 3.0)], "taxonomy": [("a", 1.0)]}
    without = legs.score_weights(found, True, "lv", glossed=False)
    weights = legs.score_weights({**found, "tags": [("a", 0.8)]}, True, "lv", glossed=False)
    assert {k: v for k, v in weights.items() if k != "tags"} == without
    assert weights["tags"] == legs.TAGS_LEG_SHARE * weights["dense"]
    assert legs.language_weights("lv")["tags"] == legs.TAGS_LEG_SHARE  # fused by ranks


def test_a_build_writes_the_tag_texts_and_a_forced_one_reuses_their_vectors(
    tiny: Settings,
) -> None:
    first = HashingEmbedder()
    report = ingest(tiny, lambda: first)
    path = versions.require_current(tiny.index_dir)
    made = versions.read_manifest(path).tag_texts
    assert isinstance(made, dict)
    assert made["encoder"] == "HashingEmbedder" and made["phrases_per_tag"] == tag_texts.TAG_PHRASES
    assert made["vocabularies"] == list(tag_texts.TAG_VOCABULARIES)
    assert made["texts"] == made["encoded"] > 0
    assert first.embedded == report.embedded + made["encoded"]
    conn = store.connect(path / "store.db")
    rows = conn.execute("select record_id, language, text from tag_texts").fetchall()
    practices = {r[0] for r in conn.execute("select id from practices")}
    assert {r["record_id"] for r in rows} == practices and len(practices) == 3
    assert len(rows) == made["texts"] and {r["language"] for r in rows} <= set(LABEL_LANGUAGES)
    again = HashingEmbedder()
    ingest(tiny, lambda: again, force=True)
    remade = versions.read_manifest(versions.require_current(tiny.index_dir)).tag_texts
    assert isinstance(remade, dict) and remade["encoded"] == 0 and again.embedded == 0


def test_a_build_without_tag_texts_is_rebuilt(tiny: Settings) -> None:
    ingest(tiny, lambda: HashingEmbedder())
    path = versions.require_current(tiny.index_dir)
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["tag_texts"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    report = ingest(tiny, lambda: HashingEmbedder())
    assert report.build_id is not None and "tags written out" in report.reason


@pytest.mark.real
def test_a_latvian_question_meets_the_latvian_tag_texts_and_an_english_one_does_not(
    real_index: Index,
) -> None:
    from practice_finder.query.search import SearchQuery, retrieve

    index = real_index
    depth = index.ranking.candidates
    found = retrieve(index, SearchQuery("jauniešu aizplūšana no mazpilsētām"))
    assert found.main == "lv"
    written = index.admission.encode(["jauniešu aizplūšana no mazpilsētām"], kind="query")[0]
    assert found.scored["tags"] == legs.tags_leg(index, written, "lv", depth, "", [])
    first = found.scored["tags"][0][0]
    assert "youth-out-migration" in json.loads(
        index.db.execute("select challenges from practices where id = ?", [first]).fetchone()[0]
    )
    assert "tags" not in retrieve(index, SearchQuery("young people leaving small towns")).scored
    assert (
        "tags"
        not in retrieve(
            index, SearchQuery("jauniešu aizplūšana no mazpilsētām"), taxonomy=False
        ).scored
    )
    where, params = practice_filter_sql(Filters(country=["LV"]))
    allowed = legs.allowed_practices(index, where, params)
    assert allowed
    filtered = legs.tags_leg(index, written, "lv", depth, where, params)
    assert filtered and {rid for rid, _ in filtered} <= allowed


class EnglishOnly(HashingEmbedder):
    """A stand-in that says it is the English-only model."""

    name = "all-MiniLM-L6-v2"


def test_a_build_with_an_english_model_writes_no_tag_texts(tiny: Settings) -> None:
    from dataclasses import replace

    settings = replace(tiny, model=EnglishOnly.name)
    ingest(settings, lambda: EnglishOnly())
    made = versions.read_manifest(versions.require_current(tiny.index_dir)).tag_texts
    assert isinstance(made, dict) and made["texts"] == made["encoded"] == 0
