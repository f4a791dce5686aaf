"""Views, one town request shape and the thin edges, on the tiny corpus with the hashing embedder.

A view makes what one page shows with one call: the town's profile is built once, its record read once
and its text encoded once (a corpus city's vector is read, never encoded), shared by recommendations
and both kinds of peers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.errors import InvalidQueryError
from practice_finder.query import profiles, reads, views
from practice_finder.query.checks import check_countries, check_k, country_codes
from practice_finder.query.handle import Index, open_index
from practice_finder.query.peers import PeersRequest, peers_for
from practice_finder.query.profiles import ProfileIn
from practice_finder.query.recommend import Recommendation, RecommendationRequest, recommend
from practice_finder.query.search import Hit
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, write_tiny_corpus

DESCRIBED = {
    "population": 4000,
    "lat": 57.0,
    "lon": 25.0,
    "challenges": ["loneliness"],
    "text": "Older people in the villages are lonely since the bus line closed.",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The tiny corpus indexed once for this module."""
    root = tmp_path_factory.mktemp("views")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "indexes", progress=False)
    ingest(settings, HashingEmbedder)
    return settings


@pytest.fixture(scope="module")
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="module")
def index(built: Settings, embedder: HashingEmbedder) -> Iterator[Index]:
    opened = open_index(built, lambda: embedder)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(built: Settings, embedder: HashingEmbedder) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(built, lambda: embedder, watch=False)) as c:
        yield c


def _encodes(embedder: HashingEmbedder, call: Any) -> tuple[Any, int]:
    """What `call()` returns and how many texts it encoded (a described town's pieces are encoded one at a
    time, behind the questions: see query.admission)."""
    before = embedder.embedded
    result = call()
    return result, embedder.embedded - before


@pytest.fixture(scope="module")
def one_town(index: Index, embedder: HashingEmbedder) -> int:
    """The texts one encoding of the described town takes (its tag labels and its text's passages)."""
    town = profiles.from_input(index, ProfileIn(**DESCRIBED))  # type: ignore[arg-type]
    text = str(DESCRIBED["text"])
    _, texts = _encodes(embedder, lambda: profiles.profile_vector(index, town, text))
    assert texts >= 1
    return texts


def _counting(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, counts: dict[str, int]
) -> None:
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[name] = counts.get(name, 0) + 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


# -- views: one call, everything read and encoded once ----------------------------------------------------


def test_town_view_reads_the_city_once_and_encodes_nothing(
    index: Index, embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts: dict[str, int] = {}
    for module in (views, profiles):
        _counting(monkeypatch, module, "get_city", counts)
    _counting(monkeypatch, profiles, "profile_vector", counts)
    _counting(monkeypatch, profiles, "city_text", counts)
    view, encoded = _encodes(embedder, lambda: views.town_view(index, "testby"))
    assert encoded == 0  # a corpus city's vector is the stored one of its plan
    assert counts == {"get_city": 1, "profile_vector": 1, "city_text": 1}
    assert view.city.id == "testby" and [p.id for p in view.plans] == ["testby-cureap-2025"]
    assert view.similar.mode == "similar" and view.mentors.mode == "mentors"
    assert view.similar == peers_for(index, PeersRequest(city="testby", k=6))


def test_recommendation_view_encodes_a_described_town_once(
    index: Index, embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch, one_town: int
) -> None:
    counts: dict[str, int] = {}
    _counting(monkeypatch, profiles, "from_input", counts)
    request = RecommendationRequest(profile=ProfileIn(**DESCRIBED), k=3)  # type: ignore[arg-type]
    view, encoded = _encodes(embedder, lambda: views.recommendation_view(index, request))
    assert encoded == one_town and counts == {"from_input": 1}
    assert view.result == recommend(index, request)  # the same as the one-off call
    assert view.similar == peers_for(index, PeersRequest(profile=ProfileIn(**DESCRIBED), k=5))  # type: ignore[arg-type]
    assert view.mentors.mode == "mentors"


def test_recommendation_view_for_a_corpus_city_encodes_nothing(
    index: Index, embedder: HashingEmbedder
) -> None:
    request = RecommendationRequest(city="testby", k=2)
    view, encoded = _encodes(embedder, lambda: views.recommendation_view(index, request))
    assert encoded == 0 and view.result.profile.city == "testby"
    assert view.result == recommend(index, request)


def test_practice_view(index: Index) -> None:
    view = views.practice_view(index, "testby-library-evenings", similar_k=2)
    assert view.practice == reads.get_practice(index, "testby-library-evenings")
    assert view.similar == reads.similar_practices(index, "testby-library-evenings", 2)


def test_views_check_their_requests_first(index: Index) -> None:
    with pytest.raises(InvalidQueryError) as both:
        views.recommendation_view(
            index, RecommendationRequest(city="testby", profile=ProfileIn(text="x"))
        )
    assert both.value.parameter == "body"
    with pytest.raises(InvalidQueryError) as k:
        views.recommendation_view(index, RecommendationRequest(city="testby", k=0))
    assert k.value.parameter == "k"


# -- pages and routes: one core call, one encoding per request ----------------------------------------


def test_recommendation_page_encodes_the_town_once(
    client: TestClient[Any], embedder: HashingEmbedder, one_town: int
) -> None:
    form = {
        "name": "Example",
        "population": "4000",
        "challenges": ["loneliness"],
        "text": DESCRIBED["text"],
    }
    response, encoded = _encodes(embedder, lambda: client.post("/recommend", data=form))
    assert response.status_code == 200, response.text
    assert encoded == one_town


def test_town_page_encodes_nothing(client: TestClient[Any], embedder: HashingEmbedder) -> None:
    response, encoded = _encodes(embedder, lambda: client.get("/towns/testby"))
    assert response.status_code == 200 and "Comparable towns" in response.text
    assert encoded == 0


def test_peers_of_a_described_town_encode_it_once(
    client: TestClient[Any], embedder: HashingEmbedder, one_town: int
) -> None:
    response, encoded = _encodes(
        embedder, lambda: client.post("/v1/peers", json={"profile": DESCRIBED, "k": 3})
    )
    assert response.status_code == 200 and encoded == one_town


# -- one town request shape --------------------------------------------------------------------------------


def test_peers_take_a_town_as_recommendations_do(client: TestClient[Any]) -> None:
    by_profile = client.post("/v1/peers", json={"profile": DESCRIBED, "k": 3}).json()
    flat = client.post("/v1/peers", json={**DESCRIBED, "k": 3}).json()  # the deprecated shape
    assert by_profile == flat and by_profile["profile"]["source"] == "profile"
    by_city = client.post("/v1/peers", json={"city": "testby", "mode": "mentors"}).json()
    assert by_city == client.get("/v1/cities/testby/peers", params={"mode": "mentors"}).json()
    assert by_city["profile"]["city"] == "testby"
    filtered = client.post(
        "/v1/peers", json={"profile": DESCRIBED, "country_filter": ["dk"]}
    ).json()
    assert {p["country"] for p in filtered["peers"]} <= {"DK"}


@pytest.mark.parametrize(
    ("body", "parameter", "words"),
    [
        ({}, "body", "`city`"),
        ({"k": 3, "mode": "mentors"}, "body", "`profile`"),
        ({"city": "testby", "profile": DESCRIBED}, "body", "exactly one"),
        ({"profile": DESCRIBED, "population": 5}, "body", "inside `profile`"),
        ({"profile": DESCRIBED, "k": 0}, "k", "between 1 and 50"),
        ({"profile": DESCRIBED, "country_filter": ["ru"]}, "country", "'RU'"),
        ({"profile": {**DESCRIBED, "country": "RU"}}, "profile.country", "'RU'"),
        ({"city": "testby", "colour": "blue"}, "body", "colour"),
    ],
)
def test_bad_peer_requests_are_400_naming_the_field(
    client: TestClient[Any], body: dict[str, Any], parameter: str, words: str
) -> None:
    response = client.post("/v1/peers", json=body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem.get("parameter", "body") == parameter and words in problem["detail"], problem


def test_unknown_city_for_peers_is_404(client: TestClient[Any]) -> None:
    assert client.post("/v1/peers", json={"city": "atlantis"}).status_code == 404


def test_the_old_peers_shape_is_marked_deprecated_in_the_openapi_document(
    client: TestClient[Any],
) -> None:
    spec = client.get("/schema/openapi.json").json()
    body = spec["paths"]["/v1/peers"]["post"]["requestBody"]["content"]["application/json"]
    schema = spec["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    fields = schema["properties"]
    old = {name for name, field in fields.items() if field.get("deprecated")}
    assert old == set(ProfileIn.__struct_fields__)
    assert {"city", "profile", "mode", "k", "country_filter"} <= set(fields) - old
    recommendation = spec["paths"]["/v1/recommendations"]["post"]["requestBody"]["content"]
    assert recommendation["application/json"]["schema"]["$ref"].endswith("RecommendationRequest")


# -- checks written once ----------------------------------------------------------------------------------


def test_checks_name_the_parameter() -> None:
    with pytest.raises(InvalidQueryError, match="must be between 1 and 50, got 51") as k:
        check_k(51, 50)
    assert k.value.parameter == "k"
    with pytest.raises(InvalidQueryError, match="unknown country code 'XX'") as country:
        check_countries(["LV", "XX"], "profile.country")
    assert country.value.parameter == "profile.country"
    assert country_codes(["lv", "Ee"]) == ("LV", "EE")


# -- one base for the practice response shapes --------------------------------------------------------------


def test_practice_shapes_share_one_base() -> None:
    shapes = (reads.PracticeSummary, reads.PracticeDetail, Hit, Recommendation)
    base = set(reads.PracticeBase.__struct_fields__)
    for shape in shapes:
        assert issubclass(shape, reads.PracticeBase) and base <= set(shape.__struct_fields__)
    assert base == {
        "id",
        "title",
        "municipality",
        "country",
        "years",
        "summary",
        "city",
        "language",
    }


def test_practice_json_keeps_its_fields(client: TestClient[Any]) -> None:
    practice = client.get("/v1/practices/testby-library-evenings").json()
    assert {"id", "title", "population", "city", "city_name", "tags", "what_happened"} <= set(
        practice
    )
    similar = client.get("/v1/practices/testby-library-evenings/similar", params={"k": 1}).json()
    base = {"id", "title", "municipality", "country", "years", "summary", "city", "language"}
    assert set(similar[0]) == base | {"score"}
    hit = client.get("/v1/search", params={"q": "library evenings"}).json()["hits"][0]
    assert base <= set(hit) and {"snippet", "why", "population", "language"} <= set(hit)


def test_handlers_get_the_service_by_injection() -> None:
    """No handler reaches into the application's state: they name `service`, `index` or `metrics`."""
    web = Path(__file__).resolve().parents[1] / "src" / "practice_finder" / "web"
    for name in ("api_reads.py", "api_writes.py", "pages.py"):
        assert "app.state" not in (web / name).read_text(), name


def test_similar_practices_fuse_meaning_and_shared_tags(index: Index) -> None:
    ids = sorted(index.practice_language)
    found = reads.similar_practices(index, ids[0], 5)
    assert {p.id for p in found} == set(ids[1:])
    # the tiny corpus's practices all declare the same assets and theme: the tag ranking keeps the meaning
    # order, so the first suggestion is first in both and scores 1
    meaning = reads.similar_in_meaning(index, ids[0])
    assert reads.shared_tag_leg(index, ids[0], meaning) == meaning == [p.id for p in found]
    scores = [p.score for p in found]
    assert scores[0] == 1.0 and scores == sorted(scores, reverse=True) and scores[-1] > 0
