"""The query side's view of one build: store, vectors, model and taxonomy, opened once and checked."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import builds, nlp, store, vectors
from .config import Settings
from .embedding import Embedder
from .errors import IndexMismatchError, PracticeFinderError
from .models import Taxonomy, Term

if TYPE_CHECKING:
    import faiss


class Index:
    """A loaded build. Read-only; safe to share between request threads."""

    def __init__(self, path: Path, manifest: dict[str, Any], vectors: dict[str, faiss.Index],
                 embedder: Embedder, taxonomy: Taxonomy) -> None:
        self.path = path
        self.manifest = manifest
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.vectors = vectors
        self.embedder = embedder
        self.taxonomy = taxonomy

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @cached_property
    def practice_of_passage(self) -> dict[int, str]:
        """Passage id (the FAISS id) -> practice id, kept in memory: the dense leg looks up hundreds per query."""
        rows = self.db.execute("select id, record_id from passages where record_type = 'practice'")
        return {int(pid): str(rid) for pid, rid in rows}

    @cached_property
    def whole_record_passages(self) -> frozenset[int]:
        """Ids of the vectors of whole practices (passage number 0), as opposed to their passages."""
        rows = self.db.execute("select id from passages where record_type = 'practice' and seq = 0")
        return frozenset(int(r[0]) for r in rows)

    @cached_property
    def tagger(self) -> nlp.Tagger:
        return nlp.Tagger(self.taxonomy)

    @property
    def db(self) -> sqlite3.Connection:
        """A read-only connection of the calling thread (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = store.connect(self.path / "store.db")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def check_manifest(manifest: dict[str, Any], settings: Settings, build: Path) -> None:
    """Refuse a build made by another schema version or another model than the configured one."""
    if manifest.get("schema_version") != builds.SCHEMA_VERSION:
        raise IndexMismatchError(
            f"build {build.name} has schema version {manifest.get('schema_version')}; this program reads {builds.SCHEMA_VERSION}"
        )
    built_with = manifest.get("model", {}).get("name")
    if built_with != settings.model:
        raise IndexMismatchError(f"build {build.name} was made with model {built_with!r}, but the configured model is {settings.model!r}")


def open_index(settings: Settings, make_embedder: Callable[[], Embedder]) -> Index:
    """Open the current build; raises IndexMissingError or IndexMismatchError with what to do."""
    build = builds.require_current(settings.index_dir)
    manifest = builds.read_manifest(build)
    check_manifest(manifest, settings, build)
    dimension = int(manifest["model"]["dimension"])
    loaded = {
        kind: vectors.load(build / info["file"], int(info["size"]), dimension) for kind, info in manifest["vectors"].items()
    }
    try:
        db = store.connect(build / "store.db")
        try:
            taxonomy = load_taxonomy(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise IndexMismatchError(f"the store of build {build.name} cannot be read: {exc}") from exc
    embedder = query_embedder(settings, build, manifest, make_embedder)
    if embedder.dimension != dimension or embedder.name != settings.model:
        raise IndexMismatchError(f"the model {embedder.name!r} ({embedder.dimension}-d) does not match build {build.name}")
    index = Index(build, manifest, loaded, embedder, taxonomy)
    index.tagger.matchers("en")  # load spaCy and build the matchers now, not on the first request
    return index


QUERY_ENCODERS = ("onnx", "torch")


def query_embedder(settings: Settings, build: Path, manifest: dict[str, Any], make_embedder: Callable[[], Embedder]) -> Embedder:
    """ONNX Runtime when the build has an export and settings allow it; else the sentence-transformers model."""
    if settings.query_encoder not in QUERY_ENCODERS:
        raise PracticeFinderError(f"PF_QUERY_ENCODER={settings.query_encoder!r} is not known", f"use one of {', '.join(QUERY_ENCODERS)}")
    info = manifest.get("query_encoder")
    if settings.query_encoder == "onnx" and info:
        from .onnx_encoder import OnnxEmbedder

        return OnnxEmbedder(settings.model, int(manifest["model"]["dimension"]), build, info, settings.threads)
    return make_embedder()


def load_taxonomy(db: sqlite3.Connection) -> Taxonomy:
    """The taxonomy as it was when the build was made."""
    vocabularies: dict[str, dict[str, Term]] = {}
    for row in db.execute("select * from terms order by rowid"):
        term = Term(
            id=row["id"], vocabulary=row["vocabulary"], label=row["label"], definition=row["definition"] or "",
            synonyms=tuple(json.loads(row["synonyms"] or "[]")),
            labels={k: tuple(v) for k, v in json.loads(row["labels"] or "{}").items()},
        )
        vocabularies.setdefault(term.vocabulary, {})[term.id] = term
    return Taxonomy(vocabularies)
