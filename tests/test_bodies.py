"""Malformed request bodies (nested too deep, not UTF-8, not JSON) get a 400 problem on every route that
takes one, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from practice_finder.config import Settings, key_digest
from practice_finder.web.app import create_app

from .fakes import HashingEmbedder

ADMIN_KEY = "admin-key-0123456789"
DEEP = b"[" * 1000 + b"]" * 1000
DEEP_INSIDE = b'{"profile": {"text": "x"}, "k": ' + DEEP + b"}"
DEEP_OBJECT = b'{"a": ' * 1000 + b"1" + b"}" * 1000
NOT_UTF8 = b'{"profile": {"text": "caf\xe9 \xff"}}'
ROUTES = [
    ("post", "/v1/recommendations"),
    ("post", "/v1/peers"),
    ("post", "/v1/practices"),
    ("put", "/v1/practices/testby-library-evenings"),
    ("post", "/v1/cities"),
    ("put", "/v1/plans/testby-cureap-2025"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A service without an index: the body is decoded before any index is asked for."""
    root = tmp_path_factory.mktemp("bodies")
    settings = Settings(
        corpus_dir=root / "corpus",
        index_dir=root / "indexes",
        state_dir=root / "state",
        progress=False,
        admin_keys=(key_digest(ADMIN_KEY),),
        auto_reindex=False,
        rate_limit=0,
    )
    with TestClient(create_app(settings, HashingEmbedder, watch=False)) as c:
        yield c


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize(
    "body",
    [DEEP, DEEP_INSIDE, DEEP_OBJECT, NOT_UTF8],
    ids=["deep", "deep-inside", "deep-object", "utf8"],
)
def test_a_malformed_body_is_a_400_problem(
    client: TestClient, method: str, path: str, body: bytes
) -> None:
    answer = client.request(
        method,
        path,
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["parameter"] == "body" and problem["detail"].startswith("body: ")
