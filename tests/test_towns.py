"""The towns page: the map's projection, outlines and markers, its zoom, and the filters it shares
with the list (tiny corpus with a second town, fake embedder: fast)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.web.app import create_app
from practice_finder.web.townmap import MARKER_KM, PEARL, PROJECT, View, outlines, spread

from .conftest import CORPUS
from .fakes import CITY, HashingEmbedder, write_tiny_corpus

# a second town: Latvian, a village, a Cultural Pearl, with another challenge than Testby's
VILLAGE = (
    CITY.replace("id: testby", "id: ciems")
    .replace("name: Testby", "name: Ciems")
    .replace("country: DK", "country: LV")
    .replace("Region of Southern Denmark", "Vidzeme")
    .replace("population: 12000", "population: 3000")
    .replace("lat: 55.1", "lat: 57.3")
    .replace("lon: 10.6", "lon: 25.3")
    .replace("challenges: [loneliness]", "challenges: [youth-out-migration]")
    .replace("pearl_year: null", "pearl_year: 2025")
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("towns")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    (root / "corpus" / "cities" / "ciems.md").write_text(VILLAGE, encoding="utf-8")
    settings = Settings(
        corpus_dir=root / "corpus",
        index_dir=root / "indexes",
        progress=False,
        dictionaries_dir=root / "no-dictionaries",
    )
    embedder = HashingEmbedder()
    ingest(settings, lambda: embedder)
    with TestClient(create_app(settings, lambda: embedder)) as c:
        yield c


def town(name: str, lat: float, lon: float, country: str = "LV") -> SimpleNamespace:
    return SimpleNamespace(name=name, lat=lat, lon=lon, country=country)


def test_the_projection_keeps_north_up_and_east_right() -> None:
    riga, stockholm, oulu = PROJECT(24.1, 56.95), PROJECT(18.07, 59.33), PROJECT(25.47, 65.01)
    assert riga[0] > stockholm[0] and oulu[1] < riga[1] < PROJECT(24.1, 54.0)[1]
    # one unit is about one kilometre: Riga to Tallinn is about 280 km
    assert 260 < math.dist(riga, PROJECT(24.75, 59.44)) < 300


def test_the_outlines_are_natural_earth_land_coasts_and_borders() -> None:
    drawn = outlines()
    names = {country["name"] for country in drawn["land"]}
    assert {"Latvia", "Sweden", "Finland", "Denmark", "Poland"} <= names
    assert drawn["coast"].startswith("M") and drawn["border"].startswith("M")
    assert "Natural Earth" in drawn["source"]


def test_overlapping_towns_are_spread_until_none_overlaps() -> None:
    radius = MARKER_KM
    towns = [town(f"t{i}", 57.0 + i * 0.02, 24.0 + (i % 3) * 0.03) for i in range(7)]
    towns.append(town("alone", 60.0, 20.0, "FI"))
    markers = spread(towns, radius)
    assert [m.town.name for m in markers] == [t.name for t in towns]
    centres = [(m.x, m.y) for m in markers]
    closest = min(math.dist(a, b) for i, a in enumerate(centres) for b in centres[:i])
    assert closest >= 2 * radius * PEARL - 0.2  # rounding to 0.1 km
    assert sum(m.moved for m in markers) == 7 and not markers[-1].moved


def test_a_view_stays_inside_the_region() -> None:
    assert View.of(9, 0.5, 0.5).zoom == 4 and View.of(0, 0.5, 0.5).zoom == 1
    assert View.of(2, float("nan"), float("inf")) == View(2, 0.5, 0.5)
    assert View.fitting([]) == View()
    corner = View.of(2, 0.0, 1.0)
    assert (corner.x, corner.y) == (0.25, 0.75)
    moves = corner.moves()
    assert moves["west"] is None and moves["south"] is None
    assert moves["east"] == View(2, 0.5, 0.75) and moves["in"] == View(4, 0.25, 0.75)
    assert View().moves()["out"] is None and View().moves()["east"] is None


def _map_towns(page: str) -> list[str]:
    return re.findall(r'<a href="/towns/(\w+)[^"]*" tabindex="-1" aria-label=', page)


def _list_towns(page: str) -> list[str]:
    listing = page.split('id="town-list"', 1)[1]
    return re.findall(r'<li><a href="/towns/(\w+)', listing)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["ciems", "testby"]),
        ("?country=LV", ["ciems"]),
        ("?country=LV&country=DK", ["ciems", "testby"]),
        ("?size=village", ["ciems"]),
        ("?size=small", ["testby"]),
        ("?pearl=true", ["ciems"]),
        ("?challenge=loneliness", ["testby"]),
        ("?challenge=loneliness&country=LV", []),
    ],
)
def test_filters_choose_the_towns_of_the_map_and_the_list(
    client: TestClient, query: str, expected: list[str]
) -> None:
    page = client.get("/towns" + query).text
    assert sorted(_map_towns(page)) == expected and sorted(_list_towns(page)) == expected
    assert f"Towns shown: {len(expected)} of 2" in page
    assert ("No town matches these filters." in page) == (not expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["ciems", "testby"]),
        ({"country": "LV,DK"}, ["ciems", "testby"]),
        ({"population_max": 5000}, ["ciems"]),
        ({"population_min": 5000, "population_max": 12000}, ["testby"]),
        ({"pearl": "true"}, ["ciems"]),
        ({"challenge": "loneliness"}, ["testby"]),
        ({"challenge": ["loneliness", "youth-out-migration"]}, ["ciems", "testby"]),
        ({"challenge": "loneliness", "country": "LV"}, []),
    ],
)
def test_the_api_filters_towns_as_the_page_does(
    client: TestClient, query: dict[str, object], expected: list[str]
) -> None:
    """The portal builds its own towns page from GET /v1/cities: the same filters as /towns."""
    response = client.get("/v1/cities", params=query)
    assert response.status_code == 200
    assert sorted(c["id"] for c in response.json()) == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"challenge": "no-such-challenge"}, "challenge"),
        ({"population_min": 9000, "population_max": 100}, "population"),
    ],
)
def test_a_town_filter_that_cannot_apply_is_a_400_naming_it(
    client: TestClient, query: dict[str, object], parameter: str
) -> None:
    response = client.get("/v1/cities", params=query)
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter


def test_the_map_draws_land_and_holds_named_markers_outside_the_tab_order(
    client: TestClient,
) -> None:
    page = client.get("/towns").text
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' not in svg and 'role="group"' in svg
    assert svg.count('class="land"') > 10 and 'class="coast"' in svg and 'class="border"' in svg
    assert 'aria-label="Ciems, Latvia, 3,000 inhabitants, Cultural Pearl 2025"' in svg
    assert svg.count('tabindex="-1"') == 2


def _view_box(page: str) -> list[float]:
    found = re.search(r'viewBox="([-\d. ]+)"', page)
    assert found, "no view box"
    return [float(v) for v in found.group(1).split()]


def test_zoom_links_keep_the_filters(client: TestClient) -> None:
    page = client.get("/towns?country=LV&pearl=true&zoom=2&x=0.5&y=0.5").text.replace("&amp;", "&")
    zoom_in = re.search(r'href="([^"]+)" data-move="in"', page)
    assert zoom_in and zoom_in.group(1) == "/towns?country=LV&pearl=true&zoom=4&x=0.5&y=0.5"
    assert 'href="/towns?country=LV&pearl=true&zoom=1" data-move="all"' in page
    whole, zoomed = _view_box(client.get("/towns?zoom=1").text), _view_box(page)
    assert zoomed[2] == pytest.approx(whole[2] / 2, abs=0.2)


def test_the_map_fits_the_towns_the_filters_keep(client: TestClient) -> None:
    whole = _view_box(client.get("/towns").text)
    assert 'data-zoom="1"' in client.get("/towns").text
    latvian = client.get("/towns?country=LV").text
    assert 'data-zoom="4"' in latvian
    left, top, width, height = _view_box(latvian)
    x, y = PROJECT(25.3, 57.3)  # Ciems
    assert left < x < left + width and top < y < top + height and width < whole[2] / 3


def test_the_filters_speak_the_language_of_the_page(client: TestClient) -> None:
    page = client.get("/towns", params={"lang": "lv", "country": "LV"}).text
    assert "Lietot filtrus" in page and 'name="lang" value="lv"' in page
    assert "Redzamas pašvaldības: 1 no 2" in page


def test_pages_and_answers_travel_compressed_to_a_client_that_accepts_it(
    client: TestClient,
) -> None:
    """The towns page (its map is the largest page) and a search answer, gzip-compressed when the client
    says it accepts gzip, the same bytes once decompressed; a client that does not gets them plain."""
    for path in ("/towns", "/v1/search?q=loneliness"):
        packed = client.get(path, headers={"accept-encoding": "gzip"})
        plain = client.get(path, headers={"accept-encoding": "identity"})
        assert packed.headers["content-encoding"] == "gzip", path
        assert "Accept-Encoding" in packed.headers["vary"]
        assert "content-encoding" not in plain.headers
        assert int(packed.headers["content-length"]) < len(plain.content) / 2
        if path == "/towns":  # httpx decompresses what it receives
            assert packed.content == plain.content
        else:  # an answer carries its own timings
            assert packed.json()["hits"] == plain.json()["hits"]
    head = client.head("/towns", headers={"accept-encoding": "gzip"})
    assert head.status_code == 200 and head.content == b""
    # a page with a CSRF token beside what the visitor typed is never compressed (BREACH)
    form = client.get("/submit", headers={"accept-encoding": "gzip"})
    assert form.status_code == 200 and "content-encoding" not in form.headers
