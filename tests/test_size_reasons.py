"""The size part of a reason: a ratio in the reader's number format, a smaller town as a share, and no
ratio at all where it would be 0 or absurd ("0.0 times your population", "25000.0 times")."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from practice_finder import i18n
from practice_finder.query.peers import Peer, similar_reason
from practice_finder.query.profiles import Profile, size_comparison
from practice_finder.query.recommend import Comparability, reason

NO_INDEX = SimpleNamespace(taxonomy=None)  # the reasons below name no taxonomy term


def _profile(population: int | None) -> Profile:
    return Profile(
        source="profile",
        city=None,
        name=None,
        country=None,
        population=population,
        settlement_type=None,
        settlement_type_estimated=False,
        lat=None,
        lon=None,
        challenges=[],
        assets=[],
        understood={},
        text_chars=0,
    )


def _recommendation_reason(theirs: int, yours: int, lang: str) -> str:
    comp = Comparability(
        municipality="Testby",
        population=theirs,
        settlement_type="town",
        population_similarity=None,
        type_similarity=None,
        distance_km=None,
    )
    with i18n.speaking(lang):
        return reason(NO_INDEX, _profile(yours), [], [], comp, None)  # type: ignore[arg-type]


def _peer_reason(theirs: int, yours: int, lang: str) -> str:
    peer = Peer(
        city="testby",
        name="Testby",
        country="DK",
        population=theirs,
        settlement_type="town",
        pearl_year=None,
        score=0.5,
        distance_km=None,
        shared_challenges=[],
        shared_assets=[],
        components={},
        reason="",
    )
    with i18n.speaking(lang):
        return similar_reason(NO_INDEX, _profile(yours), peer)  # type: ignore[arg-type]


@pytest.mark.parametrize("told", [_recommendation_reason, _peer_reason])
def test_an_absurd_or_zero_ratio_is_not_a_reason(told: Any) -> None:
    for theirs, yours in ((25_000, 1), (300, 5_000_000)):
        text = told(theirs, yours, "en")
        assert "times" not in text and " of your" not in text and "0.0" not in text, text


@pytest.mark.parametrize("told", [_recommendation_reason, _peer_reason])
def test_a_ratio_is_in_the_readers_number_format(told: Any) -> None:
    assert "2.5 times" in told(25_000, 10_000, "en")
    assert "2,5-mal" in told(25_000, 10_000, "de")
    assert "40%" in told(4_000, 10_000, "en")
    assert "40\xa0%" in told(4_000, 10_000, "de")  # CLDR: German puts a space before the sign
    assert "25,000.0" not in told(250_000, 10_000, "en") and "25 times" in told(
        250_000, 10_000, "en"
    )


def test_size_comparison() -> None:
    with i18n.speaking("en"):
        assert size_comparison(1_000, 1_000) == ("same", "")
        assert size_comparison(12_500, 1_000) == ("times", "12.5")
        assert size_comparison(100_000, 1_000) == ("times", "100")
        assert size_comparison(100_001, 1_000) is None
        assert size_comparison(15, 1_000) == ("share", "2%")
        assert size_comparison(9, 1_000) is None
        assert size_comparison(0, 1_000) is None and size_comparison(1_000, None) is None
