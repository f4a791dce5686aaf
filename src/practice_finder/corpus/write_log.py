"""The write log: every record the portal writes, one row each in `state_dir/writes.db`.

SQLite in WAL mode with a full fsync on every commit, so a write is on disk before the API answers it;
each call opens its own connection, so the log is safe to share between threads and processes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

LOG = "writes.db"
_SCHEMA = """
create table if not exists writes (
    seq integer primary key autoincrement,
    kind text not null, id text not null, op text not null check (op in ('put', 'delete')),
    payload text, content_hash text, received_at text not null
);
create index if not exists writes_record on writes (kind, id, seq);
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
        self._created = (
            False  # WAL mode and the table are properties of the file: set up once per process
        )

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._created:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            # per connection: the commit reaches the disk before the answer
            conn.execute("pragma synchronous=full")
            if not self._created:
                conn.execute("pragma journal_mode=wal")
                conn.executescript(_SCHEMA)
                self._created = True
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An exclusive write transaction: validation and append see the same state in every process."""
        with self._connect() as conn:
            conn.execute("begin immediate")
            try:
                yield conn
            except BaseException:
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
            seq = int(conn.execute("select coalesce(max(seq), 0) from writes").fetchone()[0])
            conn.execute("commit")
        return entries, seq

    def max_seq(self) -> int:
        if not self.exists():
            return 0
        with self._connect() as conn:
            return int(conn.execute("select coalesce(max(seq), 0) from writes").fetchone()[0])

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
