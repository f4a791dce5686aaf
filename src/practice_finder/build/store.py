"""The SQLite store of one build: records, tags, passages with their embeddings, and FTS5 indexes.

Written once by the pipeline with sqlite-utils, then opened read-only by the query side.
The rowid of `passages` is the id of the passage's vector in FAISS.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import sqlite_utils

from practice_finder.build.offsets import Directions, Offset
from practice_finder.models import (  # TABLES: record kind -> its table
    RECORD_KINDS,
    TABLES,
    VOCABULARIES,
    Record,
)

FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
FTS_COLUMNS = {
    "practices": [
        "title",
        "summary",
        "what_happened",
        "outcomes",
        "success_factors",
        "municipality",
        "tag_labels",
        "stems",
    ],
    "cities": ["name", "region", "description", "tag_labels"],
    "plans": ["title", "city_name", "text", "tag_labels"],
}
# bm25() weights, in FTS_COLUMNS order: a word in the title counts more than one deep in the text.
BM25_WEIGHTS = {
    "practices": (4.0, 2.0, 1.0, 1.0, 1.0, 2.0, 1.5, 1.0),
    "cities": (4.0, 1.0, 1.0, 1.5),
    "plans": (3.0, 2.0, 1.0, 1.5),
}


def create(path: Path) -> sqlite_utils.Database:
    """A new, empty store with every table created."""
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=DELETE")
    db.table("passages").create(
        {
            "id": int,
            "record_type": str,
            "record_id": str,
            "seq": int,
            "section": str,
            "text": str,
            "text_hash": str,
            "embedding": bytes,
        },
        pk="id",
    )
    db.table("tags").create(
        {
            "record_type": str,
            "record_id": str,
            "vocabulary": str,
            "term": str,
            "source": str,
            "phrase": str,
            "count": int,
        }
    )
    db.table("terms").create(
        {
            "vocabulary": str,
            "id": str,
            "label": str,
            "definition": str,
            "synonyms": str,
            "everyday": str,
            "labels": str,
            "everyday_labels": str,
        },
        pk=("vocabulary", "id"),
    )
    return db


def insert(db: sqlite_utils.Database, table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows, creating the table from the first batch when needed."""
    db.table(table).insert_all(
        rows, pk="id" if table in TABLES.values() else None, batch_size=500, alter=True
    )


def write_glossary(path: Path, rows: Iterable[Sequence[str]], about: dict[str, Any]) -> None:
    """The build's file of bilingual dictionary words (build/dictionaries.py): table `glossary` (rows of a
    language, a headword or "~" + its stem, and its English translations) and `about` (what it was read
    from), kept apart from the store so that a build whose dictionaries did not change hard-links it
    from the one before. Hundreds of thousands of rows: straight through sqlite3, without sqlite-utils'
    checks, and without a journal (a build that fails is removed whole)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("pragma journal_mode = off")
        conn.execute("pragma synchronous = off")
        conn.execute("create table glossary (lang text, key text, english text)")
        conn.execute("create table about (content text)")
        conn.executemany("insert into glossary (lang, key, english) values (?, ?, ?)", rows)
        conn.execute("create index glossary_lang_key on glossary (lang, key)")
        conn.execute("insert into about (content) values (?)", [json.dumps(about)])
        conn.commit()
    finally:
        conn.close()


def glossary_about(path: Path) -> dict[str, Any] | None:
    """What a glossary file was read from (see write_glossary), or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        conn = connect(path)
        try:
            row = conn.execute("select content from about").fetchone()
        finally:
            conn.close()
        return json.loads(row[0]) if row else None
    except (sqlite3.Error, ValueError):
        return None


def insert_passages(
    db: sqlite_utils.Database, rows: Sequence[dict[str, Any]], vectors: np.ndarray
) -> None:
    """Insert passages (each with its `id`, the FAISS id) and their vectors."""
    vectors = np.asarray(vectors, dtype=np.float32)
    db.table("passages").insert_all(
        ({**row, "embedding": vector.tobytes()} for row, vector in zip(rows, vectors, strict=True)),
        batch_size=1000,
    )


def insert_analyses(db: sqlite_utils.Database, analyses: Sequence[Any]) -> None:
    """Each record's analysis as JSON, by its cache key, for the next build to reuse."""
    rows = (
        {"key": a.cache_key, "data": json.dumps(dataclasses.asdict(a), ensure_ascii=False)}
        for a in analyses
        if a.cache_key
    )
    db.table("analyses").insert_all(rows, pk="key", batch_size=500, replace=True)


def analyses(path: Path) -> dict[str, Any]:
    """cache key -> Analysis, from a build's store ({} for builds made before analyses were kept)."""
    from practice_finder.build.analysis import Analysis, Passage

    conn = connect(path)
    try:
        if not conn.execute("select 1 from sqlite_master where name = 'analyses'").fetchone():
            return {}
        out = {}
        for key, data in conn.execute("select key, data from analyses"):
            raw = json.loads(data)
            raw["passages"] = [Passage(**p) for p in raw["passages"]]
            out[key] = Analysis(**raw)
        return out
    finally:
        conn.close()


def write_directions(db: sqlite_utils.Database, found: Directions) -> None:
    """What build/offsets.py measured: table `language_offsets` (language, terms, vector), table
    `question_common` (one row: terms, vector) and table `language_maps` (language, terms, and the
    map's two factors, terms x dimension each)."""
    db.table("language_offsets").create(
        {"language": str, "terms": int, "vector": bytes}, pk="language", if_not_exists=True
    )
    db.table("language_offsets").insert_all(
        {"language": o.language, "terms": o.terms, "vector": _blob(o.vector)} for o in found.offsets
    )
    db.table("question_common").create({"terms": int, "vector": bytes}, if_not_exists=True)
    common = b"" if found.common is None else _blob(found.common)
    db.table("question_common").insert({"terms": found.terms, "vector": common})
    db.table("language_maps").create(
        {"language": str, "terms": int, "basis": bytes, "towards": bytes},
        pk="language",
        if_not_exists=True,
    )
    db.table("language_maps").insert_all(
        {
            "language": o.language,
            "terms": o.terms,
            "basis": _blob(o.basis),
            "towards": _blob(o.towards),
        }
        for o in found.offsets
        if o.basis is not None and o.towards is not None
    )


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def directions(path: Path) -> Directions | None:
    """A build's language offsets and common question direction (None for builds made before them)."""
    conn = connect(path)
    try:
        tables = {row[0] for row in conn.execute("select name from sqlite_master")}
        if not {"language_offsets", "question_common"} <= tables:
            return None
        maps = {}
        if "language_maps" in tables:
            for row in conn.execute("select language, terms, basis, towards from language_maps"):
                shape = (int(row["terms"]), -1)
                maps[row["language"]] = (
                    np.frombuffer(row["basis"], dtype=np.float32).reshape(shape),
                    np.frombuffer(row["towards"], dtype=np.float32).reshape(shape),
                )
        found = [
            Offset(
                row["language"],
                row["terms"],
                np.frombuffer(row["vector"], dtype=np.float32),
                *maps.get(row["language"], (None, None)),
            )
            for row in conn.execute(
                "select language, terms, vector from language_offsets order by language"
            )
        ]
        row = conn.execute("select terms, vector from question_common").fetchone()
        common = np.frombuffer(row["vector"], dtype=np.float32) if row["vector"] else None
        return Directions(found, common, int(row["terms"]))
    finally:
        conn.close()


def finish(db: sqlite_utils.Database) -> None:
    """Indexes and full-text search tables, then a compact file."""
    db.table("tags").create_index(["vocabulary", "term"])
    db.table("tags").create_index(["record_type", "record_id"])
    db.table("passages").create_index(["record_type", "record_id"])
    db.table("passages").create_index(["text_hash"])
    for table, columns in FTS_COLUMNS.items():
        if db.table(table).exists():
            db.table(table).enable_fts(columns, tokenize=FTS_TOKENIZER, create_triggers=False)
    for table in TABLES.values():
        if db.table(table).exists():
            for column in ("country", "city") if table != "cities" else ("country",):
                if column in db.table(table).columns_dict:
                    db.table(table).create_index([column])
    db.execute("ANALYZE")
    db.conn.commit()
    db.vacuum()


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection shared by the threads of the query side."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def embedding_cache(path: Path) -> dict[str, bytes]:
    """text hash -> stored embedding, from an earlier build (the caller checks it used the same model)."""
    conn = connect(path)
    try:
        return {
            row["text_hash"]: row["embedding"]
            for row in conn.execute("select text_hash, embedding from passages")
        }
    finally:
        conn.close()


def write_tag_texts(
    db: sqlite_utils.Database, rows: Sequence[dict[str, Any]], matrix: np.ndarray
) -> None:
    """Each practice's declared tags written out in a language, and their vectors (build/tag_texts.py):
    table `tag_texts` (record_id, language, text, text_hash, embedding)."""
    db.table("tag_texts").create(
        {"record_id": str, "language": str, "text": str, "text_hash": str, "embedding": bytes},
        pk=("record_id", "language"),
        if_not_exists=True,
    )
    db.table("tag_texts").insert_all(
        ({**r, "embedding": _blob(v)} for r, v in zip(rows, matrix, strict=True)), batch_size=500
    )


def tag_text_cache(path: Path) -> dict[str, bytes]:
    """text hash -> stored vector of the tag texts of an earlier build ({} for builds without them; the
    caller checks it encoded passages as this one does)."""
    conn = connect(path)
    try:
        if not conn.execute("select 1 from sqlite_master where name = 'tag_texts'").fetchone():
            return {}
        return {
            row["text_hash"]: row["embedding"]
            for row in conn.execute("select text_hash, embedding from tag_texts")
        }
    finally:
        conn.close()


def record_hashes(path: Path) -> dict[tuple[str, str], str]:
    """(record type, id) -> content hash of every record in a build."""
    conn = connect(path)
    try:
        out: dict[tuple[str, str], str] = {}
        present = {
            r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")
        }
        for kind, table in TABLES.items():
            if (
                table not in present
            ):  # a corpus without cities or plans (a benchmark) has no such table
                continue
            for row in conn.execute(f"select id, content_hash from {table}"):
                out[(kind, row["id"])] = row["content_hash"]
        return out
    finally:
        conn.close()


def records(path: Path) -> list[tuple[str, Record, str]]:
    """Every record of a build as it was built: (record type, record, content hash stored with it)."""
    conn = connect(path)
    try:
        present = {
            r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")
        }
        return [
            (kind.name, record_of_row(kind.name, row), row["content_hash"])
            for kind in RECORD_KINDS
            if kind.table in present
            for row in conn.execute(f"select * from {kind.table} order by id")
        ]
    finally:
        conn.close()


def record_of_row(kind: str, row: sqlite3.Row) -> Record:
    """A record from its row (the inverse of analysis.row: its JSON columns parsed, its tags gathered; the
    columns added for search are left out)."""
    data = decode(row, ("years", "partners", "languages", "body", *VOCABULARIES))
    data["tags"] = {v: data.pop(v) or [] for v in VOCABULARIES if v in data}
    if data.get("contact_consent") is not None:  # SQLite keeps a flag as 0 or 1
        data["contact_consent"] = bool(data["contact_consent"])
    model = next(k.model for k in RECORD_KINDS if k.name == kind)
    record: Record = msgspec.convert(data, type=model)
    return record


def decode(
    row: sqlite3.Row, json_columns: Sequence[str] = ("years", "partners", "languages", "body")
) -> dict[str, Any]:
    """A row as a dict with its JSON columns parsed."""
    out = dict(row)
    for column in json_columns:
        if isinstance(out.get(column), str):
            out[column] = json.loads(out[column])
    return out
