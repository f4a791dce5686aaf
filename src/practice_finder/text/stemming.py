"""Stems of words in the region's languages and Russian: Snowball, and a light stemmer of our own for
Latvian (Snowball has no Ukrainian: its words stay whole)."""

from __future__ import annotations

import re
from functools import cache, lru_cache

import snowballstemmer

from practice_finder.languages import LANGUAGES, OTHER_LANGUAGES

# language code -> Snowball stemmer; a record may say "no" (Norwegian, written standard not named)
STEMMERS = {
    language.code: language.snowball
    for language in (*LANGUAGES, *OTHER_LANGUAGES)
    if language.snowball
}
STEMMERS["no"] = STEMMERS["nb"]
WORD = re.compile(r"\w+", re.UNICODE)


@cache
def _stemmer(lang: str) -> snowballstemmer.stemmer | None:
    name = STEMMERS.get(lang)
    return snowballstemmer.stemmer(name) if name else None


@lru_cache(maxsize=200_000)
def stem(word: str, lang: str = "en") -> str:
    """The Snowball stem of a lowercased word (Latvian: a light stemmer; else the word itself); memoised."""
    word = word.lower()
    if lang == "lv":
        return latvian_stem(word)
    stemmer = _stemmer(lang)
    return str(stemmer.stemWord(word)) if stemmer else word


# Snowball has no Latvian. Nouns and adjectives there inflect by ending (vientulība, vientulības,
# vientulībai, vientulību, vientulībā), so removing the longest known case ending from a word of
# at least three more letters gives a stem that the forms of one word share.
LATVIAN_ENDINGS = tuple(
    sorted(
        (
            "ajiem",
            "ajām",
            "iem",
            "ām",
            "ēm",
            "īm",
            "ūm",
            "os",
            "as",
            "es",
            "is",
            "us",
            "ai",
            "ei",
            "am",
            "em",
            "im",
            "um",
            "ās",
            "ēs",
            "īs",
            "ūs",
            "a",
            "e",
            "i",
            "u",
            "s",
            "š",
            "ā",
            "ē",
            "ī",
            "ū",
            "o",
        ),
        key=len,
        reverse=True,
    )
)


def latvian_stem(word: str) -> str:
    for ending in LATVIAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


@lru_cache(maxsize=200_000)
def stems_of(word: str, lang: str) -> frozenset[str]:
    """Stems by the text's language and by English (queries are often English over any text); memoised."""
    return (
        frozenset((stem(word, lang), stem(word, "en")))
        if lang != "en"
        else frozenset((stem(word, "en"),))
    )
