"""Fuzzing the API from its own OpenAPI document (schemathesis): every operation, with generated parameters and
bodies, an admin key sent. No server error, and every response matches what the document says of it (status
codes, content types, bodies). Bounded: a few dozen examples per operation, on the tiny corpus and the
deterministic embedder so it stays quick; FUZZ_EXAMPLES raises the bound for a longer run."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from practice_finder.build.ingest import ingest
from practice_finder.config import Settings, key_digest
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, write_tiny_corpus

ADMIN_KEY = "fuzzing-admin-key"
# Our checks are stricter than a JSON schema can say (a country code must be one of the region's, a tag must be in
# the taxonomy, a record's text needs 120 words), so a request valid by the document may still get a 400 or 422.
LENIENT = [checks.positive_data_acceptance]
# GET /v1/cities answers JSON, or with format=jsonl the NDJSON export; one operation of OpenAPI cannot say both.
BOTH_TYPES = {
    "GET /v1/cities": [checks.content_type_conformance, checks.response_schema_conformance]
}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))

pytestmark = pytest.mark.real  # schemathesis: hundreds of generated requests


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    root = tmp_path_factory.mktemp("fuzz")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    config = Settings(
        corpus_dir=root / "corpus",
        index_dir=root / "indexes",
        state_dir=root / "state",
        progress=False,
        admin_keys=(key_digest(ADMIN_KEY),),
        rate_limit=0,
        auto_reindex=False,
        log_format="text",
    )
    ingest(config, lambda: embedder)
    app = create_app(config, lambda: embedder, watch=False)
    service = app.state["service"]
    service.load()  # the ASGI client of schemathesis does not run the lifespan
    yield app
    service.close()


def _operations(app: object) -> list[object]:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_answers_as_documented(fuzz_app: object) -> None:
    """Run every operation's examples; collect what fails rather than stop at the first operation."""
    failures: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    operations = _operations(fuzz_app)
    assert len(operations) >= 20  # reads, writes for three kinds, admin, service routes
    for operation in operations:

        @given(case=operation.as_strategy())  # type: ignore[attr-defined]
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                excluded_checks=LENIENT + BOTH_TYPES.get(case.operation.label, []),
            )
            statuses[response.status_code] += 1

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - reported below with the operation's name
            failures[operation.label] = str(exc)[:2000]  # type: ignore[attr-defined]
    print(
        f"fuzzing: {len(operations)} operations, {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}"
    )
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert not [code for code in statuses if code >= 500]


def test_the_fuzzed_writes_left_the_log_consistent(fuzz_app: object, tmp_path: Path) -> None:
    """Whatever the fuzzer managed to write is a valid corpus: the log laid over the folder still builds."""
    service = fuzz_app.state["service"]  # type: ignore[attr-defined]
    merged, seq = service.catalog.current()
    assert len(merged.practices) >= 1
    assert seq == service.catalog.log.max_seq()
