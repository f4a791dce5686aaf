"""Faults: damaged builds, a build from another model, and a process killed in the middle of writes.

The long versions (a server killed with kill -9 during a burst of writes over HTTP, load during a re-index)
are scripts/crash_test.py and scripts/load_test.py; their figures are in docs/reliability.md#load and
docs/reliability.md#crash-kill--9-during-writes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from practice_finder.build import versions
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings, key_digest
from practice_finder.corpus.catalog import Catalog
from practice_finder.corpus.write_log import WriteLog
from practice_finder.errors import IndexMismatchError
from practice_finder.query.handle import open_index
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, write_tiny_corpus

KEY = "fault-key"


def _settings(root: Path) -> Settings:
    return Settings(
        corpus_dir=root / "corpus",
        index_dir=root / "indexes",
        state_dir=root / "state",
        progress=False,
        admin_keys=(key_digest(KEY),),
        reindex_runner="thread",
        reindex_delay=0,
        log_format="text",
    )


@pytest.fixture(scope="module")
def built_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Two good builds, made once for the module: an older one and the current one (a corpus edit apart)."""
    root = tmp_path_factory.mktemp("two-builds")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    settings = _settings(root)
    old = ingest(settings, lambda: embedder).build_id
    page = next((settings.corpus_dir / "practices").glob("*.md"))
    page.write_text(
        page.read_text().replace("## Success factors", "## Success factors\n\nA newer sentence.")
    )
    new = ingest(settings, lambda: embedder).build_id
    assert old and new and old != new
    return root, old, new


@pytest.fixture
def two_builds(
    built_twice: tuple[Path, str, str], tmp_path: Path
) -> tuple[Settings, HashingEmbedder, str, str]:
    """A copy of the two builds for one test to damage."""
    root, old, new = built_twice
    for folder in ("corpus", "indexes"):
        shutil.copytree(root / folder, tmp_path / folder, symlinks=True)
    return _settings(tmp_path), HashingEmbedder(), old, new


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def app_of(two_builds: tuple[Settings, HashingEmbedder, str, str]) -> Iterator[Any]:
    settings, embedder, _, _ = two_builds
    made: list[TestClient] = []

    def make() -> tuple[TestClient, Any]:
        app = create_app(settings, lambda: embedder, watch=False)
        client = TestClient(app)
        client.__enter__()
        made.append(client)
        return client, app.state["service"]

    yield make
    for client in made:
        client.__exit__(None, None, None)


def test_a_truncated_vector_file_is_refused_and_the_last_good_build_served(
    two_builds: Any, app_of: Any
) -> None:
    settings, embedder, old, new = two_builds
    _truncate(versions.builds_dir(settings.index_dir) / new / "vectors-practice.faiss")
    with pytest.raises(IndexMismatchError, match="vectors-practice.faiss"):
        open_index(settings, lambda: embedder)
    client, _ = app_of()
    ready = client.get("/ready").json()
    assert ready["build"] == old
    assert (
        ready["refused_builds"][0]["build"] == new
        and "vectors-practice.faiss" in ready["refused_builds"][0]["reason"]
    )
    assert client.get("/v1/search", params={"q": "choir"}).status_code == 200
    status = client.get("/v1/admin/status", headers={"X-API-Key": KEY}).json()
    assert status["refused_builds"] and status["build"] == old
    assert "pf_refused_builds 1.0" in client.get("/metrics").text


def test_a_build_from_another_model_is_refused(two_builds: Any, app_of: Any) -> None:
    settings, _, old, new = two_builds
    path = versions.builds_dir(settings.index_dir) / new
    manifest = versions.read_manifest(path)
    manifest.model.name = "some-other-model"
    versions.write_manifest(path, manifest)
    client, _ = app_of()
    ready = client.get("/ready").json()
    assert ready["build"] == old and "some-other-model" in ready["refused_builds"][0]["reason"]


def test_with_no_usable_build_ready_is_503_with_the_reason(two_builds: Any, app_of: Any) -> None:
    settings, embedder, old, new = two_builds
    for build in (old, new):
        (versions.builds_dir(settings.index_dir) / build / "store.db").write_bytes(
            b"not a database"
        )
    client, _ = app_of()
    response = client.get("/ready")
    assert response.status_code == 503 and "store.db" in response.json()["detail"]
    assert "ingest" in response.json()["hint"]
    assert "pf_index_ready 0.0" in client.get("/metrics").text
    # the fix the hint names: a damaged current build is rebuilt
    report = ingest(settings, lambda: embedder)
    assert report.build_id is not None and report.reason == "no current build"


def test_a_damaged_new_build_does_not_replace_the_one_served(two_builds: Any, app_of: Any) -> None:
    """CURRENT moves to a broken build (a bad copy, a disk error): the watcher refuses it and keeps serving."""
    settings, embedder, old, new = two_builds
    client, service = app_of()
    assert client.get("/ready").json()["build"] == new
    (settings.index_dir / versions.POINTER).write_text(old + "\n")
    _truncate(versions.builds_dir(settings.index_dir) / old / "store.db")
    service.tick()
    ready = client.get("/ready").json()
    assert ready["build"] == new and ready["refused_builds"][0]["build"] == old
    assert client.get("/v1/search", params={"q": "choir"}).status_code == 200


def test_a_good_new_build_is_swapped_in_by_the_watcher(two_builds: Any, app_of: Any) -> None:
    """A build published by another process (a CLI ingest, another worker) is picked up without a restart."""
    settings, embedder, _, new = two_builds
    client, service = app_of()
    page = next((settings.corpus_dir / "practices").glob("*.md"))
    page.write_text(page.read_text().replace("A newer sentence.", "A third version."))
    newest = ingest(settings, lambda: embedder).build_id
    service.tick()
    assert client.get("/ready").json()["build"] == newest != new


WRITER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from practice_finder.corpus.catalog import Catalog
    catalog = Catalog(Path(sys.argv[1]), Path(sys.argv[2]))
    base = next(iter(catalog.export("practice")))
    for i in range(100000):
        result = catalog.put("practice", {**base, "id": f"burst-{i}", "title": f"Burst record {i}"})
        print(json.dumps([result.id, result.seq]), flush=True)  # acknowledged: committed before this line
""")


def test_kill_9_during_writes_loses_no_acknowledged_write(two_builds: Any, tmp_path: Path) -> None:
    settings, embedder, _, _ = two_builds
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(settings.corpus_dir), str(settings.state_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    acked: list[list[Any]] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while len(acked) < 40 and time.monotonic() < deadline:
        acked.append(json.loads(proc.stdout.readline()))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked.extend(json.loads(line) for line in proc.stdout.read().splitlines() if line.strip())
    assert len(acked) >= 40
    entries = WriteLog(settings.state_dir).latest()
    missing = [
        rid
        for rid, seq in acked
        if ("practice", rid) not in entries or entries[("practice", rid)].seq != seq
    ]
    assert missing == []
    merged, _ = Catalog(
        settings.corpus_dir, settings.state_dir
    ).current()  # the log is whole: it still builds
    assert {rid for rid, _ in acked} <= {p.id for p in merged.practices}
    report = ingest(settings, lambda: embedder)
    assert report.counts["practices"] == len(merged.practices)


def test_ready_status_and_metrics_report_the_manifest_as_written(
    two_builds: Any, app_of: Any
) -> None:
    settings, _, _, new = two_builds
    written = json.loads(
        (versions.builds_dir(settings.index_dir) / new / "manifest.json").read_text()
    )
    client, _ = app_of()
    assert client.get("/ready").json()["manifest"] == written
    status = client.get("/v1/admin/status", headers={"X-API-Key": KEY}).json()
    assert (status["model"], status["built_at"]) == (written["model"]["name"], written["built_at"])
    assert status["counts"] == written["counts"] and status["writes_served"] == 0
    assert f'model="{written["model"]["name"]}"' in client.get("/metrics").text


def _damage_in_place(path: Path) -> None:
    """Overwrite the second half of a file with zeros, as a disk error would: the open connections stay."""
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.seek(size // 2)
        fh.write(b"\0" * (size - size // 2))


def test_a_store_damaged_while_serving_is_replaced_by_the_newest_intact_build(
    two_builds: Any, app_of: Any
) -> None:
    """The first read that SQLite finds damaged takes the build out of service (/ready 503, as are the
    requests meanwhile); the watcher then opens the newest intact build, as a restart does, and pages answer
    from it."""
    settings, _, old, new = two_builds
    client, service = app_of()
    practice = client.get("/v1/search", params={"q": "choir", "k": 1}).json()["hits"][0]["id"]
    _damage_in_place(versions.builds_dir(settings.index_dir) / new / "store.db")
    failed = client.get(f"/v1/practices/{practice}/similar")
    assert failed.status_code == 503 and f"build {new} cannot be read" in failed.json()["detail"]
    ready = client.get("/ready")
    assert ready.status_code == 503 and new in ready.json()["detail"]
    assert "pf_index_ready 0.0" in client.get("/metrics").text
    service.tick()
    ready = client.get("/ready").json()
    assert ready["build"] == old and ready["refused_builds"][0]["build"] == new
    assert "store.db" in ready["refused_builds"][0]["reason"]
    for path in (f"/practices/{practice}", "/towns/testby", f"/v1/practices/{practice}/similar"):
        assert client.get(path).status_code == 200, path


def test_recovery_from_a_damaged_current_build_reuses_the_newest_intact_one(
    two_builds: Any,
) -> None:
    """Ingest after damage compares with, and takes embeddings and analyses from, the newest build that is
    intact: only what changed since that one is embedded again."""
    settings, embedder, old, new = two_builds
    _truncate(versions.builds_dir(settings.index_dir) / new / "store.db")
    report = ingest(settings, lambda: embedder)
    assert report.build_id is not None
    assert f"the current build {new} cannot be used" in report.reason and old in report.reason
    assert report.changes["changed"] == 1 and report.changes["unchanged"] == 4
    assert report.reused > 0 and report.embedded <= 2, (report.embedded, report.reused)
    print(f"recovery: {report.embedded} texts embedded, {report.reused} reused")
