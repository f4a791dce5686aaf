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
        ("byskolan lades ner i somras", "village"),
        ("grendeskolen ble lagt ned", "village"),
        ("landsbyskolen lukkede", "village"),
        ("nasze wsie czują się wchłonięte", "village"),
        ("zagospodarowanie zamkniętej szkoły wiejskiej", "village"),
        ("kylistämme ovat kadonneet kauppa", "village"),
        ("Våra byföreningar drivs av samma lilla grupp", "village"),
        # English names a place's size without a word for its people
        ("we're a seaside town of about 15,000", "small"),
        ("the only culture worker in a municipality of about 3,000", "village"),
        ("I mentor a town of 25k in Pomerania", "medium"),
        # the inflected words for thousand and for inhabitants
        ("miasto liczące około 15 tysięcy mieszkańców", "small"),
        ("noin 20 000 asukkaan kaupunki", "medium"),
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
        ("low-budget ideas against pensioner loneliness", ["under-10k"]),
        ("halpoja ideoita kylätaloille", ["under-10k"]),
        ("Kaupungilla on vähän rahaa", ["under-10k"]),
        ("Linnal on vähe raha", ["under-10k"]),
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
        ("sākšana ar bērniem", []),
        # a compass point compounded with the name
        ("eine neue Fabrik in Nordschweden", ["SE"]),
        ("en ny fabrik i Nordsverige", ["SE"]),
        # Swedish places that begin as Estonian "Norra" (Norway) does
        ("en ny fabrik i Norrland", []),
        (
            "kulturskolan i Norrköping",
            [],
        ),  # "starting": no Estonian "saksa" (German) without its accents
    ],
)
def test_countries_and_regions(text: str, countries: list[str]) -> None:
    assert sorted(_read(text).get("country", [])) == sorted(countries)


@pytest.mark.parametrize(
    "text",
    [
        "a town of 15,000 euros a year",  # money, not people
        "a castle of about 700 years",
        "Kaimiņi palīdz kaimiņiem",  # Latvian: neighbours
        "kaimynai kalbasi kieme",  # Lithuanian: neighbours
        "muuseumi külastajad talvel",  # Estonian: visitors
        "külalised tulid kaugelt",  # Estonian: guests
        "samotność w ciemnej porze roku",  # Polish: dark
        "a festival run by volunteers",  # English "by"
        "byen har 8 kirker",  # Danish and Norwegian "by": a town
    ],
)
def test_words_that_only_look_like_a_size(text: str) -> None:
    assert "size" not in _read(text)


def test_words_that_only_look_like_a_budget() -> None:
    assert "budget" not in _read("pigem noortele kui vanematele")  # Estonian: rather
    # a sum the question has is no limit on what a practice may cost
    assert "budget" not in _read("we have around 100,000 euros from a regional fund")
    assert _read("pigios idėjos")["budget"] == ["under-10k"]  # Lithuanian: cheap


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
        if plain.startswith(c.NOT_NAMES):
            continue
        point = c.DIRECTION.match(plain)
        rest = plain[point.end() :] if point else ""
        for code, prefix in c._country_prefixes():
            proper = len(prefix) >= c.SHORT_NAME or word[:1].isupper()
            if proper and plain.startswith(prefix) and len(plain) - len(prefix) <= c.NAME_ENDING:
                found.setdefault(code, word)
            long = len(prefix) >= c.SHORT_NAME
            if long and rest.startswith(prefix) and len(rest) - len(prefix) <= c.NAME_ENDING:
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
        "Nordschweden",
        "pohjoissuomessa",
        "Norrland",
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


def test_a_size_in_numbers_is_met_by_towns_of_comparable_size_not_by_its_band() -> None:
    read = read_constraints("I mentor a Finnish town of about 6,000", {})
    size = next(c for c in read if c.kind == "size")
    assert size.population == 6_000 and size.filter == {
        "population_min": ["5000"],
        "population_max": ["19999"],
    }
    comparable = [
        p for p in (1_500, 2_500, 4_900, 17_000, 25_000) if met(read, (p, "", ""), frozenset())
    ]
    assert comparable == [2_500, 4_900, 17_000]
    # a size in words keeps its band
    village = read_constraints("our village has lost its shop", {})
    assert met(village, (4_900, "", ""), frozenset()) == ["size"]
    assert met(village, (5_100, "", ""), frozenset()) == []


def test_a_village_is_shown_and_filtered_on_but_lifts_nothing() -> None:
    read = {c.kind: c for c in read_constraints("cheap ideas for our village school in Latvia", {})}
    assert read["size"].filter == {"population_max": ["4999"]}
    assert [kind for kind, c in read.items() if c.lifts] == ["budget", "country"]
    numbers = read_constraints("ideas for a town of 3,000 people", {})
    assert [c.kind for c in numbers if c.lifts] == ["size"]
