"""Where a multilingual encoder puts questions, measured on the taxonomy's labels, which say the same thing
in every language: each language's offset from English, and the direction all questions share.

A multilingual encoder gives all the texts of one language a common shift. A question in Estonian sits
that shift away from its English translation, so beside its topic it also leans towards whatever the
shift happens to point at. The taxonomy holds each term's label and synonyms in English and in the
region's languages: averaged over the same terms in both, the topics cancel and what is left is the
language. A question's vector is moved by a share of that difference.

Some encoders (multilingual-e5-small above all) also give every question a large component in common:
the mean of the English phrases' vectors has a length of 0.96, so most of any question's vector says
"a question about this corpus", and the practices nearest that common part come up whatever is asked.
A share of the mean is taken off the question. Both happen in `query.legs.toward_english`; measured in
docs/benchmarks.md#language-offsets.

An offset moves every question of a language by the same vector. The same term pairs also give each
language a linear map towards English: the least-squares change that takes each term's vector in the
language towards its English one, held near no change by a ridge penalty (MAP_RIDGE), so that a
question moves by what its own content says of where English puts it
(docs/benchmarks.md#a-linear-map-towards-english).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from practice_finder.models import Taxonomy

# Terms a language needs labels for, in English as well, before its offset is trusted: a mean over a
# handful of terms still carries their topics.
MIN_TERMS = 20

# The ridge penalty of a language's map (language_map): how strongly the map is held near no change.
# With some 100 terms and 384 dimensions the plain least-squares map fits the terms and little else;
# 0.01 and 0.1 gave the same mean on both question sets, 0.1 the smaller losses in single languages
# (docs/benchmarks.md#a-linear-map-towards-english).
MAP_RIDGE = 0.1

# Phrases per ONNX Runtime run when the offsets are measured at ingest: a build encodes some 7,000 short
# phrases, 2.4 times faster in batches than one by one (a question is encoded alone; a mean over thousands
# of phrases does not notice the batch's int8 scales: cosine to the one-by-one vectors >= 0.999).
BATCH = 32

Encode = Callable[[list[str]], np.ndarray]  # phrases -> unit vectors, encoded as questions


@dataclass(frozen=True)
class Offset:
    """A language's offset: added to one of its questions' vectors, it points the vector towards English;
    and its map towards English (`basis`, `towards`: see `language_map`), None in builds without."""

    language: str
    terms: int  # terms with labels in the language and in English, averaged over
    vector: np.ndarray
    basis: np.ndarray | None = None  # terms x dimension: the terms' directions in the language
    towards: np.ndarray | None = None  # terms x dimension

    def mapped(self, vector: np.ndarray) -> np.ndarray:
        """What the map adds to `vector` (zeros without a map): (vector . basis^T) . towards."""
        if self.basis is None or self.towards is None:
            return np.zeros_like(vector)
        return np.asarray((self.basis @ vector) @ self.towards, dtype=vector.dtype)


def parallel_phrases(taxonomy: Taxonomy) -> dict[str, dict[tuple[str, str], list[str]]]:
    """language -> term (vocabulary, id) -> the term's phrases in that language; English included."""
    out: dict[str, dict[tuple[str, str], list[str]]] = {"en": {}}
    for term in taxonomy.terms():
        key = (term.vocabulary, term.id)
        out["en"][key] = term.phrases("en")
        for language, phrases in term.labels.items():
            if phrases:
                out.setdefault(language, {})[key] = list(phrases)
    return out


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Directions:
    """What a build measured: the languages' offsets, and the mean of the English phrases' vectors (not of
    unit length: its length is how much the questions have in common)."""

    offsets: list[Offset]
    common: np.ndarray | None  # None when the taxonomy has no terms (a benchmark's corpus)
    terms: int  # English terms the common direction is the mean of


def language_offsets(encode: Encode, taxonomy: Taxonomy) -> Directions:
    """The offset of every language the taxonomy labels for at least MIN_TERMS terms: the mean direction of
    the terms' English phrases less that of the same terms' phrases in the language (each term first
    averaged over its phrases, so a term with many synonyms counts once); and the mean of all the English
    terms' directions."""
    phrases = parallel_phrases(taxonomy)
    flat = [
        (lang, key, p) for lang, terms in phrases.items() for key, ps in terms.items() for p in ps
    ]
    vectors = encode([p for _, _, p in flat]) if flat else np.zeros((0, 0), np.float32)
    by_term: dict[tuple[str, tuple[str, str]], list[np.ndarray]] = {}
    for (lang, key, _), vector in zip(flat, vectors, strict=True):
        by_term.setdefault((lang, key), []).append(vector)
    means = {k: _unit(np.mean(v, axis=0)) for k, v in by_term.items()}
    out = []
    for lang in sorted(phrases):
        shared = [key for key in phrases[lang] if lang != "en" and key in phrases["en"]]
        if len(shared) < MIN_TERMS:
            continue
        english_terms = np.array([means[("en", key)] for key in shared])
        own_terms = np.array([means[(lang, key)] for key in shared])
        english = _unit(english_terms.mean(axis=0))
        own = _unit(own_terms.mean(axis=0))
        basis, towards = language_map(own_terms, english_terms)
        out.append(
            Offset(lang, len(shared), np.asarray(english - own, dtype=np.float32), basis, towards)
        )
    terms = [means[("en", key)] for key in phrases["en"]]
    common = np.asarray(np.mean(terms, axis=0), dtype=np.float32) if terms else None
    return Directions(out, common, len(terms))


def language_map(
    own: np.ndarray, english: np.ndarray, ridge: float = MAP_RIDGE
) -> tuple[np.ndarray, np.ndarray]:
    """The ridge regression of the terms' change towards English (`english - own`) on their vectors in
    the language (`own`; one row a term): the map A = (own^T own + ridge I)^-1 own^T (english - own),
    kept as its two factors `own` and (own own^T + ridge I)^-1 (english - own), since
    (X^T X + rI)^-1 X^T = X^T (X X^T + rI)^-1 gives the same A as terms x terms instead of
    dimension x dimension algebra. A vector v is then moved by (own . v) . towards."""
    x = np.asarray(own, dtype=np.float64)
    change = np.asarray(english, dtype=np.float64) - x
    towards = np.linalg.solve(x @ x.T + ridge * np.eye(len(x)), change)
    return np.asarray(x, dtype=np.float32), np.asarray(towards, dtype=np.float32)


def encoder_of(embed: Callable[..., np.ndarray]) -> Encode:
    """An Encode from an embedder's `encode` (question vectors)."""

    def encode(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(embed(list(texts), kind="query"), dtype=np.float32)

    return encode
