"""Base forms: Voikko for Finnish (those tests skip, naming the packages to install, where Debian's libvoikko1
and voikko-fi are missing), Vabamorf for Estonian (skipping where the estnltk wheel is missing), simplemma's
tables for the other languages; in the glossary's look-ups, in taxonomy tagging, and in the build's
manifest."""

from __future__ import annotations

import sys

import pytest

from practice_finder.build import versions
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.query.legs import glossed
from practice_finder.text import lemmas, pipelines
from practice_finder.text.stemming import stem

from .fakes import HashingEmbedder, glossary_index

needs_voikko = pytest.mark.skipif(
    not lemmas.analysed("fi"),
    reason="Voikko for Finnish is not installed: apt-get install libvoikko1 voikko-fi (.ci/run does)",
)

needs_vabamorf = pytest.mark.skipif(
    lemmas.source("et") != "vabamorf",
    reason="Vabamorf for Estonian is not installed: pip install estnltk (a dependency of the project)",
)


def test_english_is_left_to_spacy() -> None:
    assert lemmas.forms("libraries", "en") == lemmas.Forms()
    assert lemmas.lemma("libraries", "en") == "libraries"
    assert "en" not in lemmas.describe() and not lemmas.analysed("en")


def test_a_known_form_gets_its_base_form_from_the_tables_and_an_unknown_one_stays() -> None:
    assert lemmas.source("nb") == "simplemma"
    assert lemmas.forms("byer", "nb").lemmas == ("by",)  # the stem of "byer" is "byer"
    assert lemmas.lemma("samotnych", "pl") == "samotny"
    assert lemmas.lemma("bibliotheken", "de") == "bibliothek"
    assert lemmas.forms("lielupe", "lv") == lemmas.Forms()  # a river, not a form of "liels" (big)
    assert lemmas.describe()["lv"].startswith("simplemma ")


def test_every_table_stays_read_while_a_text_is_weighed_in_every_language() -> None:
    """Each table is read once: a table read anew for each word would cost about a second a look-up."""
    lemmas.warm()
    tables = lemmas._tables()._dictionary_factory._get_dictionary
    before = tables.cache_info().misses
    for word in ("kaupunki", "jaunieši", "młodzież", "Bibliothek", "noored", "library"):
        lemmas.known_shares(f"{word} zzyzx{word}")  # a word no cache has seen, in every language
    assert tables.cache_info().misses == before


@needs_voikko
def test_a_finnish_word_gets_its_base_form_and_a_compound_its_parts() -> None:
    assert lemmas.forms("kaupungeissa", "fi").lemmas == ("kaupunki",)
    school = lemmas.forms("kyläkoulun", "fi")
    assert school.lemmas == ("kyläkoulu",)
    assert {"kylä", "koulu"} <= set(school.parts)
    assert (
        "lakkauttaa" in lemmas.forms("lakkautetun", "fi").parts
    )  # the verb a participle comes from
    assert lemmas.forms("xqzvw", "fi") == lemmas.Forms()


@needs_voikko
def test_an_ambiguous_word_keeps_its_written_form_as_lemma() -> None:
    assert len(lemmas.forms("vanhemmat", "fi").lemmas) > 1  # parents, or older
    assert lemmas.lemma("vanhemmat", "fi") == "vanhemmat"
    assert lemmas.lemma("teineillä", "fi") == "teini"


@needs_voikko
def test_a_finnish_question_is_glossed_by_base_form_then_by_a_compounds_parts() -> None:
    index = glossary_index(
        {
            ("fi", "kaupunki"): ("town", "city"),
            ("fi", "kylä"): ("village",),
            ("fi", "koulu"): ("school", "schooling", "education"),
            ("fi", "~" + stem("tulvat", "fi")): ("flood",),
        }
    )
    words = ["kaupungit", "kyläkoulun", "tulvat"]
    assert glossed(index, words, "fi") == [  # type: ignore[arg-type]
        "town",
        "city",
        "village",
        "school",
        "schooling",
        "flood",
    ]


@needs_voikko
def test_finnish_labels_match_other_forms_of_their_words() -> None:
    nlp = pipelines.pipeline("fi")
    assert pipelines.has_lemmas("fi")
    assert [t.lemma_ for t in nlp("yksinäiset leskimiehet kaupungeissa")] == [
        "yksinäinen",
        "leskimies",
        "kaupunki",
    ]


@needs_voikko
def test_the_manifest_names_the_analyser_and_a_change_of_it_rebuilds(
    tiny: Settings, fake_embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(tiny, lambda: fake_embedder)
    manifest = versions.read_manifest(versions.require_current(tiny.index_dir))
    assert manifest.nlp.lemmatisers["fi"].startswith("libvoikko ")
    assert ingest(tiny, lambda: fake_embedder).up_to_date
    monkeypatch.setattr(lemmas, "describe", lambda: {})
    assert ingest(tiny, lambda: fake_embedder).reason.startswith(
        "the base-form analysers installed"
    )


@needs_vabamorf
def test_an_estonian_word_gets_its_base_form_and_a_compound_its_parts() -> None:
    assert lemmas.forms("linnad", "et").lemmas == ("linn",)
    school = lemmas.forms("külakooli", "et")  # of a village school
    assert school.lemmas == ("külakool",) and school.parts == ("küla", "kool")
    # the first part is written in the genitive; its base form is looked up on its own
    assert lemmas.forms("kogukonnaruumiks", "et").parts == ("kogukond", "ruum")
    assert lemmas.lemma("suletud", "et") == "suletud"  # closed: a participle, an adjective, a noun
    assert lemmas.forms("xqzvw", "et") == lemmas.Forms() and not lemmas.known("xqzvw", "et")
    assert lemmas.describe()["et"].startswith("estnltk ")


@needs_vabamorf
def test_the_analysers_tell_a_compound_from_a_word_that_merely_ends_in_one() -> None:
    assert lemmas.compound("külakooli", "et") is True
    assert lemmas.compound("päriselt", "et") is False  # really: no compound of "selt" (society)
    assert lemmas.compound("koordinaator", "et") is False  # no compound of "koor" (choir)
    assert lemmas.compound("xqzvwkoor", "et") is None  # unknown: the letters decide
    assert lemmas.compound("bibliotheken", "de") is None  # a table does not tell
    if lemmas.source("fi") == "voikko":
        assert lemmas.compound("kyläkoulun", "fi") is True
        assert lemmas.compound("ikääntyneiden", "fi") is False  # derived from a verb, no compound


@needs_vabamorf
def test_vabamorf_loads_without_the_rest_of_estnltk() -> None:
    # importing the estnltk package runs its toolkit's set-up (pandas and more); only Vabamorf is used
    assert lemmas.known("kool", "et")
    assert "estnltk" not in sys.modules


def _forget() -> None:
    for memo in (
        lemmas._voikko,
        lemmas._vabamorf,
        lemmas._readings,
        lemmas._tables,
        lemmas.forms,
        lemmas.known,
        lemmas.compound,
        lemmas.describe,
    ):
        memo.cache_clear()


def test_without_voikko_finnish_reads_the_tables_and_without_both_keeps_its_stems(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "libvoikko", None)  # the binding not installed: import fails
    _forget()
    try:
        assert lemmas.source("fi") == "simplemma"
        assert lemmas.describe()["fi"].startswith("simplemma ")
        assert lemmas.forms("kaupungit", "fi").parts == ()  # no compounds' parts from a table
        monkeypatch.setitem(sys.modules, "simplemma", None)
        monkeypatch.setitem(sys.modules, "simplemma.strategies", None)
        _forget()
        assert not lemmas.analysed("fi") and "fi" not in lemmas.describe()
        assert lemmas.forms("kaupungeissa", "fi") == lemmas.Forms()
        assert lemmas.lemma("kaupungeissa", "fi") == "kaupungeissa"
    finally:
        monkeypatch.undo()
        _forget()


def test_without_vabamorf_estonian_reads_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lemmas.importlib.util, "find_spec", lambda name: None)  # no estnltk wheel
    _forget()
    try:
        assert lemmas.source("et") == "simplemma"
        assert lemmas.describe()["et"].startswith("simplemma ")
        assert lemmas.lemma("linnad", "et") == "linn"
        assert lemmas.compound("päriselt", "et") is None
    finally:
        monkeypatch.undo()
        _forget()


def test_labels_in_languages_without_spacy_tables_match_other_forms_of_their_words() -> None:
    assert [t.lemma_ for t in pipelines.pipeline("et")("vanad puumajad")] == ["vana", "puumaja"]
    assert [t.lemma_ for t in pipelines.pipeline("pl")("samotnych seniorów")][0] == "samotny"
