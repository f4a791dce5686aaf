"""Staff accounts of the review pages: created from the command line, passwords hashed with argon2id
(argon2-cffi), sign-in failures counted per name and per address so guessing is slow.

The accounts live in the review store (`state_dir/review.db`) beside the submissions and the audit log.
"""

from __future__ import annotations

import re
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from practice_finder.corpus.submissions import ReviewStore, digest, now, stamp
from practice_finder.errors import AuthenticationError, InvalidQueryError, TooManyAttemptsError

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 12
FAILURES_ALLOWED = 5  # wrong passwords per name, and per address, in the window below
FAILURE_WINDOW = timedelta(minutes=15)
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY = _HASHER.hash("no such account: the same work as a real check")


def add_staff(store: ReviewStore, name: str, password: str) -> None:
    """A new account (or a new password for an existing one); audited without the password."""
    if not NAME.match(name):
        raise InvalidQueryError("name", f"{name!r} is not a name (2-40 of a-z, 0-9, '.', '_', '-')")
    if len(password) < MIN_PASSWORD:
        raise InvalidQueryError("password", f"must have at least {MIN_PASSWORD} characters")
    with store.connect() as conn:
        existed = conn.execute("select 1 from staff where name = ?", (name,)).fetchone()
        conn.execute(
            "insert into staff (name, password_hash, created_at) values (?, ?, ?)"
            " on conflict (name) do update set password_hash = excluded.password_hash",
            (name, _HASHER.hash(password), stamp(now())),
        )
        store.audit(
            conn, "cli", "password changed" if existed else "account added", f"staff {name}"
        )


def staff_names(store: ReviewStore) -> list[str]:
    with store.connect() as conn:
        return [r[0] for r in conn.execute("select name from staff order by name")]


def sign_in(store: ReviewStore, name: str, password: str, address: str) -> str:
    """The account's name when the password is right. Every failure is counted; after FAILURES_ALLOWED
    in the window (for this name or from this address) even the right password is refused until it passes."""
    where = digest(address)[:16]
    with store.connect() as conn:
        since = stamp(now() - FAILURE_WINDOW)
        failures = conn.execute(
            "select count(*) from sign_in_failures where (name = ? or address = ?) and at > ?",
            (name, where, since),
        ).fetchone()[0]
        row = conn.execute("select password_hash from staff where name = ?", (name,)).fetchone()
    if failures >= FAILURES_ALLOWED:
        raise TooManyAttemptsError(
            "too many wrong passwords", "wait 15 minutes before signing in again", retry_after=900
        )
    if row is not None and _verify(row[0], password):
        with store.connect() as conn:
            store.audit(conn, name, "sign in", f"staff {name}")
        return name
    if row is None:
        _verify(_DUMMY, password)  # the same time whether or not the name exists
    with store.connect() as conn:
        conn.execute(
            "insert into sign_in_failures (name, address, at) values (?, ?, ?)",
            (name[:40], where, stamp(now())),
        )
    raise AuthenticationError("the name or the password is wrong", "check both and try again")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
