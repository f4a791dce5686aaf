"""The catalog: the corpus folder with the write log laid over it, and records as the API sends them.

Every accepted write is one row of the write log (`write_log.py`), committed before the API answers.
The corpus a build reads is the corpus folder with the log's latest entry per record
laid over it: a put adds or replaces a record, a delete hides it. A record arrives as JSON with the fields of
a corpus file's front matter, plus its text (`sections` for practices and plans, `description` for cities),
and is checked by the same code as a corpus file, so it gets the same errors. Then the corpus with the write
laid over it is checked as a build checks it (the links between records): a write a re-index would fail on
is never logged.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from practice_finder import i18n
from practice_finder.corpus import folder, schema
from practice_finder.corpus.write_log import LOG, Entry, WriteLog, WriteResult
from practice_finder.errors import (
    ConflictError,
    CorpusError,
    NotFoundError,
    RecordProblem,
    WriteLogBehindError,
)
from practice_finder.models import (
    CONTACT_FIELDS,
    PLAN_SECTIONS,
    RECORD_TYPES,
    TABLES,
    VOCABULARIES,
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
            or [RecordProblem(where, "-", i18n.gettext("the record is not valid"))]
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
            where,
            "sections",
            i18n.gettext("must be an object of texts with the keys %(keys)s")
            % {"keys": ", ".join(headings)},
        )
        return {}
    for key in sorted(set(given) - set(headings)):
        problems.add(
            where,
            f"sections.{key}",
            i18n.gettext("is not a known section (known: %(keys)s)")
            % {"keys": ", ".join(headings)},
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

Parse = Callable[
    [str, Entry], Record
]  # a logged put -> its record (CorpusError when no longer valid)
Records = dict[str, dict[str, Record]]  # record type -> id -> record


def overlay(
    base: Corpus,
    entries: Mapping[tuple[str, str], Entry],
    *,
    check: bool = True,
    parse: Parse | None = None,
) -> Corpus:
    """The corpus folder's records with the logged writes applied; links checked again (`check`)."""
    records, problems = _laid_over(base, entries, parse or _parser(base.taxonomy))
    merged = _corpus(base.taxonomy, records)
    if check:
        problems.extend(link_problems(merged))
    if problems:
        raise CorpusError(problems)
    return merged


def _parser(taxonomy: Taxonomy) -> Parse:
    def parse(kind: str, entry: Entry) -> Record:
        assert entry.payload is not None
        return record_from_payload(kind, entry.payload, taxonomy, where=f"{LOG} write {entry.seq}")

    return parse


def _laid_over(
    base: Corpus, entries: Mapping[tuple[str, str], Entry], parse: Parse
) -> tuple[Records, list[RecordProblem]]:
    records: Records = {kind: {r.id: r for r in base.of_kind(kind)} for kind in RECORD_TYPES}
    problems: list[RecordProblem] = []
    for (kind, record_id), entry in sorted(entries.items(), key=lambda item: item[1].seq):
        if entry.op == "delete" or entry.payload is None:
            records[kind].pop(record_id, None)
            continue
        try:
            records[kind][record_id] = parse(kind, entry)
        except CorpusError as exc:  # valid when written, but the taxonomy changed since
            problems.extend(exc.problems)
    return records, problems


def _corpus(taxonomy: Taxonomy, records: Records) -> Corpus:
    kinds: list[Any] = [
        tuple(sorted(records[k].values(), key=lambda r: r.id)) for k in RECORD_TYPES
    ]
    return Corpus(taxonomy, *kinds)


def link_problems(merged: Corpus) -> list[RecordProblem]:
    found = folder.Problems()
    folder.check_links(list(merged.practices), list(merged.cities), list(merged.plans), found)
    return list(found)


def record_link_problems(merged: Corpus) -> set[RecordProblem]:
    """The link problems of a corpus, each filed under the record it is about (`practices/<id>`) rather
    than its file, so that the same problem is the same before and after a record moves into the log."""
    ref = {
        r.path: f"{COLLECTIONS[kind]}/{r.id}" for kind in RECORD_TYPES for r in merged.of_kind(kind)
    }
    return {
        RecordProblem(ref.get(p.path, p.path), p.field, p.message) for p in link_problems(merged)
    }


class Catalog:
    """The corpus folder (parsed once per change of its files) and the write log: what writes check against.

    `served_seq` gives the newest write in the build being served: a log that ends before it (lost, or
    restored from an older backup) takes no write, as its writes would get numbers the build already holds.
    """

    def __init__(
        self, corpus_dir: Path, state_dir: Path, served_seq: Callable[[], int] = lambda: 0
    ) -> None:
        self.corpus_dir = corpus_dir
        self.log = WriteLog(state_dir)
        self.served_seq = served_seq
        self._lock = threading.Lock()
        self._cached: tuple[tuple[Any, ...], Corpus] | None = None
        self._parsed: tuple[Taxonomy | None, dict[int, Record]] = (None, {})

    def base(self) -> Corpus:
        """The corpus folder as parsed; parsed again only when a file was added, removed or modified."""
        signature = _signature(self.corpus_dir)
        with self._lock:
            if self._cached is None or self._cached[0] != signature:
                self._cached = (signature, folder.load_corpus(self.corpus_dir))
            return self._cached[1]

    def _parse(self, taxonomy: Taxonomy) -> Parse:
        """Parse logged puts once: a logged write never changes, so its record is kept by sequence number
        (while the taxonomy it was checked against stays the same)."""
        if self._parsed[0] is not taxonomy:
            self._parsed = (taxonomy, {})
        cache, parse = self._parsed[1], _parser(taxonomy)

        def cached(kind: str, entry: Entry) -> Record:
            if entry.seq not in cache:
                cache[entry.seq] = parse(kind, entry)
            return cache[entry.seq]

        return cached

    def current(self) -> tuple[Corpus, int]:
        """The corpus a build would read now, and the newest write sequence number it includes."""
        entries, seq = self.log.snapshot()
        base = self.base()
        return overlay(base, entries, parse=self._parse(base.taxonomy)), seq

    def _entries(self, conn: sqlite3.Connection) -> dict[tuple[str, str], Entry]:
        """The latest write of every record, once it is sure the log does not end before the served build."""
        behind = behind_error(self.log.high_water(conn), self.served_seq(), self.log.path)
        if behind is not None:
            raise behind
        return self.log.latest(conn)

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
            entries = self._entries(conn)
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
            self._refuse_broken_links(base, entries, kind, record.id, record)
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
            entries = self._entries(conn)
            results, changed = _compare(base, entries, records)
            problems.extend(self._links_added(base, entries, [r for r, _ in changed]))
            if problems:
                raise CorpusError(problems)
            for record, digest in [] if dry_run else changed:
                kind = record_type(record)
                seq = self.log.append(conn, kind, record.id, "put", payload_of(record), digest)
                results[(kind, record.id)] = msgspec.structs.replace(
                    results[(kind, record.id)], seq=seq
                )
        return list(results.values())

    def _links_added(
        self, base: Corpus, entries: Mapping[tuple[str, str], Entry], records: list[Record]
    ) -> list[RecordProblem]:
        """The link problems that putting `records` adds to the corpus with the log laid over it; one of a
        record put is filed under its `path` (the row it came from), one of another record under its id."""
        if not records:
            return []
        laid, _ = _laid_over(base, entries, self._parse(base.taxonomy))
        before = record_link_problems(_corpus(base.taxonomy, laid))
        for record in records:
            laid[record_type(record)][record.id] = record
        added = record_link_problems(_corpus(base.taxonomy, laid)) - before
        rows = {f"{COLLECTIONS[record_type(r)]}/{r.id}": r.path for r in records}
        return sorted(
            (RecordProblem(rows.get(p.path, p.path), p.field, p.message) for p in added),
            key=lambda p: (p.path, p.field),
        )

    def delete(self, kind: str, record_id: str) -> WriteResult:
        base = self.base()
        with self.log.transaction() as conn:
            entries = self._entries(conn)
            if _existing(base, entries, kind, record_id) is None:
                raise NotFoundError(f"no {kind} with id {record_id!r}")
            self._refuse_broken_links(base, entries, kind, record_id, None)
            seq = self.log.append(conn, kind, record_id, "delete", None, None)
        return WriteResult(kind, record_id, "delete", seq, created=False, changed=True)

    def _refuse_broken_links(
        self,
        base: Corpus,
        entries: Mapping[tuple[str, str], Entry],
        kind: str,
        record_id: str,
        record: Record | None,
    ) -> None:
        """Lay the log and this write (a put of `record`, or a delete) over the corpus folder and check the
        links between records as ingest does: refuse the write when it adds a problem. A problem of the
        record written is a 422 naming its field; one of other records (the practices of a city whose
        country changes, those naming a city deleted) a 409 naming each record."""
        records, _ = _laid_over(base, entries, self._parse(base.taxonomy))
        records[kind].pop(record_id, None)
        if record is not None:
            records[kind][record_id] = record
        after = record_link_problems(_corpus(base.taxonomy, records))
        if not after:
            return
        unchanged, _ = _laid_over(base, entries, self._parse(base.taxonomy))
        before = record_link_problems(_corpus(base.taxonomy, unchanged))
        added = sorted(after - before, key=lambda p: (p.path, p.field))
        own = [p for p in added if p.path == f"{COLLECTIONS[kind]}/{record_id}"]
        if own and record is not None:
            raise CorpusError(own)
        if added:
            raise _links_conflict(kind, record_id, record is None, added)

    def align(self, target: Mapping[str, Sequence[Record]], seq: int) -> tuple[int, int, int]:
        """Log what makes the corpus folder with the log laid over it hold exactly the `target` records (by
        record type), numbered after `seq`: the log's newest sequence number becomes at least `seq`.
        Returns the puts and deletes logged and the newest sequence number."""
        base = self.base()
        with self.log.transaction() as conn:
            entries = self.log.latest(conn)
            now = overlay(base, entries, check=False, parse=self._parse(base.taxonomy))
            self.log.raise_to(conn, seq)
            put = deleted = 0
            for kind in RECORD_TYPES:
                have = {r.id: record_digest(r) for r in now.of_kind(kind)}
                want = {r.id: r for r in target.get(kind, ())}
                for record_id, record in sorted(want.items()):
                    digest = record_digest(record)
                    if have.get(record_id) != digest:
                        self.log.append(conn, kind, record_id, "put", payload_of(record), digest)
                        put += 1
                for record_id in sorted(set(have) - set(want)):
                    self.log.append(conn, kind, record_id, "delete", None, None)
                    deleted += 1
            return put, deleted, self.log.high_water(conn)

    def export(self, kind: str, *, contacts: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of one kind as the API accepts it, pending writes included, in id order (links are
        not checked again: an export must give back what is stored, whatever a re-index would say); the
        contact fields only when `contacts` (for the programme's staff, never for the public)."""
        entries, _ = self.log.snapshot()
        base = self.base()
        merged = overlay(base, entries, check=False, parse=self._parse(base.taxonomy))
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


def _links_conflict(
    kind: str, record_id: str, deleting: bool, problems: list[RecordProblem]
) -> ConflictError:
    what = f"deleting {kind} {record_id!r}" if deleting else f"this {kind}"
    named = "; ".join(f"{p.path}: {p.field}: {p.message}" for p in problems[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return ConflictError(
        f"{what} would leave {len(problems)} record(s) invalid: {named}{more}",
        "change or delete the records listed in `errors` first, or change this write so that they stay valid",
        problems,
    )


def behind_error(logged: int, served: int, path: Path) -> WriteLogBehindError | None:
    """The error for a log whose newest write (`logged`) is older than the newest in the build (`served`)."""
    if logged >= served:
        return None
    return WriteLogBehindError(
        f"the write log ends at write {logged}, but the build being served holds writes up to "
        f"{served}: {path} was lost or restored from an older backup"
    )


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


def _signature(corpus_dir: Path) -> tuple[Any, ...]:
    """Names, sizes and modification times of the corpus files: cheap to take, changes with any edit."""
    files = sorted(p for p in corpus_dir.rglob("*") if p.is_file()) if corpus_dir.is_dir() else []
    return tuple((str(p), s.st_size, s.st_mtime_ns) for p in files for s in (p.stat(),))


def load_current(corpus_dir: Path, state_dir: Path) -> tuple[Corpus, int]:
    """For ingest: the corpus folder with the write log laid over it, and the log's newest sequence number."""
    return Catalog(corpus_dir, state_dir).current()
