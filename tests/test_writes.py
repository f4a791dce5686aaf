"""Writes from the portal: validated like corpus files, durable before the answer, idempotent by id, searchable
after the background re-index, and all of it exportable again. The deterministic embedder and a re-index in a
thread keep these fast; test_write_path_with_the_real_model runs the production path (a child ingest process,
the shipped model)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.config import ENGLISH_MODEL, Settings, key_digest
from practice_finder.corpus.catalog import Catalog
from practice_finder.corpus.folder import load_corpus
from practice_finder.errors import CorpusError
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, service_settings, write_tiny_corpus

KEY = "admin-key-for-tests"
ADMIN = {"Authorization": f"Bearer {KEY}"}


def _settings(root: Path, **changes: Any) -> Settings:
    return service_settings(root, KEY, **changes)


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny corpus and its build, made once for the module; each test serves a copy."""
    root = tmp_path_factory.mktemp("tiny-build")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    ingest(_settings(root), lambda: embedder)
    return root


@pytest.fixture
def served(tiny_build: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    """A client of an app over the tiny corpus; the test drives the watcher with `service.tick()`."""
    for folder in ("corpus", "indexes"):
        shutil.copytree(tiny_build / folder, tmp_path / folder, symlinks=True)
    embedder = HashingEmbedder()
    settings = _settings(tmp_path)
    app = create_app(settings, lambda: embedder, watch=False)
    with TestClient(app) as client:
        yield client, app.state["service"]


def _export(client: TestClient, collection: str = "practices") -> list[dict[str, Any]]:
    response = client.get(f"/v1/{collection}", params={"format": "jsonl"})
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/x-ndjson"
    )
    return [json.loads(line) for line in response.text.splitlines()]


def _new_practice(
    client: TestClient, pid: str = "sauna-evenings", title: str = "Sauna evenings for fishermen"
) -> dict[str, Any]:
    record = dict(_export(client)[0])
    record.update(id=pid, title=title)
    record["sections"] = {
        **record["sections"],
        "what_happened": record["sections"]["what_happened"] + " The sauna by the pier.",
    }
    return record


def _hit_ids(client: TestClient, q: str) -> list[str]:
    return [h["id"] for h in client.get("/v1/search", params={"q": q, "k": 20}).json()["hits"]]


def test_a_write_is_searchable_after_the_background_reindex(served: tuple[TestClient, Any]) -> None:
    client, service = served
    before = client.get("/v1/admin/status", headers=ADMIN).json()
    response = client.post("/v1/practices", json=_new_practice(client), headers=ADMIN)
    assert response.status_code == 202
    assert response.json() | {"seq": 0} == {
        "kind": "practice",
        "id": "sauna-evenings",
        "op": "put",
        "seq": 0,
        "created": True,
        "changed": True,
        "status": "pending",
        "status_url": "/v1/admin/status",
    }
    status = client.get("/v1/admin/status", headers=ADMIN).json()
    assert status["pending_writes"] == 1 and status["build"] == before["build"]
    assert "sauna-evenings" not in _hit_ids(client, "sauna evenings fishermen")
    service.tick()
    status = client.get("/v1/admin/status", headers=ADMIN).json()
    assert status["pending_writes"] == 0 and status["build"] != before["build"]
    assert status["counts"]["practices"] == before["counts"]["practices"] + 1
    assert status["last_reindex"]["ok"] is True and status["last_reindex"]["trigger"] == "writes"
    # only the new record's texts
    assert status["last_reindex"]["embedded"] < status["last_reindex"]["reused"]
    assert _hit_ids(client, "sauna evenings fishermen")[0] == "sauna-evenings"
    assert (
        client.get("/v1/practices/sauna-evenings").json()["title"] == "Sauna evenings for fishermen"
    )
    assert (
        'pf_reindex_duration_seconds_count{result="ok",trigger="writes"} 1.0'
        in client.get("/metrics").text
    )


def test_the_write_is_on_disk_before_the_answer(served: tuple[TestClient, Any]) -> None:
    client, service = served
    response = client.post("/v1/practices", json=_new_practice(client), headers=ADMIN)
    with sqlite3.connect(
        service.settings.state_dir / "writes.db"
    ) as other:  # another connection, as after a crash
        rows = other.execute("select seq, kind, id, op from writes").fetchall()
    assert rows == [(response.json()["seq"], "practice", "sauna-evenings", "put")]
    assert service.catalog.log.path.with_name("writes.db-wal").exists()  # write-ahead log mode


def test_writes_are_idempotent_by_id(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    record = _new_practice(client)
    first = client.post("/v1/practices", json=record, headers=ADMIN).json()
    again = client.post(
        "/v1/practices", json=record, headers=ADMIN
    ).json()  # a retry after a lost answer
    assert (again["seq"], again["created"], again["changed"], again["status"]) == (
        first["seq"],
        False,
        False,
        "unchanged",
    )
    other = {**record, "title": "Another title"}
    conflict = client.post("/v1/practices", json=other, headers=ADMIN)
    assert (
        conflict.status_code == 409
        and "PUT /v1/practices/sauna-evenings" in conflict.json()["hint"]
    )
    replaced = client.put("/v1/practices/sauna-evenings", json=other, headers=ADMIN).json()
    assert replaced["seq"] > first["seq"] and replaced["changed"] and not replaced["created"]
    same = client.put("/v1/practices/sauna-evenings", json=other, headers=ADMIN).json()
    assert same["seq"] == replaced["seq"] and same["status"] == "unchanged"


def test_a_corpus_practice_sent_as_it_is_changes_nothing(served: tuple[TestClient, Any]) -> None:
    client, service = served
    for record in _export(client):
        assert (
            client.put(f"/v1/practices/{record['id']}", json=record, headers=ADMIN).json()["status"]
            == "unchanged"
        )
    assert service.catalog.log.max_seq() == 0


def test_records_are_checked_like_corpus_files(
    served: tuple[TestClient, Any], tmp_path: Path
) -> None:
    client, _ = served
    bad = {
        **_new_practice(client),
        "country": "XX",
        "challenges": ["no-such-term"],
        "years": [1900],
    }
    del bad["summary"]
    response = client.post("/v1/practices", json=bad, headers=ADMIN)
    body = response.json()
    assert (
        response.status_code == 422
        and response.headers["content-type"] == "application/problem+json"
    )
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"country", "challenges", "years", "summary"}
    # the very same messages as for a corpus file with the same mistakes
    folder = tmp_path / "as-a-file"
    write_tiny_corpus(folder, CORPUS / "taxonomy.yaml")
    path = next((folder / "practices").glob("*.md"))
    text = path.read_text().replace('country: "', 'country: "XX').replace("[2021, 2022]", "[1900]")
    path.write_text(
        text.replace(
            text[text.index("challenges:") : text.index("\n", text.index("challenges:"))],
            "challenges: [no-such-term]",
        )
    )
    with pytest.raises(CorpusError) as caught:
        load_corpus(folder)
    from_file = {p.field: p.message for p in caught.value.problems}
    assert from_file["challenges"] == fields["challenges"] and from_file["years"] == fields["years"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sections": {"what_happened": "Too short."}}, "sections.what_happened"),
        ({"sections": "not an object"}, "sections"),
        ({"colour": "blue"}, "colour"),
        ({"id": "Not A Slug"}, "id"),
        ({"city": "no-such-town"}, "city"),
    ],
)
def test_bad_records_name_the_field(
    served: tuple[TestClient, Any], change: dict[str, Any], field: str
) -> None:
    client, _ = served
    record = _new_practice(client)
    if isinstance(change.get("sections"), dict):
        change = {"sections": {**record["sections"], **change["sections"]}}
    record.update(change)
    response = client.post("/v1/practices", json=record, headers=ADMIN)
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


def test_the_url_and_body_ids_must_agree(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    response = client.put("/v1/practices/other-id", json=_new_practice(client), headers=ADMIN)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "id"


def test_delete_hides_a_record_and_refuses_a_city_in_use(served: tuple[TestClient, Any]) -> None:
    client, service = served
    victim = _export(client)[0]["id"]
    assert client.delete(f"/v1/practices/{victim}", headers=ADMIN).status_code == 202
    assert victim not in [r["id"] for r in _export(client)]  # the export has it gone at once
    assert client.delete(f"/v1/practices/{victim}", headers=ADMIN).status_code == 404
    assert client.delete("/v1/practices/never-existed", headers=ADMIN).status_code == 404
    service.tick()
    assert client.get(f"/v1/practices/{victim}").status_code == 404
    in_use = client.delete("/v1/cities/testby", headers=ADMIN)
    assert in_use.status_code == 409 and "testby-cureap-2025" in in_use.json()["detail"]


def test_cities_and_plans_are_written_too(served: tuple[TestClient, Any]) -> None:
    client, service = served
    city = {**_export(client, "cities")[0], "id": "newtown", "name": "Newtown"}
    plan = {**_export(client, "plans")[0], "id": "newtown-plan", "city": "newtown"}
    practice = {**_new_practice(client), "city": "newtown", "country": city["country"]}
    assert (
        client.post("/v1/plans", json={**plan, "city": "nowhere"}, headers=ADMIN).status_code == 422
    )
    for collection, record in (("cities", city), ("plans", plan), ("practices", practice)):
        assert client.post(f"/v1/{collection}", json=record, headers=ADMIN).status_code == 202
    wrong_country = {**practice, "id": "elsewhere", "country": "FI"}
    assert (
        client.post("/v1/practices", json=wrong_country, headers=ADMIN).json()["errors"][0]["field"]
        == "country"
    )
    service.tick()
    town = client.get("/v1/cities/newtown").json()
    assert town["name"] == "Newtown"
    assert client.get("/v1/plans/newtown-plan").status_code == 200


def test_the_export_round_trips_and_includes_pending_writes(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    client.post("/v1/practices", json=_new_practice(client), headers=ADMIN)
    exported = _export(client)
    assert "sauna-evenings" in [r["id"] for r in exported]
    assert [r["id"] for r in exported] == sorted(r["id"] for r in exported)
    for record in exported:  # every exported record is accepted back unchanged
        assert (
            client.put(f"/v1/practices/{record['id']}", json=record, headers=ADMIN).json()["status"]
            == "unchanged"
        )
    assert len(_export(client, "cities")) == 1 and len(_export(client, "plans")) == 1
    assert client.get("/v1/practices", params={"format": "csv"}).status_code == 400


def test_a_full_reindex_on_request(served: tuple[TestClient, Any]) -> None:
    client, service = served
    build = client.get("/v1/admin/status", headers=ADMIN).json()["build"]
    response = client.post("/v1/admin/reindex", headers=ADMIN)
    assert (
        response.status_code == 202
        and client.get("/v1/admin/status", headers=ADMIN).json()["reindex_requested"]
    )
    service.tick()
    status = client.get("/v1/admin/status", headers=ADMIN).json()
    assert (
        status["build"] != build
        and status["last_reindex"]["trigger"] == "admin"
        and status["last_reindex"]["embedded"] == 0
    )


def test_a_failed_reindex_keeps_the_served_build_and_says_why(
    served: tuple[TestClient, Any],
) -> None:
    client, service = served
    build = client.get("/v1/admin/status", headers=ADMIN).json()["build"]
    client.post("/v1/practices", json=_new_practice(client), headers=ADMIN)
    broken = next((service.settings.corpus_dir / "practices").glob("*.md"))
    broken.write_text("no front matter")  # someone broke the corpus folder meanwhile
    service.tick()
    status = client.get("/v1/admin/status", headers=ADMIN).json()
    assert status["build"] == build and status["pending_writes"] == 1
    assert status["last_reindex"]["ok"] is False and "problem" in status["last_reindex"]["error"]
    assert client.get("/v1/search", params={"q": "library"}).status_code == 200


def test_a_write_that_would_leave_other_records_invalid_is_refused(
    served: tuple[TestClient, Any],
) -> None:
    """The corpus with the write laid over it is checked as the re-index checks it: a city moved to another
    country while a practice in it keeps its own is refused, naming both, and nothing blocks later writes."""
    client, service = served
    practice = {**_new_practice(client), "city": "testby", "country": "DK"}
    assert client.post("/v1/practices", json=practice, headers=ADMIN).status_code == 202
    city = next(c for c in _export(client, "cities") if c["id"] == "testby")
    response = client.put("/v1/cities/testby", json={**city, "country": "SE"}, headers=ADMIN)
    body = response.json()
    assert response.status_code == 409, body
    assert "practices/sauna-evenings" in body["detail"] and "'testby'" in body["detail"]
    assert body["errors"] == [
        {
            "record": "practices/sauna-evenings",
            "field": "country",
            "message": "DK differs from the country of its city 'testby', SE",
        }
    ]
    assert client.delete("/v1/cities/testby", headers=ADMIN).status_code == 409
    # nothing was logged: the exports answer, and the re-index includes the next write
    assert next(c for c in _export(client, "cities") if c["id"] == "testby")["country"] == "DK"
    other = {
        **_new_practice(client, "sauna-mornings", "Sauna mornings"),
        "city": "testby",
        "country": "DK",
    }
    assert client.post("/v1/practices", json=other, headers=ADMIN).status_code == 202
    service.tick()
    status = client.get("/v1/admin/status", headers=ADMIN).json()
    assert status["last_reindex"]["ok"] is True and status["pending_writes"] == 0


def test_a_failed_reindex_names_the_records_until_one_succeeds(
    served: tuple[TestClient, Any],
) -> None:
    """The corpus folder edited under a logged write (a city file moved to another country): the re-index
    fails naming the record and the file, /ready and the status say so until a re-index succeeds, and the
    exports still give back what is stored."""
    client, service = served
    practice = {**_new_practice(client), "city": "testby", "country": "DK"}
    assert client.post("/v1/practices", json=practice, headers=ADMIN).status_code == 202
    city_file = service.settings.corpus_dir / "cities" / "testby.md"
    city_file.write_text(city_file.read_text().replace("country: DK", "country: SE"))
    service.tick()
    error = client.get("/v1/admin/status", headers=ADMIN).json()["last_reindex"]["error"]
    assert (
        "practices/sauna-evenings (API): country: DK differs" in error and "'testby', SE" in error
    )
    assert client.get("/ready").json()["reindex_error"] == error
    assert "sauna-evenings" in [r["id"] for r in _export(client)]
    city_file.write_text(city_file.read_text().replace("country: SE", "country: DK"))
    client.post("/v1/admin/reindex", headers=ADMIN)
    service.tick()
    assert client.get("/ready").json().get("reindex_error") is None
    assert _hit_ids(client, "sauna evenings fishermen")[0] == "sauna-evenings"


def test_writes_wait_for_quiet_before_reindexing(tmp_path: Path) -> None:
    write_tiny_corpus(tmp_path / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    settings = _settings(tmp_path).with_(reindex_delay=30)
    ingest(settings, lambda: embedder)
    app = create_app(settings, lambda: embedder, watch=False)
    with TestClient(app) as client:
        service = app.state["service"]
        client.post("/v1/practices", json=_new_practice(client), headers=ADMIN)
        service.tick()
        # still within the quiet time
        assert client.get("/v1/admin/status", headers=ADMIN).json()["pending_writes"] == 1


def test_the_cli_ingest_includes_the_write_log(tmp_path: Path) -> None:
    write_tiny_corpus(tmp_path / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    settings = _settings(tmp_path)
    ingest(settings, lambda: embedder)
    catalog = Catalog(settings.corpus_dir, settings.state_dir)
    record = next(iter(catalog.export("practice")))
    catalog.put("practice", {**record, "id": "logged-one"})
    report = ingest(settings, lambda: embedder)
    assert report.writes_seq == 1 and report.counts["practices"] == 4
    catalog.delete("practice", "logged-one")  # undone: the corpus is as built before
    undone = ingest(settings, lambda: embedder)
    assert undone.writes_seq == 2 and undone.counts["practices"] == 3


def test_a_put_undone_by_a_delete_leaves_nothing_pending(served: tuple[TestClient, Any]) -> None:
    client, service = served
    client.post("/v1/practices", json=_new_practice(client), headers=ADMIN)
    service.tick()
    client.delete("/v1/practices/sauna-evenings", headers=ADMIN)
    # back to what the build has
    client.post("/v1/practices", json=_new_practice(client), headers=ADMIN)
    service.tick()
    assert client.get("/v1/admin/status", headers=ADMIN).json()["pending_writes"] == 0


@pytest.mark.real
def test_write_path_with_the_real_model(minilm_settings: Settings, tmp_path: Path) -> None:
    """The production path end to end: key, write, the re-index in a child `practice-finder ingest` process with
    the shipped model, the atomic swap, and the record found by a search in other words."""
    index_dir = tmp_path / "indexes"
    shutil.copytree(minilm_settings.index_dir, index_dir)
    settings = Settings(
        corpus_dir=CORPUS,
        index_dir=index_dir,
        state_dir=tmp_path / "state",
        model=ENGLISH_MODEL,
        admin_keys=(key_digest(KEY),),
        reindex_delay=0,
        watch_interval=1,
        log_format="text",
    )
    app = create_app(settings)
    with TestClient(app) as client:
        record = dict(_export(client)[0])
        record.update(
            id="midsummer-sauna-test",
            title="Floating sauna raft for lonely pensioners on the lake",
            summary="A floating sauna on the town lake where retired fishermen meet every evening.",
        )
        assert client.post("/v1/practices", json=record, headers=ADMIN).status_code == 202
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = client.get("/v1/admin/status", headers=ADMIN).json()
            if status["pending_writes"] == 0 and status["last_reindex"]:
                break
            time.sleep(1)
        assert status["pending_writes"] == 0 and status["last_reindex"]["ok"], status
        assert status["last_reindex"]["embedded"] < 20  # only the new record's texts were embedded
        hits = client.get(
            "/v1/search", params={"q": "steam bath on a raft for old people who feel alone"}
        ).json()["hits"]
        assert "midsummer-sauna-test" in [h["id"] for h in hits[:3]]
