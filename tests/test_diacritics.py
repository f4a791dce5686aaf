"""Questions typed without their letters' marks are read with them restored (text.diacritics)."""

from __future__ import annotations

import pytest

from practice_finder.corpus.folder import load_taxonomy
from practice_finder.text.diacritics import restored, restored_word
from practice_finder.text.tagging import Tagger

from .conftest import CORPUS


@pytest.mark.parametrize(
    ("typed", "prior", "meant"),
    [
        ("pludi un jauniesu aizplusana", "lv", ["plūdi", "jauniešu"]),
        ("odplyw mlodziezy i samotnosc seniorow", None, ["odpływ", "młodzieży", "samotność"]),
        ("uleujutus ja uksildased vanemad inimesed", None, ["üleujutus", "üksildased"]),
        ("jaunimo emigracija ir vienisi pagyvene zmones", None, ["vieniši", "pagyvenę", "žmonės"]),
        ("yksinaiset vanhukset kylissa", None, ["yksinäiset", "kylissä"]),
    ],
)
def test_the_marks_of_a_question_typed_without_them_are_restored(
    typed: str, prior: str | None, meant: list[str]
) -> None:
    words = restored(typed, prior).split()
    assert all(word in words for word in meant), words


@pytest.mark.parametrize(
    ("typed", "lang", "meant"),
    [
        ("soester og broedre paa landet", "da", ["søster", "brødre", "på"]),
        ("eldre paa bygda", "nb", ["på"]),
        ("Aeltere Menschen und Einsamkeit", "de", ["Ältere"]),
    ],
)
def test_letters_typed_as_two_are_restored_too(typed: str, lang: str, meant: list[str]) -> None:
    words = restored(typed, lang).split()
    assert all(word in words for word in meant), words


def test_a_word_spelled_with_two_letters_by_rule_stays() -> None:
    # "dass" is the spelling since 1996; "daß" is in the list too, less often
    assert restored_word("dass", "de") == "dass"


def test_a_capital_stays_a_capital() -> None:
    assert restored("Odplyw mlodziezy", "pl").split()[:2] == ["Odpływ", "młodzieży"]
    assert restored("ODPLYW mlodziezy", "pl").split()[:2] == ["ODPŁYW", "młodzieży"]


@pytest.mark.parametrize(
    "text",
    [
        "lonely older men in villages",  # English
        "Ida-Virumaa after oil shale",  # English with an Estonian name: no mark lands on "oil"
        "samotni mężczyźni na wsi",  # whoever typed one mark typed the others
        "xkcdqwf zzvvbb",  # no language
        "",
    ],
)
def test_a_text_that_needs_no_marks_is_left_as_it_is(text: str) -> None:
    assert restored(text) == text


def test_an_english_word_in_a_question_of_another_language_stays() -> None:
    words = restored("nastolatki z Dyneburga i fake newsy", "pl").split()
    assert "fake" in words


def test_a_word_written_more_often_without_marks_stays() -> None:
    # "ka" (that) is far more frequent in Latvian than "kā" (how, as)
    assert restored_word("ka", "lv") == "ka"
    assert restored_word("pludi", "lv") == "plūdi"


def test_a_word_no_spelling_fits_stays_as_typed() -> None:
    assert restored_word("qwrtzp", "lv") == "qwrtzp"


def test_the_taxonomy_lends_the_words_no_list_knows() -> None:
    vocabulary = Tagger(load_taxonomy(CORPUS / "taxonomy.yaml")).vocabulary
    assert restored("jauniesu aizplusana", "lv") == "jauniešu aizplusana"
    assert restored("jauniesu aizplusana", "lv", vocabulary) == "jauniešu aizplūšana"


def test_an_unsure_text_is_read_in_the_likely_language_that_knows_its_words() -> None:
    # by its letters "aeldre" is likelier Norwegian ("eldre"), but only Danish writes "ældre"
    assert restored("aeldre", "da") == "ældre"
    # Norwegian as typed: not restored into Swedish "för"
    assert restored("aktiviteter for samisk ungdom") == "aktiviteter for samisk ungdom"
