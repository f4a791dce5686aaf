"""Records as rows of a spreadsheet, for the programme's staff: CSV, XLSX or JSON Lines, in and out.

One row is one record; its columns are the record's JSON field names (as the write API takes them), with
the text sections as `sections.<key>` (a city's text as `description`). A list field (years, tags,
partners, languages) is one cell, its items separated by `;`. An XLSX workbook holds one sheet per kind,
named by its collection (practices, cities, plans); a CSV or JSONL file holds one kind. Row numbers are
the spreadsheet's: the header is row 1.

This module is the one home of the record <-> row mapping; what a valid record is stays with the schema
(`record_from_payload` checks a row exactly as it checks a corpus file or an API write).
"""

from __future__ import annotations

import csv
import io
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from practice_finder.corpus import schema
from practice_finder.corpus.folder import Problems
from practice_finder.errors import InvalidQueryError
from practice_finder.models import (
    CONTACT_FIELDS,
    PLAN_SECTIONS,
    RECORD_KINDS,
    TABLES,
    VOCABULARIES,
    Taxonomy,
)

FORMATS = ("csv", "xlsx", "jsonl")
SEPARATOR = ";"
MAX_FILE_BYTES = 20_000_000  # a file to import; an XLSX is a zip: its rows are read as a stream
MAX_ROWS = 10_000  # per sheet or file: well above the corpus, far below what would exhaust memory
MAX_XLSX_TEXT = 32_767  # the most characters one spreadsheet cell holds
# a text cell starting with one of these is a formula to a spreadsheet program: CSV export writes a `'`
# before it (and import takes it off again); XLSX cells are typed as text instead
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SPECS = {
    "practice": schema.practice_fields,
    "city": schema.city_fields,
    "plan": schema.plan_fields,
}
_MODELS = {kind.name: kind.model for kind in RECORD_KINDS}
KIND_OF_SHEET = {table: kind for kind, table in TABLES.items()}


@dataclass(frozen=True)
class Row:
    """One record read from a file: its kind, its JSON payload and where it was ('file row 3')."""

    kind: str
    payload: dict[str, Any]
    where: str


# -- columns and cell types ---------------------------------------------------------------------


def columns(kind: str) -> list[str]:
    """The columns of a kind, in order: the front-matter fields, the text, then the contact."""
    names = [f.name for f in _SPECS[kind](Taxonomy({})) if f.name not in CONTACT_FIELDS]
    if kind == "city":
        text = ["description"]
    else:
        keys = schema.PRACTICE_SECTIONS if kind == "practice" else dict(PLAN_SECTIONS)
        text = [f"sections.{key}" for key in keys]
    return names + text + list(CONTACT_FIELDS)


def _cell_type(kind: str, column: str) -> Any:
    """The Python type a column holds, read from the record's struct (tags and text are texts)."""
    if column in VOCABULARIES:
        return tuple[str, ...]
    if column.startswith("sections.") or column == "description":
        return str
    hints = typing.get_type_hints(_MODELS[kind])
    return hints.get(column, str)


def _scalar(value: Any, kind: type) -> Any:
    """A cell's value as `kind` when it reads as one; else the raw value, for the schema to report."""
    if kind is bool and isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower(), value)
    if kind in (int, float) and isinstance(value, str):
        try:
            return msgspec.convert(value.strip(), kind, strict=False)
        except msgspec.ValidationError:
            return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and not isinstance(value, str):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return value


def from_cell(kind: str, column: str, value: Any) -> Any:
    """A cell as the payload's value: lists split at `;`, numbers and flags typed; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    wanted = _cell_type(kind, column)
    origin = typing.get_origin(wanted)
    if origin in (typing.Union, types.UnionType):
        wanted = next(a for a in typing.get_args(wanted) if a is not type(None))
        origin = typing.get_origin(wanted)
    if origin is tuple:
        inner = typing.get_args(wanted)[0]
        items = value.split(SEPARATOR) if isinstance(value, str) else [value]
        return [
            _scalar(item.strip() if isinstance(item, str) else item, inner)
            for item in items
            if str(item).strip()
        ]
    if wanted is str and isinstance(value, str):
        return value
    return _scalar(value, wanted)


def to_cell(value: Any, where: str, column: str) -> Any:
    """A payload's value as one cell: a list joined with `; ` (refused when an item holds a `;`)."""
    if not isinstance(value, list):
        return value
    if any(SEPARATOR in str(item) for item in value):
        raise InvalidQueryError(
            column,
            f"{where}: an item contains '{SEPARATOR}', which separates the items of a list cell",
            "export this kind as jsonl, or change the item",
        )
    return f"{SEPARATOR} ".join(str(item) for item in value)


# -- records <-> rows ------------------------------------------------------------------------------


def row_of(kind: str, payload: Mapping[str, Any]) -> list[Any]:
    """One record's cells, in `columns(kind)` order (None where the record has no value)."""
    sections = payload.get("sections") or {}
    where = f"{TABLES[kind]}/{payload.get('id')}"
    return [
        to_cell(
            sections.get(c.removeprefix("sections."))
            if c.startswith("sections.")
            else payload.get(c),
            where,
            c,
        )
        for c in columns(kind)
    ]


def payload_of_row(kind: str, cells: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON record of one row (column -> cell), in the shape `record_from_payload` checks."""
    payload: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for column, raw in cells.items():
        value = from_cell(kind, column, raw)
        if value is None:
            continue
        if column.startswith("sections."):
            sections[column.removeprefix("sections.")] = value
        else:
            payload[column] = value
    if sections:
        payload["sections"] = sections
    return payload


# -- writing ---------------------------------------------------------------------------------------


def write_jsonl(payloads: Iterable[Mapping[str, Any]]) -> bytes:
    """One JSON record per line (the API's export, and what `import` reads back)."""
    return b"".join(msgspec.json.encode(p) + b"\n" for p in payloads)


def _csv_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_csv(kind: str, payloads: Iterable[Mapping[str, Any]]) -> bytes:
    """A CSV file of one kind (UTF-8 with a byte-order mark, which spreadsheet programs read as UTF-8)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns(kind))
    for payload in payloads:
        writer.writerow([_csv_text(v) for v in row_of(kind, payload)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def write_xlsx(by_kind: Mapping[str, Iterable[Mapping[str, Any]]]) -> bytes:
    """An XLSX workbook with one sheet per kind, every text cell typed as text (never a formula)."""
    from openpyxl import Workbook
    from openpyxl.utils.exceptions import IllegalCharacterError

    book = Workbook()
    book.remove(book.active)
    for kind, payloads in by_kind.items():
        sheet = book.create_sheet(TABLES[kind])
        sheet.append(columns(kind))
        sheet.freeze_panes = "A2"
        for payload in payloads:
            cells = row_of(kind, payload)
            try:
                sheet.append(cells)
            except IllegalCharacterError as exc:
                raise InvalidQueryError(
                    "record",
                    f"{TABLES[kind]}/{payload.get('id')} holds a control character a workbook cannot",
                    "export as jsonl, or remove the character from the record",
                ) from exc
            for cell, value in zip(sheet[sheet.max_row], cells, strict=True):
                if isinstance(value, str):
                    _check_length(value, kind, payload)
                    cell.data_type = "s"  # openpyxl would take a leading '=' for a formula
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _check_length(value: str, kind: str, payload: Mapping[str, Any]) -> None:
    if len(value) > MAX_XLSX_TEXT:
        raise InvalidQueryError(
            "record",
            f"{TABLES[kind]}/{payload.get('id')} has a text longer than a workbook cell holds",
            "export as jsonl or csv",
        )


# -- reading ---------------------------------------------------------------------------------------


def read_rows(path: Path, kind: str | None, problems: Problems) -> list[Row]:
    """Every record of a file (its format by its suffix); what cannot be read goes to `problems`."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InvalidQueryError(
            "FILE", f"{path.name} is not a .csv, .xlsx or .jsonl file", "save it in one of those"
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidQueryError(
            "FILE",
            f"{path.name} has {size} bytes; at most {MAX_FILE_BYTES} are read",
            "split it into smaller files",
        )
    if fmt == "xlsx":
        return list(_xlsx_rows(path, kind, problems))
    one = kind or "practice"
    if fmt == "csv":
        return list(_table_rows(path.name, one, _csv_lines(path, problems), problems))
    return list(_jsonl_rows(path, one, problems))


def _csv_lines(path: Path, problems: Problems) -> Iterator[list[Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        problems.add(path.name, "-", "is not UTF-8 text (save it as 'CSV UTF-8')")
        return
    yield from csv.reader(io.StringIO(text, newline=""))


def _uncsv(value: Any) -> Any:
    """A CSV cell as written: the `'` that kept a text from being read as a formula taken off."""
    if isinstance(value, str) and value[:1] == "'" and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def _table_rows(where: str, kind: str, lines: Iterable[Any], problems: Problems) -> Iterator[Row]:
    """Rows of a table whose first line names the columns."""
    lines = iter(lines)
    header = [str(h).strip() if h is not None else "" for h in next(lines, [])]
    known = set(columns(kind))
    if not _header_ok(where, kind, header, problems):
        return
    for number, line in enumerate(lines, start=2):
        if (
            number > MAX_ROWS + 1
        ):  # counted with the empty rows: a sheet of blank rows ends here too
            problems.add(where, "-", f"has more than {MAX_ROWS} rows; split it")
            return
        values = [_uncsv(v) for v in line]
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        cells = {c: v for c, v in zip(header, values, strict=False) if c in known}
        yield Row(kind, payload_of_row(kind, cells), f"{where} row {number}")


def _header_ok(where: str, kind: str, header: list[str], problems: Problems) -> bool:
    """Whether the rows under this header can be read at all; what is wrong with it goes to `problems`."""
    known = columns(kind)
    found = [h for h in header if h]
    if not found:
        problems.add(
            f"{where} row 1", "-", f"the header is empty; name the columns: {', '.join(known)}"
        )
        return False
    if len(found) == 1 and SEPARATOR in found[0]:
        problems.add(
            f"{where} row 1",
            "-",
            "the columns are separated by ';': save the file as comma-separated CSV",
        )
        return False
    # reported, and the rows still read (without those columns): one pass finds every problem
    for name in sorted({h for h in found if found.count(h) > 1}):
        problems.add(f"{where} row 1", name, "is named twice")
    for name in found:
        if name not in known:
            problems.add(
                f"{where} row 1",
                name,
                f"is not a column of {TABLES[kind]} (known: {', '.join(known)})",
            )
    return True


def _xlsx_rows(path: Path, kind: str | None, problems: Problems) -> Iterator[Row]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        problems.add(path.name, "-", f"cannot be read as an XLSX workbook ({type(exc).__name__})")
        return
    try:
        for sheet in book.worksheets:
            sheet_kind = KIND_OF_SHEET.get(sheet.title)
            if sheet_kind is None:
                problems.add(
                    f"{path.name} sheet {sheet.title!r}",
                    "-",
                    f"is not a kind of record; name the sheets {', '.join(KIND_OF_SHEET)}",
                )
                continue
            if kind is not None and sheet_kind != kind:
                continue
            sheet.reset_dimensions()  # read every row, whatever size the file claims
            lines = sheet.iter_rows(values_only=True)
            yield from _table_rows(f"{path.name} {sheet.title}", sheet_kind, lines, problems)
    finally:
        book.close()


def _jsonl_rows(path: Path, kind: str, problems: Problems) -> Iterator[Row]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if number > MAX_ROWS:
                problems.add(path.name, "-", f"has more than {MAX_ROWS} lines; split it")
                return
            try:
                payload = msgspec.json.decode(line)
            except msgspec.DecodeError:
                problems.add(f"{path.name} line {number}", "-", "is not a JSON object")
                continue
            if not isinstance(payload, dict):
                problems.add(f"{path.name} line {number}", "-", "is not a JSON object")
                continue
            yield Row(kind, payload, f"{path.name} line {number}")
