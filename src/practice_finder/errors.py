"""Every error the core raises on purpose. The CLI prints them as one line; the API maps them to problem details."""

from __future__ import annotations

from dataclasses import dataclass


class PracticeFinderError(Exception):
    """Base class: a problem the user can fix; `hint` says how."""

    hint: str = ""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class NotFoundError(PracticeFinderError):
    """A record id that does not exist."""


class InvalidQueryError(PracticeFinderError):
    """A query parameter or request body that cannot be used; `parameter` names it."""

    def __init__(self, parameter: str, message: str, hint: str = "") -> None:
        super().__init__(f"{parameter}: {message}", hint)
        self.parameter = parameter
        self.reason = message


class IndexMissingError(PracticeFinderError):
    """No index has been built yet at the configured location."""

    hint = "run `practice-finder ingest` (or `make index`) to build one"


class IndexMismatchError(PracticeFinderError):
    """The index was built by another model or schema version, or its files are damaged."""

    refused: list[tuple[str, str]] = []  # when no build at all could be opened: each one and why

    hint = "rebuild it with `practice-finder ingest --force`"


class IngestLockedError(PracticeFinderError):
    """Another ingest is already building into the same index directory."""

    hint = "wait for it to finish, or remove the stale lock if no ingest is running"


class ConflictError(PracticeFinderError):
    """A write that contradicts what is stored: an id taken by another record, a city still in use, a
    change that would leave other records invalid (`problems` names each, its `path` the record)."""

    def __init__(
        self, message: str, hint: str = "", problems: list[RecordProblem] | None = None
    ) -> None:
        super().__init__(message, hint)
        self.problems = problems or []


class WriteLogError(PracticeFinderError):
    """The write log cannot be read or written (a damaged `writes.db`); writes are refused until it can."""

    hint = (
        "restore state/writes.db from a backup, or move it aside and run "
        "`practice-finder writes reseed` to start a new log from the served build"
    )


class WriteLogBehindError(WriteLogError):
    """The write log ends before the build being served (lost, or restored from an older backup)."""

    hint = (
        "run `practice-finder writes reseed` to bring the log up to the served build "
        "(records written after the backup are taken from the build); writes are refused until then"
    )


class BusyError(PracticeFinderError):
    """Too much heavy work is running or waiting; `retry_after` says in how many seconds to try again."""

    def __init__(self, message: str, hint: str = "", retry_after: int = 1) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class AuthenticationError(PracticeFinderError):
    """No API key, or a key that matches none configured."""

    hint = "send the key as `Authorization: Bearer <key>` (or `X-API-Key: <key>`)"


class PermissionDeniedError(PracticeFinderError):
    """A valid key whose scope does not cover the route (a read key on a write)."""

    hint = "writes and /v1/admin need an admin key"


class TooManyAttemptsError(PracticeFinderError):
    """Too many sign-in failures or submissions from one client; `retry_after` says in how many seconds to try again."""

    def __init__(self, message: str, hint: str = "", retry_after: int = 60) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RecordProblem:
    """One thing wrong with one corpus file."""

    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


class CorpusError(PracticeFinderError):
    """The corpus has invalid records; all problems found in one pass are listed."""

    hint = "fix the files named above and run ingest again; the current index was left unchanged"

    def __init__(self, problems: list[RecordProblem]) -> None:
        self.problems = problems
        files = len({p.path for p in problems})
        super().__init__(f"{len(problems)} problem(s) in {files} corpus file(s)")


class ImportFileError(CorpusError):
    """A file to import has problems; every one is listed by row and column, and nothing was written."""

    hint = "correct the rows named above and import the file again (check it first with --dry-run)"

    def __init__(self, problems: list[RecordProblem], name: str) -> None:
        super().__init__(problems)
        rows = len({p.path for p in problems})
        self.message = f"{len(problems)} problem(s) in {rows} row(s) of {name}; nothing was written"
        self.args = (self.message,)
