"""The query side's view of one build: store, vectors, model and taxonomy, opened once and checked."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from practice_finder.build import store, vectors, versions
from practice_finder.build.dictionaries import GLOSSARY
from practice_finder.build.encoders import Embedder, centring, language_map, load_embedder
from practice_finder.build.manifest import Manifest
from practice_finder.build.offsets import Directions, Offset
from practice_finder.config import Settings
from practice_finder.errors import (
    IndexMismatchError,
    IndexMissingError,
    NotFoundError,
    PracticeFinderError,
)
from practice_finder.models import Taxonomy, Term
from practice_finder.query.admission import Admission, HeavyLimits
from practice_finder.query.cards import Card, CardCache, FacetTable
from practice_finder.query.fusion import FUSIONS
from practice_finder.query.postings import PhraseScores
from practice_finder.query.topics import TopicSpace
from practice_finder.text import tagging

if TYPE_CHECKING:
    import faiss


@dataclass(frozen=True)
class Ranking:
    """How searches and recommendations on an index rank: the fusion constant (PF_RRF_K), the depth of each
    retrieval leg before fusion (PF_CANDIDATES), how a search fuses its legs (PF_FUSION: by their scaled
    scores or by rank; recommendations and similar practices fuse by rank) and how a question's vector
    moves: by its language's map towards English (PF_LANGUAGE_MAP), by its language's offset
    (PF_LANGUAGE_OFFSET) and off the common question direction (PF_QUESTION_CENTRING). Fixed when the
    index is opened, so every surface ranks alike."""

    rrf_k: int
    candidates: int
    fusion: str
    language_offset: float = 0.0  # PF_LANGUAGE_OFFSET: see legs.toward_english
    question_centring: float = (
        0.0  # PF_QUESTION_CENTRING, resolved for the model: see legs.toward_english
    )
    language_map: float = 0.0  # PF_LANGUAGE_MAP: see legs.toward_english

    @classmethod
    def of(cls, settings: Settings) -> Ranking:
        """The ranking the settings ask for; refuses values that cannot rank."""
        if settings.candidates < 1:
            raise PracticeFinderError(
                f"PF_CANDIDATES={settings.candidates} leaves nothing to rank", "use 1 or more"
            )
        if settings.rrf_k < 0:
            raise PracticeFinderError(f"PF_RRF_K={settings.rrf_k} is negative", "use 0 or more")
        if settings.fusion not in FUSIONS:
            raise PracticeFinderError(
                f"PF_FUSION={settings.fusion!r} is not a way to fuse",
                f"use one of: {', '.join(FUSIONS)}",
            )
        if not 0 <= settings.language_offset <= 1:
            raise PracticeFinderError(
                f"PF_LANGUAGE_OFFSET={settings.language_offset} is outside 0..1",
                "use 0 (questions as encoded) to 1 (the whole offset); 0.25 is measured best",
            )
        return cls(
            settings.rrf_k,
            settings.candidates,
            settings.fusion,
            settings.language_offset,
            _share("PF_QUESTION_CENTRING", settings.question_centring, centring(settings.model)),
            _share("PF_LANGUAGE_MAP", settings.language_map, language_map(settings.model)),
        )


def _share(name: str, raw: str, auto: float) -> float:
    """A setting that is `auto` (the model's measured share, `auto`) or a share from 0 to 1."""
    raw = raw.strip()
    if raw == "auto":
        return auto
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise PracticeFinderError(
            f"{name}={raw!r} is neither auto nor a share from 0 to 1",
            "use auto (the model's measured share), or 0 (questions as encoded) to 1",
        )
    return share


class Index:
    """A loaded build. Read-only; safe to share between request threads."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        vectors: dict[str, faiss.Index],
        embedder: Embedder,
        taxonomy: Taxonomy,
        ranking: Ranking | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.path = path
        self.ranking = ranking or Ranking.of(Settings())
        self.manifest = manifest
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.vectors = vectors
        self.embedder = embedder
        # every encode of a request goes through it: questions first, heavy work by slots
        self.admission = admission if admission is not None else Admission(embedder)
        self.taxonomy = taxonomy
        self._cards = CardCache()
        self.card_capacity = self._cards.capacity

    @property
    def build_id(self) -> str:
        return self.manifest.build_id

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

    def best_per_practice(
        self, ids: np.ndarray, scores: np.ndarray, depth: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """From passage hits (best first): the positions (in `practice_ids`) of the practices in order of their
        best passage, and that passage's similarity."""
        owner, scores = self.passage_owners(ids, scores)
        # first occurrence = best passage of each practice
        _, first = np.unique(owner, return_index=True)
        first.sort()
        first = first[:depth]
        return owner[first], scores[first]

    def passage_owners(self, ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Passage hits (best first) as the position (in `practice_ids`) of the practice each belongs to, and
        its similarity; hits that are no practice's passage are left out."""
        table, _ = self._owner_table
        inside = ids < len(table)
        ids, scores = ids[inside], scores[inside]
        owner = table[ids]
        keep = owner >= 0
        return owner[keep], scores[keep]

    @property
    def practice_ids(self) -> list[str]:
        """Practice ids in the order of the positions `best_per_practice` gives."""
        return self._owner_table[1]

    @cached_property
    def practice_position(self) -> dict[str, int]:
        """Practice id -> its position in `practice_ids`."""
        return {rid: i for i, rid in enumerate(self.practice_ids)}

    @cached_property
    def practice_language(self) -> dict[str, str]:
        """Practice id -> the language it is written in."""
        return {str(r[0]): str(r[1]) for r in self.db.execute("select id, language from practices")}

    @cached_property
    def practice_language_codes(self) -> np.ndarray:
        """The language of each practice by its position in `practice_ids`, as a small integer (the dense leg
        compares similarities within a language)."""
        languages = self.practice_language
        codes: dict[str, int] = {}
        return np.array(
            [codes.setdefault(languages.get(rid, ""), len(codes)) for rid in self.practice_ids],
            dtype=np.int64,
        )

    @cached_property
    def topic_space(self) -> TopicSpace:
        """The practice passage vectors with each language's mean taken out (see topics.py), computed from the
        stored vectors when first needed."""
        rows = self.db.execute(
            "select s.record_id, s.seq, s.embedding, p.language from passages s "
            "join practices p on p.id = s.record_id where s.record_type = 'practice' order by s.id"
        ).fetchall()
        position = self.practice_position
        dimension = self.manifest.model.dimension
        matrix = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows]) if rows else None
        return TopicSpace.of(
            matrix if matrix is not None else np.zeros((0, dimension), dtype=np.float32),
            np.array([position[str(r[0])] for r in rows], dtype=np.int64),
            np.array([str(r[3]) for r in rows]),
            np.array([r[1] == 0 for r in rows], dtype=bool),
        )

    @cached_property
    def practice_tags(self) -> dict[tuple[str, str], list[tuple[str, bool]]]:
        """(vocabulary, term) -> (practice id, declared by its authors rather than found in its text) of every
        tag of a practice: the taxonomy leg adds up weights from memory instead of querying the tags table."""
        out: dict[tuple[str, str], list[tuple[str, bool]]] = {}
        rows = self.db.execute(
            "select t.vocabulary, t.term, t.record_id, t.source = 'declared' from tags t "
            "join practices p on p.id = t.record_id where t.record_type = 'practice' order by t.rowid"
        )
        for vocab, term, rid, declared in rows:
            out.setdefault((str(vocab), str(term)), []).append((str(rid), bool(declared)))
        return out

    @cached_property
    def tag_views(self) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
        """language -> the practices whose declared tags the build wrote out in it, and the vectors of those
        texts, a row each (build/tag_texts.py; {} for builds without them)."""
        if not self.db.execute("select 1 from sqlite_master where name = 'tag_texts'").fetchone():
            return {}
        rows: dict[str, list[tuple[str, bytes]]] = {}
        for rid, language, vector in self.db.execute(
            "select record_id, language, embedding from tag_texts order by language, record_id"
        ):
            rows.setdefault(str(language), []).append((str(rid), vector))
        return {
            language: (
                tuple(rid for rid, _ in found),
                np.stack([np.frombuffer(v, dtype=np.float32) for _, v in found]),
            )
            for language, found in rows.items()
        }

    @cached_property
    def practice_facts(self) -> dict[str, tuple[int, str, str]]:
        """Practice id -> its town's population, its budget band and its country (constraints weigh them)."""
        rows = self.db.execute("select id, population, budget_band, country from practices")
        return {str(r[0]): (int(r[1] or 0), str(r[2]), str(r[3])) for r in rows}

    @cached_property
    def phrase_scores(self) -> PhraseScores:
        """Each full-text phrase's BM25 score per practice, kept between questions (the lexical leg)."""
        return PhraseScores(lambda: self.db, "practices_fts", store.BM25_WEIGHTS["practices"])

    @cached_property
    def practice_id_of_rowid(self) -> dict[int, str]:
        """SQLite rowid of a practice (also its row in the full-text index) -> its id."""
        return {int(r[0]): str(r[1]) for r in self.db.execute("select rowid, id from practices")}

    @cached_property
    def whole_record_passages(self) -> frozenset[int]:
        """Ids of the vectors of whole practices (passage number 0), as opposed to their passages."""
        rows = self.db.execute("select id from passages where record_type = 'practice' and seq = 0")
        return frozenset(int(r[0]) for r in rows)

    @cached_property
    def directions(self) -> Directions | None:
        """The languages' offsets and the common question direction, as the build measured them
        (build/offsets.py; None for builds without)."""
        return store.directions(self.path / "store.db")

    @cached_property
    def language_offsets(self) -> dict[str, np.ndarray]:
        """language -> its offset ({} for builds without)."""
        return {o.language: o.vector for o in self.directions.offsets} if self.directions else {}

    @cached_property
    def language_maps(self) -> dict[str, Offset]:
        """language -> its offset with its map towards English ({} for builds without maps)."""
        found = self.directions.offsets if self.directions else []
        return {o.language: o for o in found if o.basis is not None and o.towards is not None}

    @cached_property
    def has_glossary(self) -> bool:
        """Whether the build holds bilingual dictionaries: its manifest names some (build/dictionaries.py),
        so a question is not looked up in an empty glossary."""
        held = self.manifest.dictionaries
        return isinstance(held, dict) and bool(held) and (self.path / GLOSSARY).is_file()

    def glossary(self, lang: str, keys: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """English translations by key (a headword, or "~" + a stem) in the dictionary of `lang`; keys the
        dictionary lacks are left out."""
        if not keys or not self.has_glossary:
            return {}
        marks = ", ".join("?" * len(keys))
        rows = self._connection(GLOSSARY).execute(
            f"select key, english from glossary where lang = ? and key in ({marks})", [lang, *keys]
        )
        out: dict[str, tuple[str, ...]] = {}
        for key, english in rows:
            known = out.get(key, ())
            out[key] = known + tuple(e for e in english.split("\t") if e not in known)
        return out

    @cached_property
    def facet_table(self) -> FacetTable:
        """Facet keys of every practice, for counting facets over a whole candidate list."""
        return FacetTable(self.db)

    def cards(self, ids: Sequence[str]) -> dict[str, Card]:
        """In-memory views of practices for result pages and facets (see cards.py); unknown ids left out."""
        return self._cards.get_many(self.db, ids)

    @cached_property
    def tagger(self) -> tagging.Tagger:
        return tagging.tagger_for(self.taxonomy)

    @property
    def db(self) -> sqlite3.Connection:
        """A read-only connection of the calling thread to the store (opened on first use)."""
        return self._connection("store.db")

    def _connection(self, name: str) -> sqlite3.Connection:
        """A read-only connection of the calling thread to one of the build's SQLite files."""
        conns: dict[str, sqlite3.Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(name)
        if conn is None:
            conn = conns[name] = store.connect(self.path / name)
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def check_manifest(manifest: Manifest, settings: Settings, build: Path) -> None:
    """Refuse a build made by another schema version or another model than the configured one."""
    mismatch = manifest.mismatch(settings.model)
    if mismatch is not None:
        raise IndexMismatchError(f"build {build.name} was made with {mismatch}")


def open_as_built(settings: Settings) -> Index:
    """The current build of `settings.index_dir`, opened with the model it was made with whatever
    `settings.model` says (tools that compare builds of several models); IndexMissingError without one."""
    build = versions.require_current(settings.index_dir)
    model = versions.read_manifest(build).model.name
    return open_index(replace(settings, model=model), partial(load_embedder, model), build)


def open_index(
    settings: Settings,
    make_embedder: Callable[[], Embedder],
    build: Path | None = None,
    reuse: Index | None = None,
) -> Index:
    """Open a build (default: the current one); raises IndexMissingError or IndexMismatchError with what to do.

    `reuse`: an index already loaded in this process whose query encoder is taken over when the new build was
    made with the same model files (a re-index then costs no model load; taggers are shared per taxonomy).
    """
    ranking = Ranking.of(settings)
    build = build or versions.require_current(settings.index_dir)
    manifest = versions.read_manifest(build)
    check_manifest(manifest, settings, build)
    versions.verify_files(build, manifest)
    dimension = manifest.model.dimension
    loaded = {
        kind: vectors.load(build / info.file, info.size, dimension)
        for kind, info in manifest.vectors.items()
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
    if reuse is not None and same_encoder:
        embedder, admission = reuse.embedder, reuse.admission
    else:
        embedder = query_embedder(settings, build, manifest, make_embedder)
        admission = Admission(embedder, HeavyLimits.of(settings), settings.question_vectors_kept)
    if embedder.dimension != dimension or embedder.name != settings.model:
        raise IndexMismatchError(
            f"the model {embedder.name!r} ({embedder.dimension}-d) does not match build {build.name}"
        )
    return Index(build, manifest, loaded, embedder, taxonomy, ranking, admission)


def open_serving(
    settings: Settings, make_embedder: Callable[[], Embedder], reuse: Index | None = None
) -> tuple[Index, list[tuple[str, str]]]:
    """The current build or, when it cannot be used (damaged, another model), the newest older build that can.

    Returns the index and the builds refused on the way, each with the reason.
    """
    current = versions.current_build(settings.index_dir)
    older = [
        b
        for b in reversed(versions.list_builds(settings.index_dir))
        if current is None or b.name != current.name
    ]
    refused: list[tuple[str, str]] = []
    for build in ([current] if current else []) + older:
        try:
            return open_index(settings, make_embedder, build, reuse), refused
        except IndexMismatchError as exc:
            refused.append((build.name, exc.message))
    if refused:
        error = IndexMismatchError(
            f"no build in {settings.index_dir} can be used; the newest: {refused[0][1]}"
        )
        error.refused = refused
        raise error
    raise IndexMissingError(f"no index has been built in {settings.index_dir}")


def _same_query_encoder(old: Manifest, new: Manifest) -> bool:
    """Both builds answer queries with the same model files (so the loaded encoder can serve the new one)."""

    def encoder(manifest: Manifest) -> dict[str, Any] | None:
        info = manifest.query_encoder
        # sha256 of the files
        return None if info is None else {k: v for k, v in info.items() if k != "reused_from"}

    return old.model == new.model and encoder(old) == encoder(new)


QUERY_ENCODERS = ("auto", "onnx-int8", "onnx", "torch")


def query_embedder(
    settings: Settings, build: Path, manifest: Manifest, make_embedder: Callable[[], Embedder]
) -> Embedder:
    """ONNX Runtime (int8 or float) when the build has that export and settings ask for it; else the
    model's own library. `auto` takes the graph the export names for questions."""
    if settings.query_encoder not in QUERY_ENCODERS:
        raise PracticeFinderError(
            f"PF_QUERY_ENCODER={settings.query_encoder!r} is not known",
            f"use one of {', '.join(QUERY_ENCODERS)}",
        )
    info = manifest.query_encoder
    if info and settings.query_encoder != "torch":
        from practice_finder.build.onnx_encoder import OnnxEmbedder, questions_in_int8

        return OnnxEmbedder(
            settings.model,
            manifest.model.dimension,
            build,
            info,
            settings.threads,
            questions_in_int8(info, settings.query_encoder),
            spinning="never",  # questions come between other work (docs/benchmarks.md)
        )
    return make_embedder()


def _json_phrases(stored: str | None) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in json.loads(stored or "{}").items()}


def load_taxonomy(db: sqlite3.Connection) -> Taxonomy:
    """The taxonomy as it was when the build was made."""
    vocabularies: dict[str, dict[str, Term]] = {}
    rows = db.execute("select * from terms order by rowid")
    columns = {column[0] for column in rows.description}
    for row in rows:
        term = Term(
            id=row["id"],
            vocabulary=row["vocabulary"],
            label=row["label"],
            definition=row["definition"] or "",
            synonyms=tuple(json.loads(row["synonyms"] or "[]")),
            # a build made before a column existed has none of its wordings
            everyday=tuple(json.loads(row["everyday"] or "[]")) if "everyday" in columns else (),
            labels=_json_phrases(row["labels"]),
            everyday_labels=_json_phrases(row["everyday_labels"])
            if "everyday_labels" in columns
            else {},
        )
        vocabularies.setdefault(term.vocabulary, {})[term.id] = term
    return Taxonomy(vocabularies)


def record_vector(index: Index, record_type: str, record_id: str) -> np.ndarray:
    """The embedding of a record as a whole (its passage number 0)."""
    row = index.db.execute(
        "select embedding from passages where record_type = ? and record_id = ? and seq = 0",
        (record_type, record_id),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no {record_type} with id {record_id!r}")
    return np.frombuffer(row["embedding"], dtype=np.float32)
