"""Bilingual dictionaries into English (FreeDict, as Debian packages them for dictd), read at ingest.

A question in Polish or Finnish rarely shares a word with the English practices; a dictionary lends it
English words. The dictionaries are read when a build is made, into the build's file `glossary.db`, so
the service needs no system files; a machine without them builds and serves as before (the build's
manifest says which dictionaries it holds). A build whose dictionary files are those of the build
before hard-links that build's glossary instead of reading them again (reading and writing them takes
about half a minute).

Install them with `apt-get install dict-freedict-{dan,deu,fin,lit,pol,swe}-eng dict-freedict-eng-nor`.
Norwegian has no FreeDict dictionary into English, so its dictionary from English is read backwards
(each Norwegian word gets the English headwords that list it); none exist for Estonian or Latvian.
Estonian has the project's own glossary instead (`src/practice_finder/glossaries/et.tsv`, its README
says how it was made), which ships with the package and goes into every build.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from practice_finder.build import store
from practice_finder.text.stemming import stem

log = logging.getLogger(__name__)

# region language -> the FreeDict name of its dictionary into English
FREEDICT = {"da": "dan", "de": "deu", "fi": "fin", "lt": "lit", "pl": "pol", "sv": "swe"}
# region language -> the FreeDict name of its dictionary from English, read backwards (a language without
# one into English; read forwards where both exist, a backwards one lowered Finnish: docs/benchmarks.md)
BACKWARDS = {"nb": "nor"}
SENSES = 3  # the first senses of an entry (dictionaries list the common ones first)
PER_SENSE = 2  # translations of each sense
MAX_PHRASE_WORDS = 3  # longer translations are explanations, not equivalents

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOTES = re.compile(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|\"[^\"]*\"")
_SENSE = re.compile(r"\s*\d+\.\s*(.*)")
_TRAILING_NUMBER = re.compile(r"\s+\d+\.?$")
_EDITION = re.compile(r"^Edition:\s*(\S+)", re.MULTILINE)
GLOSSARY = "glossary.db"  # the build's file of dictionary words
# The project's own glossaries into English (<language>.tsv), for languages FreeDict has none for.
OWN_GLOSSARIES = Path(__file__).resolve().parents[1] / "glossaries"


@dataclass(frozen=True)
class Entry:
    """English translations of one headword (lowercased) of a language's dictionary."""

    lang: str
    word: str
    english: tuple[str, ...]


def dictd_number(text: str) -> int:
    """A dictd index number (offsets and lengths, base 64 in dictd's own alphabet)."""
    value = 0
    for char in text:
        value = value * 64 + _B64.index(char)
    return value


def translations(article: str) -> list[str]:
    """The English equivalents in one dictd article: its first line names the headword; the translations
    are the numbered senses, or the second line when there are none. WikDict's layout may leave the first
    sense unnumbered and end its line with the next one's number ("bibliotek 2."); a number alone on a
    line opens a sense with no translation. Notes in brackets and long explanations are left out."""
    lines = article.splitlines()[1:]
    senses = [m.group(1) for line in lines if (m := _SENSE.match(line))]
    if lines and not _SENSE.match(lines[0]) and _TRAILING_NUMBER.search(lines[0]):
        senses.insert(0, lines[0])
    senses = [sense for sense in senses if sense.strip()]
    out: list[str] = []
    for sense in senses[:SENSES] if senses else lines[:1]:
        parts = (
            _TRAILING_NUMBER.sub("", p).strip(" .;")
            for p in re.split(r"[,;]", _NOTES.sub(" ", sense))
        )
        out += [p for p in parts if p and len(p.split()) <= MAX_PHRASE_WORDS][:PER_SENSE]
    return out


def file_name(lang: str) -> str:
    """The FreeDict file name (without suffix) of a region language's dictionary: into English, or from
    English for a language read backwards."""
    if lang in BACKWARDS:
        return f"freedict-eng-{BACKWARDS[lang]}"
    return f"freedict-{FREEDICT[lang]}-eng"


LANGUAGES = (*FREEDICT, *BACKWARDS)  # every region language with a dictionary, in reading order


def available(folder: Path, own: Path | None = None) -> set[str]:
    """The region languages whose FreeDict dictionary is in `folder` (without reading it), and those the
    project's own glossaries in `own` (OWN_GLOSSARIES unless said) cover."""
    return {
        lang
        for lang in LANGUAGES
        if (folder / f"{file_name(lang)}.index").is_file()
        and (folder / f"{file_name(lang)}.dict.dz").is_file()
    } | set(own_glossaries(own))


def own_glossaries(own: Path | None = None) -> dict[str, str]:
    """language -> how the build's manifest names the project's glossary of it in `own` (its headwords
    and the start of its SHA-256, so that a changed glossary makes the next ingest rebuild)."""
    return {lang: read[1] for lang, read in _own(own).items()}


def read_own_glossary(path: Path) -> tuple[list[Entry], str]:
    """The entries of one of the project's glossaries (`<language>.tsv`: a headword, a tab, its English
    equivalents separated by commas; lines starting with # are comments) and how it is named; English
    equivalents longer than MAX_PHRASE_WORDS words are left out, as in FreeDict's. Read once while the
    file stays the same (an ingest asks for it to decide on a rebuild, then to write the glossary)."""
    stat = path.stat()
    return _read_own_glossary(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _read_own_glossary(path: Path, size: int, mtime_ns: int) -> tuple[list[Entry], str]:
    """read_own_glossary's reading, memoised by the file's path, size and time."""
    lang = path.stem
    text = path.read_text(encoding="utf-8")
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, _, english = line.partition("\t")
        equivalents = [e.strip() for e in english.split(",")]
        kept = tuple(e for e in equivalents if e and len(e.split()) <= MAX_PHRASE_WORDS)
        if word.strip() and kept:
            entries.append(Entry(lang, word.strip().lower(), kept))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return entries, f"practice-finder glossary {lang}-en, {len(entries)} words, {digest}"


def _own(own: Path | None) -> dict[str, tuple[list[Entry], str]]:
    """The project's glossaries in `own` (OWN_GLOSSARIES unless said), read (milliseconds each)."""
    own = OWN_GLOSSARIES if own is None else own
    files = sorted(own.glob("*.tsv")) if own.is_dir() else []
    return {path.stem: read_own_glossary(path) for path in files}


def read_freedict(folder: Path, lang: str) -> tuple[list[Entry], str] | None:
    """The single-word entries of a language's FreeDict dictionary in `folder` and its edition, or None
    when the dictionary is not there; a dictionary from English (BACKWARDS) is turned round."""
    name = file_name(lang)
    index, data = folder / f"{name}.index", folder / f"{name}.dict.dz"
    if not (index.is_file() and data.is_file()):
        return None
    body = gzip.decompress(data.read_bytes())
    words: dict[str, list[str]] = {}
    for line in index.read_text(encoding="utf-8").splitlines():
        head, offset, length = line.split("\t")
        if head.startswith("00database") or " " in head.strip():
            continue
        start = dictd_number(offset)
        article = body[start : start + dictd_number(length)].decode("utf-8", "replace")
        found = words.setdefault(head.strip().lower(), [])
        found += [t for t in dict.fromkeys(translations(article)) if t not in found]
    edition = _EDITION.search(body[:4000].decode("utf-8", "replace"))
    if lang in BACKWARDS:
        words = turned_round(words)
    entries = [Entry(lang, w, tuple(e)) for w, e in words.items() if e]
    return entries, f"{name} {edition.group(1) if edition else 'edition unknown'}"


def turned_round(words: dict[str, list[str]]) -> dict[str, list[str]]:
    """A dictionary from English (headword -> translations) as one into English: each single-word
    translation -> the English headwords listing it, in the dictionary's order."""
    out: dict[str, list[str]] = {}
    for english, translated in words.items():
        for word in translated:
            word = word.lower()
            if word.isalpha() and english not in (found := out.setdefault(word, [])):
                found.append(english)
    return out


def read_all(
    folder: Path, files: tuple[tuple[str, int, int], ...] | None = None
) -> tuple[list[Entry], dict[str, str]]:
    """Every region language's dictionary found in `folder` and, by language, which one was read; a missing
    one is logged, and the build goes on without it. Read once per process while the files stay the same
    (the German one alone takes seconds); `files` is their signature() when the caller has it already."""
    entries, found = _read_all(folder, signature(folder) if files is None else files)
    missing = sorted(set(LANGUAGES) - set(found))
    if missing:
        log.warning(
            "no FreeDict dictionary for %s in %s: questions in those languages get no "
            "dictionary words (apt-get install %s)",
            ", ".join(missing),
            folder,
            " ".join(f"dict-{file_name(m)}" for m in missing),
        )
    return list(entries), dict(found)


def signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """The dictionary files in `folder`: names, sizes and modification times (what decides a re-read)."""
    names = {file_name(lang) for lang in LANGUAGES}
    files = (
        sorted(f for f in folder.glob("freedict-*") if f.name.split(".")[0] in names)
        if folder.is_dir()
        else []
    )
    return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)


def write_glossary(
    folder: Path, build: Path, previous: Path | None, own: Path | None = None
) -> dict[str, str]:
    """The build's glossary file from the dictionaries in `folder` and the project's glossaries in `own`,
    hard-linked from the `previous` build when its file was read from the same dictionary files and
    glossaries; returns, by language, which dictionary it holds."""
    files = signature(folder)
    glossaries = _own(own)
    named = {lang: read[1] for lang, read in glossaries.items()}
    if previous is not None:
        about = store.glossary_about(previous / GLOSSARY)
        if (
            about is not None
            and about.get("files") == [list(f) for f in files]
            and about.get("own", {}) == named
        ):
            _link_or_copy(previous / GLOSSARY, build / GLOSSARY)
            return dict(about["found"])
    _, found = read_all(folder, files)
    found = {**found, **named}
    written = (*_rows(folder, files), *rows(e for read in glossaries.values() for e in read[0]))
    store.write_glossary(build / GLOSSARY, written, {"files": files, "found": found, "own": named})
    return found


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


# A few folders' reading is kept: the tests build with and without the system's dictionaries in turn, and
# one entry would be read again each time (the folder without any costs nothing to keep).
@lru_cache(maxsize=4)
def _read_all(
    folder: Path, files: tuple[tuple[str, int, int], ...]
) -> tuple[tuple[Entry, ...], dict[str, str]]:
    """read_all's reading, memoised by the files' names, sizes and times."""
    entries: list[Entry] = []
    found: dict[str, str] = {}
    for lang in LANGUAGES:
        read = read_freedict(folder, lang)
        if read is not None:
            entries += read[0]
            found[lang] = read[1]
    return tuple(entries), found


class GlossaryRow(NamedTuple):
    """A row of the store's `glossary` table."""

    lang: str
    key: str  # a headword, or "~" + its stem
    english: str  # its translations, tab-separated


def rows(entries: Iterable[Entry]) -> Iterator[GlossaryRow]:
    """The rows of the store's `glossary` table: each headword under its own form and its stem."""
    for entry in entries:
        english = "\t".join(entry.english)
        yield GlossaryRow(entry.lang, entry.word, english)
        yield GlossaryRow(entry.lang, "~" + stem(entry.word, entry.lang), english)


@lru_cache(maxsize=4)
def _rows(folder: Path, files: tuple[tuple[str, int, int], ...]) -> tuple[GlossaryRow, ...]:
    """rows() of the dictionaries in `folder`, made once per process while the files stay the same: their
    370,000 stems are more than stem()'s memo holds, so a second build would stem them all again."""
    return tuple(rows(_read_all(folder, files)[0]))
