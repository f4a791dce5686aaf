"""Re-seeding the write log from a build: after `state/writes.db` was lost or restored from an older
backup, the log ends before the build being served, and the service refuses writes (their sequence
numbers would repeat ones the build holds). Re-seeding logs whatever makes the corpus folder with the log
laid over it equal the build's records, numbered after the build's newest write, so that nothing the build
holds is lost at the next re-index and new writes are numbered after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from practice_finder.build import analysis, store, versions
from practice_finder.build.ingest import reusable_build
from practice_finder.config import Settings
from practice_finder.corpus.catalog import Catalog
from practice_finder.errors import IndexMismatchError, IndexMissingError
from practice_finder.models import TABLES, Record


@dataclass
class ReseedReport:
    """What re-seeding did: the build it followed and what it logged."""

    build: str
    build_seq: int  # the newest write the build holds
    log_seq_before: int
    log_seq: int  # the log's newest sequence number now (at least build_seq)
    put: int  # records logged as written (held by the build, missing or different in folder + log)
    deleted: int  # records logged as deleted (in folder + log, not in the build)


def reseed(settings: Settings) -> ReseedReport:
    """Bring the write log up to the newest intact build (the one the service serves), under the ingest lock
    so that no build starts meanwhile."""
    with versions.ingest_lock(settings.index_dir):
        build = reusable_build(settings)
        if build is None:
            raise IndexMissingError(f"no intact build in {settings.index_dir} to re-seed from")
        target = _records_of(build.path)
        catalog = Catalog(settings.corpus_dir, settings.state_dir)
        before = catalog.log.max_seq()
        put, deleted, after = catalog.align(target, build.manifest.writes.seq)
    return ReseedReport(build.path.name, build.manifest.writes.seq, before, after, put, deleted)


def _records_of(build: Path) -> dict[str, Sequence[Record]]:
    """The build's records, each checked against the content hash stored with it (so that what is logged is
    exactly what was built)."""
    rows = store.records(build / "store.db")
    for kind, record, stored in rows:
        if analysis.content_hash(record) != stored:
            raise IndexMismatchError(
                f"{TABLES[kind]}/{record.id} in build {build.name} does not read back as it was built",
                "the build was made by another version: re-seed from a build made by this one",
            )
    return {kind: [r for k, r, _ in rows if k == kind] for kind in TABLES}
