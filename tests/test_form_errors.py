"""The /recommend form's errors: a value the form cannot take answers the form again (not a 500, not
JSON), with the message beside the field, that field focused, in the page's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from httpx import Response
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, service_settings, write_tiny_corpus


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("form")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    settings = service_settings(root, auto_reindex=False, dictionaries_dir=root / "no-dictionaries")
    ingest(settings, lambda: embedder)
    with TestClient(create_app(settings, lambda: embedder, watch=False)) as c:
        yield c


def _post(client: TestClient, pairs: list[tuple[str, str]], lang: str = "") -> Response:
    """The form sent as a browser sends it (a field may repeat)."""
    return client.post(
        "/recommend" + (f"?lang={lang}" if lang else ""),
        content=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _focused(page: str) -> list[str]:
    """The ids of the form controls that take the focus when the page loads."""
    return re.findall(r'<(?:input|select|textarea) id="([a-z]+)"[^>]*\bautofocus\b', page)


@pytest.mark.parametrize(
    ("form", "field", "english"),
    [
        ([("population", "²³"), ("text", "a choir")], "population", "not a whole number"),
        ([("name", "Testby"), ("name", "Nordby"), ("text", "a choir")], "name", "more than once"),
        ([("country", "DK"), ("country", "SE"), ("text", "a choir")], "country", "more than once"),
        ([("population", "0"), ("text", "a choir")], "population", "between 1 and"),
    ],
)
def test_a_bad_field_answers_the_form_with_the_message_beside_it(
    client: TestClient, form: list[tuple[str, str]], field: str, english: str
) -> None:
    answer = _post(client, form)
    assert answer.status_code == 400 and answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert _focused(page) == [field]
    beside = re.search(rf'<p id="{field}-error" class="field-error" role="alert">(.*?)</p>', page)
    assert beside and english in beside.group(1)
    assert f'aria-describedby="{field}-error"' in page and 'aria-invalid="true"' in page
    assert 'class="alert"' not in page  # said once, beside the field


def test_the_message_beside_the_field_is_in_the_pages_language(client: TestClient) -> None:
    repeated = _post(client, [("name", "A"), ("name", "B"), ("text", "a choir")], "de")
    assert "Dieses Feld wurde mehr als einmal gesendet" in repeated.text
    population = _post(client, [("population", "²³"), ("text", "a choir")], "lv")
    assert "Iedzīvotāju skaitam jābūt veselam skaitlim" in population.text
    assert _focused(population.text) == ["population"]


def test_the_form_shows_the_first_value_of_a_repeated_field_again(client: TestClient) -> None:
    page = _post(client, [("name", "Testby"), ("name", "Nordby"), ("text", "a choir")]).text
    assert 'value="Testby"' in page and "[&#39;" not in page and "a choir</textarea>" in page


def test_an_error_about_no_field_stays_above_the_form(client: TestClient) -> None:
    page = _post(client, [("text", "  ")]).text
    assert 'class="alert"' in page and _focused(page) == []
