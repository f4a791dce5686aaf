"""The catalog: the corpus folder with the write log laid over it, and records as the API sends them.

Every accepted write is one row of the write log (`write_log.py`), committed before the API answers.
The corpus a build reads is the corpus folder with the log's latest entry per record
laid over it: a put adds or replaces a record, a delete hides it. A record arrives as JSON with the fields of
a corpus file's front matter, plus its text (`sections` for practices and plans, `description` for cities),
and is checked by the same code as a corpus file, so it gets the same errors.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from practice_finder.corpus import folder, schema
from practice_finder.corpus.write_log import LOG, Entry, WriteLog, WriteResult
from practice_finder.errors import ConflictError, CorpusError, NotFoundError, RecordProblem
from practice_finder.models import (
    CONTACT_FIELDS,
    PLAN_SECTIONS,
    RECORD_TYPES,
    TABLES,
    VOCABULARIES,
    City,
    Corpus,
    Plan,
    Practice,
    Record,
    Taxonomy,
    record_digest,
    record_type,
)

COLLECTIONS = TABLES  # record type -> its API collection (/v1/practices)
KINDS = {collection: kind for kind, collection in COLLECTIONS.items()}  # collection -> record type


# -- records as JSON -------------------------------------------------------------------------


def record_from_payload(
    kind: str, payload: Mapping[str, Any], taxonomy: Taxonomy, where: str = "body"
) -> Record:
    """Check a JSON record exactly like a corpus file; raise CorpusError listing every problem."""
    problems = folder.Problems()
    meta = dict(payload)
    text_fields = {"practice": ("sections",), "plan": ("sections",), "city": ("description",)}[kind]
    raw = {name: meta.pop(name, None) for name in text_fields}
    sections = _sections_by_heading(kind, raw, problems, where)
    record = (
        folder.build_record(kind, Path(where), meta, sections, taxonomy, problems)
        if not problems
        else None
    )
    if problems or record is None:
        raise CorpusError(
            [_api_field(kind, p) for p in problems]
            or [RecordProblem(where, "-", "the record is not valid")]
        )
    return msgspec.structs.replace(record, path=f"{COLLECTIONS[kind]}/{record.id} (API)")


def _sections_by_heading(
    kind: str, raw: dict[str, Any], problems: folder.Problems, where: str
) -> dict[str, str]:
    """The text fields of a JSON record as the corpus parser sees a file's body: heading -> text."""
    if kind == "city":
        text = raw.get("description")
        if text is not None and not isinstance(text, str):
            problems.add(where, "description", "must be text")
            return {}
        return {"": (text or "").strip()}
    headings = dict(schema.PRACTICE_SECTIONS) if kind == "practice" else dict(PLAN_SECTIONS)
    given = raw.get("sections")
    if given is None:
        given = {}
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        problems.add(
            where, "sections", f"must be an object of texts with the keys {', '.join(headings)}"
        )
        return {}
    for key in sorted(set(given) - set(headings)):
        problems.add(
            where, f"sections.{key}", f"is not a known section (known: {', '.join(headings)})"
        )
    # as the file parser strips
    return {heading: given.get(key, "").strip() for key, heading in headings.items()}


def _api_field(kind: str, problem: RecordProblem) -> RecordProblem:
    """A file's `## Heading` is the JSON record's `sections.<key>` (a city's body is its `description`)."""
    if not problem.field.startswith("## ") and problem.field != "body":
        return problem
    if kind == "city":
        return RecordProblem(problem.path, "description", problem.message)
    headings = dict(schema.PRACTICE_SECTIONS) if kind == "practice" else dict(PLAN_SECTIONS)
    key = next(
        (k for k, heading in headings.items() if problem.field == f"## {heading}"), problem.field
    )
    return RecordProblem(problem.path, f"sections.{key}", problem.message)


def payload_of(record: Record) -> dict[str, Any]:
    """A record as the JSON the API accepts (the inverse of record_from_payload): exports round-trip."""
    # JSON types: tuples become lists
    data: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(record))
    data.pop("path", None)
    tags = data.pop("tags", {})
    data.update({v: list(tags.get(v) or []) for v in VOCABULARIES if tags.get(v)})
    if isinstance(record, Practice):
        data["sections"] = {key: data.pop(key) for key in schema.PRACTICE_SECTIONS}
    elif isinstance(record, Plan):
        data["sections"] = dict(data.pop("body"))
    drop = {"languages", "partners", "pearl_year", "basis", "city", *CONTACT_FIELDS}
    return {k: v for k, v in data.items() if not (k in drop and v in ([], None, False))}


def without_contact(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A record's JSON as the public may read it: every contact field left out, consented or not."""
    return {k: v for k, v in payload.items() if k not in CONTACT_FIELDS}


# -- the corpus with the log laid over it ----------------------------------------------------


def overlay(
    base: Corpus, entries: Mapping[tuple[str, str], Entry], *, check: bool = True
) -> Corpus:
    """The corpus folder's records with the logged writes applied; links checked again."""
    records: dict[str, dict[str, Any]] = {
        kind: {r.id: r for r in base.of_kind(kind)} for kind in RECORD_TYPES
    }
    problems: list[RecordProblem] = []
    for (kind, record_id), entry in sorted(entries.items(), key=lambda item: item[1].seq):
        if entry.op == "delete" or entry.payload is None:
            records[kind].pop(record_id, None)
            continue
        try:
            records[kind][record_id] = record_from_payload(
                kind, entry.payload, base.taxonomy, where=f"{LOG} write {entry.seq}"
            )
        except CorpusError as exc:  # valid when written, but the taxonomy changed since
            problems.extend(exc.problems)
    merged = Corpus(
        base.taxonomy,
        *(tuple(sorted(records[k].values(), key=lambda r: r.id)) for k in RECORD_TYPES),
    )
    if check:
        problems.extend(link_problems(merged))
    if problems:
        raise CorpusError(problems)
    return merged


def link_problems(merged: Corpus) -> list[RecordProblem]:
    found = folder.Problems()
    folder.check_links(list(merged.practices), list(merged.cities), list(merged.plans), found)
    return list(found)


class Catalog:
    """The corpus folder (parsed once per change of its files) and the write log: what writes check against."""

    def __init__(self, corpus_dir: Path, state_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self.log = WriteLog(state_dir)
        self._lock = threading.Lock()
        self._cached: tuple[tuple[Any, ...], Corpus] | None = None

    def base(self) -> Corpus:
        """The corpus folder as parsed; parsed again only when a file was added, removed or modified."""
        signature = _signature(self.corpus_dir)
        with self._lock:
            if self._cached is None or self._cached[0] != signature:
                self._cached = (signature, folder.load_corpus(self.corpus_dir))
            return self._cached[1]

    def current(self) -> tuple[Corpus, int]:
        """The corpus a build would read now, and the newest write sequence number it includes."""
        entries, seq = self.log.snapshot()
        return overlay(self.base(), entries), seq

    def put(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        record_id: str | None = None,
        create_only: bool = False,
    ) -> WriteResult:
        """Validate and log a record. `record_id` (from the URL) must match the body's id; `create_only` (POST)
        refuses to replace a different record with the same id, but accepts the same one again (a retry)."""
        base = self.base()
        body = dict(payload)
        if record_id is not None and body.setdefault("id", record_id) != record_id:
            raise CorpusError(
                [
                    RecordProblem(
                        "body", "id", f"{body['id']!r} differs from the id in the URL {record_id!r}"
                    )
                ]
            )
        record = record_from_payload(kind, body, base.taxonomy)
        digest = record_digest(record)
        with self.log.transaction() as conn:
            entries = self.log.latest(conn)
            before = _existing(base, entries, kind, record.id)
            previous_hash = record_digest(before) if before is not None else None
            if create_only and before is not None and previous_hash != digest:
                raise ConflictError(
                    f"a {kind} with id {record.id!r} already exists with other content",
                    f"use PUT /v1/{COLLECTIONS[kind]}/{record.id} to replace it",
                )
            if (
                previous_hash == digest
            ):  # the same record again: nothing to log, nothing to re-index
                seq = entries[(kind, record.id)].seq if (kind, record.id) in entries else 0
                return WriteResult(kind, record.id, "put", seq, created=False, changed=False)
            _check_city_link(base, entries, record)
            seq = self.log.append(conn, kind, record.id, "put", payload_of(record), digest)
        return WriteResult(kind, record.id, "put", seq, created=before is None, changed=True)

    def put_many(
        self, rows: Iterable[tuple[str, Mapping[str, Any], str]], *, dry_run: bool = False
    ) -> list[WriteResult]:
        """Validate and log many records (kind, payload, where it came from) as one transaction: all of
        them, or none when any is invalid, in which case CorpusError lists every problem by its `where`.
        A record equal to the stored one is not logged again. `dry_run` checks everything, logs nothing."""
        base = self.base()
        records, problems = _checked_rows(rows, base.taxonomy)
        with self.log.transaction() as conn:
            entries = self.log.latest(conn)
            merged = overlay(base, entries, check=False)
            results, changed = _compare(base, entries, records)
            problems.extend(_links_after(merged, [r for r, _ in changed]))
            if problems:
                raise CorpusError(problems)
            for record, digest in [] if dry_run else changed:
                kind = record_type(record)
                seq = self.log.append(conn, kind, record.id, "put", payload_of(record), digest)
                results[(kind, record.id)] = msgspec.structs.replace(
                    results[(kind, record.id)], seq=seq
                )
        return list(results.values())

    def delete(self, kind: str, record_id: str) -> WriteResult:
        base = self.base()
        with self.log.transaction() as conn:
            entries = self.log.latest(conn)
            if _existing(base, entries, kind, record_id) is None:
                raise NotFoundError(f"no {kind} with id {record_id!r}")
            if kind == "city":
                merged = overlay(base, entries, check=False)
                users = [p.id for p in merged.practices if p.city == record_id] + [
                    p.id for p in merged.plans if p.city == record_id
                ]
                if users:
                    raise ConflictError(
                        f"city {record_id!r} is still named by {len(users)} record(s), e.g. {users[0]!r}",
                        "delete or change those practices and plans first",
                    )
            seq = self.log.append(conn, kind, record_id, "delete", None, None)
        return WriteResult(kind, record_id, "delete", seq, created=False, changed=True)

    def export(self, kind: str, *, contacts: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of one kind as the API accepts it, pending writes included, in id order; the
        contact fields only when `contacts` (for the programme's staff, never for the public)."""
        merged, _ = self.current()
        payloads = (payload_of(r) for r in merged.of_kind(kind))
        return payloads if contacts else (without_contact(p) for p in payloads)


def _checked_rows(
    rows: Iterable[tuple[str, Mapping[str, Any], str]], taxonomy: Taxonomy
) -> tuple[list[Record], list[RecordProblem]]:
    """Each row checked like a corpus file, its problems filed under its `where`; ids unique per kind."""
    records: list[Record] = []
    problems: list[RecordProblem] = []
    first: dict[tuple[str, str], str] = {}
    for kind, payload, where in rows:
        try:
            record = record_from_payload(kind, payload, taxonomy, where=where)
        except CorpusError as exc:
            problems.extend(exc.problems)
            continue
        seen = first.setdefault((kind, record.id), where)
        if seen != where:
            problems.append(RecordProblem(where, "id", f"{record.id!r} is already in {seen}"))
            continue
        records.append(msgspec.structs.replace(record, path=where))
    return records, problems


def _compare(
    base: Corpus, entries: Mapping[tuple[str, str], Entry], records: list[Record]
) -> tuple[dict[tuple[str, str], WriteResult], list[tuple[Record, str]]]:
    """What each record would do (created, changed or not) and the records to log with their digests."""
    results: dict[tuple[str, str], WriteResult] = {}
    changed: list[tuple[Record, str]] = []
    for record in records:
        kind = record_type(record)
        before = _existing(base, entries, kind, record.id)
        digest = record_digest(record)
        same = before is not None and record_digest(before) == digest
        seq = entries[(kind, record.id)].seq if same and (kind, record.id) in entries else 0
        results[(kind, record.id)] = WriteResult(
            kind, record.id, "put", seq, created=before is None, changed=not same
        )
        if not same:
            changed.append((record, digest))
    return results, changed


def _links_after(merged: Corpus, records: list[Record]) -> list[RecordProblem]:
    """The corpus's link rules on the corpus as it would be with `records` put into it."""
    if not records:
        return []
    kinds: dict[str, dict[str, Any]] = {
        kind: {r.id: r for r in merged.of_kind(kind)} for kind in RECORD_TYPES
    }
    for record in records:
        kinds[record_type(record)][record.id] = record
    after = Corpus(merged.taxonomy, *(tuple(kinds[k].values()) for k in RECORD_TYPES))
    return link_problems(after)


def _existing(
    base: Corpus, entries: Mapping[tuple[str, str], Entry], kind: str, record_id: str
) -> Record | None:
    """The record as it stands now: its latest logged write, else the corpus folder's file."""
    entry = entries.get((kind, record_id))
    if entry is not None:
        return (
            None
            if entry.op == "delete" or entry.payload is None
            else record_from_payload(kind, entry.payload, base.taxonomy)
        )
    return next((r for r in base.of_kind(kind) if r.id == record_id), None)


def _check_city_link(
    base: Corpus, entries: Mapping[tuple[str, str], Entry], record: Record
) -> None:
    """The corpus's link rules for one record: the city it names exists (now) and lies in the same country."""
    if isinstance(record, City) or not record.city:
        return
    city = _existing(base, entries, "city", record.city)
    problems = folder.Problems()
    practices, plans = ([record], []) if isinstance(record, Practice) else ([], [record])
    folder.check_links(practices, [city] if isinstance(city, City) else [], plans, problems)
    if problems:
        raise CorpusError(list(problems))


def _signature(corpus_dir: Path) -> tuple[Any, ...]:
    """Names, sizes and modification times of the corpus files: cheap to take, changes with any edit."""
    files = sorted(p for p in corpus_dir.rglob("*") if p.is_file()) if corpus_dir.is_dir() else []
    return tuple((str(p), s.st_size, s.st_mtime_ns) for p in files for s in (p.stat(),))


def load_current(corpus_dir: Path, state_dir: Path) -> tuple[Corpus, int]:
    """For ingest: the corpus folder with the write log laid over it, and the log's newest sequence number."""
    return Catalog(corpus_dir, state_dir).current()
