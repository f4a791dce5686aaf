"""Limits per field of a record (and of a described town): lengths, list sizes and no control characters,
reported as every other invalid field is (a 422 naming it through the API), and far above every value
of the shipped corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from litestar.testing import TestClient

from practice_finder.config import Settings, key_digest
from practice_finder.corpus import catalog, schema
from practice_finder.corpus.folder import load_corpus
from practice_finder.errors import CorpusError, InvalidQueryError
from practice_finder.models import Practice
from practice_finder.query.profiles import ProfileIn, validate_profile
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, write_tiny_corpus

ADMIN_KEY = "admin-key-0123456789"


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("limits") / "corpus"
    write_tiny_corpus(folder, CORPUS / "taxonomy.yaml")
    return folder


@pytest.fixture(scope="module")
def client(corpus_dir: Path) -> Iterator[TestClient]:
    """Writes are checked against the corpus and the log; no index is needed for them."""
    settings = Settings(
        corpus_dir=corpus_dir,
        index_dir=corpus_dir.parent / "indexes",
        state_dir=corpus_dir.parent / "state",
        admin_keys=(key_digest(ADMIN_KEY),),
        auto_reindex=False,
        rate_limit=0,
        progress=False,
    )
    with TestClient(create_app(settings, HashingEmbedder, watch=False)) as c:
        yield c


@pytest.fixture(scope="module")
def record(corpus_dir: Path) -> dict[str, Any]:
    practice = load_corpus(corpus_dir).practices[0]
    return {**catalog.payload_of(practice), "id": "a-new-practice"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"summary": "A long summary. " * 12_500}, "summary", "at most 2000"),
        ({"id": "a" * 300}, "id", "at most 120"),
        ({"title": "Library\x00evenings"}, "title", "control character"),
        ({"municipality": "M" * 301}, "municipality", "at most 300"),
        ({"partners": ["a partner"] * 51}, "partners", "at most 50"),
        ({"partners": ["bad\x07bell"]}, "partners", "control character"),
        ({"challenges": ["loneliness"] * 31}, "challenges", "at most 30"),
        ({"years": [2020] * 51}, "years", "at most 50"),
        ({"sections": "what_happened"}, "sections.what_happened", "at most 20000"),
        ({"sections": "outcomes\x00"}, "sections.outcomes", "control character"),
    ],
)
def test_a_field_past_its_limit_is_a_422_naming_it(
    client: TestClient, record: dict[str, Any], change: dict[str, Any], field: str, message: str
) -> None:
    own_id = "new-" + field.replace(".", "-").replace(
        "_", "-"
    )  # each case its own (a 409 hides nothing)
    sent = {**record, "id": own_id, **change}
    if "sections" in change:  # one section made too long, or given a NUL
        key = change["sections"].rstrip("\x00")
        text = "A NUL\x00 inside." if change["sections"].endswith("\x00") else "word " * 4_001
        sent["sections"] = {**record["sections"], key: record["sections"][key] + " " + text}
    answer = client.post(
        "/v1/practices", json=sent, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert answer.status_code == 422, answer.text
    errors = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert field in errors and message in errors[field], errors


def test_a_city_description_past_its_limit_is_refused(corpus_dir: Path) -> None:
    corpus = load_corpus(corpus_dir)
    payload = {
        **catalog.payload_of(corpus.cities[0]),
        "description": "x" * (schema.MAX_SECTION + 1),
    }
    with pytest.raises(CorpusError) as refused:
        catalog.record_from_payload("city", payload, corpus.taxonomy)
    assert [p.field for p in refused.value.problems] == ["description"]


def test_a_described_towns_name_and_lists_are_bounded() -> None:
    no_index = SimpleNamespace()  # the checks below come before any look-up in the index
    with pytest.raises(InvalidQueryError) as long_name:
        validate_profile(ProfileIn(name="N" * 100_000, text="x"), no_index)  # type: ignore[arg-type]
    assert long_name.value.parameter == "profile.name"
    with pytest.raises(InvalidQueryError) as many:
        validate_profile(ProfileIn(challenges=["loneliness"] * 31), no_index)  # type: ignore[arg-type]
    assert many.value.parameter == "profile.challenges"


def _longest(records: list[Any], read: Any) -> int:
    return max(read(r) for r in records)


def test_the_limits_are_at_least_twice_the_longest_value_shipped() -> None:
    corpus = load_corpus(CORPUS)
    everything = [*corpus.practices, *corpus.cities, *corpus.plans]
    practices: tuple[Practice, ...] = corpus.practices
    sections = [
        *(len(getattr(p, k)) for p in practices for k in schema.PRACTICE_SECTIONS),
        *(len(t) for plan in corpus.plans for t in plan.body.values()),
        *(len(c.description) for c in corpus.cities),
    ]
    names = [len(p.title) for p in practices] + [len(p.municipality) for p in practices]
    names += [len(c.name) for c in corpus.cities] + [len(c.region) for c in corpus.cities]
    names += [len(p.title) for p in corpus.plans] + [len(x) for p in practices for x in p.partners]
    short = [len(p.summary) for p in practices] + [len(p.resources) for p in practices]
    assert 2 * _longest(everything, lambda r: len(r.id)) <= schema.MAX_ID
    assert 2 * max(names) <= schema.MAX_NAME
    assert 2 * max(short) <= schema.MAX_SHORT_TEXT
    assert 2 * max(sections) <= schema.MAX_SECTION
    assert 2 * max(len(p.partners) for p in practices) <= schema.MAX_ITEMS
    tags = [len(getattr(r.tags, v)) for r in everything for v in ("challenges", "assets", "themes")]
    assert 2 * max(tags) <= schema.MAX_TAGS
