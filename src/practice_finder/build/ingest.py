"""Ingestion: corpus/ -> a new versioned build (SQLite store + FAISS + manifest) -> atomic switch.

Validation happens before anything is written, so a bad corpus leaves the served build untouched.
Embeddings of unchanged texts are reused from the current build (or, when it is damaged, from the newest
intact one); an unchanged corpus builds nothing. A write log that ends before the current build (lost, or
restored from an older backup) is refused: building from it would drop records the build holds.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from practice_finder.build import (
    analysis,
    dictionaries,
    encoders,
    exporting,
    offsets,
    onnx_encoder,
    store,
    tag_texts,
    vectors,
    versions,
)
from practice_finder.build.analysis import Analysis
from practice_finder.build.encoders import Embedder
from practice_finder.build.manifest import (
    Made,
    Manifest,
    ModelInfo,
    VectorFile,
    corpus_hash,
    create,
)
from practice_finder.config import Settings
from practice_finder.corpus.catalog import behind_error, load_current
from practice_finder.corpus.write_log import LOG
from practice_finder.errors import PracticeFinderError
from practice_finder.languages import LABEL_LANGUAGES
from practice_finder.models import TABLES, Corpus
from practice_finder.text import lemmas, tagging

EmbedderFactory = Callable[[], Embedder]


@dataclass
class IngestReport:
    """What an ingest did: the build it made (None when already up to date) and the figures."""

    build_id: str | None
    current_build: str
    changes: dict[str, int]
    counts: dict[str, int]
    embedded: int
    reused: int
    reason: str = ""  # why a build was (or was not) needed
    timings: dict[str, float] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    stale_removed: int = 0
    writes_seq: int = 0  # the newest write of the log that the build includes
    analysed: int = (
        0  # records analysed afresh (the others' analyses were taken from the previous build)
    )

    @property
    def up_to_date(self) -> bool:
        return self.build_id is None


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)


def ingest(
    settings: Settings,
    make_embedder: EmbedderFactory,
    *,
    force: bool = False,
    corpus: Corpus | None = None,
) -> IngestReport:
    """Validate the corpus and, when anything changed (or `force`), build and publish a new index.

    `corpus` replaces reading `settings.corpus_dir` (the evaluation harness builds one in memory).
    """
    timer = _Timer()
    started = time.perf_counter()
    from_folder = corpus is None
    with versions.ingest_lock(settings.index_dir):
        with timer.phase("validate"):
            corpus, writes_seq = (
                (corpus, 0)
                if corpus is not None
                else load_current(settings.corpus_dir, settings.state_dir)
            )
        stale = versions.remove_stale_tmp(settings.index_dir)
        previous = reusable_build(settings)
        if from_folder:
            _refuse_a_log_behind(previous, writes_seq, settings)
        report = _plan(corpus, previous, settings)
        report.stale_removed, report.writes_seq = stale, writes_seq
        if force and report.build_id is None:
            report.reason = "forced"
        if report.build_id is None and not force:
            _note_writes(previous, writes_seq)
            report.timings = {**timer.timings, "total": round(time.perf_counter() - started, 3)}
            return report
        _build(corpus, previous, settings, make_embedder, report, timer)
    report.timings = {**timer.timings, "total": round(time.perf_counter() - started, 3)}
    return report


@dataclass
class Previous:
    """A build to compare with and take analyses and embeddings from. `damaged`: why the current build could
    not be (this one is then an older build)."""

    path: Path
    manifest: Manifest
    hashes: dict[tuple[str, str], str]
    damaged: str = ""


def reusable_build(settings: Settings) -> Previous | None:
    """The current build if it is intact; else the newest older build that is, so that a build after damage
    re-embeds only what changed since that one (not the whole corpus). None when no build is intact."""
    current = versions.current_build(settings.index_dir)
    older = [
        b
        for b in reversed(versions.list_builds(settings.index_dir))
        if current is None or b.name != current.name
    ]
    damaged = "" if current is not None else "no current build"
    for path in ([current] if current is not None else []) + older:
        try:
            found = _intact(path)
        except (sqlite3.Error, OSError, PracticeFinderError) as exc:
            why = exc.message if isinstance(exc, PracticeFinderError) else str(exc)
            damaged = damaged or f"the current build {path.name} cannot be used: {why}"
            continue
        found.damaged = damaged
        return found
    return None


def _intact(path: Path) -> Previous:
    """A build whose files are as written and whose store can be read; raises when it is not."""
    manifest = versions.read_manifest(path)
    versions.verify_files(path, manifest)  # a damaged build is rebuilt, not reused
    return Previous(path, manifest, store.record_hashes(path / "store.db"))


def _refuse_a_log_behind(previous: Previous | None, writes_seq: int, settings: Settings) -> None:
    """A log that ends before the build's newest write lost writes the build holds: refuse to drop them."""
    if previous is not None:
        behind = behind_error(writes_seq, previous.manifest.writes.seq, settings.state_dir / LOG)
        if behind is not None:
            raise behind


def _note_writes(previous: Previous | None, writes_seq: int) -> None:
    """Writes that left the corpus as it was (a put undone by a delete) are still covered by the current build."""
    if previous is not None and not previous.damaged and writes_seq > previous.manifest.writes.seq:
        previous.manifest.writes.seq = writes_seq
        versions.write_manifest(previous.path, previous.manifest)


def _plan(corpus: Corpus, previous: Previous | None, settings: Settings) -> IngestReport:
    """Compare the corpus with the current build: added, changed, removed, unchanged."""
    old = previous.hashes if previous else {}
    new = {(analysis.record_type(r), r.id): analysis.content_hash(r) for r in corpus.records()}
    changes = {
        "added": sum(1 for key in new if key not in old),
        "changed": sum(1 for key, h in new.items() if key in old and old[key] != h),
        "removed": sum(1 for key in old if key not in new),
        "unchanged": sum(1 for key, h in new.items() if old.get(key) == h),
    }
    counts = _counts(corpus)
    current = previous.path.name if previous else ""
    reason = _rebuild_reason(previous, corpus_hash(corpus, settings.model), settings)
    build_id = None if reason is None else versions.new_build_id()
    return IngestReport(
        build_id, current, changes, counts, embedded=0, reused=0, reason=reason or "up to date"
    )


def _rebuild_reason(previous: Previous | None, corpus_hash: str, settings: Settings) -> str | None:
    """Why the current build cannot stay, or None when it is up to date."""
    if previous is None:
        return "no current build"
    if previous.damaged:
        return f"{previous.damaged}; texts are reused from build {previous.path.name}"
    manifest = previous.manifest
    mismatch = manifest.mismatch(settings.model)
    if mismatch is not None:
        return mismatch
    if manifest.corpus.hash != corpus_hash:
        return "corpus changed"
    if not manifest.model.passages_with:
        return "the build does not record what encoded its passages (made by an older version)"
    encoder = manifest.query_encoder
    if encoder is not None and not onnx_encoder.made_as_now(encoder):
        return "the ONNX export is out of date (graph or int8 variant made differently)"
    made_tags = manifest.tag_texts
    made_now = {
        "phrases_per_tag": tag_texts.TAG_PHRASES,
        "vocabularies": list(tag_texts.TAG_VOCABULARIES),
        "languages": list(tag_languages(settings.model)),
    }
    if not isinstance(made_tags, dict) or {k: made_tags.get(k) for k in made_now} != made_now:
        return (
            "the build's tags written out in the region's languages are missing or made differently"
        )
    measured = manifest.language_offsets
    if encoder is not None and not (isinstance(measured, dict) and "common_terms" in measured):
        return "the build has no language offsets or common question direction (made by an older version)"
    if encoder is not None and not (isinstance(measured, dict) and "maps" in measured):
        return "the build has no language maps towards English (made by an older version)"
    analysed = manifest.nlp.lemmatisers if isinstance(manifest.nlp.lemmatisers, dict) else {}
    if analysed != lemmas.describe():
        return "the base-form analysers installed (Voikko for Finnish) differ from those the build was analysed with"
    built = manifest.dictionaries if isinstance(manifest.dictionaries, dict) else {}
    own = dictionaries.own_glossaries()
    if any(built.get(lang) != named for lang, named in own.items()):
        return "the project's own glossaries differ from those in the build"
    if set(built) != dictionaries.available(settings.dictionaries_dir):
        return "the bilingual dictionaries installed differ from those in the build"
    if built and not (previous.path / dictionaries.GLOSSARY).is_file():
        return "the build keeps its dictionary words in an older layout"
    return None


def _counts(corpus: Corpus) -> dict[str, int]:
    return {
        **{table: len(corpus.of_kind(kind)) for kind, table in TABLES.items()},
        "countries": len(
            {p.country for p in corpus.practices} | {c.country for c in corpus.cities}
        ),
        "terms": sum(1 for _ in corpus.taxonomy.terms()),
    }


def _build(
    corpus: Corpus,
    previous: Previous | None,
    settings: Settings,
    make_embedder: EmbedderFactory,
    report: IngestReport,
    timer: _Timer,
) -> None:
    build_id = report.build_id or versions.new_build_id()
    report.build_id = build_id
    tmp = versions.start_build(settings.index_dir, build_id)
    try:
        _build_into(tmp, corpus, previous, settings, make_embedder, report, timer)
    except BaseException:
        # a kill -9 cannot get here; the next ingest removes it
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    versions.publish(settings.index_dir, tmp, build_id)
    report.current_build = build_id
    report.pruned = versions.prune(settings.index_dir, settings.keep_builds)


def _build_into(
    tmp: Path,
    corpus: Corpus,
    previous: Previous | None,
    settings: Settings,
    make_embedder: EmbedderFactory,
    report: IngestReport,
    timer: _Timer,
) -> None:
    with timer.phase("load_model"):
        embedder = make_embedder()
    if embedder.name != settings.model:
        raise PracticeFinderError(
            f"the embedder is {embedder.name!r} but settings ask for {settings.model!r}"
        )
    before = previous.path if previous else None
    export = exporting.begin(
        embedder, tmp, before, batch_size=settings.batch_size, threads=settings.threads
    )
    try:
        # beside a new export, which has a core of its own (build/exporting.py)
        with timer.phase("analyse"):
            analyses, report.analysed = analyse_corpus(corpus, _analysis_cache(previous))
        with timer.phase("glossary"):
            found = dictionaries.write_glossary(settings.dictionaries_dir, tmp, before)
        with timer.phase("export_wait") if export.aside else nullcontext():
            query_encoder, timer.timings["export_onnx"] = export.result()
    finally:
        export.stop()
    passages = passage_encoder(embedder, query_encoder, tmp, settings)
    with timer.phase("language_offsets"):
        measured, offsets_info = language_offsets(
            corpus, embedder, query_encoder, tmp, settings, previous
        )
    cache = _embedding_cache(previous, settings, passages.label)
    with timer.phase("embed"):
        rows, matrix, report.embedded, report.reused = _embed(
            analyses, cache, passages.embedder, settings.progress
        )
    with timer.phase("tag_texts"):
        tag_rows, tag_matrix, tag_info = tag_text_vectors(
            corpus,
            analyses,
            _question_graph(embedder, query_encoder, tmp, settings),
            previous,
            settings.progress,
        )
    with timer.phase("write"):
        db = store.create(tmp / "store.db")
        _write_store(db, corpus, analyses, rows, matrix)
        if measured is not None:
            store.write_directions(db, measured)
        store.write_tag_texts(db, tag_rows, tag_matrix)
        vector_info = _write_vectors(tmp, rows, matrix, embedder.dimension)
    report.counts["passages"] = len(rows)
    made = Made(
        build_id=str(report.build_id),
        corpus_path=str(settings.corpus_dir),
        corpus_hash=corpus_hash(corpus, settings.model),
        model=ModelInfo(
            name=embedder.name, dimension=embedder.dimension, passages_with=passages.label
        ),
        counts=report.counts,
        changes={
            **report.changes,
            "embedded": report.embedded,
            "reused": report.reused,
            "analysed": report.analysed,
        },
        vectors=vector_info,
        previous_build=previous.path.name if previous else None,
        writes_seq=report.writes_seq,
        timings=dict(timer.timings),
        query_encoder=query_encoder,
        files=versions.file_digests(tmp),
        dictionaries=found,
        language_offsets=offsets_info,
        tag_texts=tag_info,
    )
    versions.write_manifest(tmp, create(corpus, made))


def language_offsets(
    corpus: Corpus,
    embedder: Embedder,
    export: dict[str, Any] | None,
    tmp: Path,
    settings: Settings,
    previous: Previous | None = None,
) -> tuple[offsets.Directions | None, dict[str, Any] | None]:
    """The languages' offsets and the common question direction (build/offsets.py), measured with the graph
    that encodes questions, and what the manifest records of them; taken from the `previous` build when it
    measured them with the same graph and taxonomy. None without an export (the tests' stand-in
    embedders): their questions are not moved."""
    if export is None:
        return None, None
    about = {
        "encoder": _question_graph_name(export),
        "taxonomy_hash": analysis.taxonomy_hash(corpus.taxonomy),
    }
    reused = _offsets_of(previous, about) if previous is not None else None
    if reused is not None:
        return reused
    encoder, _ = _question_graph(embedder, export, tmp, settings, batch=offsets.BATCH)
    measured = offsets.language_offsets(offsets.encoder_of(encoder.encode), corpus.taxonomy)
    return measured, {**about, **_counts_of(measured)}


def _question_graph_name(export: dict[str, Any]) -> str:
    """The name a manifest gives the export's graph that encodes questions: its kind and digest."""
    quantized = onnx_encoder.questions_in_int8(export)
    digest = export["int8"]["sha256"] if quantized else export["sha256"]
    return f"{'onnx-int8' if quantized else 'onnx'} {digest[:16]}"


def _question_graph(
    embedder: Embedder,
    export: dict[str, Any] | None,
    tmp: Path,
    settings: Settings,
    batch: int = onnx_encoder.OnnxEmbedder.BATCH,
) -> tuple[Embedder, str]:
    """What encodes questions, and its name for a manifest: the export's int8 graph where questions use
    it, else its float one (`batch` token rows a run, a copy a core), else (no export: the tests'
    stand-ins) the embedder itself."""
    if export is None:
        return embedder, type(embedder).__name__
    encoder = onnx_encoder.OnnxEmbedder(
        embedder.name,
        embedder.dimension,
        tmp,
        export,
        settings.threads,
        onnx_encoder.questions_in_int8(export),
        batch=batch,
        workers=onnx_encoder.parallel_workers(settings.threads),
    )
    return encoder, _question_graph_name(export)


def tag_languages(model: str) -> tuple[str, ...]:
    """The languages a build writes the practices' tags out in: those of the region `model` was trained on
    (none for an English model: build/tag_texts.py)."""
    return tuple(code for code in LABEL_LANGUAGES if encoders.reads(model, code))


def tag_text_vectors(
    corpus: Corpus,
    analyses: list[Analysis],
    graph: tuple[Embedder, str],
    previous: Previous | None = None,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], np.ndarray, dict[str, Any]]:
    """Each practice's declared tags written out in the region's languages (build/tag_texts.py), their
    vectors and what the manifest records of them. Encoded as passages by the question graph (`graph`:
    the int8 one, about twice as fast as the float one on these texts of some 300 tokens, cosine to it
    0.9997 or more), each text the `previous` build encoded with the same graph taken from it."""
    encoder, name = graph
    read = tag_languages(encoder.name)
    rows = tag_texts.texts(analyses, corpus.taxonomy, read)
    made = previous.manifest.tag_texts if previous is not None else None
    cache: dict[str, bytes] = {}
    if previous is not None and isinstance(made, dict) and made.get("encoder") == name:
        try:
            cache = store.tag_text_cache(previous.path / "store.db")
        except Exception:  # a damaged store only means nothing can be reused
            cache = {}
    matrix, encoded = tag_texts.embed(
        rows,
        cache,
        lambda texts: encoder.encode(texts, kind="passage", progress=progress),
        encoder.dimension,
    )
    info = {
        "encoder": name,
        "phrases_per_tag": tag_texts.TAG_PHRASES,
        "vocabularies": list(tag_texts.TAG_VOCABULARIES),
        "languages": list(read),
        "texts": len(rows),
        "encoded": encoded,
    }
    return rows, matrix, info


def _counts_of(found: offsets.Directions) -> dict[str, Any]:
    """What the manifest says of measured directions: the terms behind each offset and the common one."""
    return {
        "languages": {o.language: o.terms for o in found.offsets},
        "common_terms": found.terms,
        "maps": sorted(o.language for o in found.offsets if o.basis is not None),
    }


def _offsets_of(
    previous: Previous, about: dict[str, str]
) -> tuple[offsets.Directions, dict[str, Any]] | None:
    """The `previous` build's directions and their manifest entry, when it measured them as `about` says
    (the same question graph and taxonomy) and its store holds them all; else None."""
    old = previous.manifest.language_offsets
    if not isinstance(old, dict) or {k: old.get(k) for k in about} != about:
        return None
    found = store.directions(previous.path / "store.db")
    if found is None or {
        k: old.get(k) for k in ("languages", "common_terms", "maps")
    } != _counts_of(found):
        return None
    return found, {**old, "reused_from": previous.path.name}


@dataclass
class _Passages:
    embedder: Embedder
    label: str  # recorded in the manifest; embeddings are reused only from a build with the same


def passage_encoder(
    embedder: Embedder, export: dict[str, Any] | None, tmp: Path, settings: Settings
) -> _Passages:
    """What encodes the passages: the ONNX export in `tmp` when the model says so, else the embedder
    itself."""
    kind = getattr(embedder, "passages_with", None)
    if not kind or export is None:
        return _Passages(embedder, type(embedder).__name__)
    quantized = kind == "onnx-int8"
    onnx = onnx_encoder.OnnxEmbedder(
        embedder.name,
        embedder.dimension,
        tmp,
        export,
        settings.threads,
        quantized,
        workers=onnx_encoder.parallel_workers(settings.threads),
    )
    digest = export["int8"]["sha256"] if quantized else export["sha256"]
    return _Passages(onnx, f"{kind} {digest[:16]}")


def analyse_corpus(corpus: Corpus, cache: dict[str, Analysis]) -> tuple[list[Analysis], int]:
    """Every record's analysis: taken from the previous build when the record, the taxonomy, the city names
    and the base-form analysers installed are the same (so a re-index after one write analyses one record),
    else made. Returns them and how many were made."""
    tagger = tagging.tagger_for(corpus.taxonomy)
    city_names = {c.id: c.name for c in corpus.cities}
    context = analysis.sha256(
        analysis.taxonomy_hash(corpus.taxonomy)
        + json.dumps(city_names, sort_keys=True)
        + json.dumps(lemmas.describe(), sort_keys=True)
    )
    out, made = [], 0
    for record in corpus.records():
        key = analysis.sha256(context + analysis.content_hash(record))
        found = cache.get(key)
        if found is None:
            found, made = analysis.analyse(record, corpus.taxonomy, tagger, city_names), made + 1
        found.cache_key = key
        out.append(found)
    return out, made


def _analysis_cache(previous: Previous | None) -> dict[str, Analysis]:
    """The analyses kept in the previous build's store, by key (none when it has none or cannot be read)."""
    if previous is None:
        return {}
    try:
        return store.analyses(previous.path / "store.db")
    except (sqlite3.Error, OSError, ValueError, TypeError):
        return {}


def _embedding_cache(
    previous: Previous | None, settings: Settings, passages_with: str
) -> dict[str, bytes]:
    if previous is None or previous.manifest.model.name != settings.model:
        return {}
    if previous.manifest.model.passages_with != passages_with:  # unset never equals
        return {}
    try:
        return store.embedding_cache(previous.path / "store.db")
    except Exception:  # a damaged store only means nothing can be reused
        return {}


def _embed(
    analyses: list[Analysis], cache: dict[str, bytes], embedder: Embedder, progress: bool
) -> tuple[list[dict[str, Any]], np.ndarray, int, int]:
    """Passage rows (with FAISS ids) and their vectors; only texts missing from the cache are embedded."""
    rows: list[dict[str, Any]] = []
    for a in analyses:
        for seq, p in enumerate(a.passages):
            rows.append(
                {
                    "id": len(rows) + 1,
                    "record_type": a.kind,
                    "record_id": a.id,
                    "seq": seq,
                    "section": p.section,
                    "text": p.text,
                    "text_hash": p.text_hash,
                    "_embed": p.embed_text,
                }
            )
    todo = sorted(
        {r["text_hash"]: r["_embed"] for r in rows if r["text_hash"] not in cache}.items()
    )
    fresh = embedder.encode(
        [text for _, text in todo], kind="passage", progress=progress and bool(todo)
    )
    vectors = {h: fresh[i] for i, (h, _) in enumerate(todo)}
    matrix = np.zeros((len(rows), embedder.dimension), dtype=np.float32)
    for i, r in enumerate(rows):
        del r["_embed"]
        h = r["text_hash"]
        matrix[i] = vectors[h] if h in vectors else np.frombuffer(cache[h], dtype=np.float32)
    reused = sum(1 for r in rows if r["text_hash"] in cache)
    return rows, matrix, len(todo), reused


def _write_store(
    db: Any,
    corpus: Corpus,
    analyses: list[Analysis],
    rows: list[dict[str, Any]],
    matrix: np.ndarray,
) -> None:
    for kind, table in store.TABLES.items():
        store.insert(db, table, (a.row for a in analyses if a.kind == kind))
    store.insert(db, "tags", (t for a in analyses for t in a.tags))
    store.insert(db, "terms", (_term_row(t) for t in corpus.taxonomy.terms()))
    store.insert_passages(db, rows, matrix)
    store.insert_analyses(db, analyses)
    store.finish(db)


def _term_row(term: Any) -> dict[str, Any]:
    return {
        "vocabulary": term.vocabulary,
        "id": term.id,
        "label": term.label,
        "definition": term.definition,
        "synonyms": json.dumps(list(term.synonyms), ensure_ascii=False),
        "everyday": json.dumps(list(term.everyday), ensure_ascii=False),
        "labels": json.dumps({k: list(v) for k, v in term.labels.items()}, ensure_ascii=False),
        "everyday_labels": json.dumps(
            {k: list(v) for k, v in term.everyday_labels.items()}, ensure_ascii=False
        ),
    }


def _write_vectors(
    tmp: Path, rows: list[dict[str, Any]], matrix: np.ndarray, dimension: int
) -> dict[str, VectorFile]:
    """One FAISS index per record type, so a practice search never sees city or plan passages."""
    info = {}
    for kind in store.TABLES:
        mask = np.array([r["record_type"] == kind for r in rows], dtype=bool)
        ids = (
            np.array([r["id"] for r in rows], dtype=np.int64)[mask]
            if len(rows)
            else np.zeros(0, np.int64)
        )
        index = vectors.build(matrix[mask] if len(rows) else matrix, ids, dimension)
        filename = f"vectors-{kind}.faiss"
        vectors.save(index, tmp / filename)
        info[kind] = VectorFile(file=filename, **vectors.describe(index))
    return info
