"""The public API in `practice_finder`: every name resolves, importing it stays cheap, and it works end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import practice_finder as pf
from practice_finder.config import Settings

from .conftest import ROOT
from .fakes import HashingEmbedder

HEAVY = ("numpy", "faiss", "torch", "sentence_transformers", "spacy")


def _imports_after(code: str) -> set[str]:
    """The heavy libraries loaded by a fresh interpreter after running `code`."""
    check = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, env=env, check=True
    )
    return {m for m in out.stdout.strip().split(",") if m}


def test_importing_the_package_loads_no_heavy_library() -> None:
    assert _imports_after("import practice_finder") == set()


def test_the_cli_help_loads_no_heavy_library() -> None:
    code = (
        "from click.testing import CliRunner\nfrom practice_finder.cli.main import cli\n"
        "assert CliRunner().invoke(cli, ['--help']).exit_code == 0"
    )
    assert _imports_after(code) == set()


@pytest.mark.parametrize("name", pf.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(pf, name)
    assert value is not None and name in dir(pf)
    if name.endswith("Error"):
        assert issubclass(value, pf.PracticeFinderError)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        pf.no_such_thing  # type: ignore[attr-defined]  # noqa: B018


def test_search_and_recommend_through_the_public_api(tiny: Settings) -> None:
    embedder = HashingEmbedder()
    report = pf.ingest(tiny, lambda: embedder)
    assert report.counts["practices"] == 3
    index = pf.open_index(tiny, lambda: embedder)
    try:
        result = pf.search(index, pf.SearchQuery("library evenings against loneliness", k=2))
        assert result.hits[0].id == "testby-library-evenings"
        picks = pf.recommend(index, pf.RecommendationRequest(city="testby", k=2))
        assert len(picks.recommendations) == 2
        with pytest.raises(pf.NotFoundError):
            pf.recommend(index, pf.RecommendationRequest(city="atlantis"))
    finally:
        index.close()


def test_the_usage_example_runs(
    tiny: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example in the package docstring, on the tiny corpus with the hashing embedder."""
    assert pf.__doc__ is not None
    example = pf.__doc__.split("::\n", 1)[1].split("\n\nNames", 1)[0]
    monkeypatch.setenv("PF_CORPUS_DIR", str(tiny.corpus_dir))
    monkeypatch.setenv("PF_INDEX_DIR", str(tiny.index_dir))
    monkeypatch.setenv("PF_STATE_DIR", str(tiny.index_dir.parent / "state"))
    monkeypatch.setenv("PF_PROGRESS", "false")
    monkeypatch.setattr(pf, "load_embedder", lambda *args: HashingEmbedder(), raising=False)
    exec(textwrap.dedent(example), {})
    printed = capsys.readouterr().out
    assert "Library evenings against loneliness" in printed and "kuldiga" in printed
