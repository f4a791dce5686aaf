"""Which practices match a question: the set that a search's `total`, its page count and its facets describe.

The ranking orders every candidate; the match set says which of them answer the question at all. A
practice matches when

- its text holds a word of the question (or of the question's dictionary translation) that singles out
  practices: a word found in at most LEXICAL_MAX_SHARE of them ("choir", not "town" or "people");
- its authors declared a taxonomy term the question mentions; or
- its meaning is close (for a question of which some word occurs in some practice, or which mentions
  a term: the nearest practices to "xyzzy qwerty" are the model's guess about nonsense): its best similarity (whole record or passage), taken relative to the candidates
  written in its language as the dense leg ranks them and measured in standard deviations of all the
  candidates' similarities, reaches the threshold calibrated for the model and the question's language.

A raw cosine is no threshold: multilingual-e5-small puts nearly every practice between 0.78 and 0.88 for
any question, and a question in Latvian lower than its English original. Standard deviations above the
own language's median hold for questions of every language and for nonsense, whose best practice stands
out no more than the rest. The thresholds are chosen on the domain set (scripts/eval_match_set.py,
docs/benchmarks.md#the-match-set). The set does not depend on the filters, so facets can be counted with
and without each filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from practice_finder.query.handle import Index
from practice_finder.query.legs import (
    MIN_LANGUAGE_GROUP,
    PassageHits,
    fts_phrases,
    group_medians,
    passage_hits,
    searchable,
)
from practice_finder.text.stemming import stem

LEXICAL_MAX_SHARE = 0.10  # a word found in more of the practices than this does not single any out
# Standard deviations above the median of its language's candidates a practice's similarity must reach,
# by model and by the question's language (DEFAULT_THRESHOLD for a model or language not calibrated):
# chosen by scripts/eval_match_set.py --calibrate, each the best F1 of the whole match set on the domain
# questions in that language.
THRESHOLDS: dict[str, dict[str, float]] = {
    "multilingual-e5-small": {
        **{"en": 1.5, "da": 1.5, "de": 1.75, "et": 1.5, "fi": 2.0},
        **{"lt": 1.75, "lv": 2.0, "nb": 1.75, "pl": 2.0, "sv": 2.0},
    },
    # an English model: outside English its meaning criterion adds almost nothing (precision and recall
    # below 0.15), and the thresholds found there are noise
    "all-MiniLM-L6-v2": {
        **{"en": 1.75, "da": 1.75, "de": 2.0, "et": 4.0, "fi": 1.75},
        **{"lt": 1.75, "lv": 1.5, "nb": 2.25, "pl": 4.0, "sv": 1.5},
    },
}
DEFAULT_THRESHOLD = 2.0


@dataclass(frozen=True)
class Question:
    """What the match set reads of a question (the retrieval has worked it all out)."""

    words: Sequence[str]  # content words, in the question's language
    language: str  # the language its words are read in
    also: Sequence[str] = ()  # other languages it may be written in
    english: Sequence[str] = ()  # its dictionary translation
    understood: dict[str, list[str]] | None = None
    vector: np.ndarray | None = None
    # the vectors nearest it with no filter, at the index's depth (legs.passage_hits), when the search
    # has them already
    nearest: PassageHits | None = None
    # what lexical_matches gives for it, when the search has worked that out already
    matched_words: tuple[frozenset[str], bool] | None = None


@dataclass(frozen=True)
class Matches:
    """The practices a question matches, and by which criteria each (word, term, meaning)."""

    by: dict[str, frozenset[str]]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset().union(*self.by.values()) if self.by else frozenset()

    def reasons(self, rid: str) -> list[str]:
        return [name for name, ids in self.by.items() if rid in ids]


def match(index: Index, question: Question, threshold: float | None = None) -> Matches:
    """The practices `question` matches; `threshold` overrides the calibrated one (for calibrating)."""
    limit = (
        threshold_for(index.manifest.model.name, question.language)
        if threshold is None
        else threshold
    )
    words, known = question.matched_words or lexical_matches(index, question)
    terms = term_matches(index, question.understood or {})
    meaning: frozenset[str] = frozenset()
    if question.vector is not None and (known or terms):
        scores = meaning_scores(index, question.vector, question.nearest)
        meaning = frozenset(rid for rid, z in scores.items() if z >= limit)
    return Matches({"words": words, "terms": terms, "meaning": meaning})


def threshold_for(model: str, language: str) -> float:
    return THRESHOLDS.get(model, {}).get(language, DEFAULT_THRESHOLD)


def lexical_matches(
    index: Index, question: Question, share: float = LEXICAL_MAX_SHARE
) -> tuple[frozenset[str], bool]:
    """Practices whose text holds a word of the question that few practices hold (in at most `share` of
    them; in any of its stems), and whether any word of the question occurs in any practice at all."""
    # in a corpus of a few practices, a word one of them holds singles it out
    limit = max(1.0, share * len(index.practice_id_of_rowid))
    languages = list(dict.fromkeys([question.language, *question.also]))
    words = [(w, languages) for w in searchable(question.words)]
    words += [(w, ["en"]) for w in searchable(question.english)]
    out: set[str] = set()
    known = False
    for word, codes in dict.fromkeys((w, tuple(c)) for w, c in words):
        phrases = fts_phrases([word], [stem(word, code) for code in codes])
        rows = index.phrase_scores.holding(phrases)
        known = known or bool(len(rows))
        if len(rows) <= limit:
            out.update(index.practice_id_of_rowid[rowid] for rowid in rows.tolist())
    return frozenset(out), known


def term_matches(index: Index, understood: dict[str, list[str]]) -> frozenset[str]:
    """Practices whose authors declared a term the question mentions."""
    return frozenset(
        rid
        for vocab, terms in understood.items()
        for term in terms
        for rid, declared in index.practice_tags.get((vocab, term), ())
        if declared
    )


def meaning_scores(
    index: Index, qvec: np.ndarray, hits: PassageHits | None = None
) -> dict[str, float]:
    """Each candidate practice's best similarity to the question, as standard deviations above the median
    similarity of the candidates written in its language (of all, for a language with too few). `hits`:
    the question's unfiltered passage_hits at the index's depth, when known."""
    depth = index.ranking.candidates
    found = hits if hits is not None else passage_hits(index, qvec, depth)
    positions, similarity = index.best_per_practice(*found, depth)
    if len(similarity) < 2:
        return {}
    similarity = similarity.astype(np.float64)
    codes, group = np.unique(index.practice_language_codes[positions], return_inverse=True)
    sizes = np.bincount(group)
    median = np.where(
        sizes >= MIN_LANGUAGE_GROUP, group_medians(similarity, group, sizes), np.median(similarity)
    )
    spread = float(np.std(similarity)) or 1.0
    names = index.practice_ids
    return {
        names[p]: float(z)
        for p, z in zip(positions, (similarity - median[group]) / spread, strict=True)
    }
