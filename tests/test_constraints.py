"""Constraints read from a question: a town's size, a budget, countries and target groups, in the region's languages."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from practice_finder.query.constraints import REGIONS, band_of, met, read_constraints


def _read(text: str, understood: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    return {c.kind: c.values for c in read_constraints(text, understood or {})}


@pytest.mark.parametrize(
    ("text", "band"),
    [
        ("ideas for a town of 3,000 people", "village"),
        ("we are 12 000 inhabitants", "small"),
        ("our village has lost its shop", "village"),
        ("en kommun med 45 000 invånare", "medium"),
        ("kunta, jossa on 8 000 asukasta", "small"),
        ("vald 2500 elanikuga", "village"),
        ("pilsēta ar 150 000 iedzīvotājiem", "large"),
        ("miasto liczące 30 tys. mieszkańców", "medium"),
        ("unser Dorf stirbt aus", "village"),
        ("mūsų kaime nėra bibliotekos", "village"),
    ],
)
def test_a_town_size_in_numbers_or_words(text: str, band: str) -> None:
    assert _read(text)["size"] == [band]


@pytest.mark.parametrize(
    ("text", "bands"),
    [
        ("we have no money for culture", ["under-10k"]),
        ("cheap formats for young people", ["under-10k"]),
        ("something under 10,000 euro", ["under-10k"]),
        ("a project for under €60,000", ["under-10k", "10k-50k", "50k-250k"]),
        ("wir haben kein Geld", ["under-10k"]),
        ("tanie pomysły dla seniorów", ["under-10k"]),
        ("bez naudas", ["under-10k"]),
    ],
)
def test_a_budget(text: str, bands: list[str]) -> None:
    assert _read(text)["budget"] == bands


@pytest.mark.parametrize(
    ("text", "countries"),
    [
        ("empty shops in Latvia", ["LV"]),
        ("floods in the Baltic states", ["EE", "LV", "LT"]),
        ("Polish towns keeping their youth", ["PL"]),
        ("tühjad poed Lätis", ["LV"]),
        ("pusta ulica na Łotwie i w Niemczech", ["DE", "LV"]),
        ("kirjastot Pohjoismaissa", ["DK", "FI", "NO", "SE"]),
        # a country's adjective, written in lower case in the region's languages
        ("en finsk by med 6.000 indbyggere", ["FI"]),
        ("fińskie miasteczko", ["FI"]),
        ("tyhjät liiketilat latvialaisissa kaupungeissa", ["LV"]),
        ("svenska kommuner och flyktingmottagande", ["SE"]),
        ("Balti riikide väikelinnad", ["EE", "LV", "LT"]),
        ("samankokoiset Baltian kaupungit", ["EE", "LV", "LT"]),
        ("sākšana ar bērniem", []),  # "starting": no Estonian "saksa" (German) without its accents
    ],
)
def test_countries_and_regions(text: str, countries: list[str]) -> None:
    assert sorted(_read(text).get("country", [])) == sorted(countries)


def test_a_question_without_constraints_has_none() -> None:
    assert _read("lonely older people after the bus line closed") == {}
    # the Baltic Sea is the whole region, not the Baltic states
    assert "country" not in _read("storms on the Baltic Sea coast")
    # "puolet" (half) is not "Puola" (Poland)
    assert "country" not in _read("tehdas työllisti puolet kaupungista")


def test_target_groups_come_from_the_understood_terms_and_each_constraint_names_its_filter() -> (
    None
):
    read = read_constraints(
        "cheap ideas for a village of 900 people in Estonia",
        {"target_groups": ["older-people"], "challenges": ["loneliness"]},
    )
    filters = {c.kind: c.filter for c in read}
    assert filters == {
        "size": {"population_max": ["4999"]},
        "budget": {"budget": ["under-10k"]},
        "country": {"country": ["EE"]},
        "target_group": {"target_group": ["older-people"]},
    }


def test_what_a_practice_meets() -> None:
    read = read_constraints("cheap ideas for a village in Estonia", {"target_groups": ["children"]})
    assert met(read, (3_000, "under-10k", "EE"), frozenset({"children"})) == [
        "size",
        "budget",
        "country",
        "target_group",
    ]
    assert met(read, (30_000, "10k-50k", "LV"), frozenset()) == []
    assert band_of(4_999) == "village" and band_of(5_000) == "small" and band_of(10**6) == "large"


def _places_by_comparison(text: str) -> list[str]:
    """Countries named in `text` by comparing each word with every country's start (what
    constraints._places does with one look-up per start length), regions left out."""
    from practice_finder.models import COUNTRIES
    from practice_finder.query import constraints as c

    found: dict[str, str] = {}
    for word in re.findall(r"\w+", text):
        plain = c._plain(word)
        for code, prefix in c._country_prefixes():
            proper = len(prefix) >= c.SHORT_NAME or word[:1].isupper()
            if proper and plain.startswith(prefix) and len(plain) - len(prefix) <= c.NAME_ENDING:
                found.setdefault(code, word)
    return [code for code in COUNTRIES if code in found]


def _country_words() -> list[str]:
    from practice_finder.query import constraints as c

    starts = [prefix for _, prefix in c._country_prefixes()]
    return [
        *starts,
        *(s.capitalize() for s in starts),
        "puolet",
        "Puola",
        "Łotwie",
        "town",
        "Norja",
    ]


@settings(max_examples=400, deadline=None)
@given(
    words=st.lists(
        st.one_of(
            st.sampled_from(_country_words()),
            st.tuples(st.sampled_from(_country_words()), st.text("aeinossa", max_size=7)).map(
                "".join
            ),
            st.text(min_size=1, max_size=8),
        ),
        max_size=8,
    )
)
def test_countries_found_by_look_up_are_those_found_by_comparing_every_name(
    words: list[str],
) -> None:
    text = " ".join(words)
    got = _read(text).get("country", [])
    if any(pattern.search(text) for pattern in REGIONS.values()):
        return  # a region names its countries as well
    assert got == _places_by_comparison(text)
