"""The query side's view of one build: store, vectors, model and taxonomy, opened once and checked."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import builds, nlp, store, vectors
from .cards import Card, CardCache, FacetTable
from .config import Settings
from .embedding import Embedder
from .errors import IndexMismatchError, IndexMissingError, PracticeFinderError
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
        self._cards = CardCache()

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @cached_property
    def practice_of_passage(self) -> dict[int, str]:
        """Passage id (the FAISS id) -> practice id, kept in memory: the dense leg looks up hundreds per query."""
        rows = self.db.execute("select id, record_id from passages where record_type = 'practice'")
        return {int(pid): str(rid) for pid, rid in rows}

    @cached_property
    def _owner_table(self) -> tuple[np.ndarray, list[str]]:
        """FAISS id -> position in a list of practice ids (-1: not a practice passage), for vectorised look-ups."""
        owners = self.practice_of_passage
        names = sorted(set(owners.values()))
        position = {name: i for i, name in enumerate(names)}
        table = np.full(max(owners, default=-1) + 1, -1, dtype=np.int64)
        for pid, rid in owners.items():
            table[pid] = position[rid]
        return table, names

    def best_per_practice(self, ids: np.ndarray, scores: np.ndarray, depth: int
                          ) -> tuple[list[str], dict[str, tuple[int, float]]]:
        """From passage hits (best first): the practices in order of their best passage, and that passage."""
        table, names = self._owner_table
        inside = ids < len(table)
        ids, scores = ids[inside], scores[inside]
        owner = table[ids]
        keep = owner >= 0
        ids, scores, owner = ids[keep], scores[keep], owner[keep]
        _, first = np.unique(owner, return_index=True)  # first occurrence = best passage of each practice
        first.sort()
        first = first[:depth]
        best = {names[owner[i]]: (int(ids[i]), float(scores[i])) for i in first}
        return list(best), best

    @cached_property
    def practice_language(self) -> dict[str, str]:
        """Practice id -> the language it is written in (the dense leg compares similarities within a language)."""
        return {str(r[0]): str(r[1]) for r in self.db.execute("select id, language from practices")}

    @cached_property
    def whole_record_passages(self) -> frozenset[int]:
        """Ids of the vectors of whole practices (passage number 0), as opposed to their passages."""
        rows = self.db.execute("select id from passages where record_type = 'practice' and seq = 0")
        return frozenset(int(r[0]) for r in rows)

    @cached_property
    def facet_table(self) -> FacetTable:
        """Facet keys of every practice, for counting facets over a whole candidate list."""
        return FacetTable(self.db)

    def cards(self, ids: Sequence[str]) -> dict[str, Card]:
        """In-memory views of practices for result pages and facets (see cards.py); unknown ids left out."""
        return self._cards.get_many(self.db, ids)

    def warm(self) -> None:
        """Load what the first requests would otherwise load: spaCy, the tagger's matchers, the language
        detector, every practice card."""
        from . import languages

        for lang in languages.REGION_LANGUAGES:
            self.tagger.matchers(lang)
        languages.detector()
        _ = self.practice_language
        _ = self.facet_table
        ids = [r[0] for r in self.db.execute("select id from practices order by id limit ?", (self._cards.capacity,))]
        self.cards(ids)

    @cached_property
    def tagger(self) -> nlp.Tagger:
        return nlp.tagger_for(self.taxonomy)

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


def open_index(settings: Settings, make_embedder: Callable[[], Embedder], build: Path | None = None,
               reuse: Index | None = None) -> Index:
    """Open a build (default: the current one); raises IndexMissingError or IndexMismatchError with what to do.

    `reuse`: an index already loaded in this process whose query encoder is taken over when the new build was
    made with the same model files (a re-index then costs no model load; taggers are shared per taxonomy).
    """
    build = build or builds.require_current(settings.index_dir)
    manifest = builds.read_manifest(build)
    check_manifest(manifest, settings, build)
    builds.verify_files(build, manifest)
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
    same_encoder = reuse is not None and _same_query_encoder(reuse.manifest, manifest)
    embedder = reuse.embedder if reuse is not None and same_encoder else query_embedder(settings, build, manifest, make_embedder)
    if embedder.dimension != dimension or embedder.name != settings.model:
        raise IndexMismatchError(f"the model {embedder.name!r} ({embedder.dimension}-d) does not match build {build.name}")
    index = Index(build, manifest, loaded, embedder, taxonomy)
    _single_query_threads()
    index.warm()
    return index


def open_serving(settings: Settings, make_embedder: Callable[[], Embedder], reuse: Index | None = None
                 ) -> tuple[Index, list[tuple[str, str]]]:
    """The current build or, when it cannot be used (damaged, another model), the newest older build that can.

    Returns the index and the builds refused on the way, each with the reason.
    """
    current = builds.current_build(settings.index_dir)
    older = [b for b in reversed(builds.list_builds(settings.index_dir)) if current is None or b.name != current.name]
    refused: list[tuple[str, str]] = []
    for build in ([current] if current else []) + older:
        try:
            return open_index(settings, make_embedder, build, reuse), refused
        except IndexMismatchError as exc:
            refused.append((build.name, exc.message))
    if refused:
        error = IndexMismatchError(f"no build in {settings.index_dir} can be used; the newest: {refused[0][1]}")
        error.refused = refused
        raise error
    raise IndexMissingError(f"no index has been built in {settings.index_dir}")


def _same_query_encoder(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Both builds answer queries with the same model files (so the loaded encoder can serve the new one)."""
    def encoder(manifest: dict[str, Any]) -> dict[str, Any] | None:
        info = manifest.get("query_encoder")
        return None if info is None else {k: v for k, v in info.items() if k != "reused_from"}  # sha256 of the files

    return bool(old.get("model") == new.get("model") and encoder(old) == encoder(new))


def _single_query_threads() -> None:
    """FAISS searches one query at a time here; its OpenMP threads would only spin and slow the query encoder.

    Measured on 2 cores (docs/benchmarks.md): a search took 19 ms with two OpenMP threads, 10 ms with one.
    """
    import faiss

    faiss.omp_set_num_threads(1)


QUERY_ENCODERS = ("onnx-int8", "onnx", "torch")


def query_embedder(settings: Settings, build: Path, manifest: dict[str, Any], make_embedder: Callable[[], Embedder]) -> Embedder:
    """ONNX Runtime (int8 or float) when the build has that export and settings ask for it; else sentence-transformers."""
    if settings.query_encoder not in QUERY_ENCODERS:
        raise PracticeFinderError(f"PF_QUERY_ENCODER={settings.query_encoder!r} is not known", f"use one of {', '.join(QUERY_ENCODERS)}")
    info = manifest.get("query_encoder")
    if info and settings.query_encoder != "torch":
        quantized = settings.query_encoder == "onnx-int8" and bool(info.get("int8"))  # builds before int8: float
        from .onnx_encoder import OnnxEmbedder

        return OnnxEmbedder(settings.model, int(manifest["model"]["dimension"]), build, info, settings.threads, quantized)
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
