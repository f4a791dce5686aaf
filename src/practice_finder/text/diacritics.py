"""Questions typed without their letters' marks ("pludi" for "plūdi", "mlodziezy" for "młodzieży"), read
with them restored.

Officers often type on an English keyboard layout or a phone that drops the marks, and a word without
them is another word to every part of a search: the stems and the taxonomy labels do not match, the
dictionaries do not know it, the language detector reads Latvian as Lithuanian, and the multilingual model
places it elsewhere. On the domain set a Latvian question without its marks lost a third of its
nDCG@10 (docs/benchmarks.md#questions-typed-without-diacritics).

A text with no letter beyond ASCII, not all English, is read in its likely languages (languages.guess,
the page's language as a prior; of several, the one of which the restored text holds the most known
words). A word gets back up to MAX_MARKS of the marks that language writes. The spellings come from
wordfreq's list of the language (read once by its words without their marks, letters typed as two
included: "ae" for æ or ä, "aa" for å, "ss" for ß, DIGRAPHS); for Estonian and Finnish every spelling is
put to their analyser (Vabamorf, Voikko); for the others simplemma's tables are asked about a word the
list lacks. The most frequent spelling replaces the word, of equals the one with the fewest marks. The
word stays as typed when no spelling fits (a name) or when it is written so at least as often, in the
language or in English ("ka", that, is more frequent than "kā", how; "oil" in an Estonian question). A
text with any marked letter is left alone: whoever typed one mark typed the others.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import cache, lru_cache

from practice_finder import languages
from practice_finder.text import lemmas

# The plain letter a keyboard without the language's marks leaves, and the marked letters it stands for.
MARKED: dict[str, dict[str, str]] = {
    "lv": {
        "a": "ā",
        "c": "č",
        "e": "ē",
        "g": "ģ",
        "i": "ī",
        "k": "ķ",
        "l": "ļ",
        "n": "ņ",
        "s": "š",
        "u": "ū",
        "z": "ž",
    },
    "lt": {"a": "ą", "c": "č", "e": "ęė", "i": "į", "s": "š", "u": "ųū", "z": "ž"},
    "pl": {"a": "ą", "c": "ć", "e": "ę", "l": "ł", "n": "ń", "o": "ó", "s": "ś", "z": "żź"},
    "et": {"a": "ä", "o": "õö", "u": "ü", "s": "š", "z": "ž"},
    "fi": {"a": "ä", "o": "ö"},
    "sv": {"a": "åä", "o": "ö"},
    "da": {"a": "å", "o": "ø"},  # and æ, typed "ae" (DIGRAPHS)
    "nb": {"a": "å", "o": "ø"},
    "de": {"a": "ä", "o": "ö", "u": "ü"},
}
# Letters a keyboard without them types as two ("ae" for æ or ä, "aa" for å, "ss" for ß), as Danes,
# Norwegians and Germans often do; found through the frequency lists only.
DIGRAPHS: dict[str, dict[str, str]] = {
    "da": {"æ": "ae", "ø": "oe", "å": "aa"},
    "nb": {"æ": "ae", "ø": "oe", "å": "aa"},
    "de": {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"},
}
MAX_MARKS = 4  # marks restored in one word at most ("aizplusana": aizplūšana needs two)
# languages whose analyser is asked about every spelling with marks; simplemma's tables are read as
# compressed streams, tens of microseconds a look-up, so for the others a word's spellings come from their
# frequency list, and from the tables only for a word the list lacks, with few marks
ANALYSERS = ("vabamorf", "voikko")
MAX_TABLE_MARKS = 2
MAX_TABLE_TRIES = 300
UNLISTED = 1e-12  # the frequency of a word its language's analyser knows and no list counts
# spellings put to an analyser for one word at most (a long compound has many plain letters)
MAX_TRIES = 3000
_LOCK = threading.Lock()


def restored(
    text: str,
    prior: str | None = None,
    vocabulary: Callable[[str], frozenset[str]] | None = None,
) -> str:
    """The text with its words' marks restored in its likeliest language, or the text itself (a text with a
    marked letter, an English text, a text of no language with marks). `vocabulary` (language -> words,
    such as Tagger.vocabulary: the taxonomy's labels) lends spellings for a word no list or analyser
    knows ("aizplusana": aizplūšana, a label's word)."""
    if not all(ch.isascii() for ch in text if ch.isalpha()):
        return text
    words = {w.lower() for w in lemmas.WORD.findall(text)}
    # English's list first: a dictionary look-up, where simplemma's tables are slower to read
    english = _frequencies("en")
    if not words or all(w in english or lemmas.known(w, "en") for w in words):
        return text
    guess = languages.guess(text, languages.QUERY_SAMPLE_CHARS, prior, lemmas.known_shares)
    # an unsure text is read in each of its likely languages, and the reading of which the language knows the
    # most words wins, the likeliest of equals ("aeldre" looks Norwegian by its letters, but only Danish
    # writes "ældre"; "for samisk ungdom" is Norwegian as typed and stays so, not Swedish "för")
    likely = [lang for lang in guess.candidates if lang in MARKED]
    if len(likely) == 1:
        return _restored_in(text, likely[0], vocabulary)
    best, most = text, -1
    for lang in likely:
        spelled = _restored_in(text, lang, vocabulary)
        known = sum(_known(word.lower(), lang) for word in lemmas.WORD.findall(spelled))
        if known > most:
            best, most = spelled, known
    return best


def _known(word: str, lang: str) -> bool:
    return word in _frequencies(lang) or lemmas.known(word, lang)


def _restored_in(text: str, lang: str, vocabulary: Callable[[str], frozenset[str]] | None) -> str:
    """The text with its words' marks restored in one language."""

    def spelled(match: re.Match[str]) -> str:
        typed = match.group(0)
        word = restored_word(typed.lower(), lang)
        if word == typed.lower() and vocabulary is not None:
            word = _from_vocabulary(word, lang, vocabulary(lang))
        return typed if word == typed.lower() else _cased_as(word, typed)

    return lemmas.WORD.sub(spelled, text)


def _cased_as(word: str, typed: str) -> str:
    """The lowercased `word` in the case of the word as `typed` ("ODPLYW": ODPŁYW, "Odplyw": Odpływ)."""
    if typed.isupper() and len(typed) > 1:
        return word.upper()
    return word[0].upper() + word[1:] if typed[0].isupper() else word


@lru_cache(maxsize=20_000)
def restored_word(word: str, lang: str) -> str:
    """One lowercased word in its spelling with marks, or the word itself: see the module's docstring."""
    frequencies = _frequencies(lang)
    found = dict(_listed(lang).get(word, ()))  # spelling -> marks
    analysed = lemmas.source(lang) in ANALYSERS
    if analysed or not found:
        # an analyser knows every inflected form: each spelling is asked (Estonian, Finnish); simplemma's
        # tables, slower to read, only about the spellings with few marks of a word the list lacks
        most, tries = (MAX_MARKS, MAX_TRIES) if analysed else (MAX_TABLE_MARKS, MAX_TABLE_TRIES)
        found.update(
            (spelling, marks)
            for marks, spelling in _spellings(word, MARKED[lang], most, tries)
            if spelling not in found and lemmas.known(spelling, lang)
        )
    if not found:
        return word
    # the more frequent first; of equals, the fewer marks
    best = max(found, key=lambda spelling: (frequencies.get(spelling, 0.0), -found[spelling]))
    # the word as typed is what was meant when it is written so more often, in the language or in English
    # ("ka", that, against "kā", how; "oil" in an Estonian question), or when the analyser knows it and no
    # list tells which is more frequent (Estonian)
    typed = max(frequencies.get(word, 0.0), _frequencies("en").get(word, 0.0))
    if typed == 0.0 and lemmas.known(word, lang):
        typed = UNLISTED
    return word if typed > 0.0 and typed >= frequencies.get(best, 0.0) else best


@cache
def _listed(lang: str) -> dict[str, tuple[tuple[str, int], ...]]:
    """The words of the language's frequency list that carry its marks, by each way of typing them without
    ("pludi": plūdi; "soester" and "soster": søster), each with its number of marks."""
    return _by_typed(_frequencies(lang), lang)


def _by_typed(words: Iterable[str], lang: str) -> dict[str, tuple[tuple[str, int], ...]]:
    """The words that carry the language's marks (at most MAX_MARKS), by each way of typing them without."""
    typed: dict[str, tuple[str, ...]] = {}
    for base, letters in MARKED[lang].items():
        for letter in letters:
            typed[letter] = (*typed.get(letter, ()), base)
    for letter, pair in DIGRAPHS.get(lang, {}).items():
        typed[letter] = (*typed.get(letter, ()), pair)
    found: dict[str, list[tuple[str, int]]] = {}
    for spelling in words:
        marks = sum(ch in typed for ch in spelling)
        if 0 < marks <= MAX_MARKS:
            for key in itertools.product(*(typed.get(ch, (ch,)) for ch in spelling)):
                found.setdefault("".join(key), []).append((spelling, marks))
    return {key: tuple(spellings) for key, spellings in found.items()}


def _from_vocabulary(word: str, lang: str, words: frozenset[str]) -> str:
    """The word's spelling with marks among `words`, the one with the fewest marks, or the word itself."""
    found = _typed_index(words, lang).get(word, ())
    return min(found, key=lambda spelling_marks: spelling_marks[1])[0] if found else word


@lru_cache(maxsize=32)
def _typed_index(words: frozenset[str], lang: str) -> dict[str, tuple[tuple[str, int], ...]]:
    return _by_typed(words, lang)


def _spellings(
    word: str, marked: dict[str, str], most: int, limit: int
) -> Iterator[tuple[int, str]]:
    """Each spelling of the word with one to `most` of its plain letters marked (fewest marks first), with
    its number of marks; at most `limit` of them."""
    spots = [i for i, ch in enumerate(word) if ch in marked]
    tries = 0
    for marks in range(1, min(most, len(spots)) + 1):
        for chosen in itertools.combinations(spots, marks):
            for letters in itertools.product(*(marked[word[i]] for i in chosen)):
                chars = list(word)
                for i, letter in zip(chosen, letters, strict=True):
                    chars[i] = letter
                yield marks, "".join(chars)
                tries += 1
                if tries >= limit:
                    return


@cache
def _frequencies(lang: str) -> dict[str, float]:
    """wordfreq's list of the language's words and their frequencies (its small lists: 26,000 to 64,000
    words; none for Estonian, whose spellings Vabamorf alone confirms; English's, for the English words
    of questions in other languages)."""
    try:
        import wordfreq
    except ImportError:
        return {}
    with _LOCK:
        try:
            return dict(wordfreq.get_frequency_dict(lang, wordlist="small"))
        except LookupError:
            return {}


def warm() -> None:
    """Read every language's word list now (a tenth of a second), so that no question waits for one."""
    _frequencies("en")
    for lang in MARKED:
        _listed(lang)
