"""Practice vectors with the language taken out, so that "more like this" follows the topic.

A multilingual encoder places every text of one language near a common offset: a Latvian practice on youth
games is closer to a Latvian practice on lullabies than to an English one on youth games. Subtracting each
language's mean vector (over the passages written in it) and normalising again removes that offset while
keeping what distinguishes one text from another. On the demo corpus this alone raised the share of
similar practices sharing a declared challenge from 0.39 to 0.57 for the practices not in English, and
from 0.68 to 0.71 for the English ones (docs/benchmarks.md#similar-practices-across-languages).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_LANGUAGE_RECORDS = (
    2  # records of one language needed for its own mean (one record's mean is itself)
)


def language_means(
    vectors: np.ndarray, languages: np.ndarray, owner: np.ndarray
) -> dict[str, np.ndarray]:
    """The mean vector of each language's rows; the mean of all rows for a language whose rows come from
    fewer than MIN_LANGUAGE_RECORDS records (`owner`: the record of each row)."""
    overall = vectors.mean(axis=0) if len(vectors) else np.zeros(vectors.shape[1], np.float32)
    means = {}
    for lang in np.unique(languages):
        rows = languages == lang
        enough = len(np.unique(owner[rows])) >= MIN_LANGUAGE_RECORDS
        means[str(lang)] = vectors[rows].mean(axis=0) if enough else overall
    return means


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
        space = centred(vectors, languages, language_means(vectors, languages, owner))
        rows = {int(owner[i]): int(i) for i in np.flatnonzero(whole)}
        return cls(space, owner, rows)

    def record_vector(self, position: int) -> np.ndarray | None:
        """The whole-record vector of the practice at `position`; None when it has none."""
        row = self.record_row.get(position)
        return None if row is None else self.vectors[row]

    def nearest(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Other practices by the best similarity of any of their passages to this practice's whole record,
        best first (positions and similarities)."""
        owners, best = best_per_owner(
            self.owner, self.vectors @ self.vectors[self.record_row[position]]
        )
        keep = owners != position
        return owners[keep], best[keep]


MIN_LANGUAGE_GROUP = 3  # candidates of one language needed to estimate its own median


def relative_to_language(similarity: np.ndarray, language: np.ndarray) -> np.ndarray:
    """Similarities of candidates in several languages made comparable: each moved by the difference
    between the median of all and the median of its own language's candidates (what the search's dense
    leg does to its order, legs.language_calibrated), so values stay on their scale. A language with
    fewer than MIN_LANGUAGE_GROUP candidates, or a single language, is left as it is."""
    similarity = np.asarray(similarity, dtype=np.float64)
    out = similarity.copy()
    codes = np.unique(language)
    if len(codes) < 2:
        return out
    overall = float(np.median(similarity))
    for code in codes:
        members = language == code
        if members.sum() >= MIN_LANGUAGE_GROUP:
            out[members] += overall - float(np.median(similarity[members]))
    return out
