"""Staff import and export: a CSV, XLSX or JSONL file of records through the catalog and its write log.

`import_file` puts every record of a file through the write log in one transaction (all or nothing,
the same checks as an API write); `export_file` writes every record, pending writes and contacts
included. How records become rows is `sheets.py`'s.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from practice_finder.corpus.catalog import Catalog
from practice_finder.corpus.folder import Problems
from practice_finder.corpus.sheets import (
    FORMATS,
    Row,
    read_rows,
    write_csv,
    write_jsonl,
    write_xlsx,
)
from practice_finder.corpus.write_log import WriteResult
from practice_finder.errors import CorpusError, ImportFileError, InvalidQueryError, RecordProblem
from practice_finder.models import TABLES


class ImportReport(msgspec.Struct, kw_only=True):
    """What an import did (or, with `dry_run`, would do): records per kind added, changed, unchanged."""

    file: str
    dry_run: bool
    added: dict[str, int]
    changed: dict[str, int]
    unchanged: dict[str, int]
    first_seq: int | None = None  # the write log's sequence numbers of the records logged
    last_seq: int | None = None


def import_file(
    catalog: Catalog, path: Path, kind: str | None = None, *, dry_run: bool = False
) -> ImportReport:
    """Read a CSV, XLSX or JSONL file and put every record through the write log in one transaction:
    all or nothing. Raises ImportFileError listing every problem by row and column."""
    problems = Problems()
    rows = read_rows(path, kind, problems)
    if (
        problems
    ):  # the file itself is unreadable somewhere: the rows are still checked, for one report
        problems.extend(_row_problems(catalog, rows))
        raise ImportFileError(list(problems), path.name)
    try:
        results = catalog.put_many(((r.kind, r.payload, r.where) for r in rows), dry_run=dry_run)
    except CorpusError as exc:
        raise ImportFileError(exc.problems, path.name) from exc
    return _report(path.name, dry_run, results)


def _row_problems(catalog: Catalog, rows: list[Row]) -> list[RecordProblem]:
    try:
        catalog.put_many(((r.kind, r.payload, r.where) for r in rows), dry_run=True)
    except CorpusError as exc:
        return exc.problems
    return []


def _report(name: str, dry_run: bool, results: list[WriteResult]) -> ImportReport:
    count: dict[str, dict[str, int]] = {"added": {}, "changed": {}, "unchanged": {}}
    for r in results:
        what = "unchanged" if not r.changed else "added" if r.created else "changed"
        count[what][TABLES[r.kind]] = count[what].get(TABLES[r.kind], 0) + 1
    logged = [r.seq for r in results if r.changed and not dry_run]
    return ImportReport(
        file=name,
        dry_run=dry_run,
        **count,
        first_seq=min(logged) if logged else None,
        last_seq=max(logged) if logged else None,
    )


def export_file(catalog: Catalog, fmt: str, kinds: list[str]) -> bytes:
    """Every record of the kinds asked, pending writes and contacts included (for staff, not the public):
    CSV and JSONL hold one kind, an XLSX workbook one sheet per kind."""
    if fmt not in FORMATS:
        raise InvalidQueryError(
            "format", f"{fmt!r} is not known", f"use one of {', '.join(FORMATS)}"
        )
    if fmt == "xlsx":
        return write_xlsx({kind: catalog.export(kind, contacts=True) for kind in kinds})
    if len(kinds) != 1:
        raise InvalidQueryError("kind", f"{fmt} holds one kind of record", "name one with --kind")
    payloads = catalog.export(kinds[0], contacts=True)
    return write_jsonl(payloads) if fmt == "jsonl" else write_csv(kinds[0], payloads)
