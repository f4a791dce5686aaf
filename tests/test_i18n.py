"""The pages and the API in the reader's language: complete catalogs, negotiation, links that keep the
language, lang attributes, numbers per locale, labels and reasons of the API (tiny corpus, fake
embedder: fast)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from litestar.testing import TestClient

from practice_finder import i18n
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.web.app import create_app

from .conftest import CORPUS, ROOT
from .fakes import HashingEmbedder, write_tiny_corpus

TRANSLATED = [code for code in i18n.UI_LANGUAGES if code != i18n.SOURCE_LANGUAGE]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _messages() -> dict[str | tuple[str, str], str]:
    """Every message of the templates and the Python code, found as `pybabel extract` finds them."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: dict[str | tuple[str, str], str] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        found[message] = filename
    return found


@pytest.fixture(scope="module")
def messages() -> dict[str | tuple[str, str], str]:
    found = _messages()
    assert len(found) > 100, "the extraction found too few messages: is babel.cfg right?"
    return found


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalog_translates_every_message(
    language: str, messages: dict[str | tuple[str, str], str]
) -> None:
    with i18n.catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    problems = []
    for msgid, where in messages.items():
        entry = catalog.get(msgid)
        strings = (
            entry.string if entry and isinstance(entry.string, tuple) else (entry and entry.string,)
        )
        if entry is None or not all(strings):
            problems.append(f"missing in {language}: {msgid!r} ({where})")
        elif entry.fuzzy:
            problems.append(f"fuzzy in {language}: {msgid!r}")
        else:
            ids = msgid if isinstance(msgid, tuple) else (msgid,)
            wanted = set(PLACEHOLDER.findall(ids[-1]))
            for s in strings:
                if set(PLACEHOLDER.findall(s)) != wanted:
                    problems.append(f"placeholders differ in {language}: {msgid!r} -> {s!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("header", "requested", "expected"),
    [
        ("lv-LV,lv;q=0.9,en-US;q=0.8,en;q=0.7", None, "lv"),
        ("de;q=0.5, fi", None, "fi"),
        ("ru-RU, pl;q=0.3", None, "pl"),  # the first language the pages speak
        ("no", None, "nb"),
        ("lv;q=0, xx", None, "en"),
        ("lv;q=abc", None, "en"),
        (None, None, "en"),
        ("lv", "de", "de"),  # lang= overrides the header
        ("lv", "EN", "en"),
        (None, "zz", "en"),  # an unknown lang= is ignored, never an error
    ],
)
def test_negotiation(header: str | None, requested: str | None, expected: str) -> None:
    assert i18n.negotiate(header, requested) == expected


def test_numbers_and_names_follow_the_locale() -> None:
    assert i18n.number(12345, "en") == "12,345"
    assert i18n.number(12345, "lv") == "12\xa0345"
    assert i18n.number(12345, "de") == "12.345"
    assert i18n.number(2.5, "fi", "0.0") == "2,5"
    assert i18n.country_name("LV", "lv") == "Latvija" and i18n.country_name("DE", "pl") == "Niemcy"
    assert i18n.endonym("lt") == "Lietuvių"


def test_reasons_follow_the_language_of_the_block() -> None:
    assert i18n.gettext("Comparable towns") == "Comparable towns"
    with i18n.speaking("lv"):
        assert i18n.gettext("Comparable towns") == "Līdzīgas pašvaldības"
        with i18n.speaking("xx"):
            assert i18n.current() == "en"
    assert i18n.current() == "en"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("i18n")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "indexes", progress=False)
    embedder = HashingEmbedder()
    ingest(settings, lambda: embedder)
    with TestClient(create_app(settings, lambda: embedder)) as c:
        yield c


def test_the_browser_language_chooses_the_page(client: TestClient) -> None:
    page = client.get("/", headers={"Accept-Language": "lv-LV,lv;q=0.9,en;q=0.5"}).text
    assert '<html lang="lv">' in page and "Aprakstiet savas pašvaldības izaicinājumu" in page
    assert 'name="lang" value="lv"' in page, "the search form keeps the language"
    override = client.get("/?lang=de", headers={"Accept-Language": "lv"}).text
    assert '<html lang="de">' in override and "Suchen" in override
    assert "Accept-Language" in client.get("/").headers["vary"], "caches keep one page per language"
    assert client.get("/towns", params={"lang": "et"}).headers["content-language"] == "et"
    unknown = client.get("/?lang=zz")
    assert unknown.status_code == 200 and '<html lang="en">' in unknown.text
    assert "Describe your town's challenge" in unknown.text


def test_every_language_can_be_chosen_on_every_page(client: TestClient) -> None:
    for path in (
        "/",
        "/towns",
        "/towns/testby",
        "/recommend",
        "/practices/testby-library-evenings",
    ):
        page = client.get(path, params={"lang": "fi"}).text
        switcher = re.findall(
            r'<a href="([^"]+)" lang="(\w+)" hreflang="\w+"[^>]*>([^<]+)</a>', page
        )
        assert [code for _, code, _ in switcher] == list(i18n.UI_LANGUAGES), path
        assert "Latviešu" in dict((c, n) for _, c, n in switcher).values(), path
        assert all(
            url.startswith(path + "?") and url.endswith(f"lang={code}") for url, code, _ in switcher
        )


def test_links_and_forms_keep_the_language(client: TestClient) -> None:
    for path in ("/?q=library", "/towns/testby", "/practices/testby-library-evenings", "/towns"):
        page = client.get(path, params={"lang": "lv"}).text
        local = [h.replace("&amp;", "&") for h in re.findall(r'href="(/[^"]*)"', page)]
        local = [h for h in local if not h.startswith(("/static", "/schema"))]
        assert local and all("lang=" in h for h in local), (
            path,
            [h for h in local if "lang=" not in h],
        )
    form = client.get("/recommend", params={"lang": "lv"}).text
    assert 'action="/recommend?lang=lv"' in form
    partial = client.get("/", params={"q": "library", "partial": "1", "lang": "lv"}).text
    assert "Atbilst " in partial and 'href="/practices/testby-library-evenings?lang=lv"' in partial
    moved = client.get("/town", params={"city": "testby", "lang": "lv"}, follow_redirects=False)
    assert moved.headers["location"] == "/towns/testby?lang=lv"


class _Langs(HTMLParser):
    """The text of a page with the language in force where each piece stands."""

    VOID = {"meta", "link", "input", "br", "img", "hr", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.pieces: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        here = dict(attrs).get("lang") or (self.stack[-1][1] if self.stack else "")
        self.stack.append((tag, str(here)))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip() and self.stack and self.stack[-1][0] not in ("script", "style"):
            self.pieces.append((self.stack[-1][1], data.strip()))


def test_no_english_piece_is_marked_latvian(
    client: TestClient, messages: dict[str | tuple[str, str], str]
) -> None:
    english = {m for m in messages if isinstance(m, str) and "%" not in m and len(m) > 3}
    record = "Library evenings against loneliness"
    for path in ("/practices/testby-library-evenings", "/towns/testby", "/?q=library"):
        parser = _Langs()
        parser.feed(client.get(path, params={"lang": "lv"}).text)
        latvian = [text for lang, text in parser.pieces if lang == "lv"]
        assert latvian, path
        assert not english.intersection(latvian), (path, english.intersection(latvian))
        assert record not in latvian, "record text carries the record's language"
    parser = _Langs()
    parser.feed(client.get("/practices/testby-library-evenings", params={"lang": "lv"}).text)
    assert ("en", record) in parser.pieces and ("lv", "Kas notika") in parser.pieces
    assert ("lv", "vientulība") in parser.pieces, "a Latvian taxonomy label is marked Latvian"


def test_an_english_fallback_label_is_marked_english() -> None:
    from jinja2 import Environment

    from practice_finder.models import Taxonomy, Term
    from practice_finder.web.localize import configure

    term = Term(
        id="x", vocabulary="challenges", label="Harbour decline", labels={"pl": ("upadek portu",)}
    )
    taxonomy = Taxonomy({"challenges": {"x": term}})
    assert taxonomy.label_in("challenges", "x", "lv") == ("Harbour decline", "en")
    env = Environment(autoescape=True)
    configure(env)
    render = env.from_string("{{ term('challenges', 'x') }}").render
    assert render(lang="lv", taxonomy=taxonomy) == '<span lang="en">Harbour decline</span>'
    assert render(lang="pl", taxonomy=taxonomy) == "upadek portu"
    assert render(lang="en", taxonomy=taxonomy) == "Harbour decline"


def test_numbers_on_the_pages_follow_the_locale(client: TestClient) -> None:
    assert "12,000 inhabitants" in client.get("/towns/testby").text
    assert "12\xa0000 iedzīvotāji" in client.get("/towns/testby", params={"lang": "lv"}).text
    assert "12.000 Einwohner" in client.get("/towns/testby", params={"lang": "de"}).text


def test_error_pages_speak_the_language(client: TestClient) -> None:
    missing = client.get("/towns/atlantis", params={"lang": "lv"})
    assert missing.status_code == 404 and "Nav atrasts" in missing.text
    assert '<span lang="en">no city with id' in missing.text, "the core's English detail is marked"
    nowhere = client.get("/no/such/page", headers={"Accept-Language": "pl"})
    assert nowhere.status_code == 404 and "Pod adresem /no/such/page nie ma strony." in nowhere.text


def test_the_errors_a_reader_can_cause_are_in_their_words(client: TestClient) -> None:
    long = client.get("/", params={"q": "x" * 1001, "lang": "lv"})
    assert long.status_code == 400 and "ne vairāk kā 1\xa0000 rakstzīmes" in long.text
    assert "at most 1000 are allowed" in client.get("/", params={"q": "x" * 1001}).text
    empty = client.post("/recommend", params={"lang": "pl"}, data={"country": "PL", "text": " "})
    assert empty.status_code == 400 and "Napisz kilka zdań o swojej gminie" in empty.text
    number = client.post("/recommend", params={"lang": "de"}, data={"population": "viele"})
    assert "Die Einwohnerzahl muss eine ganze Zahl sein" in number.text
    unknown = client.get("/", params={"q": "bibliotēka", "country": "XX", "lang": "lv"}).text
    assert '<span lang="en">country: unknown country code' in unknown, "other details stay English"


PROFILE = {"profile": {"country": "LV", "population": 8000, "challenges": ["loneliness"]}, "k": 3}


def test_api_reasons_in_the_language_asked(client: TestClient) -> None:
    english = client.post("/v1/recommendations", json=PROFILE).json()["recommendations"]
    odd = client.post("/v1/recommendations", params={"lang": "x" * 200}, json=PROFILE)
    assert (
        odd.status_code == 200
        and odd.json()["recommendations"][0]["reason"] == english[0]["reason"]
    )
    assert english[0]["reason"].startswith("Addresses your challenges: loneliness and social")
    latvian = client.post("/v1/recommendations", params={"lang": "lv"}, json=PROFILE).json()
    assert latvian["recommendations"][0]["reason"].startswith(
        "Risina jūsu izaicinājumus: vientulība."
    )
    header = client.post(
        "/v1/recommendations", json=PROFILE, headers={"Accept-Language": "de-DE,de;q=0.9"}
    ).json()
    assert "12.000 Einwohnern" in header["recommendations"][0]["reason"]
    peers = client.post(
        "/v1/peers", json={**PROFILE, "mode": "mentors"}, headers={"Accept-Language": "pl"}
    ).json()["peers"]
    assert peers and "mieszkańców" in peers[0]["reason"]
    town = client.get("/v1/cities/testby/peers", params={"lang": "fi", "mode": "mentors"}).json()
    assert all("asukkaan" in p["reason"] for p in town["peers"])


def test_api_labels_in_the_language_asked(client: TestClient) -> None:
    def label(**kw: object) -> tuple[str, str]:
        terms = client.get("/v1/taxonomy", **kw).json()["challenges"]  # type: ignore[arg-type]
        term = next(t for t in terms if t["id"] == "youth-out-migration")
        return term["label"], term["label_language"]

    assert label() == ("Youth out-migration", "en")
    assert label(params={"lang": "lv"}) == ("jauniešu aizplūšana", "lv")
    assert label(headers={"Accept-Language": "pl"}) == ("odpływ młodzieży", "pl")
    assert "Accept-Language" in client.get("/v1/taxonomy").headers["vary"]


def test_the_catalogs_readme_says_they_await_review() -> None:
    readme = (Path(i18n.LOCALE_DIR) / "README.md").read_text()
    assert "native speaker" in readme and "pybabel" in readme
