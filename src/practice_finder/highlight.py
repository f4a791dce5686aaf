"""Marking the words of a query in a snippet, matching by Snowball stem so 'leaving' marks 'leave'."""

from __future__ import annotations

import html
import re
from functools import cache, lru_cache

import snowballstemmer

STEMMERS = {"en": "english", "sv": "swedish", "da": "danish", "nb": "norwegian", "no": "norwegian", "de": "german",
            "fi": "finnish", "et": "estonian", "lt": "lithuanian", "pl": "polish"}
WORD = re.compile(r"\w+", re.UNICODE)


@cache
def _stemmer(lang: str) -> snowballstemmer.stemmer | None:
    name = STEMMERS.get(lang)
    return snowballstemmer.stemmer(name) if name else None


@lru_cache(maxsize=200_000)
def stem(word: str, lang: str = "en") -> str:
    """The Snowball stem of a lowercased word (the word itself where no stemmer exists); memoised."""
    word = word.lower()
    stemmer = _stemmer(lang)
    return str(stemmer.stemWord(word)) if stemmer else word


def _stems(word: str, lang: str) -> set[str]:
    """Stems by the text's language and by English (queries are often English over any text)."""
    return {stem(word, lang), stem(word, "en")} if lang != "en" else {stem(word, "en")}


def mark(text: str, words: list[str], lang: str = "en", open_tag: str = "<mark>", close_tag: str = "</mark>") -> str:
    """HTML-escaped `text` with every word sharing a stem with one of `words` wrapped in tags."""
    stems = {s for w in words if len(w) > 1 for s in _stems(w, lang)}
    out: list[str] = []
    last = 0
    for match in WORD.finditer(text):
        token = match.group(0)
        if len(token) > 1 and _stems(token, lang) & stems:
            out.append(html.escape(text[last:match.start()]))
            out.append(f"{open_tag}{html.escape(token)}{close_tag}")
            last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def matched_words(text: str, words: list[str], lang: str = "en") -> list[str]:
    """The query words (by stem) that occur in `text`."""
    text_stems = {s for t in WORD.findall(text) for s in _stems(t, lang)}
    return [w for w in words if _stems(w, lang) & text_stems]
