"""Settings of the running service: where `serve` listens, the background re-index, the watcher, the query
string limit and the log format (tests/test_settings.py checks every setting has a test)."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.cli.main import cli
from practice_finder.config import Settings, key_digest
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, write_tiny_corpus


def _built(tiny: Settings) -> tuple[Settings, HashingEmbedder]:
    """The tiny corpus built with the hashing embedder; the state kept beside the index."""
    settings = tiny.with_(
        state_dir=tiny.index_dir.parent / "state", rate_limit=0, auto_reindex=False
    )
    embedder = HashingEmbedder()
    ingest(settings, lambda: embedder)
    return settings, embedder


def _client(built: tuple[Settings, HashingEmbedder], **changes: Any) -> TestClient:
    settings, embedder = built
    return TestClient(create_app(settings.with_(**changes), lambda: embedder, watch=False))


def _cli(args: list[str], env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_serve_listens_on_host_and_port(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`serve` hands PF_HOST and PF_PORT (or --host, --port) to uvicorn; with --workers it shares the cores."""
    import uvicorn

    calls: list[dict[str, Any]] = []

    def run(app: str, **options: Any) -> None:
        calls.append({**options, "threads": os.environ.get("PF_THREADS")})

    monkeypatch.setattr(uvicorn, "run", run)
    env = {
        "PF_INDEX_DIR": str(tmp_path),
        "PF_HOST": "0.0.0.0",
        "PF_PORT": "8123",
        "PF_THREADS": "0",
    }
    _cli(["serve"], env)
    _cli(["serve", "--host", "127.0.0.2", "--port", "9000", "--workers", "2"], env)
    shared = str(max(1, (os.cpu_count() or 1) // 2))
    assert [(c["host"], c["port"], c["workers"], c["threads"]) for c in calls] == [
        ("0.0.0.0", 8123, 1, "0"),
        ("127.0.0.2", 9000, 2, shared),
    ]


def test_auto_reindex_off_leaves_writes_pending(tmp_path: Path) -> None:
    write_tiny_corpus(tmp_path / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    base = Settings(
        corpus_dir=tmp_path / "corpus",
        index_dir=tmp_path / "indexes",
        state_dir=tmp_path / "state",
        progress=False,
        admin_keys=(key_digest("k"),),
        reindex_runner="thread",
        reindex_delay=0,
    )
    ingest(base, lambda: embedder)
    admin = {"X-API-Key": "k"}
    for auto, pending in ((False, 1), (True, 0)):
        app = create_app(base.with_(auto_reindex=auto), lambda: embedder, watch=False)
        with TestClient(app) as c:
            record = json.loads(
                c.get("/v1/practices", params={"format": "jsonl"}).text.splitlines()[0]
            )
            record.update(id=f"new-{auto}".lower(), title=f"New practice {auto}")
            assert c.post("/v1/practices", json=record, headers=admin).status_code == 202
            app.state["service"].tick()
            assert c.get("/v1/admin/status", headers=admin).json()["pending_writes"] == pending


def test_the_watcher_checks_every_watch_interval(tmp_path: Path) -> None:
    """A new build is swapped in at the watcher's next check: within a second or so with PF_WATCH_INTERVAL=1,
    not yet with 60."""
    write_tiny_corpus(tmp_path / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    base = Settings(
        corpus_dir=tmp_path / "corpus",
        index_dir=tmp_path / "indexes",
        state_dir=tmp_path / "state",
        progress=False,
        auto_reindex=False,
        rate_limit=0,
    )
    ingest(base, lambda: embedder)
    for interval, swapped in ((60, False), (1, True)):
        with TestClient(create_app(base.with_(watch_interval=interval), lambda: embedder)) as c:
            time.sleep(0.3)  # the watcher's first check is done; it now waits `interval`
            new = ingest(base, lambda: embedder, force=True).build_id
            deadline = time.monotonic() + (10 if swapped else 2)
            while time.monotonic() < deadline and c.get("/ready").json()["build"] != new:
                time.sleep(0.1)
            assert (c.get("/ready").json()["build"] == new) is swapped, interval


def test_max_query_string(tiny: Settings) -> None:
    built = _built(tiny)
    params = {"q": "library " * 20}  # 162 characters
    with _client(built) as c:
        assert c.get("/v1/search", params=params).status_code == 200
    with _client(built, max_query_string=100) as c:
        response = c.get("/v1/search", params=params)
        assert response.status_code == 414 and "100" in response.json()["detail"]


def test_log_format_json_or_text(tiny: Settings) -> None:
    from practice_finder.web.logs import configure_logging

    built = _built(tiny)
    lines: dict[str, str] = {}
    for fmt in ("json", "text"):
        with _client(built, log_format=fmt):
            handler = logging.getLogger("practice_finder").handlers[0]
            assert isinstance(handler, logging.StreamHandler)
            out = io.StringIO()
            handler.setStream(out)
            logging.getLogger("practice_finder.test").info("hello")
            lines[fmt] = out.getvalue().strip()
    assert json.loads(lines["json"])["message"] == "hello"
    assert lines["text"].endswith("hello") and not lines["text"].startswith("{")
    configure_logging("json")
