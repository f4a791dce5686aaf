"""What a search result needs of a practice, read from the store once and kept in memory.

A result page shows ten practices and counts facets over a few hundred candidates. Reading their rows,
tags and passages from SQLite on every request cost more than the ranking itself, so each practice
becomes a `Card` the first time it is needed (in one batch query per table for all missing ones), and
cards stay cached for the life of the loaded build (bounded, least recently used out first). Facets are
counted from a `FacetTable`: every practice's facet keys in two arrays, built once per loaded build.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from practice_finder.build.store import decode
from practice_finder.query.filters import TEXT_TAG_MIN_COUNT
from practice_finder.text import pipelines
from practice_finder.text.snippets import Spans, stem_spans

if TYPE_CHECKING:
    import sqlite3

# facet name -> vocabulary
FACET_VOCABULARIES = {
    "challenge": "challenges",
    "asset": "assets",
    "theme": "themes",
    "target_group": "target_groups",
}
DEFAULT_CAPACITY = 50_000  # cards; a card of the demo corpus takes about 20 KB


@dataclass(frozen=True)
class Card:
    """One practice as search results use it."""

    row: dict[str, Any]  # the practices row, JSON columns decoded
    tags: dict[str, frozenset[str]]  # vocabulary -> terms declared or found in the text
    passages: tuple[str, ...]  # the passages of the text (not the whole-record vector's text)
    matrix: np.ndarray  # one row per passage, normalised embeddings
    record_vector: np.ndarray | None  # the whole-record embedding
    # where each word stem occurs in each passage, for matching and marking
    passage_spans: tuple[Spans, ...]
    # every stem of every passage (a query word not among them matches no passage)
    stems: frozenset[str] = frozenset()

    @property
    def language(self) -> str:
        return str(self.row["language"])

    @cached_property
    def heading_words(self) -> tuple[str, ...]:
        """The content words of its title and summary, in order (what a search's feedback borrows)."""
        text = f"{self.row['title']}. {self.row['summary']}"
        return tuple(pipelines.content_words(text, self.language))


class CardCache:
    """Cards by practice id, loaded in batches on demand; safe to share between threads."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._cards: OrderedDict[str, Card] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Card]:
        """Cards of the ids that exist (unknown ids are left out)."""
        found: dict[str, Card] = {}
        missing: list[str] = []
        with self._lock:
            for rid in ids:
                card = self._cards.get(rid)
                if card is None:
                    missing.append(rid)
                else:
                    self._cards.move_to_end(rid)
                    found[rid] = card
        if missing:
            loaded = load_cards(db, list(dict.fromkeys(missing)))
            with self._lock:
                for rid, card in loaded.items():
                    self._cards[rid] = card
                while len(self._cards) > self.capacity:
                    self._cards.popitem(last=False)
            found.update(loaded)
        return found

    def __len__(self) -> int:
        return len(self._cards)


PRACTICE_JSON = (
    "years",
    "partners",
    "challenges",
    "assets",
    "themes",
    "target_groups",
    "participation",
)
BATCH = 500  # ids per SQL statement (SQLite allows 32,766 parameters; this keeps statements short)


def load_cards(db: sqlite3.Connection, ids: list[str]) -> dict[str, Card]:
    cards: dict[str, Card] = {}
    for start in range(0, len(ids), BATCH):
        cards.update(_load_batch(db, ids[start : start + BATCH]))
    return cards


def _load_batch(db: sqlite3.Connection, ids: list[str]) -> dict[str, Card]:
    marks = ",".join("?" * len(ids))
    rows = {
        r["id"]: decode(r, PRACTICE_JSON)
        for r in db.execute(f"select * from practices where id in ({marks})", ids)
    }
    tags: dict[str, dict[str, set[str]]] = {rid: {} for rid in rows}
    for t in db.execute(
        f"select record_id, vocabulary, term, source, count from tags where record_type = 'practice' "
        f"and record_id in ({marks})",
        ids,
    ):
        if t["record_id"] not in rows:
            continue
        tags[t["record_id"]].setdefault(t["vocabulary"], set()).add(t["term"])
    texts: dict[str, list[str]] = {rid: [] for rid in rows}
    vecs: dict[str, list[np.ndarray]] = {rid: [] for rid in rows}
    whole: dict[str, np.ndarray] = {}
    for p in db.execute(
        f"select record_id, section, text, embedding from passages where record_type = 'practice' "
        f"and record_id in ({marks}) order by record_id, seq",
        ids,
    ):
        vec = np.frombuffer(p["embedding"], dtype=np.float32)
        if p["section"] == "record":
            whole[p["record_id"]] = vec
        elif p["record_id"] in rows:
            texts[p["record_id"]].append(p["text"])
            vecs[p["record_id"]].append(vec)
    return {
        rid: _card(row, tags[rid], texts[rid], vecs[rid], whole.get(rid))
        for rid, row in rows.items()
    }


def _card(
    row: dict[str, Any],
    tags: dict[str, set[str]],
    texts: list[str],
    vecs: list[np.ndarray],
    whole: np.ndarray | None,
) -> Card:
    lang = str(row["language"])
    matrix = (
        np.vstack(vecs)
        if vecs
        else np.zeros((0, len(whole) if whole is not None else 0), dtype=np.float32)
    )
    spans = tuple(stem_spans(text, lang) for text in texts)
    return Card(
        row=row,
        tags={v: frozenset(t) for v, t in tags.items()},
        passages=tuple(texts),
        matrix=matrix,
        record_vector=whole,
        passage_spans=spans,
        stems=frozenset(stem for passage in spans for stem in passage),
    )


class FacetTable:
    """Every practice's facet keys as one sparse table, so facet counts over hundreds of candidates are one
    vectorised gather and a bincount instead of a walk over their cards (1 ms -> about 0.1 ms a search)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        keys: dict[tuple[str, str], int] = {}
        per_practice: dict[str, list[int]] = {}
        rows = db.execute("select id, country, language, budget_band from practices order by id")
        for row in rows:
            per_practice[row[0]] = [
                keys.setdefault(("country", str(row[1])), len(keys)),
                keys.setdefault(("language", str(row[2])), len(keys)),
                keys.setdefault(("budget", str(row[3])), len(keys)),
            ]
        facet_of = {vocab: facet for facet, vocab in FACET_VOCABULARIES.items()}
        marks = ",".join("?" * len(facet_of))
        for t in db.execute(
            f"select distinct record_id, vocabulary, term from tags where record_type = 'practice' "
            f"and vocabulary in ({marks}) and (source = 'declared' or count >= ?) order by record_id, vocabulary, term",
            [*facet_of, TEXT_TAG_MIN_COUNT],
        ):
            if t[0] in per_practice:
                per_practice[t[0]].append(keys.setdefault((facet_of[t[1]], str(t[2])), len(keys)))
        self.keys = list(keys)
        self.position = {rid: i for i, rid in enumerate(per_practice)}
        lengths = np.array([len(v) for v in per_practice.values()], dtype=np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.indices = np.fromiter(
            (k for v in per_practice.values() for k in v), dtype=np.int64, count=int(lengths.sum())
        )

    def count(self, record_ids: Sequence[str]) -> dict[tuple[str, str], int]:
        """How many of the given practices carry each facet key (unknown ids are skipped)."""
        rows = np.fromiter(
            (self.position[r] for r in dict.fromkeys(record_ids) if r in self.position),
            dtype=np.int64,
        )
        if not len(rows):
            return {}
        starts, lengths = self.indptr[rows], self.indptr[rows + 1] - self.indptr[rows]
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        counts = np.bincount(
            self.indices[offsets + np.arange(int(lengths.sum()))], minlength=len(self.keys)
        )
        return {self.keys[i]: int(counts[i]) for i in np.flatnonzero(counts)}
