"""The serving side's state: the loaded index, the write log, and the background re-index.

One `Service` per server process. A watcher thread swaps in a new build when `CURRENT` changes (whichever
process made it), and re-indexes when writes are pending: after `reindex_delay` quiet seconds, under the
ingest lock, so with several workers one of them builds and all of them swap. Requests keep the `Index`
they started with; a replaced index is closed a minute later.

What can go wrong is kept as state and reported by /ready, /v1/admin/status and /metrics: a damaged build
(the first read SQLite finds damaged takes it out of service, and the watcher opens the newest intact
build), a write log that cannot be used or ends before the build served (writes are refused), and a
re-index that failed (with the records at fault). The watcher logs each change of state once.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import msgspec

from practice_finder import languages
from practice_finder.build import versions
from practice_finder.build.encoders import Embedder
from practice_finder.config import Settings
from practice_finder.corpus.catalog import Catalog, behind_error
from practice_finder.errors import (
    CorpusError,
    IndexMismatchError,
    IndexMissingError,
    IngestLockedError,
    PracticeFinderError,
    WriteLogError,
)
from practice_finder.query.handle import Index, open_serving
from practice_finder.query.search import SearchQuery, search
from practice_finder.text import diacritics, lemmas

log = logging.getLogger("practice_finder.web.serving")
WARM_UP_QUESTION = "young people leave our small town, how can culture keep them?"
RETIRE_AFTER = 60.0  # seconds a replaced index stays open for the requests still using it
STATUS_FILE = "reindex.json"
# SQLite's codes for a file that is damaged or cannot be read (as opposed to a query it refuses)
DAMAGE_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR")
NAMED_PROBLEMS = 5  # problems of a failed re-index spelled out in its one-line error


class ReindexRun(msgspec.Struct, kw_only=True):
    """One re-index: what asked for it, how long it took, and what it made."""

    trigger: str  # writes | admin
    started_at: str
    finished_at: str | None = None
    seconds: float | None = None
    ok: bool | None = None
    build: str | None = None  # the build made (None when the index was already up to date)
    embedded: int | None = None
    reused: int | None = None
    writes_seq: int | None = None
    error: str | None = None
    problems: list[str] | None = (
        None  # a corpus that did not validate: each record (or file) and field
    )


class RefusedBuild(msgspec.Struct):
    build: str
    reason: str


class AdminStatus(msgspec.Struct, kw_only=True):
    """What an operator needs to know: the version served, the writes not in it yet, the last re-index."""

    ready: bool
    build: str | None
    built_at: str | None
    model: str | None
    counts: dict[str, int]
    writes_logged: int | None  # sequence number of the newest write in the log (None: log unusable)
    writes_served: int  # newest write included in the build being served
    pending_writes: int | None  # records written since the build being served (None: log unusable)
    write_log_error: str | None = (
        None  # why writes are refused: the log is damaged or behind the build
    )
    reindex_running: bool
    reindex_requested: bool
    last_reindex: ReindexRun | None
    refused_builds: list[RefusedBuild]
    error: str | None = None


class Reindexer:
    """Runs ingest for the service: in its own process by default, so a build shares no GIL or memory with
    the requests being served; the result is kept in `state_dir/reindex.json` for every worker to report."""

    def __init__(self, settings: Settings, make_embedder: Callable[[], Embedder]) -> None:
        self.settings = settings
        self.make_embedder = make_embedder
        self.running = False
        self.requested = threading.Event()
        self.listeners: list[Callable[[ReindexRun], None]] = []

    @property
    def status_path(self) -> Any:
        return self.settings.state_dir / STATUS_FILE

    def last(self) -> ReindexRun | None:
        try:
            return msgspec.json.decode(self.status_path.read_bytes(), type=ReindexRun)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    def run(self, trigger: str, force: bool) -> ReindexRun:
        run = ReindexRun(trigger=trigger, started_at=_now())
        started = time.perf_counter()
        self.running = True
        try:
            report = (
                self._subprocess(force)
                if self.settings.reindex_runner == "subprocess"
                else self._in_thread(force)
            )
            run.ok, run.build = True, report.get("build_id")
            run.embedded, run.reused, run.writes_seq = (
                report.get("embedded"),
                report.get("reused"),
                report.get("writes_seq"),
            )
        except (
            IngestLockedError
        ):  # another worker (or a CLI ingest) got there first; its build will be swapped in
            self.running = False
            log.info(
                "re-index left to the ingest already running", extra={"event": "reindex_skipped"}
            )
            return run
        except Exception as exc:  # the served build stays; the error is reported in the status
            run.ok, run.problems = False, _problems_of(exc)
            run.error = _with_problems(str(exc), run.problems)
            log.error("re-index failed", extra={"event": "reindex", "error": run.error})
        finally:
            self.running = False
        run.finished_at, run.seconds = _now(), round(time.perf_counter() - started, 3)
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        versions.write_json(self.status_path, msgspec.to_builtins(run))
        for listener in self.listeners:
            listener(run)
        return run

    def _in_thread(self, force: bool) -> dict[str, Any]:
        from practice_finder.build.ingest import ingest

        return asdict(ingest(self.settings.with_(progress=False), self.make_embedder, force=force))

    def _subprocess(self, force: bool) -> dict[str, Any]:
        command = [
            sys.executable,
            "-m",
            "practice_finder",
            "ingest",
            "--json",
            "--no-progress",
            *(["--force"] if force else []),
        ]
        if shutil.which("nice"):  # requests keep priority over the build on a busy machine
            command = ["nice", "-n", "10", *command]
        env = self.settings.child_env(os.environ)
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=6 * 3600, check=False
        )
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            if lines and "another ingest is running" in lines[-1]:
                raise IngestLockedError(lines[-1])
            raise ChildIngestError(
                lines[-1] if lines else f"ingest exited with {done.returncode}",
                # the command line prints each corpus problem on its own indented line before the error
                [line.strip() for line in lines[:-1] if line.startswith("  ")],
            )
        data: dict[str, Any] = json.loads(done.stdout)
        return data


class ChildIngestError(PracticeFinderError):
    """The child ingest failed; `problems`: the corpus problems it printed."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def _problems_of(exc: Exception) -> list[str] | None:
    if isinstance(exc, CorpusError):
        return [str(p) for p in exc.problems]
    if isinstance(exc, ChildIngestError):
        return exc.problems or None
    return None


def _with_problems(error: str, problems: list[str] | None) -> str:
    """The error with the first problems named, so that one line says which records are at fault."""
    if not problems:
        return error
    more = f"; and {len(problems) - NAMED_PROBLEMS} more" if len(problems) > NAMED_PROBLEMS else ""
    return f"{error}: " + "; ".join(problems[:NAMED_PROBLEMS]) + more


class Service:
    """The loaded index (or why there is none), the write catalog and the re-indexer of one process."""

    def __init__(self, settings: Settings, make_embedder: Callable[[], Embedder]) -> None:
        self.settings = settings
        self.make_embedder = make_embedder
        self.index: Index | None = None
        self.error: PracticeFinderError | None = None
        self.refused: list[tuple[str, str]] = []
        self.unhealthy: str | None = (
            None  # why the build served cannot be read, until one replaces it
        )
        self.log_problem: str | None = None  # why the write log takes no writes, while it does not
        self.catalog = Catalog(settings.corpus_dir, settings.state_dir, self.served_seq)
        self.reindexer = Reindexer(settings, make_embedder)
        self._lock = threading.Lock()
        self._retired: list[tuple[float, Index]] = []
        self._stop = threading.Event()
        self._wake = threading.Event()  # the watcher's next tick, now
        self._watcher: threading.Thread | None = None
        self._tick_failure: str | None = None
        self._seen_seq = -1
        self._seen_at = 0.0
        self._failed_seq = -1

    # -- the index ------------------------------------------------------------------------

    def load(self) -> None:
        """Open the current build (or fall back to the newest usable one) and swap it in."""
        with self._lock:
            old = self.index
            try:
                index, refused = open_serving(self.settings, self.make_embedder, reuse=old)
                if index is not old:
                    warm_up(index)
                self.index, self.error, self.refused = index, None, refused
                self.unhealthy = None
            except PracticeFinderError as exc:
                # keep serving what was loaded, unless it is what turned out damaged
                self.error = exc
                self.refused = list(getattr(exc, "refused", [])) or self.refused
                log.error("no usable index", extra={"event": "index_refused", "error": str(exc)})
                if self.unhealthy is not None and old is not None:
                    self._retired.append((time.monotonic(), old))
                    self.index, self.unhealthy = None, None
                return
            finally:
                # The loaded models, lemma tables and cards are millions of long-lived objects; frozen, the
                # garbage collector stops walking them during requests.
                gc.unfreeze()
                gc.collect()
                gc.freeze()
            if old is not None and old is not self.index:
                self._retired.append((time.monotonic(), old))
            for build, reason in refused:
                log.error(
                    "build refused",
                    extra={"event": "build_refused", "build": build, "error": reason},
                )
            log.info("index loaded", extra={"event": "index_loaded", "build": index.build_id})
        self.check_log()

    def warm_this_thread(self) -> None:
        """One search on the calling thread: a thread's first search opens its SQLite connection and ONNX
        Runtime or OpenMP state (the event loop's thread runs lone searches, so it is warmed before serving)."""
        if self.index is not None:
            search(self.index, SearchQuery(WARM_UP_QUESTION))

    def require(self) -> Index:
        if self.unhealthy is not None:
            raise IndexMismatchError(self.unhealthy, "try again in a moment")
        if self.index is None:
            raise self.error or IndexMissingError(
                f"no index has been built in {self.settings.index_dir}"
            )
        return self.index

    def read_failed(self, exc: sqlite3.DatabaseError) -> PracticeFinderError | None:
        """A read of the served build failed. When SQLite says its file is damaged, the build is out of service
        at once (/ready answers 503) and the watcher opens the newest intact one, as a restart would: the
        error to answer with. None when the failure says nothing about the file (a query SQLite refused)."""
        index = self.index
        if index is None or not str(getattr(exc, "sqlite_errorname", "")).startswith(DAMAGE_CODES):
            return None
        reason = (
            f"build {index.build_id} cannot be read ({exc}); "
            "the service is switching to the newest intact build"
        )
        if self.unhealthy is None:
            self.unhealthy = reason
            log.error(
                "build damaged",
                extra={"event": "build_damaged", "build": index.build_id, "error": str(exc)},
            )
            self._wake.set()
        return IndexMismatchError(reason, "try again in a moment")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()  # wakes the watcher from its wait, so it sees the stop at once
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        for _, index in self._retired:
            index.close()
        if self.index is not None:
            self.index.close()

    # -- writes and re-index ---------------------------------------------------------------

    def served_seq(self) -> int:
        return self.index.manifest.writes.seq if self.index is not None else 0

    def request_reindex(self) -> None:
        self.reindexer.requested.set()
        self._wake.set()

    def check_log(self) -> int | None:
        """The newest sequence number of the write log, or None when the log cannot take writes (damaged, or
        ending before the build served); a change of that state is logged once, and kept for the reports."""
        try:
            seq: int | None = self.catalog.log.max_seq()
            behind = behind_error(seq or 0, self.served_seq(), self.catalog.log.path)
            problem = behind.message if behind is not None else None
        except WriteLogError as exc:
            seq, problem = None, exc.message
        if problem != self.log_problem:
            if problem is not None:
                log.error("write log unusable", extra={"event": "write_log", "error": problem})
            else:
                log.info("write log usable", extra={"event": "write_log"})
            self.log_problem = problem
        return seq if problem is None else None

    def reindex_error(self) -> str | None:
        """The error of the last re-index when it failed: reported until one succeeds."""
        run = self.reindexer.last()
        return run.error if run is not None and run.ok is False else None

    def status(self) -> AdminStatus:
        index = self.index
        manifest = index.manifest if index is not None else None
        self.check_log()
        logged: int | None
        pending: int | None
        try:
            logged = self.catalog.log.max_seq()
            pending = self.catalog.log.pending(self.served_seq())
        except WriteLogError:
            logged = pending = None
        return AdminStatus(
            ready=index is not None and self.unhealthy is None,
            build=index.build_id if index else None,
            built_at=manifest.built_at if manifest else None,
            model=manifest.model.name if manifest else None,
            counts=dict(manifest.counts) if manifest else {},
            writes_logged=logged,
            writes_served=self.served_seq(),
            pending_writes=pending,
            write_log_error=self.log_problem,
            reindex_running=self.reindexer.running,
            reindex_requested=self.reindexer.requested.is_set(),
            last_reindex=self.reindexer.last(),
            refused_builds=[RefusedBuild(b, r) for b, r in self.refused],
            error=self.unhealthy or (self.error.message if self.error else None),
        )

    def watch(self) -> None:
        """Start the watcher thread (once)."""
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="practice-finder-watcher", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a wake-up during the tick makes the next one start at once
            try:
                self.tick()
                failure = None
            except Exception as exc:  # the watcher must survive anything; the next tick tries again
                failure = f"{type(exc).__name__}: {exc}"
            if failure != self._tick_failure:  # once per change, not once a second
                if failure is not None:
                    log.error("watcher tick failed", extra={"event": "watcher", "error": failure})
                else:
                    log.info("watcher tick ok again", extra={"event": "watcher"})
                self._tick_failure = failure
            self._wake.wait(self.settings.watch_interval)

    def tick(self) -> None:
        """One round of the watcher: replace a damaged build, swap in a new one, re-index if asked or if writes
        wait, close old indexes."""
        if self.unhealthy is not None:
            self.load()  # the damaged build fails its checksums; the newest intact one is opened
        self._swap_if_changed()
        seq = self.check_log()
        if self.reindexer.requested.is_set():
            self.reindexer.requested.clear()
            self._reindex("admin", force=True)
        elif seq is not None and self._writes_waiting(seq):
            self._reindex("writes", force=False)
        cutoff = time.monotonic() - RETIRE_AFTER
        for _, index in [r for r in self._retired if r[0] < cutoff]:
            index.close()
        self._retired = [r for r in self._retired if r[0] >= cutoff]

    def _swap_if_changed(self) -> None:
        current = versions.current_build(self.settings.index_dir)
        if current is None:
            return
        loaded = self.index.build_id if self.index is not None else None
        if current.name != loaded and current.name not in {b for b, _ in self.refused}:
            self.load()

    def _writes_waiting(self, seq: int) -> bool:
        """Writes newer than the served build (the log's newest is `seq`), none for `reindex_delay` seconds,
        and not already failed."""
        if not self.settings.auto_reindex:
            return False
        if seq != self._seen_seq:
            self._seen_seq, self._seen_at = seq, time.monotonic()
        quiet = time.monotonic() - self._seen_at >= self.settings.reindex_delay
        return seq > self.served_seq() and seq != self._failed_seq and quiet

    def _reindex(self, trigger: str, force: bool) -> None:
        seq = self.check_log()
        try:
            with versions.ingest_lock(self.settings.index_dir):
                pass  # only a probe: another worker (or a CLI ingest) may be building; it will publish
        except PracticeFinderError:
            return
        run = self.reindexer.run(trigger, force)
        self._failed_seq = (seq if seq is not None else -1) if run.ok is False else -1
        if run.ok:
            self.load()


def warm_up(index: Index) -> None:
    """Load what the first requests would otherwise load: spaCy, the tagger's matchers, the tables of base
    forms, the language detector, every practice card; then run one search, which starts what only a search starts (the
    query encoder's buffers, FAISS's threads, the detector's first pass). Serving does this once per
    loaded build; a one-shot command or a test does not pay for it."""
    for lang in languages.QUESTION_LANGUAGES:
        index.tagger.matchers(lang)
    lemmas.warm()
    diacritics.warm()
    languages.detector()
    _ = index.practice_language_codes
    _ = index.practice_id_of_rowid
    _ = index.practice_tags
    _ = index.facet_table
    ids = [
        r[0]
        for r in index.db.execute(
            "select id from practices order by id limit ?", (index.card_capacity,)
        )
    ]
    index.cards(ids)
    search(index, SearchQuery(WARM_UP_QUESTION))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
