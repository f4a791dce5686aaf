"""Every setting has its documented effect on every surface where it applies (library, API, pages, CLI).

`COVERED` names the test of each field of `Settings`; the meta-tests check it names every field and that
each named test exists, so a new setting without a test fails here.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from practice_finder.build import versions
from practice_finder.build.ingest import ingest
from practice_finder.cli.main import cli
from practice_finder.config import DEFAULT_MODEL, ENGLISH_MODEL, Settings, key_digest
from practice_finder.errors import IndexMismatchError, PracticeFinderError
from practice_finder.query.handle import open_index
from practice_finder.web.app import create_app

from .conftest import CORPUS, ROOT
from .fakes import HashingEmbedder, service_settings, write_tiny_corpus

COVERED: dict[str, str | tuple[str, ...]] = {
    "corpus_dir": "tests/test_settings.py::test_paths_reach_ingest_and_the_service",
    "index_dir": "tests/test_settings.py::test_paths_reach_ingest_and_the_service",
    "dictionaries_dir": "tests/test_dictionaries.py::test_ingest_copies_the_dictionaries_into_the_build",
    "model": "tests/test_settings.py::test_an_index_built_with_one_model_is_refused_with_another",
    "batch_size": "tests/test_settings.py::test_batch_size_and_threads_reach_the_embedder",
    "keep_builds": "tests/test_ingest.py::test_old_builds_are_pruned",
    "threads": (
        "tests/test_settings.py::test_batch_size_and_threads_reach_the_embedder",
        "tests/test_settings_service.py::test_serve_listens_on_host_and_port",
    ),
    "rrf_k": "tests/test_settings.py::test_rrf_k_on_every_surface",
    "candidates": "tests/test_settings.py::test_candidates_on_every_surface",
    "fusion": (
        "tests/test_settings.py::test_fusion_by_scores_on_every_surface",
        "tests/test_settings.py::test_rrf_k_on_every_surface",
        "tests/test_settings.py::test_ranking_settings_that_cannot_rank_are_refused",
    ),
    "language_offset": (
        "tests/test_offsets.py::test_the_shares_are_checked_settings",
        "tests/test_offsets.py::test_a_latvian_question_moves_towards_english_and_an_english_one_stays",
    ),
    "language_map": (
        "tests/test_offsets.py::test_the_shares_are_checked_settings",
        "tests/test_offsets.py::test_a_latvian_question_moves_towards_english_and_an_english_one_stays",
        "tests/test_offsets.py::test_the_map_takes_a_term_it_never_saw_nearer_its_english_one",
    ),
    "question_centring": (
        "tests/test_offsets.py::test_the_shares_are_checked_settings",
        "tests/test_offsets.py::test_english_questions_lose_part_of_what_all_questions_share",
    ),
    "progress": "tests/test_settings.py::test_progress_reaches_the_embedder",
    "query_encoder": (
        "tests/test_settings.py::test_an_unknown_query_encoder_is_refused",
        "tests/test_onnx.py::test_the_service_encodes_queries_with_int8_onnx_by_default",
        "tests/test_onnx.py::test_torch_can_be_chosen",
    ),
    "host": "tests/test_settings_service.py::test_serve_listens_on_host_and_port",
    "port": "tests/test_settings_service.py::test_serve_listens_on_host_and_port",
    "state_dir": "tests/test_settings.py::test_paths_reach_ingest_and_the_service",
    "auto_reindex": "tests/test_settings_service.py::test_auto_reindex_off_leaves_writes_pending",
    "reindex_delay": "tests/test_writes.py::test_writes_wait_for_quiet_before_reindexing",
    "reindex_runner": (
        "tests/test_writes.py::test_a_write_is_searchable_after_the_background_reindex",  # thread
        "tests/test_writes.py::test_write_path_with_the_real_model",  # subprocess (the default)
    ),
    "watch_interval": "tests/test_settings_service.py::test_the_watcher_checks_every_watch_interval",
    "admin_keys": (
        "tests/test_security.py::test_writes_need_an_admin_key",
        "tests/test_security.py::test_without_admin_keys_writes_are_switched_off",
    ),
    "read_keys": "tests/test_security.py::test_reads_are_open_by_default_and_closed_when_configured",
    "require_read_key": (
        "tests/test_security.py::test_reads_are_open_by_default_and_closed_when_configured"
    ),
    "require_metrics_key": "tests/test_security.py::test_metrics_have_their_own_switch",
    "rate_limit": "tests/test_security.py::test_rate_limit_per_client",
    "trusted_proxies": "tests/test_server.py::test_forwarded_headers_count_only_from_trusted_proxies",
    "header_timeout": (
        "tests/test_server.py::test_serve_passes_the_connection_limits",
        "tests/test_server.py::test_unfinished_or_huge_headers_are_cut_off",
    ),
    "max_header_bytes": (
        "tests/test_server.py::test_serve_passes_the_connection_limits",
        "tests/test_server.py::test_unfinished_or_huge_headers_are_cut_off",
    ),
    "timeout_keep_alive": "tests/test_server.py::test_serve_passes_the_connection_limits",
    "limit_concurrency": "tests/test_server.py::test_serve_passes_the_connection_limits",
    "rate_limit_body_bytes": "tests/test_heavy.py::test_a_large_body_counts_as_several_requests",
    "max_body_bytes": "tests/test_security.py::test_body_and_query_string_limits",
    "max_query_string": "tests/test_settings_service.py::test_max_query_string",
    "profile_embed_chars": (
        "tests/test_heavy.py::test_only_the_start_of_a_long_text_is_embedded_and_the_answer_says_so"
    ),
    "heavy_requests": (
        "tests/test_heavy.py::test_a_busy_service_answers_503_with_retry_after_and_searches_still_run"
    ),
    "heavy_queue": (
        "tests/test_heavy.py::test_a_busy_service_answers_503_with_retry_after_and_searches_still_run"
    ),
    "question_vectors_kept": (
        "tests/test_heavy.py::test_the_next_page_of_a_question_does_not_encode_it_again"
    ),
    "cors_origins": "tests/test_security.py::test_cors_only_for_configured_origins",
    "log_format": "tests/test_settings_service.py::test_log_format_json_or_text",
    "extra": "tests/test_settings.py::test_extra_is_never_read_from_nor_passed_to_the_environment",
}

QUESTION = "library evenings harbour songs loneliness older people"


def test_every_setting_has_a_test() -> None:
    assert set(COVERED) == {f.name for f in fields(Settings)}


def test_every_named_test_exists() -> None:
    defined: dict[str, set[str]] = {}
    for entry in COVERED.values():
        for name in (entry,) if isinstance(entry, str) else entry:
            path, test = name.split("::")
            if path not in defined:
                tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
                defined[path] = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            assert test in defined[path], name


def test_the_readme_lists_exactly_the_settings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(PF_[A-Z_]+)` \|", table, flags=re.MULTILINE)
    expected = [f"PF_{f.name.upper()}" for f in fields(Settings) if f.name != "extra"]
    assert sorted(listed) == sorted(expected) and len(listed) == len(set(listed))


def test_every_setting_is_read_from_its_environment_variable() -> None:
    changed = Settings(
        corpus_dir=Path("/c"),
        index_dir=Path("/i"),
        dictionaries_dir=Path("/d"),
        model=ENGLISH_MODEL,
        batch_size=7,
        keep_builds=5,
        threads=3,
        rrf_k=11,
        candidates=13,
        fusion="ranks",
        language_offset=0.5,
        language_map="0.2",
        question_centring="0.3",
        progress=False,
        query_encoder="torch",
        host="0.0.0.0",
        port=9000,
        state_dir=Path("/s"),
        auto_reindex=False,
        reindex_delay=9,
        reindex_runner="thread",
        watch_interval=4,
        require_read_key=True,
        require_metrics_key=True,
        rate_limit=17,
        trusted_proxies=("10.0.0.1", "192.168.0.0/16"),
        header_timeout=3,
        max_header_bytes=999,
        timeout_keep_alive=7,
        limit_concurrency=8,
        rate_limit_body_bytes=321,
        max_body_bytes=1234,
        max_query_string=99,
        profile_embed_chars=777,
        heavy_requests=2,
        heavy_queue=3,
        question_vectors_kept=5,
        cors_origins=("https://a.example", "https://b.example"),
        log_format="text",
    )
    assert Settings.from_env(changed.to_env()) == changed
    keys = {"PF_ADMIN_KEYS": "a-key", "PF_READ_KEYS": "b-key,c-key"}
    read = Settings.from_env(keys)
    assert read.admin_keys == (key_digest("a-key"),)
    assert read.read_keys == (key_digest("b-key"), key_digest("c-key"))


# -- a tiny build shared by the tests below ----------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, HashingEmbedder]:
    root = tmp_path_factory.mktemp("settings")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    settings = service_settings(root, auto_reindex=False)
    ingest(settings, lambda: embedder)
    return settings, embedder


def _client(built: tuple[Settings, HashingEmbedder], **changes: Any) -> TestClient:
    settings, embedder = built
    return TestClient(create_app(settings.with_(**changes), lambda: embedder, watch=False))


@pytest.fixture
def hashing_models(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """`load_embedder` replaced by one giving the hashing embedder; records (model, batch size, threads)."""
    calls: list[tuple[str, int, int]] = []

    def load(name: str, batch_size: int = 32, threads: int = 0) -> HashingEmbedder:
        calls.append((name, batch_size, threads))
        return HashingEmbedder()

    monkeypatch.setattr("practice_finder.build.encoders.load_embedder", load)
    return calls


def _cli(args: list[str], env: dict[str, str]) -> Any:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _surfaces(
    built: tuple[Settings, HashingEmbedder], env: dict[str, str], **changes: Any
) -> dict[str, Any]:
    """The same question asked of the API, the search page, the CLI, and a recommendation."""
    settings, _ = built
    with _client(built, **changes) as c:
        api = c.get("/v1/search", params={"q": QUESTION}).json()
        page = c.get("/", params={"q": QUESTION}).text
        recs = c.post("/v1/recommendations", json={"city": "testby"}).json()
    cli_env = {"PF_INDEX_DIR": str(settings.index_dir), **env}
    shown = json.loads(_cli(["search", QUESTION, "--json"], cli_env).output)
    total = re.search(r'<span id="total">(\d+)</span>', page)
    assert total is not None
    return {"api": api, "page_total": int(total.group(1)), "cli": shown, "recs": recs}


def test_candidates_on_every_surface(
    built: tuple[Settings, HashingEmbedder], hashing_models: list[Any]
) -> None:
    """PF_CANDIDATES is how many practices each leg keeps: with 1, one practice per leg everywhere."""
    default = _surfaces(built, {})
    one = _surfaces(built, {"PF_CANDIDATES": "1"}, candidates=1)
    assert default["api"]["total"] == default["cli"]["total"] == default["page_total"] == 3
    assert one["api"]["total"] == one["cli"]["total"] == one["page_total"] == 1
    for found in (one["api"], one["cli"]):
        assert all(
            rank in (1, None) for hit in found["hits"] for rank in hit["why"]["ranks"].values()
        )
    meaning = [r["ranks"]["meaning"] for r in one["recs"]["recommendations"]]
    assert [m for m in meaning if m is not None] == [1]
    assert len([r for r in default["recs"]["recommendations"] if r["ranks"]["meaning"]]) == 3


def test_rrf_k_on_every_surface(
    built: tuple[Settings, HashingEmbedder],
    hashing_models: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PF_RRF_K is the fusion constant: score = sum of 1 / (k + rank); k = 0 gives the top hit 1 per leg.
    Searches fuse by rank with PF_FUSION=ranks; recommendations always do."""
    from practice_finder.query import fusion

    used: list[int] = []
    fuse = fusion.reciprocal_rank_fusion

    def spy(lists: Any, k: int = fusion.DEFAULT_RRF_K, weights: Any = None) -> Any:
        used.append(k)
        return fuse(lists, k=k, weights=weights)

    monkeypatch.setattr(fusion, "reciprocal_rank_fusion", spy)
    ranks = {"PF_FUSION": "ranks"}
    default = _surfaces(built, ranks, fusion="ranks")
    assert set(used) == {60}
    used.clear()
    zero = _surfaces(built, {**ranks, "PF_RRF_K": "0"}, rrf_k=0, fusion="ranks")
    assert set(used) == {0}  # the page too, whose scores are not shown
    legs = len(zero["api"]["hits"][0]["why"]["ranks"])
    for surface in ("api", "cli"):
        assert default[surface]["hits"][0]["score"] == pytest.approx(legs / 61, abs=1e-5)
        assert zero[surface]["hits"][0]["score"] == pytest.approx(legs, abs=1e-5)
    assert (
        zero["recs"]["recommendations"][0]["score"]
        > 1
        > default["recs"]["recommendations"][0]["score"]
    )


def test_fusion_by_scores_on_every_surface(
    built: tuple[Settings, HashingEmbedder],
    hashing_models: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """By default (PF_FUSION=scores) a search fuses its legs' scaled scores: the API, the page and the CLI
    all call score_fusion, and a hit's score is at most the sum of the legs' weights."""
    from practice_finder.query import fusion

    calls: list[int] = []
    fuse = fusion.score_fusion

    def spy(lists: Any, weights: Any = None, floors: Any = None) -> Any:
        calls.append(len(lists))
        return fuse(lists, weights, floors)

    monkeypatch.setattr(fusion, "score_fusion", spy)
    found = _surfaces(built, {})
    assert len(calls) >= 3  # API, page, CLI
    assert found["api"]["hits"] == found["cli"]["hits"]
    most = 2 + 1 + 1  # dense at most as much as both word legs
    assert all(0 <= hit["score"] <= most for hit in found["api"]["hits"])
    assert found["api"]["hits"][0]["score"] > 1  # the first of more than one leg


def test_ranking_settings_that_cannot_rank_are_refused(
    built: tuple[Settings, HashingEmbedder],
) -> None:
    settings, embedder = built
    for bad in ({"candidates": 0}, {"rrf_k": -1}, {"fusion": "borda"}):
        with pytest.raises(PracticeFinderError, match=f"PF_{next(iter(bad)).upper()}"):
            open_index(settings.with_(**bad), lambda: embedder)


def test_paths_reach_ingest_and_the_service(tmp_path: Path, hashing_models: list[Any]) -> None:
    """PF_CORPUS_DIR is read by ingest, PF_INDEX_DIR receives its builds, PF_STATE_DIR holds the write log."""
    write_tiny_corpus(tmp_path / "my-corpus", CORPUS / "taxonomy.yaml")
    env = {
        "PF_CORPUS_DIR": str(tmp_path / "my-corpus"),
        "PF_INDEX_DIR": str(tmp_path / "my-indexes"),
        "PF_STATE_DIR": str(tmp_path / "my-state"),
        "PF_PROGRESS": "false",
    }
    report = json.loads(_cli(["ingest", "--json"], env).output)
    assert report["counts"]["practices"] == 3
    assert versions.current_build(tmp_path / "my-indexes").name == report["build_id"]  # type: ignore[union-attr]
    settings = Settings.from_env(
        env, admin_keys=(key_digest("k"),), reindex_runner="thread", auto_reindex=False
    )
    with TestClient(create_app(settings, HashingEmbedder, watch=False)) as c:
        record = json.loads(c.get("/v1/practices", params={"format": "jsonl"}).text.splitlines()[0])
        record["id"] = "a-new-one"
        assert c.post("/v1/practices", json=record, headers={"X-API-Key": "k"}).status_code == 202
    assert (tmp_path / "my-state" / "writes.db").exists()


def test_an_index_built_with_one_model_is_refused_with_another(
    built: tuple[Settings, HashingEmbedder],
) -> None:
    settings, embedder = built
    assert open_index(settings, lambda: embedder).embedder.name == DEFAULT_MODEL
    with pytest.raises(IndexMismatchError, match=ENGLISH_MODEL):
        open_index(settings.with_(model=ENGLISH_MODEL), lambda: embedder)
    with _client(built, model=ENGLISH_MODEL) as c:
        ready = c.get("/ready")
        assert ready.status_code == 503 and ENGLISH_MODEL in ready.text


def test_batch_size_and_threads_reach_the_embedder(
    built: tuple[Settings, HashingEmbedder], hashing_models: list[tuple[str, int, int]]
) -> None:
    """The CLI (ingest, search) and the service load the model with PF_BATCH_SIZE and PF_THREADS."""
    settings, _ = built
    env = {
        "PF_INDEX_DIR": str(settings.index_dir),
        "PF_STATE_DIR": str(settings.state_dir),
        "PF_BATCH_SIZE": "7",
        "PF_THREADS": "3",
    }
    _cli(["ingest", "--corpus", str(settings.corpus_dir), "--force", "--no-progress"], env)
    _cli(["search", "library"], env)
    with TestClient(create_app(settings.with_(batch_size=7, threads=3), watch=False)) as c:
        assert c.get("/v1/search", params={"q": "library"}).status_code == 200
    assert hashing_models == [(DEFAULT_MODEL, 7, 3)] * 3


class _ProgressEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.progress: list[bool] = []

    def encode(self, texts: Any, *, kind: str = "passage", progress: bool = False) -> np.ndarray:
        self.progress.append(progress)
        return super().encode(texts, kind=kind, progress=progress)


@pytest.mark.parametrize("progress", [True, False])
def test_progress_reaches_the_embedder(tiny: Settings, progress: bool) -> None:
    embedder = _ProgressEmbedder()
    ingest(tiny.with_(progress=progress), lambda: embedder)
    assert embedder.progress == [progress, progress]  # the passages, then the tag texts


def test_an_unknown_query_encoder_is_refused(built: tuple[Settings, HashingEmbedder]) -> None:
    settings, embedder = built
    with pytest.raises(PracticeFinderError, match="PF_QUERY_ENCODER"):
        open_index(settings.with_(query_encoder="fast"), lambda: embedder)


def test_extra_is_never_read_from_nor_passed_to_the_environment() -> None:
    """`extra` is free space for code embedding the library: no variable sets it, no child inherits it, and
    it takes no part in comparing settings."""
    settings = Settings.from_env({"PF_EXTRA": "x"})
    assert settings.extra == {}
    tagged = Settings(extra={"deployment": "test"})
    assert "PF_EXTRA" not in tagged.to_env() and tagged == Settings()
