"""The manifest of a build: what it holds and how it was made, as typed structs, with the one rule of
whether this program can serve it.

Only what identifies a build and decides whether it can be used (schema version, build id, model) is
required; everything else has a default, so the manifests of builds already on disk decode as they are:
builds from before `writes`, `query_encoder` and `files` were recorded, and builds of an older schema,
which are then refused (or rebuilt) with the reason `Manifest.mismatch` gives. Encoded with
`to_data`, a manifest gives back the JSON keys it was read from, in the same order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from practice_finder import __version__
from practice_finder.build import analysis, store
from practice_finder.models import Corpus
from practice_finder.text import lemmas, pipelines

# 2: the build carries an ONNX query encoder; 3: stems column, detected languages
SCHEMA_VERSION = 3


class ModelInfo(msgspec.Struct, kw_only=True):
    """The embedding model the passages were encoded with."""

    name: str
    dimension: int
    normalized: bool = True
    similarity: str = "cosine"
    # what encoded the passages: the embedder's class, or the ONNX export ("onnx-int8 <digest>");
    # unset in builds made before it was recorded (and then not written back)
    passages_with: str | msgspec.UnsetType = msgspec.UNSET


class CorpusInfo(msgspec.Struct, kw_only=True):
    """Where the corpus was read from, and the hashes that tell whether it changed since."""

    path: str = ""
    hash: str = ""
    taxonomy_hash: str = ""


class VectorFile(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One FAISS index of the build (one per record kind); an IVF index also records its lists and probes."""

    file: str
    type: str
    metric: str
    size: int
    lists: int | None = None
    probes: int | None = None


class NlpInfo(msgspec.Struct, kw_only=True):
    """The language tools the records were analysed with."""

    spacy: str = ""
    english_pipeline: str = ""
    passage_words: int = 0
    analysis_version: int = 0
    # language -> the analyser its words' base forms came from (text/lemmas.py); empty where none was installed,
    # unset in builds made before base forms
    lemmatisers: dict[str, str] | msgspec.UnsetType = msgspec.UNSET


class Writes(msgspec.Struct, kw_only=True):
    """How far the write log is covered: the newest write the build includes."""

    seq: int = 0


class FileDigest(msgspec.Struct, kw_only=True):
    """Size and SHA-256 of one file of the build, as written."""

    bytes: int
    sha256: str


class Manifest(msgspec.Struct, kw_only=True):
    """`manifest.json` of a build. The field order is the order of the keys in the file."""

    schema_version: int
    build_id: str
    built_at: str = ""
    package_version: str = ""
    model: ModelInfo
    corpus: CorpusInfo = msgspec.field(default_factory=CorpusInfo)
    counts: dict[str, int] = {}
    countries: list[str] = []
    vectors: dict[str, VectorFile] = {}
    fts: dict[str, str] = {}
    nlp: NlpInfo = msgspec.field(default_factory=NlpInfo)
    changes: dict[str, int] = {}
    previous_build: str | None = None
    writes: Writes = msgspec.field(default_factory=Writes)
    timings: dict[str, float] = {}
    query_encoder: dict[str, Any] | None = None  # the entry `onnx_encoder.export` returns
    files: dict[str, FileDigest] | None = None  # builds before checksums have none
    # language -> the dictionary into English read into the store; unset in builds made before them
    dictionaries: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    # how the languages' offsets were measured (ingest.language_offsets): the question graph, the taxonomy,
    # and the terms behind each language's; None in builds without an export, unset in builds made before
    language_offsets: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET
    # how the practices' tags written out in the region's languages were made and encoded
    # (ingest.tag_text_vectors); unset in builds made before them
    tag_texts: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET

    def mismatch(self, model: str) -> str | None:
        """Why this program cannot serve or reuse the build with `model` configured, or None when it can:
        the same schema version and the same model are needed."""
        if self.schema_version != SCHEMA_VERSION:
            return f"schema version {self.schema_version}, but this program reads {SCHEMA_VERSION}"
        if self.model.name != model:
            return f"model {self.model.name!r}, but the configured model is {model!r}"
        return None


def corpus_hash(corpus: Corpus, model: str) -> str:
    """The hash that tells whether a build is up to date: the model, the taxonomy, the schema version and
    every record's content."""
    parts = sorted(analysis.content_hash(r) for r in corpus.records())
    return analysis.sha256(
        "|".join([model, analysis.taxonomy_hash(corpus.taxonomy), str(SCHEMA_VERSION), *parts])
    )


def decode(data: bytes) -> Manifest:
    """A manifest from the bytes of its file (raises msgspec.DecodeError or ValidationError)."""
    return msgspec.json.decode(data, type=Manifest)


def to_data(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain JSON data, with the keys of the file."""
    data: dict[str, Any] = msgspec.to_builtins(manifest)
    return data


class Made(msgspec.Struct, kw_only=True):
    """What an ingest made and measured, for the manifest of its build."""

    build_id: str
    corpus_path: str
    corpus_hash: str
    model: ModelInfo
    counts: dict[str, int]
    changes: dict[str, int]
    vectors: dict[str, VectorFile]
    previous_build: str | None
    writes_seq: int
    timings: dict[str, float]
    query_encoder: dict[str, Any] | None
    files: dict[str, FileDigest]
    dictionaries: dict[str, str] = {}
    language_offsets: dict[str, Any] | None = None
    tag_texts: dict[str, Any] = {}


def create(corpus: Corpus, made: Made) -> Manifest:
    """The manifest of a new build of `corpus`, stamped with this program's versions and the time."""
    import spacy

    return Manifest(
        schema_version=SCHEMA_VERSION,
        build_id=made.build_id,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        package_version=__version__,
        model=made.model,
        corpus=CorpusInfo(
            path=made.corpus_path,
            hash=made.corpus_hash,
            taxonomy_hash=analysis.taxonomy_hash(corpus.taxonomy),
        ),
        counts=made.counts,
        countries=sorted(
            {p.country for p in corpus.practices} | {c.country for c in corpus.cities}
        ),
        vectors=made.vectors,
        fts={"tokenizer": store.FTS_TOKENIZER},
        nlp=NlpInfo(
            spacy=spacy.__version__,
            english_pipeline=pipelines.ENGLISH_PIPELINE,
            passage_words=pipelines.PASSAGE_WORDS,
            analysis_version=analysis.ANALYSIS_VERSION,
            lemmatisers=lemmas.describe(),
        ),
        changes=made.changes,
        previous_build=made.previous_build,
        writes=Writes(seq=made.writes_seq),
        timings=made.timings,
        query_encoder=made.query_encoder,
        files=made.files,
        dictionaries=made.dictionaries,
        language_offsets=made.language_offsets,
        tag_texts=made.tag_texts,
    )
