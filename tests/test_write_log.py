"""The write log on a bad day: lost or restored from an older backup (it then ends before the build being
served), damaged, or truncated. Writes are refused with a 503 that says what to do, searches go on, /ready,
the status and the metrics report the log, and `practice-finder writes reseed` brings it back."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.cli.main import cli
from practice_finder.config import Settings
from practice_finder.corpus.catalog import Catalog
from practice_finder.errors import PracticeFinderError
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, service_settings, write_tiny_corpus

KEY = "log-key"
ADMIN = {"Authorization": f"Bearer {KEY}"}


def _settings(root: Path) -> Settings:
    return service_settings(root, KEY, dictionaries_dir=root / "no-dictionaries")


def _remove_log(state_dir: Path) -> None:
    for name in ("writes.db", "writes.db-wal", "writes.db-shm"):
        (state_dir / name).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def built_with_writes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build holding three logged writes (two new practices, one deleted corpus practice), with a copy of
    the log as it was after the first: the older backup."""
    root = tmp_path_factory.mktemp("log-build")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    settings = _settings(root)
    catalog = Catalog(settings.corpus_dir, settings.state_dir)
    base = next(iter(catalog.export("practice")))
    catalog.put("practice", {**base, "id": "logged-one", "title": "Logged one"})
    shutil.copy(settings.state_dir / "writes.db", root / "backup.db")
    catalog.put("practice", {**base, "id": "logged-two", "title": "Logged two"})
    catalog.delete("practice", "ostby-memory-group")
    embedder = HashingEmbedder()
    assert ingest(settings, lambda: embedder).writes_seq == 3
    return root


@pytest.fixture
def root(built_with_writes: Path, tmp_path: Path) -> Path:
    for name in ("corpus", "indexes", "state"):
        shutil.copytree(built_with_writes / name, tmp_path / name, symlinks=True)
    shutil.copy(built_with_writes / "backup.db", tmp_path / "backup.db")
    return tmp_path


@pytest.fixture
def serve(root: Path) -> Iterator[Any]:
    made: list[TestClient] = []

    def start() -> tuple[TestClient, Any]:
        embedder = HashingEmbedder()
        app = create_app(_settings(root), lambda: embedder, watch=False)
        client = TestClient(app)
        client.__enter__()
        made.append(client)
        return client, app.state["service"]

    yield start
    for client in made:
        client.__exit__(None, None, None)


def _record(client: TestClient, pid: str) -> dict[str, Any]:
    first = client.get("/v1/practices", params={"format": "jsonl"}).text.splitlines()[0]
    return {**json.loads(first), "id": pid, "title": f"Title of {pid}"}


def _ids(client: TestClient) -> set[str]:
    lines = client.get("/v1/practices", params={"format": "jsonl"}).text.splitlines()
    return {json.loads(line)["id"] for line in lines}


def test_a_log_restored_from_an_older_backup_refuses_writes_until_reseeded(
    root: Path, serve: Any
) -> None:
    _remove_log(root / "state")
    shutil.copy(
        root / "backup.db", root / "state" / "writes.db"
    )  # ends at write 1; the build holds 3
    client, _ = serve()
    ready = client.get("/ready").json()
    assert ready["ready"] and "ends at write 1" in ready["write_log_error"]
    refused = client.post("/v1/practices", json=_record(client, "after-restore"), headers=ADMIN)
    body = refused.json()
    assert refused.status_code == 503 and body["type"] == "/problems/write-log-unusable"
    assert "holds writes up to 3" in body["detail"] and "writes reseed" in body["hint"]
    status = client.get("/v1/admin/status", headers=ADMIN).json()
    assert status["writes_logged"] == 1 and "ends at write 1" in status["write_log_error"]
    assert "pf_write_log_usable 0.0" in client.get("/metrics").text
    # the export, taken from this log, lacks what the build holds: the reason writes are refused
    assert "logged-two" not in _ids(client)

    done = CliRunner().invoke(
        cli,
        ["writes", "reseed", "--corpus", str(root / "corpus"), "--index", str(root / "indexes")],
        env={"PF_STATE_DIR": str(root / "state")},
    )
    assert done.exit_code == 0, done.output
    assert "1 record(s) logged as written, 1 as deleted" in done.output
    assert "now ends at 5" in done.output

    accepted = client.post("/v1/practices", json=_record(client, "after-restore"), headers=ADMIN)
    assert accepted.status_code == 202 and accepted.json()["seq"] == 6
    assert {"logged-one", "logged-two", "after-restore"} <= _ids(client)
    assert "ostby-memory-group" not in _ids(client)
    assert client.get("/ready").json().get("write_log_error") is None


def test_a_lost_log_is_found_at_start_and_ingest_refuses_it(root: Path, serve: Any) -> None:
    _remove_log(root / "state")
    client, _ = serve()
    assert "ends at write 0" in client.get("/ready").json()["write_log_error"]
    assert (
        client.delete("/v1/practices/logged-one", headers=ADMIN).status_code == 503
    )  # before each write, not only at start
    embedder = HashingEmbedder()
    with pytest.raises(PracticeFinderError, match="holds writes up to 3"):
        ingest(_settings(root), lambda: embedder, force=True)


def test_reseeding_a_log_in_order_logs_nothing(root: Path) -> None:
    done = CliRunner().invoke(
        cli,
        ["writes", "reseed", "--json"],
        env={
            "PF_STATE_DIR": str(root / "state"),
            "PF_CORPUS_DIR": str(root / "corpus"),
            "PF_INDEX_DIR": str(root / "indexes"),
        },
    )
    assert done.exit_code == 0, done.output
    assert '"put": 0' in done.output and '"deleted": 0' in done.output
    assert '"log_seq": 3' in done.output


def test_a_damaged_log_refuses_writes_with_the_reason_and_searches_go_on(
    root: Path, serve: Any
) -> None:
    record = {**next(iter(Catalog(root / "corpus", root / "state").export("practice"))), "id": "x"}
    shutil.copy(root / "state" / "writes.db", root / "good.db")
    _remove_log(root / "state")
    (root / "state" / "writes.db").write_bytes(b"this is not a database " * 200)
    client, service = serve()
    written = client.post("/v1/practices", json=record, headers=ADMIN)
    assert written.status_code == 503 and "not a database" in written.json()["detail"]
    assert written.json()["type"] == "/problems/write-log-unusable"
    assert client.get("/v1/practices", params={"format": "jsonl"}).status_code == 503
    assert client.get("/v1/cities", params={"format": "jsonl"}).status_code == 503
    status = client.get("/v1/admin/status", headers=ADMIN)
    assert status.status_code == 200 and "not a database" in status.json()["write_log_error"]
    assert status.json()["pending_writes"] is None
    ready = client.get("/ready")
    assert ready.status_code == 200 and "not a database" in ready.json()["write_log_error"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "pf_write_log_usable 0.0" in metrics.text
    assert client.get("/v1/search", params={"q": "library"}).status_code == 200
    # the watcher: one line when the state changes, not one per tick
    seen: list[logging.LogRecord] = []
    catcher = logging.Handler()
    catcher.emit = seen.append  # type: ignore[method-assign]
    watcher_log = logging.getLogger("practice_finder.web.serving")
    watcher_log.addHandler(catcher)
    try:
        for _ in range(3):
            service.tick()
        _remove_log(root / "state")
        shutil.copy(root / "good.db", root / "state" / "writes.db")  # the operator restored it
        for _ in range(3):
            service.tick()
    finally:
        watcher_log.removeHandler(catcher)
    changes = [r.getMessage() for r in seen if getattr(r, "event", "") == "write_log"]
    assert changes == ["write log usable"]  # unusable was logged before, when first seen


def test_a_log_truncated_to_nothing_gets_its_table_again(root: Path, serve: Any) -> None:
    """A truncated file holds nothing to save; its table comes back, and the empty log, now behind the
    build, refuses writes until it is re-seeded (so no write gets a number the build already holds)."""
    client, service = serve()
    for suffix in ("-wal", "-shm"):
        (root / "state" / f"writes.db{suffix}").unlink(missing_ok=True)
    (root / "state" / "writes.db").write_bytes(b"")
    refused = client.post("/v1/practices", json=_record(client, "y"), headers=ADMIN)
    assert refused.status_code == 503 and "ends at write 0" in refused.json()["detail"]
    assert service.catalog.log.max_seq() == 0  # readable again: the table is there
