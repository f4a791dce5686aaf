"""Shared fixtures: a tiny inline corpus with a fake embedder for fast pipeline tests, and one real
index (shipped model, shipped corpus) built once per test session for search tests.

Every test that uses a real model or a real index is marked `real` here, so `pytest -m "not real"`
(`make test-fast`) runs the rest in a couple of minutes."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import ModuleType

import pytest

from practice_finder.config import ENGLISH_MODEL, Settings

from .fakes import HashingEmbedder, write_tiny_corpus

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"

# Fixtures that load a shipped model or build a real index: a test using any of them, directly or
# through another fixture, is marked `real`.
REAL_FIXTURES = frozenset(
    {
        "real_settings",
        "real_index",
        "real_embedder",
        "minilm_embedder",
        "minilm_settings",
        "minilm_index",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real)


@pytest.fixture
def tiny(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh three-practice corpus and an empty index directory."""
    corpus = tmp_path / "corpus"
    write_tiny_corpus(corpus, CORPUS / "taxonomy.yaml")
    # no bilingual dictionaries: reading the system's takes seconds (tests/test_dictionaries.py covers them)
    return Settings(
        corpus_dir=corpus,
        index_dir=tmp_path / "indexes",
        progress=False,
        keep_builds=2,
        dictionaries_dir=tmp_path / "no-dictionaries",
    )


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shipped corpus, indexed once with the default model, multilingual-e5-small (about 8 minutes)."""
    from practice_finder.build.encoders import load_embedder
    from practice_finder.build.ingest import ingest

    index_dir = tmp_path_factory.mktemp("real") / "indexes"
    settings = Settings(corpus_dir=CORPUS, index_dir=index_dir, progress=False)
    ingest(settings, partial(load_embedder, settings.model))
    return settings


def script(name: str) -> ModuleType:
    """scripts/<name>.py loaded as a module without running its main (a script that imports another
    script needs scripts/ on sys.path first, as when it is run)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_index(source: Path, target: Path) -> None:
    """A copy of the index folder `source` whose builds' ONNX export files are hard-linked (no build
    writes to them, and the float graph's weights alone are 384 MB); the rest is copied."""

    def link_export(src: str, dst: str) -> str:
        if Path(src).name.startswith(("query-", "encoder-")):
            os.link(src, dst)
            return dst
        return str(shutil.copy2(src, dst))

    shutil.copytree(source, target, symlinks=True, copy_function=link_export)


@pytest.fixture
def tiny_after_real(tiny: Settings, real_settings: Settings) -> Settings:
    """`tiny` whose index folder holds the real build as its current one, so that an ingest with the
    shipped model there links that build's ONNX export instead of making it again (about 50 s)."""
    copy_index(real_settings.index_dir, tiny.index_dir)
    return tiny


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from practice_finder.build.encoders import load_embedder

    return load_embedder(Settings().model)


@pytest.fixture(scope="session")
def real_index(real_settings: Settings, real_embedder):  # type: ignore[no-untyped-def]
    from practice_finder.query.handle import open_index

    index = open_index(real_settings, lambda: real_embedder)
    yield index
    index.close()


@pytest.fixture(scope="session")
def minilm_embedder():  # type: ignore[no-untyped-def]
    """The English sentence-transformers model (the one with an ONNX query encoder)."""
    from practice_finder.build.encoders import load_embedder

    return load_embedder(ENGLISH_MODEL)


@pytest.fixture(scope="session")
def minilm_settings(tmp_path_factory: pytest.TempPathFactory, minilm_embedder) -> Settings:  # type: ignore[no-untyped-def]
    """The shipped corpus indexed with all-MiniLM-L6-v2 (about a minute)."""
    from practice_finder.build.ingest import ingest

    index_dir = tmp_path_factory.mktemp("minilm") / "indexes"
    settings = Settings(corpus_dir=CORPUS, index_dir=index_dir, progress=False, model=ENGLISH_MODEL)
    ingest(settings, lambda: minilm_embedder)
    return settings


@pytest.fixture(scope="session")
def minilm_index(minilm_settings: Settings, minilm_embedder):  # type: ignore[no-untyped-def]
    from practice_finder.query.handle import open_index

    index = open_index(minilm_settings, lambda: minilm_embedder)
    yield index
    index.close()


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the shipped corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target, ignore=shutil.ignore_patterns(".*"))
    yield target
