"""Each practice's declared tags written out in every language of the region, and their vectors.

A multilingual encoder compares two texts in one language better than a text in Latvian with one in
English: its vector of a Latvian question lands nearer other Latvian texts on the same subject than the
English practices that answer it. The taxonomy says what every practice is about, in every language: the
labels of its declared tags. Written out in Latvian ("jauniešu aizplūšana; jauniešu emigrācija; ... ;
bibliotēka; ..."), they give each practice a short text in the question's language; a question in that
language is then compared with its own language's texts (the tags leg, query.legs.tags_leg). Only the
languages the model was trained on are written out: an English model's vectors of Latvian texts say
little (with all-MiniLM-L6-v2 the leg lowered the mean of the nine). Measured:
docs/benchmarks.md#tags-in-the-questions-language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from practice_finder.build.analysis import Analysis, sha256
from practice_finder.languages import LABEL_LANGUAGES
from practice_finder.models import Taxonomy

# Phrases of each tag in a language (its label and first synonym there), and the vocabularies whose tags
# are written out: what a practice is about (its challenges, assets and themes), not whom it is for or
# how people take part, which many practices share and which made the texts of different practices
# alike. Measured with the domain and officers' sets (docs/benchmarks.md#tags-in-the-questions-language):
# the mean of the nine languages gained as much as with three phrases of all five vocabularies, from
# texts half as long (the build encodes them: about 150,000 tokens for the demo corpus).
TAG_PHRASES = 2
TAG_VOCABULARIES = ("challenges", "assets", "themes")


def tag_text(tags: Sequence[tuple[str, str]], taxonomy: Taxonomy, language: str) -> str:
    """The labels in `language` of (vocabulary, term) tags, TAG_PHRASES of each, joined by "; " ("" when
    the taxonomy labels none of them in that language)."""
    phrases: list[str] = []
    for vocabulary, term in tags:
        if taxonomy.has(vocabulary, term):
            phrases += taxonomy.term(vocabulary, term).labels.get(language, ())[:TAG_PHRASES]
    return "; ".join(dict.fromkeys(phrases))


def texts(
    analyses: Sequence[Analysis], taxonomy: Taxonomy, languages: Sequence[str] = LABEL_LANGUAGES
) -> list[dict[str, Any]]:
    """A row (record_id, language, text, text_hash) for each practice and each of `languages` the taxonomy
    labels at least one of its declared tags of TAG_VOCABULARIES in."""
    rows = []
    for a in analyses:
        if a.kind != "practice":
            continue
        declared = [
            (t["vocabulary"], t["term"])
            for t in a.tags
            if t["source"] == "declared" and t["vocabulary"] in TAG_VOCABULARIES
        ]
        for language in languages:
            text = tag_text(declared, taxonomy, language)
            if text:
                rows.append(
                    {
                        "record_id": a.id,
                        "language": language,
                        "text": text,
                        "text_hash": sha256(text),
                    }
                )
    return rows


def embed(
    rows: list[dict[str, Any]],
    cache: dict[str, bytes],
    encode: Callable[[list[str]], np.ndarray],
    dimension: int,
) -> tuple[np.ndarray, int]:
    """The vectors of `rows` (as passages), in their order, and how many were encoded: a text whose hash
    the `cache` holds (the previous build's) is not encoded again."""
    todo = sorted({r["text_hash"]: r["text"] for r in rows if r["text_hash"] not in cache}.items())
    fresh = encode([text for _, text in todo]) if todo else np.zeros((0, dimension), np.float32)
    vectors = {h: fresh[i] for i, (h, _) in enumerate(todo)}
    matrix = np.zeros((len(rows), dimension), dtype=np.float32)
    for i, r in enumerate(rows):
        h = r["text_hash"]
        matrix[i] = vectors[h] if h in vectors else np.frombuffer(cache[h], dtype=np.float32)
    return matrix, len(todo)
