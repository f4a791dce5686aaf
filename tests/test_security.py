"""Keys, limits and headers: what stands between the service and the internet."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.config import Settings, key_digest
from practice_finder.web.app import create_app
from practice_finder.web.auth import KeyRing

from .conftest import CORPUS
from .fakes import HashingEmbedder, write_tiny_corpus

ADMIN_KEY, READ_KEY = "admin-key-0123456789", "read-key-0123456789"
OFFSITE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, HashingEmbedder]:
    root = tmp_path_factory.mktemp("security")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    settings = Settings(
        corpus_dir=root / "corpus",
        index_dir=root / "indexes",
        state_dir=root / "state",
        progress=False,
        admin_keys=(key_digest(ADMIN_KEY),),
        read_keys=(key_digest(READ_KEY),),
        auto_reindex=False,
        reindex_runner="thread",
        log_format="json",
    )
    ingest(settings, lambda: embedder)
    return settings, embedder


def _client(built: tuple[Settings, HashingEmbedder], **changes: Any) -> TestClient:
    settings, embedder = built
    return TestClient(create_app(settings.with_(**changes), lambda: embedder, watch=False))


@pytest.fixture
def client(built: tuple[Settings, HashingEmbedder]) -> Iterator[TestClient]:
    with _client(built) as c:
        yield c


def _record(client: TestClient) -> dict[str, Any]:
    line = client.get("/v1/practices", params={"format": "jsonl"}).text.splitlines()[0]
    import json

    return {**json.loads(line), "id": "a-new-one"}


def test_writes_need_an_admin_key(client: TestClient) -> None:
    record = _record(client)
    missing = client.post("/v1/practices", json=record)
    assert (
        missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    )
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.json()["hint"]
    wrong = client.post("/v1/practices", json=record, headers={"Authorization": "Bearer not-a-key"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "the API key is not valid"
    reader = client.post(
        "/v1/practices", json=record, headers={"Authorization": f"Bearer {READ_KEY}"}
    )
    assert reader.status_code == 403 and reader.json()["type"] == "/problems/forbidden"
    for method, path in (
        ("put", "/v1/cities/testby"),
        ("delete", "/v1/plans/testby-cureap-2025"),
        ("post", "/v1/admin/reindex"),
        ("get", "/v1/admin/status"),
    ):
        assert client.request(method.upper(), path, json={}).status_code == 401, path
    assert (
        client.post("/v1/practices", json=record, headers={"X-API-Key": ADMIN_KEY}).status_code
        == 202
    )


def test_reads_are_open_by_default_and_closed_when_configured(
    built: tuple[Settings, HashingEmbedder],
) -> None:
    with _client(built) as open_client:
        assert open_client.get("/v1/search", params={"q": "choir"}).status_code == 200
    with _client(built, require_read_key=True) as closed:
        assert closed.get("/v1/search", params={"q": "choir"}).status_code == 401
        assert closed.get("/v1/practices", params={"format": "jsonl"}).status_code == 401
        assert (
            closed.get(
                "/v1/search", params={"q": "choir"}, headers={"X-API-Key": READ_KEY}
            ).status_code
            == 200
        )
        assert (
            closed.get(
                "/v1/search", params={"q": "choir"}, headers={"X-API-Key": ADMIN_KEY}
            ).status_code
            == 200
        )
        assert closed.get("/health").status_code == 200 and closed.get("/ready").status_code == 200
        spec = closed.get("/schema/openapi.json", headers={"X-API-Key": READ_KEY}).json()
        assert spec["paths"]["/v1/search"]["get"]["security"] == [{"bearer": []}]


def _public(path: str) -> bool:
    return path in ("/health", "/ready", "/metrics") or path.startswith("/static/")


def _form(path: str) -> bool:
    return path.startswith(("/submit", "/staff"))


def test_a_required_read_key_closes_every_route_that_shows_data(
    built: tuple[Settings, HashingEmbedder],
) -> None:
    """Every route of the application (pages, /schema, the API) answers 401 without a key when reads need
    one, except the few that show no data; a new route is closed unless marked public."""
    with _client(built, require_read_key=True) as closed:
        checked = 0
        for route in closed.app.routes:
            path = re.sub(r"\{[^}]+\}", "x", re.sub(r"\{[^}:]+:int\}", "1", route.path))
            for method in sorted(set(route.methods) - {"OPTIONS", "HEAD"}):
                status = closed.request(method, path).status_code
                # a form of /submit or /staff is refused by the CSRF check before the key is asked for
                refused = status == 401 or (status == 403 and method == "POST" and _form(path))
                assert refused is not _public(route.path), (method, path, status)
                checked += 1
        assert checked > 30
        for page in ("/", "/towns/testby", "/practices/nordby-harbour-songs"):
            refused = closed.get(page, params={"q": "choir"})
            assert refused.headers["content-type"].startswith("text/html"), page
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert closed.get(page, headers={"X-API-Key": READ_KEY}).status_code == 200, page
        form = {"text": "our choir is ageing", "challenges": "loneliness"}
        assert closed.post("/recommend", data=form).status_code == 401
        assert (
            closed.post("/recommend", data=form, headers={"X-API-Key": READ_KEY}).status_code == 200
        )
        assert closed.get("/schema/swagger", headers={"X-API-Key": READ_KEY}).status_code == 200
        # /ready stays a probe anyone may call; its manifest is shown to a reader only
        assert closed.get("/ready").json() == {"ready": True}
        shown = closed.get("/ready", headers={"Authorization": f"Bearer {READ_KEY}"}).json()
        assert shown["manifest"]["model"] and shown["build"]
    with _client(built) as open_client:
        assert "manifest" in open_client.get("/ready").json()
        assert open_client.get("/practices/nordby-harbour-songs").status_code == 200


def test_metrics_have_their_own_switch(built: tuple[Settings, HashingEmbedder]) -> None:
    with _client(built, require_read_key=True) as c:
        assert c.get("/metrics").status_code == 200
    with _client(built, require_metrics_key=True) as c:
        refused = c.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert c.get("/metrics", headers={"X-API-Key": READ_KEY}).status_code == 200
        assert c.get("/v1/taxonomy").status_code == 200  # reads stay open


def test_without_admin_keys_writes_are_switched_off(
    built: tuple[Settings, HashingEmbedder],
) -> None:
    with _client(built, admin_keys=()) as c:
        response = c.post("/v1/admin/reindex", headers={"X-API-Key": ADMIN_KEY})
        assert response.status_code == 401 and "PF_ADMIN_KEYS" in response.json()["hint"]


def test_keys_are_held_only_as_digests() -> None:
    settings = Settings.from_env(
        {"PF_ADMIN_KEYS": "plain-secret, sha256:" + "ab" * 32, "PF_READ_KEYS": "reader"}
    )
    assert settings.admin_keys == (key_digest("plain-secret"), "sha256:" + "ab" * 32)
    assert "plain-secret" not in repr(settings) and "reader" not in repr(settings)
    assert "PF_ADMIN_KEYS" not in settings.to_env()  # not handed to the child ingest either
    ring = KeyRing(settings)
    assert ring.scope_of("plain-secret") == "admin" and ring.scope_of("reader") == "read"
    assert ring.scope_of("plain-secret ") == "admin"  # stray whitespace from a config file
    assert ring.scope_of("plain-secreT") is None and ring.scope_of("") is None


def test_a_stored_digest_is_not_a_key(built: tuple[Settings, HashingEmbedder]) -> None:
    """The digests sit in the configuration and the environment: sent as a key, one grants nothing."""
    digest = key_digest(ADMIN_KEY)
    ring = KeyRing(built[0].with_(require_read_key=True))
    assert ring.scope_of(digest) is None and ring.scope_of(digest.upper()) is None
    assert ring.scope_of(ADMIN_KEY) == "admin"
    with _client(built, require_read_key=True) as c:
        for headers in ({"Authorization": f"Bearer {digest}"}, {"X-API-Key": digest}):
            assert c.post("/v1/admin/reindex", headers=headers).status_code == 401
            assert (
                c.delete("/v1/practices/nordby-harbour-songs", headers=headers).status_code == 401
            )
            assert c.get("/v1/taxonomy", headers=headers).status_code == 401
        assert c.get("/v1/taxonomy", headers={"X-API-Key": READ_KEY}).status_code == 200


def test_the_child_ingest_gets_no_key(
    built: tuple[Settings, HashingEmbedder], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The re-index's child process is started with an environment holding no key, plain or digest."""
    import subprocess

    from practice_finder.web import serving

    digest = key_digest(READ_KEY)
    monkeypatch.setenv("PF_ADMIN_KEYS", ADMIN_KEY)
    monkeypatch.setenv("PF_READ_KEYS", digest)
    settings = Settings.from_env(state_dir=tmp_path / "state", index_dir=tmp_path / "indexes")
    started: list[dict[str, str]] = []

    def run(command: list[str], env: dict[str, str], **_: Any) -> subprocess.CompletedProcess[str]:
        started.append(env)
        return subprocess.CompletedProcess(command, 0, stdout='{"build_id": "b"}', stderr="")

    monkeypatch.setattr(serving.subprocess, "run", run)
    assert serving.Reindexer(settings, lambda: built[1]).run("admin", force=True).ok
    (env,) = started
    assert env["PF_STATE_DIR"] == str((tmp_path / "state").resolve())  # the settings do reach it
    assert not [k for k in env if k.endswith("_KEYS")]
    secrets = (ADMIN_KEY, digest, digest[7:], key_digest(ADMIN_KEY)[7:])
    assert not [k for k, v in env.items() if any(s in v for s in secrets)]


def test_keys_and_searched_text_stay_out_of_the_logs(
    built: tuple[Settings, HashingEmbedder],
) -> None:
    stream = io.StringIO()
    with _client(built) as c:
        handler = logging.getLogger("practice_finder").handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        old = handler.setStream(stream)
        try:
            c.post(
                "/v1/practices", json=_record(c), headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            )
            c.get(
                "/v1/search",
                params={"q": "secret question about my town"},
                headers={"X-API-Key": READ_KEY},
            )
        finally:
            handler.setStream(old)  # type: ignore[arg-type]
    logged = stream.getvalue()
    import json

    lines = [json.loads(line) for line in logged.splitlines()]
    assert {line["route"] for line in lines if line.get("event") == "request"} >= {
        "/v1/practices",
        "/v1/search",
    }
    assert all(len(line["request_id"]) == 32 for line in lines if line.get("event") == "request")
    assert ADMIN_KEY not in logged and READ_KEY not in logged and "secret question" not in logged


def test_a_request_id_is_returned_and_kept_when_sent(client: TestClient) -> None:
    assert len(client.get("/health").headers["x-request-id"]) == 32
    assert (
        client.get("/health", headers={"X-Request-ID": "portal-42"}).headers["x-request-id"]
        == "portal-42"
    )
    assert (
        client.get("/health", headers={"X-Request-ID": "bad id\twith tabs"}).headers["x-request-id"]
        != "bad id\twith tabs"
    )


def test_rate_limit_per_client(built: tuple[Settings, HashingEmbedder]) -> None:
    with _client(built, rate_limit=3) as c:
        codes = [c.get("/v1/taxonomy").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = c.get("/v1/taxonomy")
        assert limited.headers["content-type"] == "application/problem+json" and "retry-after" in {
            h.lower() for h in limited.headers
        }
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200  # exempt
        # a key counts on its own
        assert c.get("/v1/taxonomy", headers={"X-API-Key": READ_KEY}).status_code == 200
        # an invalid one does not
        assert c.get("/v1/taxonomy", headers={"X-API-Key": "made-up"}).status_code == 429


def test_errors_on_pages_are_pages_in_the_readers_language(
    built: tuple[Settings, HashingEmbedder],
) -> None:
    """A 429 (like any problem) on a page is a page with the API's status and headers; on /v1, JSON."""
    with _client(built, rate_limit=2) as c:
        german = {"Accept-Language": "de"}
        codes = [c.get("/", params={"q": "choir"}, headers=german) for _ in range(3)]
        limited = codes[-1]
        assert limited.status_code == 429 and limited.headers["content-type"].startswith(
            "text/html"
        )
        assert int(limited.headers["retry-after"]) > 0 and "ratelimit-limit" in limited.headers
        assert "Zu viele Anfragen" in limited.text and "Sekunden erneut" in limited.text
        api = c.get("/v1/taxonomy")
        assert api.status_code == 429 and api.headers["content-type"] == "application/problem+json"
    with _client(built) as c:
        wrong = c.post("/towns")  # a method the page does not take
        assert wrong.status_code == 405 and wrong.headers["content-type"].startswith("text/html")


def test_head_answers_like_get_without_a_body(client: TestClient) -> None:
    for path in ("/", "/?q=choir", "/practices/nordby-harbour-songs", "/v1/taxonomy", "/health"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.headers["content-type"] == get.headers["content-type"] and head.content == b""
    assert client.head("/v1/recommendations").status_code == 405  # a POST route: not a GET either


def test_body_and_query_string_limits(built: tuple[Settings, HashingEmbedder]) -> None:
    with _client(built, max_body_bytes=2_000) as c:
        big = {**_record(c), "resources": "x" * 5_000}
        response = c.post("/v1/practices", json=big, headers={"X-API-Key": ADMIN_KEY})
        assert (
            response.status_code == 413
            and response.headers["content-type"] == "application/problem+json"
        )
        assert c.post("/v1/recommendations", json={"text": "y" * 5_000}).status_code == 413
        long = c.get("/v1/search", params={"q": "choir", "country": ",".join(["LV"] * 2_000)})
        assert long.status_code == 414 and long.json()["type"] == "/problems/query-too-long"
        # the question itself: 1,000 characters
        assert c.get("/v1/search", params={"q": "q" * 1_001}).status_code == 400


def test_cors_only_for_configured_origins(built: tuple[Settings, HashingEmbedder]) -> None:
    with _client(built) as c:
        assert (
            "access-control-allow-origin"
            not in c.get("/v1/taxonomy", headers={"Origin": "https://portal.example"}).headers
        )
    with _client(built, cors_origins=("https://portal.example",)) as c:
        ok = c.get("/v1/taxonomy", headers={"Origin": "https://portal.example"})
        assert ok.headers["access-control-allow-origin"] == "https://portal.example"
        other = c.get("/v1/taxonomy", headers={"Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
        preflight = c.options(
            "/v1/practices",
            headers={
                "Origin": "https://portal.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert (
            preflight.status_code in (200, 204)
            and "POST" in preflight.headers["access-control-allow-methods"]
        )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?q=library",
        "/practices/nordby-harbour-songs",
        "/towns",
        "/schema/swagger",
        "/nothing-here",
    ],
)
def test_pages_carry_a_strict_content_security_policy(client: TestClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["content-security-policy"]
    assert (
        "default-src 'self'" in policy
        and "script-src 'self'" in policy
        and "frame-ancestors 'none'" in policy
    )
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert (
        response.headers["x-content-type-options"] == "nosniff"
        and response.headers["x-frame-options"] == "DENY"
    )
    # no inline script: every script is a file of this service
    assert "<script>" not in response.text
    # Nothing is loaded from another site: no script, style sheet, image or frame with a full address.
    assert not OFFSITE.findall(response.text)
    assert "http://" not in response.text.replace("http://www.w3.org", "")


def test_record_text_is_shown_as_text(
    built: tuple[Settings, HashingEmbedder], tmp_path: Path
) -> None:
    """A record whose text carries HTML and script is written, indexed, and shown escaped on every page."""
    settings, embedder = built
    own = settings.with_(
        index_dir=tmp_path / "indexes",
        state_dir=tmp_path / "state",
        auto_reindex=True,
        reindex_delay=0,
    )
    ingest(own, lambda: embedder)
    app = create_app(own, lambda: embedder, watch=False)
    payload = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
    with TestClient(app) as c:
        record = {
            **_record(c),
            "id": "markup-attack",
            "title": f"Harbour choir {payload}",
            "summary": f"Songs {payload} for all.",
        }
        record["sections"]["outcomes"] = f"Outcome {payload} noted."
        assert (
            c.post("/v1/practices", json=record, headers={"X-API-Key": ADMIN_KEY}).status_code
            == 202
        )
        app.state["service"].tick()
        pages = [
            c.get("/", params={"q": "harbour choir script alert"}).text,
            c.get("/practices/markup-attack").text,
        ]
        assert "/practices/markup-attack" in pages[0]  # the record is among the results
        for page in pages:
            assert "Harbour choir &lt;script&gt;" in page
            assert "<script>alert" not in page and "<img src=x" not in page
            assert "&lt;script&gt;alert(" in page
        api = c.get("/v1/practices/markup-attack").json()
        # the API returns the text as written; pages escape it
        assert api["title"] == f"Harbour choir {payload}"
