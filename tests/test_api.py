"""The JSON API on the real model and corpus: routes, problem details, OpenAPI and offline docs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from practice_finder.config import DEFAULT_MODEL, Settings
from practice_finder.query.search import MMR_POOL
from practice_finder.web.app import create_app

from .fakes import HashingEmbedder

YOUTH = "young people leave our small town, how can culture keep them"


@pytest.fixture(scope="module")
def client(real_settings: Settings, real_embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(real_settings, lambda: real_embedder)) as c:
        yield c


def _problem(response, status: int, parameter: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    if parameter:
        assert body["parameter"] == parameter
    return body  # type: ignore[no-any-return]


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready").json()
    assert ready["ready"] and ready["manifest"]["model"]["name"] == DEFAULT_MODEL


def test_a_lone_quick_read_runs_on_the_event_loop_and_one_among_others_in_a_worker_thread() -> None:
    import asyncio
    import threading
    from types import SimpleNamespace

    from practice_finder.web.api_reads import run_core

    async def thread_of_call(active: int) -> tuple[int, int]:
        metrics = SimpleNamespace(active=active)
        return await run_core(metrics, threading.get_ident), threading.get_ident()  # type: ignore[arg-type]

    called, loop = asyncio.run(thread_of_call(1))
    assert called == loop
    called, loop = asyncio.run(thread_of_call(3))
    assert called != loop


def test_requests_in_progress_are_counted_and_released(client: TestClient) -> None:
    for _ in range(3):
        assert client.get("/v1/search", params={"q": YOUTH}).status_code == 200
    # a request that fails is released too
    assert client.get("/v1/practices/nope").status_code == 404
    assert "pf_http_requests_in_progress 1.0" in client.get("/metrics").text  # the scrape itself


def test_search_hits_snippets_reasons_and_facets(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": YOUTH, "k": 5}).json()
    assert len(body["hits"]) == 5 and body["total"] >= 5
    hit = body["hits"][0]
    assert "<mark>" in hit["snippet"]
    assert hit["why"]["challenges"] == ["youth-out-migration"]
    assert set(hit["why"]["ranks"]) == {"dense", "lexical", "taxonomy"}
    assert sum(body["facets"]["country"].values()) == body["total"]
    assert body["facets"]["challenge"]["youth-out-migration"] >= 5
    assert (
        sum(body["facets"]["language"].values()) == body["total"] and body["query_language"] == "en"
    )


def test_search_in_another_language_with_a_language_filter(client: TestClient) -> None:
    body = client.get(
        "/v1/search", params={"q": "Einsamkeit älterer Menschen", "language": "de,da"}
    ).json()
    assert body["query_language"] == "de" and "loneliness" in body["understood"]["challenges"]
    assert body["hits"] and {h["language"] for h in body["hits"]} <= {"de", "da"}
    # the other facets count the German and Danish practices only; the language facet, without its own
    # filter, what each other language would add
    assert sum(body["facets"]["country"].values()) == body["total"]
    assert "en" in body["facets"]["language"]
    practice = client.get(f"/v1/practices/{body['hits'][0]['id']}").json()
    assert (
        practice["language"] in {"de", "da"}
        and practice["detected_language"] == practice["language"]
    )


def test_filters_apply_before_the_cut(client: TestClient) -> None:
    params = {"q": YOUTH, "k": 6, "country": "EE,LV", "population_max": 20000}
    body = client.get("/v1/search", params=params).json()
    assert len(body["hits"]) == 6
    assert {h["country"] for h in body["hits"]} <= {"EE", "LV"} and all(
        h["population"] <= 20000 for h in body["hits"]
    )
    assert {"EE", "LV"} < set(body["facets"]["country"])
    assert sum(body["facets"]["language"].values()) == body["total"]


def test_facet_counts_follow_filters(client: TestClient) -> None:
    whole = client.get("/v1/search", params={"q": "choir", "k": 3}).json()
    narrowed = client.get(
        "/v1/search", params={"q": "choir", "k": 3, "challenge": "loneliness"}
    ).json()
    assert narrowed["total"] < whole["total"]
    assert narrowed["total"] == narrowed["facets"]["challenge"]["loneliness"]


def test_the_match_set_has_a_meaning(client: TestClient) -> None:
    nonsense = client.get("/v1/search", params={"q": "xyzzy qwerty"}).json()
    assert nonsense["total"] == 0 and not nonsense["hits"] and not nonsense["facets"]["country"]
    assert 1 <= len(nonsense["closest"]) <= 5
    choir = client.get("/v1/search", params={"q": "choir"}).json()
    storm = client.get("/v1/search", params={"q": "storm flooding in the harbour"}).json()
    assert 0 < choir["total"] < 100 and choir["closest"] == []
    assert choir["facets"]["country"] != storm["facets"]["country"]
    assert all(hit["why"]["matched"] for hit in choir["hits"])


def test_facets_are_disjunctive(client: TestClient) -> None:
    whole = client.get("/v1/search", params={"q": "choir"}).json()["facets"]["country"]
    latvia = client.get("/v1/search", params={"q": "choir", "country": "LV"}).json()
    # with country=LV the country facet still lists the other countries, counted as without it
    assert latvia["facets"]["country"] == whole and len(whole) > 1
    assert latvia["total"] == whole["LV"]
    both = client.get("/v1/search", params={"q": "choir", "country": "LV,EE"}).json()
    assert both["total"] == whole["LV"] + whole["EE"]
    assert {h["country"] for h in both["hits"]} == {"LV", "EE"}


def test_constraints_read_from_the_question(client: TestClient) -> None:
    q = "cheap ideas for older people in our village in the Baltic states"
    body = client.get("/v1/search", params={"q": q, "k": 20}).json()
    read = {c["kind"]: c for c in body["constraints"]}
    assert read["size"]["values"] == ["village"] and read["size"]["filter"] == {
        "population_max": ["4999"]
    }
    assert read["budget"]["filter"] == {"budget": ["under-10k"]}
    assert sorted(read["country"]["values"]) == ["EE", "LT", "LV"]
    assert "older-people" in read["target_group"]["values"]
    moved = [h for h in body["hits"] if h["why"].get("moved_by_constraints", 0) > 0]
    assert moved and all(h["why"]["constraints"] for h in moved)
    # each constraint's filter is the API's own parameters
    narrowed = client.get(
        "/v1/search", params={"q": q, **read["budget"]["filter"], **read["country"]["filter"]}
    ).json()
    assert narrowed["total"] and all(h["country"] in {"EE", "LV", "LT"} for h in narrowed["hits"])


def test_diversify_reorders_but_keeps_the_candidates(client: TestClient) -> None:
    query = "floods and climate anxiety"  # a head of alike practices: diversify reorders six of ten
    plain = client.get("/v1/search", params={"q": query, "k": 10}).json()
    varied = client.get("/v1/search", params={"q": query, "k": 10, "diversify": "true"}).json()
    pool = client.get("/v1/search", params={"q": query, "k": MMR_POOL}).json()
    ids, varied_ids = [h["id"] for h in plain["hits"]], [h["id"] for h in varied["hits"]]
    assert varied_ids[0] == ids[0] and varied["total"] == plain["total"]
    assert varied_ids != ids  # the order changed ...
    assert set(varied_ids) <= {h["id"] for h in pool["hits"]}  # ... among the same candidates


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"q": ""}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "library", "k": 0}, "k"),
        ({"q": "library", "k": 101}, "k"),
        ({"q": "library", "k": "ten"}, "k"),
        ({"q": "library", "country": "XX"}, "country"),
        ({"q": "library", "asset": "spaceport"}, "asset"),
        ({"q": "library", "language": "xx"}, "language"),
        ({"q": "library", "mode": "magic"}, "mode"),
        ({"q": "library", "population_min": 5000, "population_max": 10}, "population"),
        ({}, "q"),
    ],
)
def test_bad_search_parameters_are_400_naming_them(
    client: TestClient, params: dict, parameter: str
) -> None:  # type: ignore[type-arg]
    _problem(client.get("/v1/search", params=params), 400, parameter)


def test_records(client: TestClient) -> None:
    practice = client.get("/v1/practices/rujiena-courtyard-meet-your-neighbour").json()
    assert practice["city"] == "rujiena" and practice["city_name"] == "Rūjiena"
    assert "loneliness" in practice["tags"]["declared"]["challenges"]
    similar = client.get(
        "/v1/practices/rujiena-courtyard-meet-your-neighbour/similar", params={"k": 4}
    ).json()
    assert len(similar) == 4 and "rujiena-courtyard-meet-your-neighbour" not in {
        s["id"] for s in similar
    }
    cities = client.get("/v1/cities").json()
    assert len(cities) >= 60 and sum(1 for c in cities if c["pearl_year"]) == 14
    assert {c["country"] for c in client.get("/v1/cities", params={"country": "NO"}).json()} == {
        "NO"
    }
    city = client.get("/v1/cities/rujiena").json()
    assert (
        city["pearl_year"] == 2024
        and city["practices"]
        and city["plans"][0]["id"] == "rujiena-cureap-2024"
    )
    plan = client.get("/v1/plans/rujiena-cureap-2024").json()
    assert set(plan["sections"]) >= {"local_context", "actions", "expected_outcomes"}
    taxonomy = client.get("/v1/taxonomy").json()
    assert {"challenges", "assets", "themes", "target_groups", "participation"} == set(taxonomy)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/practices/nope",
        "/v1/practices/nope/similar",
        "/v1/cities/atlantis",
        "/v1/cities/atlantis/peers",
        "/v1/plans/nope",
        "/v1/nothing-here",
    ],
)
def test_unknown_ids_are_404(client: TestClient, path: str) -> None:
    _problem(client.get(path), 404)


def test_recommendations_for_a_corpus_city(client: TestClient) -> None:
    body = client.post("/v1/recommendations", json={"city": "smiltene", "k": 5}).json()
    recs = body["recommendations"]
    assert len(recs) == 5 and not {r["id"] for r in recs} & set(body["excluded_own_practices"])
    assert all(r["city"] != "smiltene" for r in recs)
    assert all(r["reason"] and (r["addresses_challenges"] or r["builds_on_assets"]) for r in recs)
    assert body["profile"]["challenges"] and body["profile"]["population"]


def test_recommendations_for_a_described_town_show_what_was_understood(client: TestClient) -> None:
    profile = {
        "country": "LT",
        "population": 8000,
        "text": "Our young people move away after school and many older residents are lonely. We have a lake and a strong choir.",
    }
    body = client.post("/v1/recommendations", json={"profile": profile, "k": 5}).json()
    understood = body["profile"]["understood"]
    assert {"youth-out-migration", "loneliness"} <= set(understood["challenges"])
    assert {"lake", "choir"} <= set(understood["assets"])
    assert (
        body["profile"]["settlement_type"] == "town"
        and body["profile"]["settlement_type_estimated"]
    )
    assert len(body["recommendations"]) == 5
    for rec in body["recommendations"]:
        assert set(rec["addresses_challenges"]) & {"youth-out-migration", "loneliness"}, rec["id"]
        assert "inhabitants" in rec["reason"]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"city": "smiltene", "profile": {"text": "x"}}, "body"),
        ({}, "body"),
        ({"city": "smiltene", "k": 0}, "k"),
        ({"profile": {"challenges": ["boredom"]}}, "profile.challenges"),
        ({"profile": {"country": "RU", "text": "lonely"}}, "profile.country"),
        ({"profile": {"text": "y" * 20001}}, "profile.text"),
        ({"profile": {}}, "profile"),
        ({"city": "smiltene", "colour": "blue"}, "body"),
        ({"profile": {"text": "plūdi"}, "language_prior": "xx"}, "language_prior"),
    ],
)
def test_bad_recommendation_bodies_are_400(client: TestClient, body: dict, parameter: str) -> None:  # type: ignore[type-arg]
    _problem(client.post("/v1/recommendations", json=body), 400, parameter)


def test_the_language_prior_of_a_question_counts_when_the_question_is_unsure(
    client: TestClient,
) -> None:
    body = client.get("/v1/search", params={"q": "tulva", "language_prior": "fi"}).json()
    assert body["query_language"] == "fi" and body["query_languages"][0] == "fi"
    assert client.get("/v1/search", params={"q": "tulva"}).json()["query_language"] == "und"
    # "plūdi" looks Lithuanian by its letters, but only Latvian knows the word
    assert client.get("/v1/search", params={"q": "plūdi"}).json()["query_language"] == "lv"
    _problem(client.get("/v1/search", params={"q": "plūdi", "language_prior": "xx"}), 400)


def test_a_question_typed_without_its_marks_is_searched_with_them(client: TestClient) -> None:
    # "aizplūšana" is in no word list: the taxonomy's label "jauniešu aizplūšana" lends it
    body = client.get("/v1/search", params={"q": "jauniesu aizplusana"}).json()
    assert body["read_as"] == "jauniešu aizplūšana", body["read_as"]
    assert body["query"] == "jauniesu aizplusana"
    assert body["query_language"] == "lv"
    assert "youth-out-migration" in body["understood"]["challenges"]
    written = client.get("/v1/search", params={"q": "jauniešu aizplūšana"}).json()
    assert written.get("read_as") is None
    assert [h["id"] for h in body["hits"]] == [h["id"] for h in written["hits"]]
    page = client.get("/", params={"q": "jauniesu aizplusana", "lang": "lv"}).text
    assert '<q lang="lv">jauniešu aizplūšana</q>' in page


def test_malformed_json_is_400(client: TestClient) -> None:
    _problem(
        client.post(
            "/v1/recommendations",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        400,
        "body",
    )


def test_unknown_city_for_recommendations_is_404(client: TestClient) -> None:
    _problem(client.post("/v1/recommendations", json={"city": "atlantis"}), 404)


def test_similar_peers_have_a_documented_breakdown_and_several_countries(
    client: TestClient,
) -> None:
    body = client.get("/v1/cities/rujiena/peers", params={"k": 9}).json()
    assert body["mode"] == "similar" and abs(sum(body["weights"].values()) - 1.0) < 1e-9
    peers = body["peers"]
    assert len(peers) == 9 and "rujiena" not in {p["city"] for p in peers}
    assert len({p["country"] for p in peers}) >= 3
    for peer in peers:
        assert (
            abs(sum(c["contribution"] for c in peer["components"].values()) - peer["score"]) < 1e-3
        )
        assert set(peer["components"]) == {
            "challenges",
            "population",
            "assets",
            "plan",
            "type",
            "distance",
        }
    assert [p["score"] for p in peers] == sorted((p["score"] for p in peers), reverse=True)


def test_country_filter_on_peers(client: TestClient) -> None:
    peers = client.get("/v1/cities/rujiena/peers", params={"k": 4, "country": "LV"}).json()["peers"]
    assert {p["country"] for p in peers} == {"LV"}


def test_mentors_worked_on_the_same_challenges(client: TestClient) -> None:
    body = client.get("/v1/cities/kaskinen/peers", params={"mode": "mentors", "k": 5}).json()
    wanted = set(body["profile"]["challenges"]) | set(
        body["profile"]["understood"].get("challenges", [])
    )
    assert len(body["peers"]) == 5
    for peer in body["peers"]:
        shared = {c for p in peer["experience"]["practices"] for c in p["shared_challenges"]} | set(
            peer["experience"]["plan_challenges"]
        )
        assert shared and shared <= wanted
        assert peer["reason"]


def test_peers_for_a_described_profile(client: TestClient) -> None:
    body = client.post(
        "/v1/peers",
        json={
            "population": 4000,
            "lat": 57.0,
            "lon": 25.0,
            "challenges": ["youth-out-migration"],
            "text": "A small rural town with an open-air stage and a choir.",
            "k": 5,
        },
    ).json()
    assert len(body["peers"]) == 5 and body["profile"]["settlement_type"] == "rural"
    _problem(
        client.post(
            "/v1/peers", json={"population": 4000, "mode": "friends", "challenges": ["loneliness"]}
        ),
        400,
        "mode",
    )


def test_openapi_document_and_offline_swagger(client: TestClient) -> None:
    spec = client.get("/schema/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/v1/search",
        "/v1/recommendations",
        "/v1/cities/{city_id}/peers",
        "/v1/peers",
        "/v1/taxonomy",
    ):
        assert path in spec["paths"], path
    page = client.get("/schema/swagger").text
    assert "https://" not in page and "http://" not in page  # no CDN: everything from /static
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert f"/static/swagger-ui/{asset}" in page
        assert client.get(f"/static/swagger-ui/{asset}").status_code == 200


def test_no_index_gives_503_with_the_fix(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    with TestClient(create_app(Settings(index_dir=tmp_path / "empty"), lambda: fake_embedder)) as c:
        assert c.get("/health").status_code == 200
        problem = _problem(c.get("/ready"), 503)
        assert "practice-finder ingest" in problem["hint"]
        _problem(c.get("/v1/search", params={"q": "library"}), 503)


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    q=_text,
    k=st.one_of(st.integers(-5, 150), _text),
    country=_text,
    challenge=_text,
    population_min=st.one_of(st.integers(-10, 10**7), _text),
    mode=st.sampled_from(["hybrid", "dense", "lexical", "x", ""]),
    offset=st.integers(-3, 500),
)
def test_no_search_input_gives_a_server_error(
    client: TestClient,
    q: str,
    k: object,
    country: str,
    challenge: str,
    population_min: object,
    mode: str,
    offset: int,
) -> None:
    params = {
        "q": q,
        "k": k,
        "country": country,
        "challenge": challenge,
        "population_min": population_min,
        "mode": mode,
        "offset": offset,
    }
    response = client.get("/v1/search", params=params)
    assert response.status_code in (200, 400), response.text


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | _text,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    ["city", "profile", "k", "text", "population", "challenges", "country", "lat"]
                ),
                children,
                max_size=4,
            )
        ),
        max_leaves=8,
    )
)
def test_no_recommendation_body_gives_a_server_error(client: TestClient, body: object) -> None:
    response = client.post("/v1/recommendations", json=body)
    assert response.status_code in (200, 400, 404), response.text
