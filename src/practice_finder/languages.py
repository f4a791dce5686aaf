"""The languages of the region and English, in one table (their codes and names in every library that
handles them), and which of them a record or a query is written in (lingua, restricted to these).

Restricting the candidates to the ten languages that occur here makes short texts far more reliable
than an open-ended detector: "samotni owdowiali mężczyźni" is Polish with confidence 1.0, while a
lone place name ("Kuldiga") stays below the threshold and counts as undetermined.
"""

from __future__ import annotations

import threading
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
BY_CODE = {language.code: language for language in LANGUAGES}
REGION_LANGUAGES = tuple(BY_CODE)  # detection, tagging and the language filter: all ten
# taxonomy terms carry labels in these (their English label and synonyms are the term itself)
LABEL_LANGUAGES = tuple(code for code in REGION_LANGUAGES if code != "en")
NAMES = {language.code: language.name for language in LANGUAGES}
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
    language: str  # a code of REGION_LANGUAGES, or UNDETERMINED
    confidence: float


def detector() -> LanguageDetector:
    """The detector, built once per process (about 5 s and 200 MB with its models preloaded)."""
    global _DETECTOR
    with _LOCK:
        if _DETECTOR is None:
            from lingua import Language, LanguageDetectorBuilder

            wanted = [getattr(Language, language.lingua) for language in LANGUAGES]
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
