"""Questions typed without their letters' marks ("pludi" for "plūdi", "mlodziezy" for "młodzieży"), read
with them restored.

Officers often type on an English keyboard layout or a phone that drops the marks, and a word without
them is another word to every part of a search: the stems and the taxonomy labels do not match, the
dictionaries do not know it, the language detector reads Latvian as Lithuanian, and the multilingual model
places it elsewhere. On the domain set a Latvian question without its marks lost a third of its
nDCG@10 (docs/benchmarks.md#questions-typed-without-diacritics).

A text with no letter beyond ASCII, not all English, is read in its likeliest language (languages.guess,
the page's language as a prior). Each of its words is tried with up to MAX_MARKS of its plain letters
marked as that language marks them, and a spelling its analyser (Voikko, Vabamorf, simplemma's tables)
or wordfreq's list of the language knows replaces the word: the most frequent where the language has a
list, else the one with the fewest marks. The word stays as typed when no spelling fits (a name) or when
it is written so at least as often, in the language or in English ("ka", that, is more frequent than
"kā", how; "oil" in an Estonian question). A text with any marked letter is left alone: whoever typed
one mark typed the others.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
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
    "da": {"a": "å", "o": "ø"},
    "nb": {"a": "å", "o": "ø"},
    "de": {"a": "ä", "o": "ö", "u": "ü"},
}
MAX_MARKS = 4  # marks restored in one word at most ("aizplusana": aizplūšana needs two)
UNLISTED = 1e-12  # the frequency of a word its language's analyser knows and no list counts
MAX_TRIES = (
    3000  # spellings looked up for one word at most (a long compound has many plain letters)
)
_WORD = re.compile(r"[^\W\d_]{2,}")
_LOCK = threading.Lock()


def restored(text: str, prior: str | None = None) -> str:
    """The text with its words' marks restored in its likeliest language, or the text itself (a text with a
    marked letter, an English text, a text of no language with marks)."""
    if not all(ch.isascii() for ch in text if ch.isalpha()):
        return text
    words = {w.lower() for w in _WORD.findall(text)}
    if not words or all(lemmas.known(w, "en") for w in words):
        return text
    guess = languages.guess(text, languages.QUERY_SAMPLE_CHARS, prior, lemmas.known_shares)
    lang = guess.candidates[0] if guess.candidates else None
    if lang not in MARKED:
        return text

    def spelled(match: re.Match[str]) -> str:
        typed = match.group(0)
        word = restored_word(typed.lower(), lang)
        if word == typed.lower():
            return typed
        return (
            word.upper()
            if typed.isupper()
            else word[0].upper() + word[1:]
            if typed[0].isupper()
            else word
        )

    return _WORD.sub(spelled, text)


@lru_cache(maxsize=20_000)
def restored_word(word: str, lang: str) -> str:
    """One lowercased word in its spelling with marks, or the word itself: see the module's docstring."""
    frequencies = _frequencies(lang)
    best, best_key = word, (0.0, 0)
    found = False
    for marks, spelling in _spellings(word, MARKED[lang]):
        frequency = frequencies.get(spelling)
        if frequency is None and not lemmas.known(spelling, lang):
            continue
        key = (frequency or 0.0, -marks)  # the more frequent first; of equals, the fewer marks
        if not found or key > best_key:
            best, best_key, found = spelling, key, True
    if not found:
        return word
    # the word as typed is what was meant when it is written so more often, in the language or in English
    # ("ka", that, against "kā", how; "oil" in an Estonian question), or when the analyser knows it and no
    # list tells which is more frequent (Estonian)
    typed = max(frequencies.get(word, 0.0), _frequencies("en").get(word, 0.0))
    if typed == 0.0 and lemmas.known(word, lang):
        typed = UNLISTED
    return word if typed > 0.0 and typed >= best_key[0] else best


def _spellings(word: str, marked: dict[str, str]) -> Iterator[tuple[int, str]]:
    """Each spelling of the word with one to MAX_MARKS of its plain letters marked (fewest marks first),
    with its number of marks; at most MAX_TRIES."""
    spots = [i for i, ch in enumerate(word) if ch in marked]
    tries = 0
    for marks in range(1, min(MAX_MARKS, len(spots)) + 1):
        for chosen in itertools.combinations(spots, marks):
            for letters in itertools.product(*(marked[word[i]] for i in chosen)):
                chars = list(word)
                for i, letter in zip(chosen, letters, strict=True):
                    chars[i] = letter
                yield marks, "".join(chars)
                tries += 1
                if tries >= MAX_TRIES:
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
    for lang in (*MARKED, "en"):
        _frequencies(lang)
