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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from practice_finder.models import Taxonomy

# Terms a language needs labels for, in English as well, before its offset is trusted: a mean over a
# handful of terms still carries their topics.
MIN_TERMS = 20

# Phrases per ONNX Runtime run when the offsets are measured at ingest: a build encodes some 7,000 short
# phrases, 2.4 times faster in batches than one by one (a question is encoded alone; a mean over thousands
# of phrases does not notice the batch's int8 scales: cosine to the one-by-one vectors >= 0.999).
BATCH = 32

Encode = Callable[[list[str]], np.ndarray]  # phrases -> unit vectors, encoded as questions


@dataclass(frozen=True)
class Offset:
    """A language's offset: added to one of its questions' vectors, it points the vector towards English."""

    language: str
    terms: int  # terms with labels in the language and in English, averaged over
    vector: np.ndarray


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
        english = _unit(np.mean([means[("en", key)] for key in shared], axis=0))
        own = _unit(np.mean([means[(lang, key)] for key in shared], axis=0))
        out.append(Offset(lang, len(shared), np.asarray(english - own, dtype=np.float32)))
    terms = [means[("en", key)] for key in phrases["en"]]
    common = np.asarray(np.mean(terms, axis=0), dtype=np.float32) if terms else None
    return Directions(out, common, len(terms))


def encoder_of(embed: Callable[..., np.ndarray]) -> Encode:
    """An Encode from an embedder's `encode` (question vectors)."""

    def encode(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(embed(list(texts), kind="query"), dtype=np.float32)

    return encode
