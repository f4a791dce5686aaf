"""Base forms of words in the region's languages: Voikko's analysis for Finnish where the machine has it,
Vabamorf's for Estonian, simplemma's tables of word forms for the other languages (and for Finnish
without Voikko, Estonian without Vabamorf).

A stemmer follows only part of the inflection of these languages. "kaupungit" (towns) stems to "kaupung",
while the dictionary's headword and the taxonomy's label say "kaupunki"; Norwegian "byer" (towns) stays
"byer", where the dictionary lists "by"; "lakkautetun" (of the closed down) shares no stem with "lakkauttaa"
(to close down); and "kyläkoulun" is a village school, but no dictionary lists the compound.

- **Finnish: Voikko**, the morphological analyser Debian packages (`libvoikko1`, `voikko-fi`, read through
  PyPI's `libvoikko` binding), gives every reading of a word: its base forms, the base forms of a
  compound's parts and the word a derived one comes from.
- **Estonian: Vabamorf**, the morphological analyser of the University of Tartu that the `estnltk` wheel
  (PyPI) carries with its lexicon, gives every reading of a word in the same way: "külakooli" is the
  compound küla + kool, "päriselt" (really) an adverb and no compound of "selt" (society).
- **The other languages: simplemma** (PyPI, its tables of word forms inside the package) gives a known form
  its base form by looking it up; an unknown word is left as it is rather than guessed at (its rules turn
  the Latvian river "Lielupe" into "liels", big). Its tables are read as compressed streams: all nine
  take about 160 MB of a process.

The build's manifest names what was used (`nlp.lemmatisers`); installing or removing Voikko or Vabamorf
makes the next ingest rebuild. English keeps spaCy's lemmas and is not read here. Measured:
docs/benchmarks.md#base-forms.

The same tables tell which languages know a text's words (`known_shares`): a question's language is not
left to the detector's letter statistics alone when they are unsure (languages.guess).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from practice_finder.languages import LABEL_LANGUAGES

VOIKKO = ("fi",)  # languages Voikko describes (it has no other region language)
VABAMORF = "et"  # the language Vabamorf describes
# languages read from simplemma's tables: every region language but English
TABLES = LABEL_LANGUAGES
# languages whose known words known_shares counts: these and English (its table is small, about 2 MB)
KNOWN = (*TABLES, "en")
# a word of two letters or more ("teini-ikäiset": teini, ikäiset); the other readers of words use it too
WORD = re.compile(r"[^\W\d_]{2,}")
# neither a Voikko or Vabamorf handle nor a first read of a table is safe from two threads
_LOCK = threading.Lock()
_BASE = re.compile(r"\(([^+)][^)]*)\)")  # "+kylä(kylä)+koulu(koulu)": the parts' base forms


@dataclass(frozen=True)
class Forms:
    """What a word is made of: its base forms (most likely reading first) and, for a compound or a
    derived word, the base forms of its parts ("kyläkoulun": kylä, koulu; "ikääntyneiden": ikääntyä)."""

    lemmas: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()


@cache
def _voikko(lang: str) -> Any:
    """A Voikko handle for the language, or None when the library, its binding or the language's
    description is not installed."""
    if lang not in VOIKKO:
        return None
    try:
        import libvoikko
    except ImportError:
        return None
    try:
        return libvoikko.Voikko(lang)
    except (OSError, libvoikko.VoikkoException):
        return None


@cache
def _vabamorf() -> Any:
    """Vabamorf's analyser of Estonian, or None when the `estnltk` wheel is not installed. Its `vabamorf`
    folder (the binding, the C++ library and the lexicon) is loaded as a package of its own: importing
    `estnltk` runs its whole toolkit's set-up (pandas among it: 2.3 s and about 200 MB more in a process
    here), of which nothing else is used; the folder alone loads in 0.1 s and 24 MB."""
    try:
        found = importlib.util.find_spec("estnltk")
    except (ImportError, ValueError):
        return None
    locations = list(found.submodule_search_locations or ()) if found else []
    folder = Path(locations[0]) / "vabamorf" if locations else None
    if folder is None or not (folder / "morf.py").exists():
        return None
    name = f"{__name__}._vabamorf"
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        return None
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    try:
        spec.loader.exec_module(package)
        morf = importlib.import_module(f"{name}.morf")
        return morf.Vabamorf.instance()
    except (ImportError, OSError):
        sys.modules.pop(name, None)
        return None


@lru_cache(maxsize=100_000)
def _readings(word: str) -> tuple[dict[str, Any], ...]:
    """Vabamorf's readings of an Estonian word it knows (none for an unknown word: nothing is guessed);
    analysed once for known(), forms() and compound() alike."""
    with _LOCK:
        found = _vabamorf().analyze([word], guess=False, disambiguate=False, propername=False)
    return tuple(found[0]["analysis"])


@cache
def _tables() -> Any:
    """simplemma's look-up of known word forms, its tables read as compressed streams (or None without it)."""
    try:
        from simplemma.strategies import DictionaryLookupStrategy
        from simplemma.strategies.dictionaries import StreamDictionaryFactory
    except ImportError:
        return None
    # room for every table at once: with fewer (simplemma's default keeps 8) a text's words looked up
    # language by language evict each table before its next use, and every look-up reads a table anew
    return DictionaryLookupStrategy(
        dictionary_factory=StreamDictionaryFactory(cache_max_size=len(KNOWN))
    )


def source(lang: str) -> str | None:
    """What gives this language's base forms here ("voikko", "vabamorf", "simplemma"), or None."""
    if _voikko(lang) is not None:
        return "voikko"
    if lang == VABAMORF and _vabamorf() is not None:
        return "vabamorf"
    if lang in TABLES and _tables() is not None:
        return "simplemma"
    return None


def analysed(lang: str) -> bool:
    """Whether words of this language get base forms here."""
    return source(lang) is not None


@cache
def describe() -> dict[str, str]:
    """language -> what gave its base forms (library and version, and Voikko's dictionary), for the build's
    manifest: a build analysed with one differs from one analysed with another or none. Read once per
    process (ingest asks three times), like the handles it describes."""
    found: dict[str, str] = {}
    for lang in TABLES:
        kind = source(lang)
        if kind == "voikko":
            import libvoikko

            names = sorted(
                d.description for d in libvoikko.Voikko.listDicts() if d.language == lang
            )
            found[lang] = f"libvoikko {libvoikko.Voikko.getVersion()}: {', '.join(names)}"
        elif kind == "vabamorf":
            found[lang] = f"estnltk {metadata.version('estnltk')}: Vabamorf"
        elif kind == "simplemma":
            found[lang] = f"simplemma {metadata.version('simplemma')}: known forms"
    return found


def warm() -> None:
    """Read the tables of every language that uses one now (a few seconds, once), so that no question waits
    for one: the languages simplemma gives base forms for, and English, whose known words count in
    known_shares (Finnish with Voikko needs none); and Vabamorf's lexicon for Estonian."""
    source(VABAMORF)  # loads Vabamorf's lexicon (0.1 s) where it is installed
    if _tables() is None:
        return
    for lang in KNOWN:
        if lang == "en" or source(lang) == "simplemma":
            with _LOCK:
                _tables().get_lemma(lang, lang)


def known_shares(text: str) -> dict[str, float]:
    """For each language with a source of word forms here (KNOWN; Finnish by Voikko and Estonian by Vabamorf
    where installed), the share of the text's words it knows as a form of one of its words ("Jugendliche
    in Daugavpils und Fake News": German 0.83, Danish 0.50, Latvian 0.17). Empty for a text without words
    or without tables."""
    words = [w.lower() for w in WORD.findall(text)]
    if not words or _tables() is None:
        return {}
    return {lang: sum(known(word, lang) for word in words) / len(words) for lang in KNOWN}


@lru_cache(maxsize=100_000)
def known(word: str, lang: str) -> bool:
    """Whether a (lowercased) word is a form the language's analyser (Voikko, Vabamorf) or table knows."""
    kind = source(lang)
    if kind == "vabamorf":
        return bool(_readings(word))
    with _LOCK:
        if kind == "voikko":
            return bool(_voikko(lang).analyze(word))
        return _tables() is not None and _tables().get_lemma(word, lang) is not None


@lru_cache(maxsize=100_000)
def forms(word: str, lang: str) -> Forms:
    """The base forms and parts of one word (lowercased); empty where the language has no source of base
    forms or the word is unknown to it."""
    kind = source(lang) if word else None
    if kind == "voikko":
        return _voikko_forms(word, lang)
    if kind == "vabamorf":
        return _vabamorf_forms(word)
    if kind == "simplemma":
        with _LOCK:
            base = _tables().get_lemma(word, lang)
        base = base.lower() if base else ""
        return Forms((base,)) if base and base != word else Forms()
    return Forms()


def _voikko_forms(word: str, lang: str) -> Forms:
    with _LOCK:
        readings = _voikko(lang).analyze(word)
    lemmas: dict[str, None] = {}
    parts: dict[str, None] = {}
    for reading in readings:
        base = str(reading.get("BASEFORM") or "").lower()
        if base:
            lemmas.setdefault(base, None)
        for part in _BASE.findall(str(reading.get("WORDBASES") or "")):
            parts.setdefault(part.replace("=", "").lower(), None)
    return Forms(tuple(lemmas), tuple(p for p in parts if p not in lemmas))


def _vabamorf_forms(word: str) -> Forms:
    lemmas: dict[str, None] = {}
    parts: dict[str, None] = {}
    for reading in _readings(word):
        lemmas.setdefault(_plain(reading["lemma"]), None)
        for part in _vabamorf_parts(reading):
            parts.setdefault(part, None)
    return Forms(tuple(lemmas), tuple(p for p in parts if p not in lemmas))


def _vabamorf_parts(reading: dict[str, Any]) -> tuple[str, ...]:
    """The base forms of a compound's parts in one of Vabamorf's readings (none for a single word): the
    head's from the whole word's base form ("kogukonnaruumiks": ruum), each other part's when Vabamorf
    reads the part alone one way only ("kogukonna": kogukond), else the part as written ("tule")."""
    tokens = [_plain(t) for t in reading["root_tokens"]]
    if len(tokens) < 2:
        return ()
    whole = _plain(reading["lemma"])
    before = "".join(tokens[:-1])
    head = whole[len(before) :] if whole.startswith(before) else tokens[-1]
    firsts = []
    for token in tokens[:-1]:
        bases = {_plain(r["lemma"]) for r in _readings(token)}
        firsts.append(bases.pop() if len(bases) == 1 else token)
    return (*firsts, head)


def _plain(text: str) -> str:
    """A Vabamorf root or base form without its markers of compound ("_") and derivation ("=") parts."""
    return text.replace("_", "").replace("=", "").lower()


@lru_cache(maxsize=100_000)
def compound(word: str, lang: str) -> bool | None:
    """Whether the language's analyser reads a (lowercased) word as a compound in any of its readings:
    True for "külakooli" (küla + kool) and "kyläkoulun", False for "päriselt" and "koordinaator", which
    merely end or begin with a word ("selt", society; "koor", choir). None where no analyser knows the
    word (simplemma's tables do not tell), so that the caller decides by the letters alone."""
    kind = source(lang) if word else None
    if kind == "vabamorf":
        readings = _readings(word)
        return any(len(r["root_tokens"]) > 1 for r in readings) if readings else None
    if kind == "voikko":
        with _LOCK:
            found = _voikko(lang).analyze(word)
        # STRUCTURE marks the start of each word a compound is made of with "="; a derived word has one
        return any(str(r.get("STRUCTURE") or "").count("=") > 1 for r in found) if found else None
    return None


def lemma(word: str, lang: str) -> str:
    """The word's base form when it has only one, else the word itself. An ambiguous word is left as it is
    written: the taxonomy's "vanhemmat" (parents) also reads as "older", whose base form "vanha" (old)
    would make every old thing a family."""
    found = forms(word, lang).lemmas
    return found[0] if len(found) == 1 else word
