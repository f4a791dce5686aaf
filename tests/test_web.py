"""Web pages rendered by the server (no browser): status codes, empty and error states, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.web.app import create_app

from .fakes import HashingEmbedder


@pytest.fixture(scope="module")
def client(real_settings: Settings, real_embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(real_settings, lambda: real_embedder)) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/", 200, "Describe your town's challenge"),
        ("/?q=lonely+older+people", 200, "practices match"),
        ("/?q=lonely&partial=1", 200, 'id="partial-results"'),
        ("/?q=" + "x" * 1001, 400, "at most 1000 are allowed"),
        ("/?q=library&country=XX", 400, "unknown country code"),
        ("/?q=library&page=abc", 400, "not valid"),
        ("/practices/svendborg-twelve-week-culture-rooms", 200, "Similar practices"),
        ("/practices/nope", 404, "no practice with id"),
        ("/towns", 200, "<svg"),
        ("/towns/svendborg", 200, "Experienced mentors"),
        ("/towns/atlantis", 404, "no city with id"),
        ("/recommend", 200, "Your draft action plan"),
        ("/no/such/page", 404, "There is no page"),
    ],
)
def test_pages(client: TestClient, path: str, status: int, text: str) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert text in response.text


def test_no_results_state(client: TestClient) -> None:
    page = client.get("/?q=library&country=EE&challenge=disability-inclusion&asset=islands").text
    assert "<strong>No practices match.</strong>" in page
    assert 'class="hit"' not in page and 'id="total"' not in page


def test_a_question_that_matches_nothing_says_so_and_offers_the_closest_ideas(
    client: TestClient,
) -> None:
    page = client.get("/", params={"q": "xyzzy qwerty"}).text
    assert "<strong>Nothing matched your question.</strong>" in page
    assert "Closest ideas (they do not match your question)" in page
    assert 1 <= page.count('class="hit"') <= 5 and 'id="total"' not in page


def test_understood_constraints_link_to_their_filters(client: TestClient) -> None:
    q = "cheap ideas for our village in the Baltic states"
    page = client.get("/", params={"q": q}).text
    links = dict(re.findall(r'class="tag tag-constraint" data-kind="(\w+)" href="([^"]+)"', page))
    assert {"size", "budget", "country"} <= set(links)
    assert links["size"].endswith("size=village")
    applied = client.get(links["budget"].replace("&amp;", "&")).text
    assert 'class="tag tag-constraint tag-applied" data-kind="budget"' in applied
    assert 'value="under-10k" checked' in applied and "Clear all filters" in applied


def test_every_facet_value_is_reachable(client: TestClient) -> None:
    page = client.get("/", params={"q": "older people feel lonely in winter"}).text
    challenge = page.split('data-facet="challenge"')[1].split("</fieldset>")[0]
    assert "<summary>Show " in challenge
    # the question's understood term comes first
    first = re.search(r'name="challenge" value="([^"]+)"', challenge)
    assert first and first.group(1) == "loneliness"


def test_pagination_links_keep_the_filters(client: TestClient) -> None:
    page = client.get("/?q=young+people+leave&size=small").text
    link = re.search(r'<a rel="next" href="([^"]+)"', page)
    assert link and set(link.group(1).replace("&amp;", "&")[2:].split("&")) == {
        "q=young+people+leave",
        "size=small",
        "page=2",
    }


def test_recommend_form_round_trip(client: TestClient) -> None:
    form = {
        "country": "LV",
        "population": "4000",
        "challenges": "youth-out-migration",
        "text": "An open-air stage and a choir.",
    }
    page = client.post("/recommend", data=form).text
    assert (
        "What we understood" in page
        and "Open-air stage" in page
        and "Recommended practices" in page
    )
    bad = client.post("/recommend", data={"population": "lots", "text": "x"})
    assert bad.status_code == 400 and "not a whole number" in bad.text


def test_no_index_page_says_what_to_do(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    with TestClient(create_app(Settings(index_dir=tmp_path / "none"), lambda: fake_embedder)) as c:
        response = c.get("/")
        assert response.status_code == 503 and "practice-finder ingest" in response.text


def test_record_text_is_escaped(tiny: Settings) -> None:
    """A record whose text holds HTML and script is shown as text, on every page that shows it."""
    path = tiny.corpus_dir / "practices" / "testby-library-evenings.md"
    text = path.read_text()
    text = text.replace(
        "title: Library evenings against loneliness",
        'title: "Library <b>evenings</b> <script>alert(1)</script>"',
    )
    text = text.replace("Forty regular guests", "<img src=x onerror=alert(2)> Forty regular guests")
    text = text.replace(
        "The town library opened", "The <script>alert(3)</script> town library opened"
    )
    path.write_text(text)
    embedder = HashingEmbedder()
    ingest(tiny, lambda: embedder)
    with TestClient(create_app(tiny, lambda: embedder)) as c:
        for url in ("/?q=library+evenings", "/practices/testby-library-evenings", "/towns/testby"):
            page = c.get(url).text
            assert (
                "<script>alert" not in page
                and "<img src=x" not in page
                and "<b>evenings</b>" not in page
            ), url
        assert (
            "&lt;script&gt;alert(1)&lt;/script&gt;"
            in c.get("/practices/testby-library-evenings").text
        )


def test_results_show_their_language_and_filter_by_it(client: TestClient) -> None:
    page = client.get("/", params={"q": "samotność seniorów"}).text
    assert "question read as Polish" in page
    assert 'data-facet="language"' in page and 'value="pl"' in page
    only = client.get("/", params={"q": "samotność seniorów", "language": "pl"}).text
    titles = re.findall(r'<h3><a href="/practices/[^"]+" lang="([a-z]+)"', only)
    assert titles and set(titles) == {"pl"}
    badges = re.findall(
        r'<span class="lang" title="Written in ([A-Za-z ()]+)">([A-Z]{2})</span>', only
    )
    assert len(badges) == len(titles) and set(badges) == {("Polish", "PL")}, (
        "results in other languages carry a language badge"
    )


def test_a_practice_page_says_its_language(client: TestClient) -> None:
    page = client.get("/practices/goldap-sluchowiska-seniorow-o-powojennych-przyjazdach").text
    assert 'lang="pl"' in page and "written in Polish" in page
