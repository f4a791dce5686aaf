"""The write log: every record the portal writes, one row each in `state_dir/writes.db`.

SQLite in WAL mode with a full fsync on every commit, so a write is on disk before the API answers it;
each call opens its own connection, so the log is safe to share between threads and processes.
Any SQLite failure of the file (damaged, not a database) is a WriteLogError that says so. A file that
SQLite reads as a database without the table (one truncated to nothing) gets the table again: nothing in
it was left to save, and an empty log cannot take writes unnoticed, since it then ends before the build
being served (see `high_water` and Catalog's check).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from practice_finder.errors import WriteLogError

LOG = "writes.db"
_SCHEMA = """
create table if not exists writes (
    seq integer primary key autoincrement,
    kind text not null, id text not null, op text not null check (op in ('put', 'delete')),
    payload text, content_hash text, received_at text not null
);
create index if not exists writes_record on writes (kind, id, seq);
"""
# The newest sequence number handed out: the last row's, or higher once `raise_to` moved the mark past it
# (AUTOINCREMENT keeps the mark in sqlite_sequence, so a new row always gets a higher number).
_HIGH_WATER = """
select max(coalesce((select max(seq) from writes), 0),
           coalesce((select seq from sqlite_sequence where name = 'writes'), 0))
"""


@dataclass(frozen=True)
class Entry:
    """The latest write of one record."""

    seq: int
    op: str
    payload: dict[str, Any] | None
    content_hash: str | None


class WriteResult(msgspec.Struct, frozen=True):
    """What a write did: `created` when the record did not exist, `changed` when its content differs."""

    kind: str
    id: str
    op: str
    seq: int
    created: bool
    changed: bool


class WriteLog:
    """The SQLite log of writes; safe to use from many threads and processes (each call opens a connection)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOG

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection with the table in place; a SQLite failure of the file becomes a WriteLogError."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
                # per connection: the commit reaches the disk before the answer
                conn.execute("pragma synchronous=full")
                # per connection, as the file may have been replaced or emptied since: both are no-ops
                # on a log in order
                conn.execute("pragma journal_mode=wal")
                conn.executescript(_SCHEMA)
                yield conn
        except sqlite3.DatabaseError as exc:
            raise WriteLogError(f"the write log {self.path} cannot be used: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An exclusive write transaction: validation and append see the same state in every process."""
        with self._connect() as conn:
            conn.execute("begin immediate")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("rollback")
                raise
            conn.execute("commit")

    def latest(self, conn: sqlite3.Connection | None = None) -> dict[tuple[str, str], Entry]:
        """(record type, id) -> the newest write of that record."""
        if conn is None:
            if not self.exists():
                return {}
            with self._connect() as own:
                return self.latest(own)
        rows = conn.execute(
            "select w.* from writes w join (select kind, id, max(seq) seq from writes group by kind, id) m on w.seq = m.seq"
        )
        return {
            (r[1], r[2]): Entry(r[0], r[3], json.loads(r[4]) if r[4] else None, r[5]) for r in rows
        }

    def snapshot(self) -> tuple[dict[tuple[str, str], Entry], int]:
        """The latest write of every record and the newest sequence number, read together."""
        if not self.exists():
            return {}, 0
        with self._connect() as conn:
            conn.execute("begin")  # one read transaction: the two reads see the same log
            entries = self.latest(conn)
            seq = self.high_water(conn)
            conn.execute("commit")
        return entries, seq

    def max_seq(self) -> int:
        """The newest sequence number of the log (0 when it is empty or missing)."""
        if not self.exists():
            return 0
        with self._connect() as conn:
            return self.high_water(conn)

    @staticmethod
    def high_water(conn: sqlite3.Connection) -> int:
        return int(conn.execute(_HIGH_WATER).fetchone()[0])

    @staticmethod
    def raise_to(conn: sqlite3.Connection, seq: int) -> None:
        """Move the newest sequence number up to `seq` (never down): the next write gets a higher one."""
        if WriteLog.high_water(conn) >= seq:
            return
        updated = conn.execute("update sqlite_sequence set seq = ? where name = 'writes'", (seq,))
        if updated.rowcount == 0:
            conn.execute("insert into sqlite_sequence (name, seq) values ('writes', ?)", (seq,))

    def pending(self, since: int) -> int:
        """How many records have writes newer than sequence number `since` (what the served build lacks)."""
        if not self.exists():
            return 0
        with self._connect() as conn:
            return int(
                conn.execute(
                    "select count(distinct kind || '/' || id) from writes where seq > ?", (since,)
                ).fetchone()[0]
            )

    @staticmethod
    def append(
        conn: sqlite3.Connection,
        kind: str,
        record_id: str,
        op: str,
        payload: dict[str, Any] | None,
        content_hash: str | None,
    ) -> int:
        cursor = conn.execute(
            "insert into writes (kind, id, op, payload, content_hash, received_at) values (?, ?, ?, ?, ?, ?)",
            (
                kind,
                record_id,
                op,
                json.dumps(payload, ensure_ascii=False) if payload is not None else None,
                content_hash,
                datetime.now(UTC).isoformat(timespec="milliseconds"),
            ),
        )
        return int(cursor.lastrowid or 0)
