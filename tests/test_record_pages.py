"""The pages of practices and towns. Contacts: checked like every field, shown on a record's page only
with consent to publish, and never in the search text, the public API and exports, or the logs (staff
read them through the admin key's export and the command line's). Printing and sharing: canonical
links, a print stylesheet, and a stable link for a search."""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from practice_finder.build import store
from practice_finder.build.analysis import content_hash
from practice_finder.build.ingest import ingest
from practice_finder.build.store import FTS_COLUMNS
from practice_finder.cli.main import cli
from practice_finder.config import Settings
from practice_finder.corpus.catalog import record_from_payload
from practice_finder.corpus.folder import load_taxonomy
from practice_finder.errors import CorpusError
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, service_settings, write_tiny_corpus

KEY = "admin-key-for-contact-tests"
ADMIN = {"Authorization": f"Bearer {KEY}"}
PUBLISHED = "published.person@example.dk"  # the practice's, with consent
TOWN = "culture.office@testby.example"  # the town's, with consent
PRIVATE = "private.person@example.no"  # another practice's, without consent
CONTACTS = {
    "practices/testby-library-evenings.md": (
        "contact_person: Karen Published\n"
        f"contact_email: {PUBLISHED}\n"
        "contact_website: https://library.testby.example/evenings\n"
        "contact_consent: true\n"
    ),
    "practices/nordby-harbour-songs.md": f"contact_person: Ola Private\ncontact_email: {PRIVATE}\n",
    "cities/testby.md": f"contact_email: {TOWN}\ncontact_consent: true\n",
}


def _settings(root: Path) -> Settings:
    return service_settings(root, KEY, dictionaries_dir=root / "no-dictionaries")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny corpus with three contacts, two of them consented, built once for the module."""
    root = tmp_path_factory.mktemp("contacts")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    for name, lines in CONTACTS.items():
        path = root / "corpus" / name
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("---\n", "---\n" + lines, 1), encoding="utf-8")
    embedder = HashingEmbedder()
    ingest(_settings(root), lambda: embedder)
    return root


@pytest.fixture
def client(built: Path, tmp_path: Path) -> Iterator[TestClient]:
    for folder in ("corpus", "indexes"):
        shutil.copytree(built / folder, tmp_path / folder, symlinks=True)
    embedder = HashingEmbedder()
    with TestClient(create_app(_settings(tmp_path), lambda: embedder, watch=False)) as client:
        yield client


def test_a_page_shows_the_contact_only_with_consent(client: TestClient) -> None:
    consented = client.get("/practices/testby-library-evenings").text
    assert f'href="mailto:{PUBLISHED}"' in consented and "Karen Published" in consented
    assert 'href="https://library.testby.example/evenings"' in consented
    private = client.get("/practices/nordby-harbour-songs").text
    assert (
        PRIVATE not in private and "Ola Private" not in private and 'id="contact-h"' not in private
    )
    assert f'href="mailto:{TOWN}"' in client.get("/towns/testby").text


def test_the_public_api_and_export_never_carry_a_contact(client: TestClient) -> None:
    answers = [
        client.get("/v1/practices/testby-library-evenings"),
        client.get("/v1/practices/nordby-harbour-songs"),
        client.get("/v1/cities/testby"),
        client.get("/v1/cities"),
        client.get("/v1/search", params={"q": "library evenings loneliness"}),
        client.get("/v1/practices/testby-library-evenings/similar"),
        client.get("/v1/practices", params={"format": "jsonl"}),
        client.get("/v1/cities", params={"format": "jsonl"}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.url
        assert "@" not in answer.text and "contact" not in answer.text, answer.url


def test_staff_read_every_contact_through_the_admin_export(client: TestClient) -> None:
    lines = client.get("/v1/practices", params={"format": "jsonl"}, headers=ADMIN).text
    records = {r["id"]: r for r in map(json.loads, lines.splitlines())}
    assert records["testby-library-evenings"]["contact_consent"] is True
    assert records["nordby-harbour-songs"]["contact_email"] == PRIVATE
    assert "contact_consent" not in records["nordby-harbour-songs"]  # false is left out
    assert "contact_email" not in records["ostby-memory-group"]


def test_contacts_are_not_search_text(client: TestClient, built: Path) -> None:
    for name in ("Published", "Karen", "culture.office", "Ola"):
        found = client.get("/v1/search", params={"q": name, "mode": "lexical"}).json()
        assert found["total"] == 0, name
    (build,) = (built / "indexes").glob("builds/*/store.db")
    with sqlite3.connect(build) as db:
        texts = [r[0] for r in db.execute("select text from passages")]
        texts += [r[0] or "" for r in db.execute("select phrase from tags")]
        for table, fts_columns in FTS_COLUMNS.items():
            for row in db.execute(f"select {', '.join(fts_columns)} from {table}"):
                texts.extend(str(v) for v in row)
    searched = "\n".join(texts)
    for secret in (PUBLISHED, TOWN, PRIVATE, "Karen Published", "Ola Private"):
        assert secret not in searched


def test_a_write_with_a_contact_leaves_no_address_in_the_logs_or_errors(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    record = json.loads(
        client.get("/v1/practices", params={"format": "jsonl"}, headers=ADMIN).text.splitlines()[0]
    )
    with caplog.at_level(logging.DEBUG):
        good = client.put(
            f"/v1/practices/{record['id']}",
            json={**record, "contact_email": "someone@example.lt", "contact_consent": True},
            headers=ADMIN,
        )
        bad = client.put(
            f"/v1/practices/{record['id']}",
            json={**record, "contact_email": "someone-at-example.lt"},
            headers=ADMIN,
        )
    assert good.status_code == 202 and bad.status_code == 422
    assert "contact_email" in bad.text and "someone-at-example.lt" not in bad.text
    assert "someone" not in caplog.text and "example.lt" not in caplog.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("contact_email", "no address", "is not an e-mail address"),
        ("contact_website", "www.example.org", "is not an http(s) URL"),
        ("contact_consent", "yes", "must be true or false"),
    ],
)
def test_contact_fields_are_checked_without_repeating_the_value(
    field: str, value: Any, message: str
) -> None:
    taxonomy = load_taxonomy(CORPUS / "taxonomy.yaml")
    city = {
        "id": "sometown",
        "name": "Sometown",
        "country": "LV",
        "region": "Vidzeme",
        "population": 9000,
        "population_year": 2024,
        "lat": 57.3,
        "lon": 25.2,
        "settlement_type": "town",
        "challenges": ["loneliness"],
        "assets": ["library"],
        "description": "A town.",
        field: value,
    }
    with pytest.raises(CorpusError) as caught:
        record_from_payload("city", city, taxonomy)
    (problem,) = caught.value.problems
    assert (problem.field, problem.message.split(" (")[0]) == (field, message)
    assert value not in str(problem)


def test_record_pages_name_their_canonical_link(client: TestClient) -> None:
    canonical = re.compile(r'<link rel="canonical" href="([^"]+)">')
    assert canonical.findall(client.get("/practices/ostby-memory-group").text) == [
        "/practices/ostby-memory-group"
    ]
    latvian = client.get("/towns/testby", params={"lang": "lv"}).text
    assert canonical.findall(latvian) == ["/towns/testby?lang=lv"]
    assert '<p class="print-only">testserver.local/towns/testby?lang=lv</p>' in latvian


def test_the_print_stylesheet_leaves_navigation_switcher_and_forms_out() -> None:
    css = (Path(__file__).parents[1] / "src/practice_finder/web/static/app.css").read_text()
    printed = css[css.index("@media print") :]
    hidden = printed[: printed.index("display: none !important")]
    for selector in (".top", ".bottom", "form", ".crumbs", ".similar-practices", ".permalink"):
        assert re.search(rf"(^|[\s,]){re.escape(selector)}[\s,]", hidden), selector
    assert ".print-only { display: block" in printed
    assert 'a[href^="http"]::after { content: " (" attr(href) ")"' in printed


def test_a_search_has_a_stable_link_with_its_question_and_filters(client: TestClient) -> None:
    page = client.get("/", params={"q": "library evenings", "country": "DK", "page": "1"}).text
    links = re.findall(r'<a class="permalink" href="([^"]+)">', page)
    assert [html.unescape(link) for link in links] == [
        "/?q=library+evenings&country=DK"
    ]  # as asked
    again = client.get(html.unescape(links[0])).text
    assert (
        "testby-library-evenings" in again
        and '<form id="search" class="search" method="get"' in again
    )


def test_an_import_reaches_the_pages_after_the_services_re_index(
    client: TestClient, tmp_path: Path
) -> None:
    """`practice-finder import` writes where the API writes: the running service sees the pending
    record, re-indexes, and the page shows the new title and the consented contact."""
    where = ["--corpus", str(tmp_path / "corpus"), "--state", str(tmp_path / "state")]
    exported = CliRunner().invoke(cli, ["export", "--format", "csv", *where])
    rows = list(csv.reader(io.StringIO(exported.stdout_bytes.decode("utf-8-sig"), newline="")))
    header, row = rows[0], next(r for r in rows if r[0] == "ostby-memory-group")
    row[header.index("title")] = "A memory group for the old ferry"
    row[header.index("contact_email")] = "ferry@example.se"
    row[header.index("contact_consent")] = "true"
    path = tmp_path / "edited.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)

    imported = CliRunner().invoke(cli, ["import", str(path), *where])
    assert imported.exit_code == 0 and "changed: 1 practices" in imported.output
    service = client.app.state["service"]
    assert client.get("/v1/admin/status", headers=ADMIN).json()["pending_writes"] == 1
    service.tick()
    assert client.get("/v1/admin/status", headers=ADMIN).json()["pending_writes"] == 0
    page = client.get("/practices/ostby-memory-group").text
    assert "A memory group for the old ferry" in page and 'href="mailto:ferry@example.se"' in page
    answer = client.get("/v1/practices/ostby-memory-group").text
    assert "old ferry" in answer and "@" not in answer


def test_a_build_gives_back_every_contact_as_written(built: Path) -> None:
    """A re-seed of the write log rebuilds records from a build's rows: contacts must come back whole."""
    (path,) = (built / "indexes").glob("builds/*/store.db")
    records = {record.id: (record, stored) for _, record, stored in store.records(path)}
    for record, stored in records.values():
        assert content_hash(record) == stored, record.id
    private = records["nordby-harbour-songs"][0]
    assert (private.contact_email, private.contact_consent) == (PRIVATE, False)
    assert records["testby"][0].contact_consent is True
