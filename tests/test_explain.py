"""Error analysis of a question set: per question, the relevant practices the hybrid ranking missed and
where each leg put them; and a set's translations evaluated with the English judgments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from practice_finder.build.ingest import ingest
from practice_finder.cli.main import cli
from practice_finder.config import Settings
from practice_finder.evaluation.relevance import explain_misses
from practice_finder.query.handle import open_index

from .fakes import HashingEmbedder

QUESTIONS = {"t1": "library evenings against loneliness", "t2": "harbour songs"}
GERMAN = {"t1": "Bibliotheksabende gegen Einsamkeit", "t2": "Hafenlieder"}
JUDGED = {
    "t1": {"testby-library-evenings": 1, "ostby-memory-group": 2, "nordby-harbour-songs": 0},
    "t2": {"nordby-harbour-songs": 2},
}


def _write_set(folder: Path) -> Path:
    (folder / "translations").mkdir(parents=True)
    lines = [json.dumps({"_id": q, "text": t}) for q, t in QUESTIONS.items()]
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    german = [json.dumps({"_id": q, "text": t}) for q, t in GERMAN.items()]
    (folder / "translations" / "queries.de.jsonl").write_text("\n".join(german) + "\n")
    rows = [f"{q}\t{p}\t{g}" for q, judged in JUDGED.items() for p, g in judged.items()]
    (folder / "qrels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def built(tiny: Settings, fake_embedder: HashingEmbedder) -> Settings:
    ingest(tiny, lambda: fake_embedder)
    return tiny


def test_explain_lists_the_missed_relevant_practices_with_each_legs_rank(
    built: Settings,
    fake_embedder: HashingEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = open_index(built, lambda: fake_embedder)
    try:
        explained = explain_misses(index, QUESTIONS, JUDGED, top=1)
    finally:
        index.close()
    by_id = {q["id"]: q for q in explained}
    assert [q["nDCG@10"] for q in explained] == sorted(q["nDCG@10"] for q in explained)
    first = by_id["t1"]
    assert first["relevant"] == 2 and "loneliness" in first["understood"]["challenges"]
    missed = first["missed"]
    # the grade-0 practice is never listed; the higher grade comes first; the first ranked is not missed
    assert {m["id"] for m in missed} <= {"testby-library-evenings", "ostby-memory-group"}
    assert [m["grade"] for m in missed] == sorted((m["grade"] for m in missed), reverse=True)
    for m in missed:
        assert m["hybrid"] is None or m["hybrid"] > 1
        assert set(m) >= {"dense", "lexical", "taxonomy", "tags"}
    assert all(m["id"] != "nordby-harbour-songs" for m in by_id["t2"]["missed"])
    _eval_cli_scores_a_translation_and_explains_it(built, fake_embedder, tmp_path, monkeypatch)


def _eval_cli_scores_a_translation_and_explains_it(
    built: Settings,
    fake_embedder: HashingEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same through the command (one index for both: building it is the slow part)."""
    monkeypatch.setattr(
        "practice_finder.cli.main._embedder_factory", lambda _: lambda: fake_embedder
    )
    folder = _write_set(tmp_path / "set")
    where = ["--domain", str(folder), "--index", str(built.index_dir), "--mode", "hybrid"]
    result = CliRunner().invoke(cli, ["eval", *where, "--lang", "de", "--explain", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["language"] == "de" and data["queries"] == 2
    assert {q["text"] for q in data["explain"]} == set(GERMAN.values())
    text = CliRunner().invoke(cli, ["eval", *where, "--explain"])
    assert text.exit_code == 0, text.output
    assert "t1  nDCG@10" in text.output, text.output
    assert "loneliness" in text.output, text.output
    missing = CliRunner().invoke(cli, ["eval", *where, "--lang", "et"])
    assert missing.exit_code == 1 and "no translation into 'et'" in missing.output
