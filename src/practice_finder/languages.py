"""The languages of the region and English, in one table (their codes and names in every library that
handles them), and which of them a record or a query is written in (lingua, restricted to these).

Restricting the candidates to the ten languages that occur here, and to Russian and Ukrainian (spoken
by many in Estonia and Latvia and by families who arrived since 2022: questions come in them, records
do not), makes short texts far more reliable than an open-ended detector: "samotni owdowiali
mężczyźni" is Polish with confidence 1.0, while a lone place name ("Kuldiga") stays below the
threshold and counts as undetermined.

A short text often fits several languages ("plūdi" is Latvian, but Lithuanian to the detector's
models): `guess` names the likely ones instead of betting on one, with the language of the page a
question was typed on as a prior, and reads nothing into a string that is no word of any of them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector


@dataclass(frozen=True)
class RegionLanguage:
    """One language of the region (or English): its codes and names in each library that handles it."""

    code: str  # ISO 639-1, as records, queries and the API spell it
    name: str  # in English, for pages
    lingua: str  # the member of lingua's `Language`
    snowball: str | None  # the Snowball stemmer; None where we stem with our own (Latvian)
    spacy: str  # the language code of `spacy.blank`
    # ISO 639-3 code of the LASER Tatoeba test set with English; None for English
    tatoeba: str | None


LANGUAGES: tuple[RegionLanguage, ...] = (
    RegionLanguage("en", "English", "ENGLISH", "english", "en", None),
    RegionLanguage("sv", "Swedish", "SWEDISH", "swedish", "sv", "swe"),
    RegionLanguage("fi", "Finnish", "FINNISH", "finnish", "fi", "fin"),
    RegionLanguage("et", "Estonian", "ESTONIAN", "estonian", "et", "est"),
    RegionLanguage("lv", "Latvian", "LATVIAN", None, "lv", "lvs"),
    RegionLanguage("lt", "Lithuanian", "LITHUANIAN", "lithuanian", "lt", "lit"),
    RegionLanguage("pl", "Polish", "POLISH", "polish", "pl", "pol"),
    RegionLanguage("de", "German", "GERMAN", "german", "de", "deu"),
    RegionLanguage("da", "Danish", "DANISH", "danish", "da", "dan"),
    RegionLanguage("nb", "Norwegian (Bokmål)", "BOKMAL", "norwegian", "nb", "nob"),
)
# languages a question may be written in, though no record is: detected, so that they are not misread as a
# region language, and searched through the multilingual model (no taxonomy labels in them)
OTHER_LANGUAGES: tuple[RegionLanguage, ...] = (
    RegionLanguage("ru", "Russian", "RUSSIAN", "russian", "ru", None),
    RegionLanguage("uk", "Ukrainian", "UKRAINIAN", None, "uk", None),
)
BY_CODE = {language.code: language for language in LANGUAGES}
REGION_LANGUAGES = tuple(BY_CODE)  # detection, tagging and the language filter: all ten
# taxonomy terms carry labels in these (their English label and synonyms are the term itself)
LABEL_LANGUAGES = tuple(code for code in REGION_LANGUAGES if code != "en")
# the taxonomy may label its terms in these too (for tagging questions and plans written in them)
TAXONOMY_LANGUAGES = (*LABEL_LANGUAGES, *(language.code for language in OTHER_LANGUAGES))
NAMES = {language.code: language.name for language in (*LANGUAGES, *OTHER_LANGUAGES)}
QUESTION_LANGUAGES = tuple(NAMES)  # what the detector chooses among
UNDETERMINED = "und"  # ISO 639-2 code for "undetermined"
MIN_CONFIDENCE = 0.5  # below this, a text's language is not decided by the detector
SAMPLE_CHARS = 600  # a long text is judged by its beginning (a title and a summary are plenty)
QUERY_SAMPLE_CHARS = (
    200  # a question: on the 560 domain questions in ten languages, the same languages as 600
)
# characters give, in 0.3 instead of 0.5 ms

_DETECTOR: LanguageDetector | None = None
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Detected:
    language: str  # a code of QUESTION_LANGUAGES, or UNDETERMINED
    confidence: float


def detector() -> LanguageDetector:
    """The detector, built once per process (about 5 s and 200 MB with its models preloaded)."""
    global _DETECTOR
    with _LOCK:
        if _DETECTOR is None:
            from lingua import Language, LanguageDetectorBuilder

            wanted = [
                getattr(Language, language.lingua) for language in (*LANGUAGES, *OTHER_LANGUAGES)
            ]
            _DETECTOR = (
                LanguageDetectorBuilder.from_languages(*wanted)
                .with_preloaded_language_models()
                .build()
            )
        return _DETECTOR


def detect(text: str, sample: int = SAMPLE_CHARS) -> Detected:
    """The language of a text (judged by its first `sample` characters), or UNDETERMINED when the detector is
    not confident enough."""
    values = detector().compute_language_confidence_values(text[:sample]) if text.strip() else []
    if not values or values[0].value < MIN_CONFIDENCE:
        return Detected(UNDETERMINED, round(values[0].value, 3) if values else 0.0)
    return Detected(values[0].language.iso_code_639_1.name.lower(), round(values[0].value, 3))


# -- texts that fit several languages ----------------------------------------------------------------

SURE = 0.9  # from this confidence on, a text is read in its one language only
CANDIDATE_FLOOR = 0.15  # a language less likely than this is not a candidate
MAX_CANDIDATES = 3
# The page a question is typed on says which language its writer most likely uses: its language's
# confidence counts this many times before the values are normalised again.
PRIOR_WEIGHT = 3.0
# The letter statistics confuse close languages on a few words: "Daugavpilsin teini-ikäiset ja valeuutiset"
# reads as Estonian, German with a Latvian town's name as Latvian, Norwegian as Estonian. When unsure, each
# language's confidence is weighed by the share of the words its tables know, plus this floor, so that
# names and words no table lists do not rule a language out (docs/benchmarks.md#reading-questions-and-plans-in-any-language).
KNOWN_FLOOR = 0.1


@dataclass(frozen=True)
class Guess:
    """The language of a text, and the languages it is likely written in (best first)."""

    language: str  # decided (confidence at least MIN_CONFIDENCE), else UNDETERMINED
    confidence: float
    candidates: tuple[str, ...]  # one when sure, several when not; none for a text of no language


def guess(
    text: str,
    sample: int = SAMPLE_CHARS,
    prior: str | None = None,
    known: Callable[[str], Mapping[str, float]] | None = None,
) -> Guess:
    """The language of a text and its likely languages: the detector's confidences, the `prior`'s counted
    PRIOR_WEIGHT times; below SURE, each weighed by KNOWN_FLOOR plus the share of the text's words its
    dictionary of word forms knows (`known`: language -> share, such as text.lemmas.known_shares; languages
    it does not cover keep their confidence). Then below SURE, every language above CANDIDATE_FLOOR (at
    most MAX_CANDIDATES) and the prior itself are candidates. A text with no word of any language is
    undetermined."""
    if not readable(text[:sample]):
        return Guess(UNDETERMINED, 0.0, ())
    values = detector().compute_language_confidence_values(text[:sample])
    scores = {v.language.iso_code_639_1.name.lower(): v.value for v in values}
    if prior in scores:
        scores[prior] *= PRIOR_WEIGHT
    if known is not None and max(scores.values(), default=0.0) < SURE * sum(scores.values()):
        shares = known(text[:sample])
        scores = {
            code: v * (KNOWN_FLOOR + shares[code]) if code in shares else v
            for code, v in scores.items()
        }
    total = sum(scores.values()) or 1.0
    ranked = sorted(scores, key=lambda code: -scores[code])
    top = round(scores[ranked[0]] / total, 3)
    language = ranked[0] if top >= MIN_CONFIDENCE else UNDETERMINED
    if top >= SURE:
        return Guess(language, top, (ranked[0],))
    likely = [code for code in ranked[:MAX_CANDIDATES] if scores[code] / total >= CANDIDATE_FLOOR]
    if prior in scores and prior not in likely:
        likely.append(prior)
    return Guess(language, top, tuple(likely or ranked[:1]))


VOWELS = frozenset("aeiouyäöüõåæøąęóėįųūāēīōàáâéèêíìîôòúùыэюяиеёаоуіїєі")


def readable(text: str) -> bool:
    """Whether a text has a word that could belong to a language of the detector: every one of them writes
    vowels, so "xkcdqwf zzvvbb" is none; a word of two or three letters ("w", "i", "EU") is given the
    benefit of the doubt, and a text without letters has no language."""
    words = [w for w in _LETTERS.findall(text.lower()) if len(w) > 1]
    return any(len(w) < 4 or VOWELS.intersection(w) for w in words)


_LETTERS = re.compile(r"[^\W\d_]+")
