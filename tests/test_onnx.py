"""The ONNX query path gives the same vectors as sentence-transformers, and is the service's default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from practice_finder.config import Settings
from practice_finder.errors import IndexMismatchError
from practice_finder.evaluation import load_domain
from practice_finder.index import open_index
from practice_finder.onnx_encoder import OnnxEmbedder

from .conftest import ROOT


def test_the_service_encodes_queries_with_onnx_by_default(real_index) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(real_index.embedder, OnnxEmbedder)
    info = real_index.manifest["query_encoder"]
    assert info["format"] == "onnx" and info["pooling"] == "mean" and len(info["sha256"]) == 64


def test_onnx_matches_sentence_transformers(real_index, real_embedder) -> None:  # type: ignore[no-untyped-def]
    queries, _ = load_domain(ROOT / "eval" / "domain")
    passages = [r[0] for r in real_index.db.execute("select text from passages order by id limit 250")]
    texts = [*queries.values(), *passages, "", "x", "Ein Satz auf Deutsch über Einsamkeit.", "a " * 400]
    onnx = real_index.embedder.encode(texts)
    torch = real_embedder.encode(texts)
    cosines = (onnx * torch).sum(axis=1)
    assert len(texts) >= 300
    assert cosines.min() >= 0.999, (float(cosines.min()), texts[int(np.argmin(cosines))][:80])


def test_torch_can_be_chosen(real_settings: Settings, real_embedder) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    index = open_index(replace(real_settings, query_encoder="torch"), lambda: real_embedder)
    assert index.embedder is real_embedder
    index.close()


def test_a_damaged_onnx_file_is_refused(real_settings: Settings, tmp_path: Path) -> None:
    from practice_finder import builds

    copy = tmp_path / "indexes"
    shutil.copytree(real_settings.index_dir, copy)
    build = builds.current_build(copy)
    assert build is not None
    onnx = build / json.loads((build / "manifest.json").read_text())["query_encoder"]["file"]
    onnx.unlink()  # it may be a hard link shared with another build: never write through it
    onnx.write_bytes(b"not a model")
    with pytest.raises(IndexMismatchError, match="ONNX query encoder"):
        open_index(Settings(index_dir=copy), lambda: None)  # type: ignore[arg-type,return-value]
