"""A label of two or three words is found in free text with its words apart, in one sentence and a few
tokens from each other, but not in the stored tags of a record. Only spaCy's blank pipelines are needed."""

from __future__ import annotations

import pytest

from practice_finder.models import Taxonomy, Term
from practice_finder.text import tagging
from practice_finder.text.reading import read_text

YOUTH = Term(
    id="youth-out-migration",
    vocabulary="challenges",
    label="Youth out-migration",
    synonyms=("young people leave",),
    labels={"lv": ("jauniešu aizplūšana", "jaunieši aizbrauc"), "lt": ("jaunimas išvyksta",)},
)
SCHOOL = Term(
    id="loss-of-services",
    vocabulary="challenges",
    label="Loss of services",
    synonyms=("closed school", "nothing to do for young people"),
)


@pytest.fixture(scope="module")
def tagger() -> tagging.Tagger:
    terms = {term.id: term for term in (YOUTH, SCHOOL)}
    return tagging.Tagger(Taxonomy({"challenges": terms}))


def _terms(tagger: tagging.Tagger, text: str, lang: str, apart: bool = True) -> set[str]:
    return {hit.term for hit in tagger.tag_texts([text], lang, apart=apart)}


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("lv", "Jaunieši pēc skolas aizbrauc uz Rīgu vai ārzemēm un neatgriežas."),
        ("lt", "Jaunimas po mokyklos išvyksta į Vilnių ar užsienį ir negrįžta."),
        ("en", "The young people mostly leave after school."),
    ],
)
def test_a_label_is_found_with_other_words_among_its_words(
    tagger: tagging.Tagger, lang: str, text: str
) -> None:
    assert "youth-out-migration" in _terms(tagger, text, lang)
    assert "youth-out-migration" not in _terms(tagger, text, lang, apart=False)


def test_free_text_is_read_with_labels_apart(tagger: tagging.Tagger) -> None:
    text = "Jaunieši pēc skolas aizbrauc uz Rīgu vai ārzemēm un neatgriežas."
    assert read_text(tagger, text).understood == {"challenges": ["youth-out-migration"]}


@pytest.mark.parametrize(
    "text",
    [
        "Jaunieši dzīvo šeit. Viņu vecāki aizbrauc.",  # another sentence
        "Jaunieši no mūsu mazās pilsētas skolas bieži aizbrauc.",  # too far apart
        "Aizbrauc uz Rīgu jaunieši.",  # the other way round, a content word between
        "Aizbrauc, jaunieši!",  # the other way round, punctuation between
    ],
)
def test_words_far_apart_or_in_two_sentences_are_no_label(
    tagger: tagging.Tagger, text: str
) -> None:
    assert "youth-out-migration" not in _terms(tagger, text, "lv")


def test_a_label_that_needs_its_small_words_is_matched_whole_only(tagger: tagging.Tagger) -> None:
    assert _terms(tagger, "The young people of the closed village school", "en") == {
        "loss-of-services"
    }


def test_a_label_adjacent_in_the_text_counts_once(tagger: tagging.Tagger) -> None:
    hits = tagger.tag_texts(["Jaunieši aizbrauc."], "lv", apart=True)
    assert [(hit.term, hit.count) for hit in hits] == [("youth-out-migration", 1)]


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("lv", "Aizbrauc jaunieši, un skola paliek tukša."),  # a subject after its verb
        ("en", "Our school is closed."),  # a modifier said as a predicate
        ("en", "The school has been closed for years."),
    ],
)
def test_a_labels_first_word_may_follow_the_others_across_stop_words(
    tagger: tagging.Tagger, lang: str, text: str
) -> None:
    expected = "youth-out-migration" if lang == "lv" else "loss-of-services"
    assert expected in _terms(tagger, text, lang)
    assert expected not in _terms(tagger, text, lang, apart=False)


def test_the_other_way_round_counts_once_beside_the_labels_order(tagger: tagging.Tagger) -> None:
    hits = tagger.tag_texts(["The closed village school is closed."], "en", apart=True)
    assert [(hit.term, hit.count) for hit in hits] == [("loss-of-services", 1)]
    # a wider choice of words that does not count leaves a narrower one that does
    hits = tagger.tag_texts(["Old schools, schools closed."], "en", apart=True)
    assert [(hit.term, hit.count) for hit in hits] == [("loss-of-services", 1)]


CENTRE = Term(
    id="vacant-town-centre",
    vocabulary="challenges",
    label="Vacant town centre",
    synonyms=("dying high street",),
    everyday=("high street dying",),
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Our high street is dying in winter.", True),  # three words, the first one last
        ("The high street shops are dying.", False),  # a content word between
        ("The high street, dying now.", False),  # punctuation between
    ],
)
def test_a_label_of_three_words_the_other_way_round(text: str, found: bool) -> None:
    tagger = tagging.Tagger(Taxonomy({"challenges": {CENTRE.id: CENTRE}}))
    assert ("vacant-town-centre" in _terms(tagger, text, "en")) is found


def test_a_term_read_by_two_of_its_phrases_at_one_place_counts_once() -> None:
    """The everyday wording "high street dying" matches as written; the label "dying high street" the
    other way round over the same words: one mention."""
    tagger = tagging.Tagger(Taxonomy({"challenges": {CENTRE.id: CENTRE}}))
    hits = tagger.tag_texts(["The high street dying."], "en", apart=True, everyday=True)
    assert [(hit.term, hit.count) for hit in hits] == [("vacant-town-centre", 1)]
