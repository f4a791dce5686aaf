"""Base forms of Finnish words, and of the parts of a compound, from Voikko when the machine has it.

Finnish inflects and compounds more than a stemmer can follow. "kaupungit" (towns) stems to "kaupung",
while the dictionary's headword and the taxonomy's label say "kaupunki"; "lakkautetun" (of the closed
down) shares no stem with "lakkauttaa" (to close down); "kyläkoulun" is a village school, but no
dictionary lists the compound. Voikko's description of Finnish morphology (Debian's `libvoikko1` and
`voikko-fi`, read through PyPI's `libvoikko` binding) gives each word's base forms, the base forms of a
compound's parts and the verb or adjective a derived word comes from. A machine without it keeps
Snowball stems for Finnish and says so in the build's manifest (`nlp.lemmatisers`).
Measured: docs/benchmarks.md#finnish-base-forms.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

ANALYSED = ("fi",)  # languages Voikko describes (it has no other region language)
_LOCK = threading.Lock()  # one Voikko handle is not safe to call from two threads at once
_BASE = re.compile(r"\(([^+)][^)]*)\)")  # "+kylä(kylä)+koulu(koulu)": the parts' base forms


@dataclass(frozen=True)
class Forms:
    """What a word is made of: its base forms (most likely reading first) and, for a compound or a
    derived word, the base forms of its parts ("kyläkoulun": kylä, koulu; "ikääntyneiden": ikääntyä)."""

    lemmas: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()


@cache
def _analyser(lang: str) -> Any:
    """A Voikko handle for the language, or None when the library, its binding or the language's
    description is not installed."""
    if lang not in ANALYSED:
        return None
    try:
        import libvoikko
    except ImportError:
        return None
    try:
        return libvoikko.Voikko(lang)
    except (OSError, libvoikko.VoikkoException):
        return None


def describe() -> dict[str, str]:
    """language -> the analyser that gives its base forms here (library version and dictionary), for the
    build's manifest: a build analysed with it differs from one analysed without."""
    found: dict[str, str] = {}
    for lang in ANALYSED:
        if _analyser(lang) is None:
            continue
        import libvoikko

        names = sorted(d.description for d in libvoikko.Voikko.listDicts() if d.language == lang)
        found[lang] = f"libvoikko {libvoikko.Voikko.getVersion()}: {', '.join(names)}"
    return found


def analysed(lang: str) -> bool:
    """Whether words of this language get base forms here."""
    return _analyser(lang) is not None


@lru_cache(maxsize=100_000)
def forms(word: str, lang: str) -> Forms:
    """The base forms and parts of one word; empty where the language has no analyser or the word is
    unknown to it."""
    voikko = _analyser(lang)
    if voikko is None or not word:
        return Forms()
    with _LOCK:
        readings = voikko.analyze(word)
    lemmas: dict[str, None] = {}
    parts: dict[str, None] = {}
    for reading in readings:
        base = str(reading.get("BASEFORM") or "").lower()
        if base:
            lemmas.setdefault(base, None)
        for part in _BASE.findall(str(reading.get("WORDBASES") or "")):
            parts.setdefault(part.replace("=", "").lower(), None)
    return Forms(tuple(lemmas), tuple(p for p in parts if p not in lemmas))


def lemma(word: str, lang: str) -> str:
    """The word's base form when it has only one, else the word itself. An ambiguous word is left as it is
    written: the taxonomy's "vanhemmat" (parents) also reads as "older", whose base form "vanha" (old)
    would make every old thing a family."""
    found = forms(word, lang).lemmas
    return found[0] if len(found) == 1 else word
