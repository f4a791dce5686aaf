"""Short, unsure and foreign questions on the shipped model and corpus: read in their likely languages,
answered on topic, and a string of no language read as none."""

from __future__ import annotations

import pytest

from practice_finder.languages import UNDETERMINED
from practice_finder.query.profiles import ProfileIn
from practice_finder.query.recommend import RecommendationRequest, recommend
from practice_finder.query.search import SearchQuery, search

from .test_reading import _plans


def _declared(index, practice_id: str) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    rows = index.db.execute(
        "select vocabulary, term from tags where record_id = ? and source = 'declared'",
        (practice_id,),
    )
    return {(r[0], r[1]) for r in rows}


def _on_topic(index, hits, wanted: set[tuple[str, str]]) -> int:  # type: ignore[no-untyped-def]
    return sum(bool(_declared(index, h.id) & wanted) for h in hits)


FLOODS = {("challenges", "climate-shocks")}
YOUTH = {
    ("challenges", "youth-out-migration"),
    ("challenges", "youth-wellbeing"),
    ("target_groups", "young-people"),
}


@pytest.mark.parametrize(
    ("text", "prior", "language", "likely"),
    [
        ("tulva", None, UNDETERMINED, {"fi", "et"}),  # Finnish: flood
        ("tulva", "fi", "fi", {"fi"}),
        ("plūdi", None, "lv", {"lv", "lt"}),  # Latvian: floods; its letters look Lithuanian
        ("plūdi", "lv", "lv", {"lv"}),  # on a Latvian page, and only Latvian knows the word
    ],
)
def test_a_one_word_question_on_floods_finds_floods(  # type: ignore[no-untyped-def]
    real_index, text: str, prior: str | None, language: str, likely: set[str]
) -> None:
    result = search(real_index, SearchQuery(text, k=10, language_prior=prior))
    assert result.query_language == language and likely <= set(result.query_languages)
    assert "climate-shocks" in result.understood["challenges"]
    assert _on_topic(real_index, result.hits, FLOODS) >= 8


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Как удержать молодёжь в Нарве?", "ru"),
        ("Молодёжь уезжает из Нарвы, что делать?", "ru"),
        ("Як утримати молодь у маленькому місті?", "uk"),
    ],
)
def test_a_question_in_russian_or_ukrainian_is_read_as_such_and_answered_on_topic(  # type: ignore[no-untyped-def]
    real_index, text: str, language: str
) -> None:
    result = search(real_index, SearchQuery(text, k=10))
    assert result.query_language == language and result.query_languages == [language]
    assert "young-people" in result.understood.get("target_groups", [])
    assert _on_topic(real_index, result.hits, YOUTH) >= 7


def test_gibberish_is_read_as_no_language(real_index) -> None:  # type: ignore[no-untyped-def]
    result = search(real_index, SearchQuery("xkcdqwf zzvvbb", k=5, language_prior="pl"))
    assert result.query_language == UNDETERMINED and result.query_languages == []
    assert result.understood == {}


@pytest.mark.parametrize("lang", ["lv", "pl", "et", "fi"])
def test_a_plan_in_the_towns_language_is_understood_and_answered(real_index, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The plan the issue tried: understood, with challenges and assets, as its English version is."""
    text = _plans()["ageing-town"][lang]
    request = RecommendationRequest(profile=ProfileIn(text=text, population=6000), k=5)
    result = recommend(real_index, request)
    profile = result.profile
    assert profile.text_language == lang
    assert "loneliness" in profile.understood["challenges"]
    assert len(profile.understood["challenges"]) >= 2
    assert len(profile.understood["assets"]) >= 4
    assert len(result.recommendations) == 5
    assert any(r.addresses_challenges for r in result.recommendations)
