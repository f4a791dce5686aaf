"""The serving side's state: the loaded index, the write log, and the background re-index.

One `Service` per server process. A watcher thread swaps in a new build when `CURRENT` changes (whichever
process made it), and re-indexes when writes are pending: after `reindex_delay` quiet seconds, under the
ingest lock, so with several workers one of them builds and all of them swap. Requests keep the `Index`
they started with; a replaced index is closed a minute later.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
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
from practice_finder.corpus.catalog import Catalog
from practice_finder.errors import IndexMissingError, IngestLockedError, PracticeFinderError
from practice_finder.query.handle import Index, open_serving
from practice_finder.query.search import SearchQuery, search

log = logging.getLogger("practice_finder.web.serving")
WARM_UP_QUESTION = "young people leave our small town, how can culture keep them?"
RETIRE_AFTER = 60.0  # seconds a replaced index stays open for the requests still using it
STATUS_FILE = "reindex.json"


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
    writes_logged: int  # sequence number of the newest write in the log
    writes_served: int  # newest write included in the build being served
    pending_writes: int  # records written since the build being served
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
            run.ok, run.error = False, str(exc)
            log.error("re-index failed", extra={"event": "reindex", "error": str(exc)})
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
            raise PracticeFinderError(
                lines[-1] if lines else f"ingest exited with {done.returncode}"
            )
        data: dict[str, Any] = json.loads(done.stdout)
        return data


class Service:
    """The loaded index (or why there is none), the write catalog and the re-indexer of one process."""

    def __init__(self, settings: Settings, make_embedder: Callable[[], Embedder]) -> None:
        self.settings = settings
        self.make_embedder = make_embedder
        self.index: Index | None = None
        self.error: PracticeFinderError | None = None
        self.refused: list[tuple[str, str]] = []
        self.catalog = Catalog(settings.corpus_dir, settings.state_dir)
        self.reindexer = Reindexer(settings, make_embedder)
        self._lock = threading.Lock()
        self._retired: list[tuple[float, Index]] = []
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
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
            except PracticeFinderError as exc:  # keep serving what was loaded, if anything
                self.error = exc
                self.refused = list(getattr(exc, "refused", [])) or self.refused
                log.error("no usable index", extra={"event": "index_refused", "error": str(exc)})
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

    def warm_this_thread(self) -> None:
        """One search on the calling thread: a thread's first search opens its SQLite connection and ONNX
        Runtime or OpenMP state (the event loop's thread runs lone searches, so it is warmed before serving)."""
        if self.index is not None:
            search(self.index, SearchQuery(WARM_UP_QUESTION))

    def require(self) -> Index:
        if self.index is None:
            raise self.error or IndexMissingError(
                f"no index has been built in {self.settings.index_dir}"
            )
        return self.index

    def close(self) -> None:
        self._stop.set()
        self.reindexer.requested.set()  # wakes the watcher from its wait, so it sees the stop at once
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

    def status(self) -> AdminStatus:
        index = self.index
        manifest = index.manifest if index is not None else None
        return AdminStatus(
            ready=index is not None,
            build=index.build_id if index else None,
            built_at=manifest.built_at if manifest else None,
            model=manifest.model.name if manifest else None,
            counts=dict(manifest.counts) if manifest else {},
            writes_logged=self.catalog.log.max_seq(),
            writes_served=self.served_seq(),
            pending_writes=self.catalog.log.pending(self.served_seq()),
            reindex_running=self.reindexer.running,
            reindex_requested=self.reindexer.requested.is_set(),
            last_reindex=self.reindexer.last(),
            refused_builds=[RefusedBuild(b, r) for b, r in self.refused],
            error=self.error.message if self.error else None,
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
            try:
                self.tick()
            except Exception:  # the watcher must survive anything; the next tick tries again
                log.exception("watcher tick failed")
            self.reindexer.requested.wait(self.settings.watch_interval)

    def tick(self) -> None:
        """One round of the watcher: swap in a new build, re-index if asked or if writes wait, close old indexes."""
        self._swap_if_changed()
        if self.reindexer.requested.is_set():
            self.reindexer.requested.clear()
            self._reindex("admin", force=True)
        elif self._writes_waiting():
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

    def _writes_waiting(self) -> bool:
        """Writes newer than the served build, none for `reindex_delay` seconds, and not already failed."""
        if not self.settings.auto_reindex:
            return False
        seq = self.catalog.log.max_seq()
        if seq != self._seen_seq:
            self._seen_seq, self._seen_at = seq, time.monotonic()
        quiet = time.monotonic() - self._seen_at >= self.settings.reindex_delay
        return seq > self.served_seq() and seq != self._failed_seq and quiet

    def _reindex(self, trigger: str, force: bool) -> None:
        seq = self.catalog.log.max_seq()
        try:
            with versions.ingest_lock(self.settings.index_dir):
                pass  # only a probe: another worker (or a CLI ingest) may be building; it will publish
        except PracticeFinderError:
            return
        run = self.reindexer.run(trigger, force)
        self._failed_seq = seq if run.ok is False else -1
        if run.ok:
            self.load()


def warm_up(index: Index) -> None:
    """Load what the first requests would otherwise load: spaCy, the tagger's matchers, the language
    detector, every practice card; then run one search, which starts what only a search starts (the
    query encoder's buffers, FAISS's threads, the detector's first pass). Serving does this once per
    loaded build; a one-shot command or a test does not pay for it."""
    for lang in languages.QUESTION_LANGUAGES:
        index.tagger.matchers(lang)
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
