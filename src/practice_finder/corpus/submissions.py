"""Practices submitted by towns, their review by the programme's staff, and the audit log of it all.

A submission is checked by the same code as a corpus record, but is not a record yet: it waits in
`state_dir/review.db` (SQLite, WAL) until staff approve it; only then is it put through the catalog
(the write log and the re-index), like PUT /v1/practices/{id}. The submitter holds a private token
(only its SHA-256 digest is stored) that opens the submission's status; staff address it by number.
Fields the programme sets (the id, `source`, `basis`, the approval state) cannot come from a submitter.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from practice_finder import i18n
from practice_finder.corpus.catalog import Catalog, record_from_payload
from practice_finder.errors import (
    CorpusError,
    InvalidQueryError,
    NotFoundError,
    RecordProblem,
    TooManyAttemptsError,
)
from practice_finder.models import Taxonomy

STORE = "review.db"
# set by the programme, never by a submitter: the record's id and where it comes from, and the review state
RESERVED = ("id", "source", "basis", "status", "state", "approved", "reviewer", "comment", "token")
STATES = ("pending", "returned", "approved", "rejected")
OPEN = ("pending", "returned")  # states a submission can still be reviewed (or resubmitted) in
SUBMISSIONS_PER_HOUR = 5  # per address (its digest): the spam limit beside the honeypot

_SCHEMA = """
create table if not exists submissions (
    number integer primary key autoincrement,
    token_digest text not null unique,
    payload text not null, state text not null, comment text not null default '',
    practice_id text, address text not null, created_at text not null, updated_at text not null
);
create table if not exists staff (
    name text primary key, password_hash text not null, created_at text not null
);
create table if not exists audit (
    seq integer primary key autoincrement,
    at text not null, who text not null, action text not null, target text not null, detail text not null
);
create table if not exists sign_in_failures (name text not null, address text not null, at text not null);
"""


class Submission(msgspec.Struct, frozen=True, kw_only=True):
    """A submitted practice and where its review stands (`practice_id` once approved)."""

    number: int
    payload: dict[str, Any]
    state: str
    comment: str
    practice_id: str | None
    created_at: str
    updated_at: str


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One change: who made it, when, what it did, to which submission or account, and a short note."""

    seq: int
    at: str
    who: str
    action: str
    target: str
    detail: str


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class ReviewStore:
    """The SQLite file of submissions, staff accounts, sign-in failures and the audit log."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STORE
        self._created = False

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in an immediate transaction (committed on leaving, rolled back on an error)."""
        if not self._created:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            conn.execute("pragma synchronous=full")
            if not self._created:
                conn.execute("pragma journal_mode=wal")
                conn.executescript(_SCHEMA)
                self._created = True
            conn.execute("begin immediate")
            try:
                yield conn
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")

    def audit(
        self, conn: sqlite3.Connection, who: str, action: str, target: str, detail: str = ""
    ) -> None:
        conn.execute(
            "insert into audit (at, who, action, target, detail) values (?, ?, ?, ?, ?)",
            (stamp(now()), who, action, target, detail),
        )

    def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        """The newest changes first."""
        with self.connect() as conn:
            rows = conn.execute(
                "select seq, at, who, action, target, detail from audit order by seq desc limit ?",
                (limit,),
            ).fetchall()
        return [
            AuditEntry(seq=r[0], at=r[1], who=r[2], action=r[3], target=r[4], detail=r[5])
            for r in rows
        ]


# -- checking a submission ---------------------------------------------------------------------


def slugify(text: str) -> str:
    """A record id from a title: ASCII lowercase words joined by hyphens (ā -> a, ł -> l)."""
    plain = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    words = re.findall(r"[a-z0-9]+", plain.encode("ascii", "ignore").decode().lower())
    return "-".join(words[:8]) or "practice"


def check_submission(payload: Mapping[str, Any], taxonomy: Taxonomy) -> dict[str, Any]:
    """The submission as it will be stored; CorpusError lists every problem by field, reserved fields
    included. The fields the programme sets are stood in for while checking, never stored."""
    reserved = [
        RecordProblem(
            "submission", name, i18n.gettext("is set by the programme's staff, not in a submission")
        )
        for name in RESERVED
        if name in payload
    ]
    body = {k: v for k, v in payload.items() if k not in RESERVED}
    stand_in = {"id": slugify(str(body.get("title") or "")), "source": "illustrative"}
    try:
        record_from_payload("practice", {**body, **stand_in}, taxonomy, where="submission")
    except CorpusError as exc:
        raise CorpusError(reserved + exc.problems) from None
    if reserved:
        raise CorpusError(reserved)
    return body


# -- submissions ---------------------------------------------------------------------------


def _submission(row: tuple[Any, ...]) -> Submission:
    return Submission(
        number=row[0],
        payload=json.loads(row[1]),
        state=row[2],
        comment=row[3],
        practice_id=row[4],
        created_at=row[5],
        updated_at=row[6],
    )


_COLUMNS = "number, payload, state, comment, practice_id, created_at, updated_at"


def submit(
    store: ReviewStore, taxonomy: Taxonomy, payload: Mapping[str, Any], address: str
) -> tuple[Submission, str]:
    """Check and store a new submission; returns it and the submitter's private token (shown once).
    More than SUBMISSIONS_PER_HOUR from one address in an hour are refused."""
    body = check_submission(payload, taxonomy)
    token = secrets.token_urlsafe(24)
    received, who = stamp(now()), digest(address)[:16]
    with store.connect() as conn:
        since = stamp(now() - timedelta(hours=1))
        recent = conn.execute(
            "select count(*) from submissions where address = ? and created_at > ?", (who, since)
        ).fetchone()[0]
        if recent >= SUBMISSIONS_PER_HOUR:
            raise TooManyAttemptsError(
                "too many submissions from this address", "try again in an hour", retry_after=3600
            )
        cursor = conn.execute(
            "insert into submissions (token_digest, payload, state, address, created_at, updated_at)"
            " values (?, ?, 'pending', ?, ?, ?)",
            (digest(token), json.dumps(body, ensure_ascii=False), who, received, received),
        )
        number = int(cursor.lastrowid or 0)
        store.audit(conn, "submitter", "submit", f"submission {number}", str(body.get("title", "")))
    return by_number(store, number), token


def by_token(store: ReviewStore, token: str) -> Submission:
    with store.connect() as conn:
        row = conn.execute(
            f"select {_COLUMNS} from submissions where token_digest = ?", (digest(token),)
        ).fetchone()
    if row is None:
        raise NotFoundError("no submission with this status link")
    return _submission(row)


def by_number(store: ReviewStore, number: int) -> Submission:
    with store.connect() as conn:
        row = conn.execute(
            f"select {_COLUMNS} from submissions where number = ?", (number,)
        ).fetchone()
    if row is None:
        raise NotFoundError(f"no submission number {number}")
    return _submission(row)


def queue(store: ReviewStore, states: tuple[str, ...] = OPEN) -> list[Submission]:
    """Submissions in the given states, oldest first."""
    marks = ",".join("?" * len(states))
    with store.connect() as conn:
        rows = conn.execute(
            f"select {_COLUMNS} from submissions where state in ({marks}) order by number", states
        ).fetchall()
    return [_submission(r) for r in rows]


def _set_state(
    store: ReviewStore,
    number: int,
    who: str,
    state: str,
    comment: str,
    practice_id: str | None = None,
) -> Submission:
    current = by_number(store, number)
    if current.state not in OPEN:
        raise InvalidQueryError("state", f"submission {number} is already {current.state}")
    with store.connect() as conn:
        conn.execute(
            "update submissions set state = ?, comment = ?, practice_id = ?, updated_at = ? where number = ?",
            (state, comment, practice_id, stamp(now()), number),
        )
        note = f"as {practice_id}" if practice_id else comment[:200]
        store.audit(
            conn, who, state if state != "returned" else "send back", f"submission {number}", note
        )
    return by_number(store, number)


def edit(
    store: ReviewStore, taxonomy: Taxonomy, number: int, who: str, payload: Mapping[str, Any]
) -> Submission:
    """Staff correct a submission before deciding; checked like a new one, every change audited."""
    current = by_number(store, number)
    if current.state not in OPEN:
        raise InvalidQueryError("state", f"submission {number} is already {current.state}")
    body = check_submission(payload, taxonomy)
    changed = sorted(
        k for k in set(body) | set(current.payload) if body.get(k) != current.payload.get(k)
    )
    with store.connect() as conn:
        conn.execute(
            "update submissions set payload = ?, updated_at = ? where number = ?",
            (json.dumps(body, ensure_ascii=False), stamp(now()), number),
        )
        store.audit(conn, who, "edit", f"submission {number}", "changed: " + ", ".join(changed))
    return by_number(store, number)


def send_back(store: ReviewStore, number: int, who: str, comment: str) -> Submission:
    if not comment.strip():
        raise InvalidQueryError("comment", "say what the town should change")
    return _set_state(store, number, who, "returned", comment.strip())


def reject(store: ReviewStore, number: int, who: str, comment: str) -> Submission:
    return _set_state(store, number, who, "rejected", comment.strip())


def free_id(catalog: Catalog, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `-3`... when a practice (published or pending in the log) has it."""
    taken = {r.id for r in catalog.current()[0].practices}
    candidate, n = wanted, 2
    while candidate in taken:
        candidate, n = f"{wanted}-{n}", n + 1
    return candidate


def approve(store: ReviewStore, catalog: Catalog, number: int, who: str, source: str) -> Submission:
    """Publish a submission: the record goes through the catalog (write log, then the background
    re-index) under a free id and the `source` staff give, exactly as PUT /v1/practices/{id} would."""
    current = by_number(store, number)
    if current.state not in OPEN:
        raise InvalidQueryError("state", f"submission {number} is already {current.state}")
    practice_id = free_id(catalog, slugify(str(current.payload.get("title") or "")))
    record = {**current.payload, "id": practice_id, "source": source.strip()}
    catalog.put("practice", record, record_id=practice_id, create_only=True)
    return _set_state(store, number, who, "approved", "", practice_id)
