"""The command line: one call per command, one-line errors that say how to fix them, and a killed ingest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from practice_finder.build import versions
from practice_finder.cli.main import cli
from practice_finder.config import DEFAULT_MODEL, Settings

from .conftest import copy_index
from .fakes import HashingEmbedder

# The command-line tests build without the system's bilingual dictionaries (reading them takes half a
# minute a build; tests/test_dictionaries.py covers them).
NO_DICTIONARIES = {"PF_DICTIONARIES_DIR": "/nonexistent/dictd"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **NO_DICTIONARIES}
    return subprocess.run(
        [sys.executable, "-m", "practice_finder", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_search_without_index_is_one_line_with_the_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "library", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1
    lines = (
        result.stderr.strip().splitlines()
        if hasattr(result, "stderr")
        else result.output.strip().splitlines()
    )
    assert lines == [
        f"Error: no index has been built in {tmp_path / 'none'}. Fix: run `practice-finder ingest` (or `make index`) to build one."
    ]


def test_ingest_info_and_search_on_the_tiny_corpus(
    tiny: Settings, fake_embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands in process, with the deterministic embedder in place of the shipped model."""
    monkeypatch.setattr(
        "practice_finder.cli.main._embedder_factory", lambda _: lambda: fake_embedder
    )
    where = ("--index", str(tiny.index_dir))
    built = CliRunner().invoke(
        cli,
        ["ingest", "--corpus", str(tiny.corpus_dir), *where, "--no-progress", "--json"],
        env=NO_DICTIONARIES,
    )
    assert built.exit_code == 0, built.output
    assert json.loads(built.output)["counts"]["practices"] == 3
    info = json.loads(CliRunner().invoke(cli, ["info", *where, "--json"]).output)
    assert info["current"] == json.loads(built.output)["build_id"]
    found = CliRunner().invoke(cli, ["search", "library evenings", "--json", "--k", "2", *where])
    assert found.exit_code == 0, found.output
    assert len(json.loads(found.output)["hits"]) == 2


@pytest.mark.real  # a child process ingests with the shipped model
def test_invalid_corpus_lists_problems_and_keeps_previous_build(tiny_after_real: Settings) -> None:
    tiny = tiny_after_real
    ok = _cli(
        "ingest", "--corpus", str(tiny.corpus_dir), "--index", str(tiny.index_dir), "--no-progress"
    )
    assert ok.returncode == 0, ok.stderr
    first = versions.current_build(tiny.index_dir)
    path = tiny.corpus_dir / "practices" / "testby-library-evenings.md"
    path.write_text(
        path.read_text()
        .replace("challenges: [loneliness]", "challenges: [lonelyness]")
        .replace("title: Library", "titel: Library")
    )
    bad = _cli("ingest", "--corpus", str(tiny.corpus_dir), "--index", str(tiny.index_dir))
    assert bad.returncode == 1
    assert f"{path}: challenges: unknown challenges id 'lonelyness'" in bad.stderr
    assert f"{path}: title: is required but missing" in bad.stderr
    assert f"{path}: titel: is not a known field" in bad.stderr
    assert (
        bad.stderr.strip().splitlines()[-1].startswith("Error: 3 problem(s) in 1 corpus file(s).")
    )
    assert "Traceback" not in bad.stderr
    info = json.loads(_cli("info", "--index", str(tiny.index_dir), "--json").stdout)
    assert info["current"] == first.name  # type: ignore[union-attr]


@pytest.mark.real  # a child process ingests with the shipped model
def test_second_ingest_reembeds_nothing(tiny_after_real: Settings) -> None:
    tiny = tiny_after_real
    args = (
        "ingest",
        "--corpus",
        str(tiny.corpus_dir),
        "--index",
        str(tiny.index_dir),
        "--no-progress",
    )
    real = versions.current_build(tiny.index_dir)
    assert _cli(*args).returncode == 0
    # the taxonomy and the question graph are the real build's: its language offsets are taken over
    made = versions.read_manifest(versions.require_current(tiny.index_dir)).language_offsets
    assert isinstance(made, dict) and made["reused_from"] == real.name  # type: ignore[union-attr]
    assert len(made["languages"]) == 11 and len(made["maps"]) == 11  # the maps come along
    second = _cli(*args, "--json")
    report = json.loads(second.stdout)
    assert report["build_id"] is None and report["embedded"] == 0
    assert report["changes"]["unchanged"] == 5


def test_info_describes_the_current_build(real_settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["info", "--index", str(real_settings.index_dir)])
    assert result.exit_code == 0
    assert f"Model:         {DEFAULT_MODEL} (384 dimensions, cosine)" in result.output
    assert "Countries:     DE, DK, EE, FI, LT, LV, NO, PL, SE" in result.output
    assert (
        "Languages:     offsets for da de et fi lt lv nb pl sv (103 terms); ru uk (41 terms);"
        " maps towards English for 11" in (result.output)
    )


def test_search_json(real_settings: Settings) -> None:
    query = "young people leave our small town, how can culture keep them"
    result = CliRunner().invoke(
        cli,
        [
            "search",
            query,
            "--json",
            "--k",
            "3",
            "--country",
            "fi",
            "--index",
            str(real_settings.index_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [h["country"] for h in data["hits"]] == ["FI"] * 3
    assert set(data["hits"][0]) >= {
        "id",
        "title",
        "municipality",
        "country",
        "years",
        "summary",
        "score",
        "snippet",
        "why",
    }


def test_search_text_output(real_settings: Settings) -> None:
    result = CliRunner().invoke(
        cli, ["search", "wooden houses", "--k", "2", "--index", str(real_settings.index_dir)]
    )
    assert result.exit_code == 0
    assert (
        " 1. " in result.output and " 2. " in result.output and "[wooden]" in result.output.lower()
    )


def test_bad_parameter_is_one_line(real_settings: Settings) -> None:
    result = CliRunner().invoke(
        cli, ["search", "library", "--k", "500", "--index", str(real_settings.index_dir)]
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: k: must be between 1 and 100, got 500."


CHANGED = 6  # practices changed before the killed ingest: several seconds of embedding, re-done by the ingest that follows


def test_killed_ingest_leaves_previous_build_serving(
    real_settings: Settings, corpus_copy: Path, tmp_path: Path
) -> None:
    """kill -9 during embedding: CURRENT still names the old build, it still answers, the next ingest succeeds."""
    index_dir = tmp_path / "indexes"
    copy_index(real_settings.index_dir, index_dir)
    before = versions.current_build(index_dir).name  # type: ignore[union-attr]
    for path in sorted((corpus_copy / "practices").glob("*.md"))[
        :CHANGED
    ]:  # enough new text to embed for a few seconds
        path.write_text(
            path.read_text().replace(
                "## Outcomes and evidence", "A late note was added.\n\n## Outcomes and evidence"
            )
        )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **NO_DICTIONARIES}
    args = [
        sys.executable,
        "-m",
        "practice_finder",
        "ingest",
        "--corpus",
        str(corpus_copy),
        "--index",
        str(index_dir),
        "--progress",
    ]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    assert proc.stderr is not None
    seen = b""
    deadline = time.time() + 300
    while b"Batches" not in seen and time.time() < deadline and proc.poll() is None:
        seen += os.read(proc.stderr.fileno(), 256)
    assert b"Batches" in seen, seen.decode(errors="replace")
    assert list(versions.builds_dir(index_dir).glob(".tmp-*")), (
        "the new build should be in progress"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert versions.current_build(index_dir).name == before  # type: ignore[union-attr]
    found = _cli("search", "wooden town", "--k", "1", "--json", "--index", str(index_dir))
    assert found.returncode == 0 and json.loads(found.stdout)["hits"]
    again = _cli(
        "ingest", "--corpus", str(corpus_copy), "--index", str(index_dir), "--no-progress", "--json"
    )
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["stale_removed"] == 1 and report["changes"]["changed"] == CHANGED
    assert versions.current_build(index_dir).name == report["build_id"] != before  # type: ignore[union-attr]
