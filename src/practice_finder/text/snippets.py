"""Marking the words of a query in a snippet, matched by stem so 'leaving' marks 'leave'."""

from __future__ import annotations

import html
from collections.abc import Set as AbstractSet
from functools import lru_cache

from practice_finder.text.stemming import WORD, stems_of


def mark(
    text: str,
    words: list[str],
    lang: str = "en",
    open_tag: str = "<mark>",
    close_tag: str = "</mark>",
) -> str:
    """HTML-escaped `text` with every word sharing a stem with one of `words` wrapped in tags."""
    return mark_spans(text, stem_spans(text, lang), words, lang, open_tag, close_tag)


def word_stems(words: list[str], lang: str = "en") -> list[tuple[str, str, str]]:
    """Each word with its stems (see `stems_of`; the same one twice when there is one), for matching the same
    words against many texts with `matched_among`."""
    return [(w, *_stem_pair(w, lang)) for w in words]


@lru_cache(maxsize=200_000)
def _stem_pair(word: str, lang: str) -> tuple[str, str]:
    stems = sorted(stems_of(word, lang))
    return stems[0], stems[-1]


def matched_among(stems: AbstractSet[str], words: list[tuple[str, str, str]]) -> list[str]:
    """The query words (by stem) among a text's precomputed stems (the keys of its `stem_spans`)."""
    return [w for w, first, last in words if first in stems or last in stems]


Spans = dict[str, tuple[tuple[int, int], ...]]


def stem_spans(text: str, lang: str = "en") -> Spans:
    """Where each stem occurs in a text: stem -> (start, end) of every word with that stem (words of 2+ letters)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for match in WORD.finditer(text):
        if len(match.group(0)) > 1:
            for s in stems_of(match.group(0), lang):
                spans.setdefault(s, []).append(match.span())
    return {s: tuple(v) for s, v in spans.items()}


def mark_spans(
    text: str,
    spans: Spans,
    words: list[str],
    lang: str = "en",
    open_tag: str = "<mark>",
    close_tag: str = "</mark>",
) -> str:
    """The same as `mark`, from a text's precomputed `stem_spans`."""
    chosen = sorted(
        {span for w in words if len(w) > 1 for s in stems_of(w, lang) for span in spans.get(s, ())}
    )
    out: list[str] = []
    last = 0
    for start, end in chosen:
        out.append(html.escape(text[last:start]))
        out.append(f"{open_tag}{html.escape(text[start:end])}{close_tag}")
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out)
