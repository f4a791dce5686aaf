"""The ingestion pipeline: incremental builds, atomic switch, pruning, locking, manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from practice_finder.build import exporting, versions
from practice_finder.build.ingest import ingest
from practice_finder.config import DEFAULT_MODEL, Settings
from practice_finder.errors import CorpusError, IngestLockedError, PracticeFinderError

from .fakes import HashingEmbedder


def _run(settings: Settings, embedder: HashingEmbedder, **kw):  # type: ignore[no-untyped-def]
    return ingest(settings, lambda: embedder, **kw)


def test_first_ingest_builds_and_reports_counts(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    report = _run(tiny, fake_embedder)
    assert report.changes == {"added": 5, "changed": 0, "removed": 0, "unchanged": 0}
    assert (
        report.counts["practices"] == 3
        and report.counts["cities"] == 1
        and report.counts["plans"] == 1
    )
    current = versions.current_build(tiny.index_dir)
    assert current is not None and current.name == report.build_id
    manifest = json.loads((current / "manifest.json").read_text())
    # the passages, then the practices' tags written out in the region's languages (tests/test_tag_texts.py)
    assert report.embedded + manifest["tag_texts"]["encoded"] == fake_embedder.embedded
    assert report.embedded > 0
    assert manifest["model"] == {
        "name": DEFAULT_MODEL,
        "dimension": 64,
        "normalized": True,
        "similarity": "cosine",
        "passages_with": "HashingEmbedder",  # a stand-in has no ONNX export
    }
    assert manifest["counts"]["passages"] == sum(v["size"] for v in manifest["vectors"].values())
    assert {"schema_version", "corpus", "built_at", "build_id"} <= set(manifest)


def test_unchanged_corpus_rebuilds_nothing(tiny: Settings, fake_embedder: HashingEmbedder) -> None:
    first = _run(tiny, fake_embedder)
    second = _run(tiny, HashingEmbedder())
    assert second.up_to_date and second.embedded == 0
    assert second.changes == {"added": 0, "changed": 0, "removed": 0, "unchanged": 5}
    assert versions.current_build(tiny.index_dir).name == first.build_id  # type: ignore[union-attr]


def test_forced_rebuild_reuses_every_embedding(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    _run(tiny, fake_embedder)
    again = HashingEmbedder()
    report = _run(tiny, again, force=True)
    assert (
        report.embedded == 0 and again.embedded == 0 and report.reused == report.counts["passages"]
    )


def test_changed_record_reembeds_only_its_changed_texts(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    _run(tiny, fake_embedder)
    path = tiny.corpus_dir / "practices" / "nordby-harbour-songs.md"
    path.write_text(path.read_text().replace("Forty regular guests", "Fifty regular guests"))
    (tiny.corpus_dir / "practices" / "ostby-memory-group.md").unlink()
    second = HashingEmbedder()
    report = _run(tiny, second)
    assert report.changes == {"added": 0, "changed": 1, "removed": 1, "unchanged": 3}
    assert report.embedded == second.embedded == 1  # only the edited outcomes passage is new text


def test_failed_build_leaves_previous_build_current(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    first = _run(tiny, fake_embedder)
    path = tiny.corpus_dir / "practices" / "testby-library-evenings.md"
    path.write_text(path.read_text().replace("Forty regular guests", "Sixty regular guests"))
    with pytest.raises(RuntimeError):
        _run(tiny, HashingEmbedder(fail_after=0))
    assert versions.current_build(tiny.index_dir).name == first.build_id  # type: ignore[union-attr]
    assert not list(versions.builds_dir(tiny.index_dir).glob(".tmp-*"))


def test_invalid_corpus_leaves_index_untouched(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    first = _run(tiny, fake_embedder)
    before = sorted(p.name for p in versions.builds_dir(tiny.index_dir).iterdir())
    path = tiny.corpus_dir / "practices" / "testby-library-evenings.md"
    path.write_text(
        path.read_text().replace("assets: [library, choir]", "assets: [library, spaceport]")
    )
    with pytest.raises(CorpusError):
        _run(tiny, HashingEmbedder())
    assert versions.current_build(tiny.index_dir).name == first.build_id  # type: ignore[union-attr]
    assert sorted(p.name for p in versions.builds_dir(tiny.index_dir).iterdir()) == before


def test_old_builds_are_pruned(tiny: Settings, fake_embedder: HashingEmbedder) -> None:
    ids = [_run(tiny, fake_embedder, force=True).build_id for _ in range(4)]
    kept = [p.name for p in versions.list_builds(tiny.index_dir)]
    assert kept == ids[-tiny.keep_builds :]
    assert versions.current_build(tiny.index_dir).name == ids[-1]  # type: ignore[union-attr]


def test_stale_half_builds_are_removed(tiny: Settings, fake_embedder: HashingEmbedder) -> None:
    _run(tiny, fake_embedder)
    stale = versions.builds_dir(tiny.index_dir) / ".tmp-20200101T000000000000Z-1"
    stale.mkdir()
    (stale / "store.db").write_bytes(b"half written")
    report = _run(tiny, fake_embedder, force=True)
    assert report.stale_removed == 1 and not stale.exists()


def test_a_second_ingest_waits_for_the_lock(tiny: Settings, fake_embedder: HashingEmbedder) -> None:
    with versions.ingest_lock(tiny.index_dir), pytest.raises(IngestLockedError):
        _run(tiny, fake_embedder)


def test_passages_carry_faiss_ids_and_tags_are_stored(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    import sqlite3

    _run(tiny, fake_embedder)
    db = sqlite3.connect(versions.current_build(tiny.index_dir) / "store.db")  # type: ignore[operator]
    ids = [row[0] for row in db.execute("select id from passages order by id")]
    assert ids == list(range(1, len(ids) + 1))
    declared = db.execute(
        "select count(*) from tags where source = 'declared' and record_id = 'testby-library-evenings'"
    ).fetchone()[0]
    assert declared == 6  # loneliness, library, choir, social-cohesion, older-people, volunteering
    text_terms = {
        r[0]
        for r in db.execute(
            "select term from tags where source = 'text' and record_id = 'testby-library-evenings'"
        )
    }
    assert {"library", "choir", "museum"} <= text_terms


def test_prune_never_removes_the_current_build(tmp_path: Path) -> None:
    index_dir = tmp_path / "idx"
    for name in (
        "20240101T000000000000Z-1",
        "20250101T000000000000Z-1",
        "20260101T000000000000Z-1",
    ):
        (versions.builds_dir(index_dir) / name).mkdir(parents=True)
    (index_dir / versions.POINTER).write_text("20240101T000000000000Z-1\n")
    removed = versions.prune(index_dir, keep=1)
    assert removed == ["20250101T000000000000Z-1"]
    assert versions.current_build(index_dir).name == "20240101T000000000000Z-1"  # type: ignore[union-attr]


def test_a_corpus_of_practices_only_is_rebuilt_incrementally(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    """A benchmark corpus has no cities or plans; its second ingest must still see the first build."""
    from practice_finder.corpus.folder import load_corpus
    from practice_finder.models import Corpus

    full = load_corpus(tiny.corpus_dir)
    practices_only = Corpus(full.taxonomy, full.practices, (), ())
    first = ingest(tiny, lambda: fake_embedder, corpus=practices_only)
    second = ingest(tiny, lambda: HashingEmbedder(), corpus=practices_only)
    assert second.up_to_date and second.current_build == first.build_id


def test_analyses_are_reused_and_equal_fresh_ones(
    tiny: Settings, fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    """A re-index after one edit analyses that record only, and the store it writes is the one a build from
    scratch writes."""
    import sqlite3

    first = ingest(tiny, lambda: fake_embedder)
    assert first.analysed == 5
    page = next((tiny.corpus_dir / "practices").glob("*.md"))
    page.write_text(
        page.read_text().replace("## Success factors", "## Success factors\n\nA new sentence.")
    )
    second = ingest(tiny, lambda: fake_embedder)
    assert second.analysed == 1
    scratch = tiny.with_(index_dir=tmp_path / "scratch")
    assert ingest(scratch, lambda: fake_embedder).analysed == 5

    def dump(settings: Settings) -> list[list[tuple[object, ...]]]:
        from practice_finder.build import versions

        conn = sqlite3.connect(versions.require_current(settings.index_dir) / "store.db")
        tables = ("practices", "cities", "plans", "tags", "passages", "analyses")
        return [sorted(conn.execute(f"select * from {t}").fetchall()) for t in tables]

    assert dump(tiny) == dump(scratch)


def test_the_whole_record_text_is_the_records_opening(tiny: Settings) -> None:
    """At most RECORD_WORDS words, from the title on; the passages carry the rest."""
    import msgspec

    from practice_finder.build.analysis import RECORD_WORDS, record_text
    from practice_finder.corpus.folder import load_corpus

    practice = load_corpus(tiny.corpus_dir).practices[0]
    short = record_text(practice)
    assert short.startswith(practice.title) and len(short.split()) <= RECORD_WORDS
    long = msgspec.structs.replace(
        practice, what_happened=" ".join(f"word{i}" for i in range(3 * RECORD_WORDS))
    )
    text = record_text(long)
    assert len(text.split()) == RECORD_WORDS and text.startswith(practice.title) and "word0" in text
    assert f"word{2 * RECORD_WORDS}" not in text


def test_the_build_keeps_the_taxonomy_with_its_everyday_wordings(
    tiny: Settings, fake_embedder: HashingEmbedder
) -> None:
    import sqlite3

    from practice_finder.corpus.folder import load_taxonomy
    from practice_finder.query.handle import load_taxonomy as built_taxonomy

    _run(tiny, fake_embedder)
    db = sqlite3.connect(versions.current_build(tiny.index_dir) / "store.db")  # type: ignore[operator]
    db.row_factory = sqlite3.Row
    source = load_taxonomy(tiny.corpus_dir / "taxonomy.yaml")
    assert built_taxonomy(db) == source
    assert any(term.everyday for term in source.terms())
    assert any(term.everyday_labels for term in source.terms())
    # a build made before the columns existed is read with none
    db.execute("alter table terms drop column everyday")
    db.execute("alter table terms drop column everyday_labels")
    assert all(not (t.everyday or t.everyday_labels) for t in built_taxonomy(db).terms())


# ---------------------------------------------------------------------------- the export made aside


def _aside(command: list[str], out: Path) -> exporting.Export:
    import subprocess

    return exporting.Export(process=subprocess.Popen(command), out=out)


def test_an_export_that_fails_aside_stops_the_build_with_its_own_message(tmp_path: Path) -> None:
    out = tmp_path / "told.json"
    command = [sys.executable, "-m", "practice_finder.build.exporting", "no-such-model"]
    export = _aside([*command, str(tmp_path), str(out)], out)
    assert export.aside
    with pytest.raises(PracticeFinderError) as caught:
        export.result()
    assert caught.value.message == "unknown embedding model 'no-such-model'"
    assert "PF_MODEL" in caught.value.hint  # the hint the child gave, not a generic one
    export.stop()
    assert not out.exists()


def test_an_export_process_that_dies_says_so(tmp_path: Path) -> None:
    out = tmp_path / "told.json"
    export = _aside([sys.executable, "-c", "raise SystemExit(3)"], out)
    with pytest.raises(PracticeFinderError, match=r"stopped \(exit code 3\)"):
        export.result()


def test_a_failed_build_ends_the_export_it_started(tmp_path: Path) -> None:
    out = tmp_path / "told.json"
    export = _aside([sys.executable, "-c", "import time; time.sleep(60)"], out)
    export.stop()
    assert export._process is not None and export._process.poll() is not None


def test_an_embedder_without_an_export_starts_nothing(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    export = exporting.begin(fake_embedder, tmp_path, None, batch_size=8, threads=0)
    assert not export.aside and export.result() == (None, 0.0)
    assert list(tmp_path.iterdir()) == []
