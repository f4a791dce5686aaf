"""Practice vectors with the language taken out, so that "more like this" follows the topic.

A multilingual encoder places every text of one language near a common offset: a Latvian practice on youth
games is closer to a Latvian practice on lullabies than to an English one on youth games. Subtracting each
language's mean vector (over the passages written in it) and normalising again removes that offset while
keeping what distinguishes one text from another; on the demo corpus the share of similar practices sharing
a declared challenge rose from 0.39 to 0.57 for the practices not in English, and from 0.68 to 0.71 for the
English ones (docs/benchmarks.md#similar-practices-across-languages).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def language_means(vectors: np.ndarray, languages: np.ndarray) -> dict[str, np.ndarray]:
    """The mean vector of each language's rows."""
    return {str(lang): vectors[languages == lang].mean(axis=0) for lang in np.unique(languages)}


def centred(vectors: np.ndarray, languages: np.ndarray, means: dict[str, np.ndarray]) -> np.ndarray:
    """Each row minus the mean of its language, normalised to length 1 (a row equal to its mean stays 0)."""
    offsets = np.stack([means[str(lang)] for lang in languages]) if len(languages) else 0.0
    moved = np.asarray(vectors, dtype=np.float32) - offsets
    norms = np.linalg.norm(moved, axis=1, keepdims=True)
    return np.divide(moved, norms, out=np.zeros_like(moved), where=norms > 0)


def best_per_owner(owner: np.ndarray, similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The owners of the rows (small integers) and the best similarity of each, best first."""
    order = np.argsort(-similarity, kind="stable")
    owners, first = np.unique(owner[order], return_index=True)
    best = similarity[order][first]
    ranked = np.argsort(-best, kind="stable")
    return owners[ranked], best[ranked]


@dataclass(frozen=True)
class TopicSpace:
    """Every practice passage vector with its language's mean taken out: `vectors` (one row per passage),
    `owner` (the practice's position in `practice_ids`), and the row of each practice's whole-record vector."""

    vectors: np.ndarray
    owner: np.ndarray
    record_row: dict[int, int]

    @classmethod
    def of(
        cls, vectors: np.ndarray, owner: np.ndarray, languages: np.ndarray, whole: np.ndarray
    ) -> TopicSpace:
        """From raw passage vectors, their owners' positions and languages, and which rows are whole records."""
        space = centred(vectors, languages, language_means(vectors, languages))
        rows = {int(owner[i]): int(i) for i in np.flatnonzero(whole)}
        return cls(space, owner, rows)

    def nearest(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Other practices by the best similarity of any of their passages to this practice's whole record,
        best first (positions and similarities)."""
        owners, best = best_per_owner(
            self.owner, self.vectors @ self.vectors[self.record_row[position]]
        )
        keep = owners != position
        return owners[keep], best[keep]
