"""Properties of the corpus parser, JSON records and query handling, checked on generated input (hypothesis).

The example tests pin the cases someone thought of; these look for the ones nobody did: headings and texts
of any characters, JSON of any shape sent to the write API, query text full of FTS5 syntax. Every strategy
is bounded and the index is the tiny corpus with the hashing embedder, so the file runs offline in well under
a minute, most of it spent building and opening that index once.
Five bugs were found this way and fixed (a NUL in a question, a list inside a tag list, a blank JSON section,
a heading ending in '#', a repeated heading); the tests named after them keep them fixed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import frontmatter
import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from practice_finder.build import analysis
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.corpus import catalog, schema
from practice_finder.corpus.folder import (
    HEADING,
    _FrontMatter,
    load_corpus,
    load_yaml,
    split_sections,
)
from practice_finder.errors import CorpusError, InvalidQueryError, RecordProblem
from practice_finder.languages import REGION_LANGUAGES
from practice_finder.models import COUNTRIES, Corpus, Record, Taxonomy
from practice_finder.query.filters import (
    TAG_FILTERS,
    Filters,
    allowed_passages,
    practice_filter_sql,
)
from practice_finder.query.handle import Index, open_index
from practice_finder.query.search import MAX_K, MAX_QUERY_CHARS, MODES, SearchQuery, search
from practice_finder.web.api_reads import _split

from .conftest import CORPUS
from .fakes import HashingEmbedder, write_tiny_corpus

# the corpus fixtures, in failure reports
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

KINDS = tuple(catalog.COLLECTIONS)  # practice, city, plan
TINY_PRACTICES = {"testby-library-evenings", "nordby-harbour-songs", "ostby-memory-group"}


# -- fixtures: built once per module (function-scoped ones would be rebuilt for every example) -------------


@pytest.fixture(scope="module")
def shipped() -> Corpus:
    """The shipped corpus: its records are the valid starting points of the round trip."""
    return load_corpus(CORPUS)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("props") / "corpus"
    write_tiny_corpus(folder, CORPUS / "taxonomy.yaml")
    return folder


@pytest.fixture(scope="module")
def tiny_corpus(tiny_dir: Path) -> Corpus:
    return load_corpus(tiny_dir)


@pytest.fixture(scope="module")
def exports(tiny_corpus: Corpus) -> dict[str, list[dict[str, Any]]]:
    """The tiny corpus as the export route sends it (JSON text, so tuples are lists): valid payloads to break."""
    return {
        kind: [_json(catalog.payload_of(r)) for r in tiny_corpus.of_kind(kind)] for kind in KINDS
    }


@pytest.fixture(scope="module")
def tiny_index(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """The tiny corpus indexed with the hashing embedder, once (opened without serving's warm-up, so the
    tagger loads only the languages the generated queries are detected in)."""
    settings = Settings(
        corpus_dir=tiny_dir, index_dir=tmp_path_factory.mktemp("props-index"), progress=False
    )
    ingest(settings, HashingEmbedder)
    index = open_index(settings, HashingEmbedder)
    yield index
    index.close()


def _json(payload: dict[str, Any]) -> dict[str, Any]:
    """A payload as it arrives over HTTP: through JSON text and back."""
    loaded: dict[str, Any] = json.loads(json.dumps(payload, ensure_ascii=False))
    return loaded


# -- split_sections ------------------------------------------------------------------------------------

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # everything str.splitlines splits on
CHARS = st.characters(exclude_characters=LINE_BREAKS, exclude_categories=["Cs"]) | st.sampled_from(
    "#  \t"
)
LINES = st.text(CHARS, max_size=30).filter(lambda line: not HEADING.match(line))
# A heading ending in '#' is left out here: see test_a_heading_ending_in_hash_keeps_it.
HEADINGS = (
    st.text(CHARS, min_size=1, max_size=20)
    .map(str.strip)
    .filter(lambda h: bool(h) and not h.endswith("#"))
)
SECTIONS = st.lists(
    st.tuples(HEADINGS, st.lists(LINES, max_size=4)), max_size=5, unique_by=lambda s: s[0]
)


def _body(intro: list[str], sections: list[tuple[str, list[str]]]) -> str:
    return "\n".join(
        [*intro, *(line for heading, lines in sections for line in (f"## {heading}", *lines))]
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, max_size=4), SECTIONS)
def test_sections_come_back_with_their_headings_and_stripped_texts(
    intro: list[str], sections: list[tuple[str, list[str]]]
) -> None:
    """A practice file's sections are looked up by heading: any text must land under its own heading, intact."""
    expected = {
        "": "\n".join(intro).strip(),
        **{heading: "\n".join(lines).strip() for heading, lines in sections},
    }
    assert split_sections(_body(intro, sections)) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(LINES, max_size=4), SECTIONS, st.sampled_from(["#", "##", " ##", "  ###  "]))
def test_a_closing_hash_sequence_is_not_part_of_the_heading(
    intro: list[str], sections: list[tuple[str, list[str]]], closing: str
) -> None:
    """`## Outcomes ##` is the same heading as `## Outcomes` (ATX closing sequence)."""
    closed = [(f"{heading} {closing}", lines) for heading, lines in sections]
    assert split_sections(_body(intro, closed)) == split_sections(_body(intro, sections))


@settings(max_examples=20, deadline=None)
@given(st.from_regex(r"[A-Za-z]{1,8}#{1,2}", fullmatch=True))
def test_a_heading_ending_in_hash_keeps_it(heading: str) -> None:
    assert set(split_sections(f"## {heading}\ntext")) == {"", heading}


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES | st.sampled_from(["## A", "## B ##", "##  "]), max_size=8))
def test_no_line_of_text_is_lost(lines: list[str]) -> None:
    """A city's profile is every section joined, so any text the splitter drops is gone from the index."""
    texts = split_sections("\n".join(lines)).values()
    for line in lines:
        if line.strip() and not HEADING.match(line):
            assert any(line.strip() in text for text in texts), line


# -- YAML front matter ------------------------------------------------------------------------------

BOOLEANS = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}
NULLS = {"null", "Null", "NULL"}
YAML11_BOOLEANS = [
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "NO",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "y",
    "Y",
    "n",
    "N",
]
WORDS = st.sampled_from([*BOOLEANS, *YAML11_BOOLEANS, *COUNTRIES]) | st.from_regex(
    r"[A-Za-z]{1,5}", fullmatch=True
)


def _json_values(chars: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Any JSON value, small: scalars, lists and objects nested a few levels."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(10**7), 10**7)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(chars, max_size=15)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(chars, max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


JSON = _json_values(st.characters(exclude_categories=["Cs"]))
# PyYAML itself reads a written NEL, LS or PS back as a space or a line break: no concern of ours.
YAML_CHARS = st.characters(exclude_characters="\x85\u2028\u2029", exclude_categories=["Cs"])


@settings(max_examples=200, deadline=None)
@given(WORDS)
def test_only_true_and_false_are_booleans(word: str) -> None:
    """`country: NO` is Norway; YAML 1.1 would read it (and yes/on/off/y/n) as a boolean."""
    expected = BOOLEANS.get(word, None if word in NULLS else word)
    plain = load_yaml(f"country: {word}\n")["country"]
    in_a_file = frontmatter.loads(
        f"---\ncountry: {word}\n---\nbody\n", handler=_FrontMatter()
    ).metadata["country"]
    assert plain == in_a_file == expected
    assert type(plain) is type(in_a_file) is type(expected)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(YAML_CHARS, max_size=8), _json_values(YAML_CHARS), max_size=5))
def test_yaml_written_by_pyyaml_reads_back_unchanged(data: dict[str, Any]) -> None:
    """Dropping YAML 1.1 booleans must not make the loader misread anything a YAML writer produces."""
    assert load_yaml(yaml.safe_dump(data, allow_unicode=True)) == data


# -- records as JSON ---------------------------------------------------------------------------------

FIELD_NAMES = sorted(
    {
        f.name
        for spec in (schema.practice_fields, schema.city_fields, schema.plan_fields)
        for f in spec(Taxonomy({}))
    }
    | {"sections", "description"}
)
TAG_WORDS = [
    "loneliness",
    "library",
    "choir",
    "older-people",
    "social-cohesion",
    "volunteering",
    "spaceport",
]
JUNK = (
    JSON
    | st.text(max_size=30)
    | st.lists(st.text(max_size=12), max_size=3)
    | st.integers(1985, 2040)
    | st.lists(st.sampled_from(TAG_WORDS), max_size=3)
    | st.sampled_from([*COUNTRIES, "illustrative", "en", "town"])
)
PAYLOADS = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=10), JUNK, max_size=12)


def _names_a_field(field: str, payload: dict[str, Any]) -> bool:
    """A key the payload has, a field the schema knows, or a section (as `sections.<key>`, or a file's `## Heading`)."""
    return (
        field in payload
        or field in FIELD_NAMES
        or field.startswith(("sections.", "## "))
        or field == "body"
    )


def _outcome(
    kind: str, payload: dict[str, Any], taxonomy: Taxonomy
) -> Record | list[RecordProblem]:
    """The record, or the problems; any exception but CorpusError escapes and fails the test."""
    try:
        return catalog.record_from_payload(kind, payload, taxonomy)
    except CorpusError as exc:
        assert exc.problems, "a CorpusError must list its problems"
        for problem in exc.problems:
            assert (
                problem.path == "body"
                and problem.message
                and _names_a_field(problem.field, payload)
            ), problem
        return exc.problems


def _round_trip_hash(kind: str, record: Record, taxonomy: Taxonomy) -> str:
    again = catalog.record_from_payload(kind, _json(catalog.payload_of(record)), taxonomy)
    return analysis.content_hash(again)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KINDS), PAYLOADS)
def test_any_json_is_a_record_or_a_corpus_error_naming_fields(
    tiny_corpus: Corpus, kind: str, payload: dict[str, Any]
) -> None:
    """Whatever a client PUTs, the API answers 202 or 422 with named fields, never 500."""
    _outcome(kind, payload, tiny_corpus.taxonomy)


def _mutate(payload: dict[str, Any], data: st.DataObject) -> str:
    """Drop one field (or section) or give it a junk value; returns the top-level field touched."""
    sections = payload.get("sections")
    nested = [f"sections.{key}" for key in sections] if isinstance(sections, dict) else []
    key = data.draw(
        st.sampled_from(sorted(payload) + nested) | st.text(min_size=1, max_size=10), label="field"
    )
    holder, name = (payload["sections"], key.split(".", 1)[1]) if key in nested else (payload, key)
    if data.draw(st.booleans(), label="drop"):
        holder.pop(name, None)
    else:
        holder[name] = data.draw(JUNK, label="value")
    return "sections" if key in nested else key


def _blames(field: str, touched: set[str]) -> bool:
    """A problem's field names a touched field (a missing section is named by its heading, a city's text by 'body')."""
    names = {field, field.split(".", 1)[0]}
    if field.startswith("## "):
        names.add("sections")
    if field == "body":
        names.add("description")
    return bool(names & touched)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_broken_export_is_refused_naming_only_fields_that_were_broken(
    exports: dict[str, list[dict[str, Any]]], tiny_corpus: Corpus, data: st.DataObject
) -> None:
    """Each export is valid, so every problem must come from a mutation; an accepted mutant must round-trip."""
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    payload = copy.deepcopy(data.draw(st.sampled_from(exports[kind]), label="record"))
    touched = {
        _mutate(payload, data) for _ in range(data.draw(st.integers(1, 3), label="mutations"))
    }
    outcome = _outcome(kind, payload, tiny_corpus.taxonomy)
    # both should show in --hypothesis-show-statistics
    event("refused" if isinstance(outcome, list) else "accepted")
    if isinstance(outcome, list):
        assert all(_blames(p.field, touched) for p in outcome), (touched, outcome)
    else:
        assert _round_trip_hash(kind, outcome, tiny_corpus.taxonomy) == analysis.content_hash(
            outcome
        )


def test_every_shipped_record_survives_the_round_trip(shipped: Corpus) -> None:
    """payload_of -> record_from_payload gives the same record, as it is and through JSON, for the whole shipped corpus."""
    for kind in KINDS:
        for record in shipped.of_kind(kind):
            as_is = catalog.record_from_payload(kind, catalog.payload_of(record), shipped.taxonomy)
            assert (
                analysis.content_hash(as_is)
                == _round_trip_hash(kind, record, shipped.taxonomy)
                == analysis.content_hash(record)
            )


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_order_of_years_and_fields_does_not_change_a_record(
    shipped: Corpus, data: st.DataObject
) -> None:
    """A client that sends the same record with keys or years in another order must not make a new write."""
    kind = data.draw(st.sampled_from(("practice", "plan")), label="kind")
    record = data.draw(st.sampled_from(shipped.of_kind(kind)), label="record")
    payload = _json(catalog.payload_of(record))
    payload = {
        key: payload[key] for key in data.draw(st.permutations(list(payload)), label="field order")
    }
    payload["years"] = data.draw(st.permutations(payload["years"]), label="years")
    again = catalog.record_from_payload(kind, payload, shipped.taxonomy)
    assert analysis.content_hash(again) == analysis.content_hash(record)


@settings(max_examples=10, deadline=None)
@given(
    st.sampled_from(("challenges", "assets", "themes")),
    st.lists(st.sampled_from(TAG_WORDS), max_size=2)
    | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
def test_a_tag_list_holding_a_list_is_a_problem_not_a_crash(
    exports: dict[str, list[dict[str, Any]]], tiny_corpus: Corpus, vocabulary: str, item: Any
) -> None:
    payload = {**exports["practice"][0], vocabulary: [item]}
    problems = _outcome("practice", payload, tiny_corpus.taxonomy)
    assert isinstance(problems, list) and {p.field for p in problems} == {vocabulary}


@settings(max_examples=50, deadline=None)
@given(data=st.data(), blank=st.text(" \t\n", min_size=1, max_size=4))
def test_a_blank_section_is_refused_as_in_a_file(
    exports: dict[str, list[dict[str, Any]]], tiny_corpus: Corpus, data: st.DataObject, blank: str
) -> None:
    kind = data.draw(st.sampled_from(("practice", "plan")), label="kind")
    payload = copy.deepcopy(exports[kind][0])
    payload["sections"][
        data.draw(st.sampled_from(sorted(payload["sections"])), label="section")
    ] = blank
    problems = _outcome(kind, payload, tiny_corpus.taxonomy)
    assert isinstance(problems, list) and all(_blames(p.field, {"sections"}) for p in problems)


# -- query parameters ----------------------------------------------------------------------------------

VALUES = st.lists(
    st.text(st.characters(exclude_categories=["Cs"]) | st.sampled_from(", \t"), max_size=12),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(VALUES, VALUES)
def test_split_gives_trimmed_values_the_same_for_repeated_and_comma_separated(
    a: list[str], b: list[str]
) -> None:
    values = _split(a)
    assert all(v and v == v.strip() and "," not in v for v in values)
    assert _split([",".join(a)]) == values  # ?country=LV,EE is ?country=LV&country=EE
    assert _split(a + b) == values + _split(b)
    assert _split(list(values)) == values
    upper = _split(a, upper=True)
    assert upper == tuple(v.upper() for v in values) and all(v and v == v.strip() for v in upper)


PADS = st.sampled_from(["", " ", "\t", "  "])
ANY_CASE_COUNTRY = st.sampled_from(list(COUNTRIES)).flatmap(
    lambda c: st.sampled_from([c, c.lower(), c.title(), c[0].lower() + c[1]])
)
COUNTRY_PARAMS = st.lists(
    st.lists(st.tuples(PADS, ANY_CASE_COUNTRY, PADS).map("".join), min_size=1, max_size=3).map(
        ",".join
    ),
    max_size=3,
)


@settings(max_examples=100, deadline=None)
@given(COUNTRY_PARAMS)
def test_known_countries_pass_in_any_case_and_padding(
    tiny_corpus: Corpus, params: list[str]
) -> None:
    """What the search route does with ?country=: ' lv,Ee' is as good as 'LV&EE'."""
    filters = Filters(country=_split(params, upper=True))
    filters.validate(tiny_corpus.taxonomy)
    assert set(filters.country) <= set(COUNTRIES)


def _codes(known: list[str]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(known) | st.text(max_size=6), max_size=3).map(tuple)


FILTERS = st.builds(
    Filters,
    country=_codes([*COUNTRIES, "lv", "XX"]),
    challenge=_codes(["loneliness", "intergenerational-gap", "population-ageing", "library"]),
    asset=_codes(["library", "choir", "loneliness"]),
    theme=_codes(["social-cohesion"]),
    target_group=_codes(["older-people"]),
    language=_codes([*REGION_LANGUAGES, "EN", "xx"]),
    population_min=st.none() | st.integers(-5, 200_000),
    population_max=st.none() | st.integers(-5, 200_000),
    year_from=st.none() | st.integers(1890, 2040),
    year_to=st.none() | st.integers(1890, 2040),
)


def _bad_filters(filters: Filters, taxonomy: Taxonomy) -> set[str]:
    """Every parameter an oracle says is wrong (validate reports the first it meets)."""
    bad = {
        name
        for name, known in (("country", COUNTRIES), ("language", REGION_LANGUAGES))
        if any(code not in known for code in getattr(filters, name))
    }
    bad |= {
        name
        for name, vocab in TAG_FILTERS.items()
        if any(not taxonomy.has(vocab, t) for t in getattr(filters, name))
    }
    for name, low, high, floor, low_name, high_name in (
        (
            "population",
            filters.population_min,
            filters.population_max,
            0,
            "population_min",
            "population_max",
        ),
        ("year", filters.year_from, filters.year_to, 1900, "year_from", "year_to"),
    ):
        bad |= {
            p
            for p, value in ((low_name, low), (high_name, high))
            if value is not None and value < floor
        }
        if low is not None and high is not None and low > high:
            bad.add(name)
    return bad


@settings(max_examples=200, deadline=None)
@given(FILTERS)
def test_filters_pass_or_name_a_bad_parameter_and_their_sql_always_runs(
    tiny_index: Index, filters: Filters
) -> None:
    """A bad filter is a 400 naming that filter; the SQL is built from bound parameters only, for any value."""
    bad = _bad_filters(filters, tiny_index.taxonomy)
    if bad:
        with pytest.raises(InvalidQueryError) as info:
            filters.validate(tiny_index.taxonomy)
        assert info.value.parameter in bad
    else:
        filters.validate(tiny_index.taxonomy)
    where, params = practice_filter_sql(filters)
    assert where.count("?") == len(params)
    # values are bound, never spliced: any text is safe
    allowed = allowed_passages(tiny_index.db, where, params)
    assert allowed is None if filters.is_empty() else isinstance(allowed, list)


# -- search over a small real index ----------------------------------------------------------------------

FTS_BITS = [
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "NEAR(library choir, 2)",
    "NEAR(",
    '"',
    '""',
    "'",
    "*",
    "^",
    ":",
    "(",
    ")",
    "-",
    "+",
    "stems:",
    "title:",
    "{title summary}:",
    "bibliotek",
    "yksinäisyys",
    "ø",
    "ž",
    "\x01",
    "\x1b",
    "\u200b",
    "😀",
    "\\",
    "%",
    ";",
    "--",
    " ",
]
NO_NUL = st.characters(exclude_categories=["Cs"])  # NUL included: it once broke the FTS5 query
CORPUS_WORDS = [
    "library",
    "loneliness",
    "choir",
    "harbour",
    "older",
    "people",
    "volunteers",
    "museum",
    "songs",
    "evenings",
]
QUERIES = (
    st.text(NO_NUL, max_size=40)
    | st.lists(st.sampled_from(FTS_BITS), max_size=12).map(" ".join)
    | st.lists(
        st.sampled_from(CORPUS_WORDS) | st.sampled_from(FTS_BITS), min_size=1, max_size=6
    ).map(" ".join)
    | st.lists(st.sampled_from(FTS_BITS), max_size=12).map("".join)
    | st.text(NO_NUL, min_size=MAX_QUERY_CHARS - 3, max_size=MAX_QUERY_CHARS + 3)
)


def _bad_query(query: SearchQuery, taxonomy: Taxonomy) -> set[str]:
    text = query.text.strip()
    bad = {"q"} if not text or len(text) > MAX_QUERY_CHARS else set()
    bad |= {"k"} if not 1 <= query.k <= MAX_K else set()
    bad |= {"offset"} if query.offset < 0 else set()
    bad |= {"mode"} if query.mode not in MODES else set()
    return bad | _bad_filters(query.filters, taxonomy)


def _known(ids: list[str] | tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(ids), max_size=2, unique=True).map(tuple)


KNOWN_FILTERS = st.just(Filters()) | st.builds(
    Filters,
    country=_known(list(COUNTRIES)),
    challenge=_known(["loneliness", "intergenerational-gap", "population-ageing"]),
    asset=_known(["library", "choir"]),
    theme=_known(["social-cohesion"]),
    target_group=_known(["older-people"]),
    language=_known(REGION_LANGUAGES),
    population_min=st.none() | st.integers(0, 20_000),
    population_max=st.none() | st.integers(0, 20_000),
    year_from=st.none() | st.integers(1990, 2030),
    year_to=st.none() | st.integers(1990, 2030),
)


def _check_search(index: Index, query: SearchQuery) -> None:
    """Either InvalidQueryError naming a parameter the oracle finds bad, or a page of at most k unique practices."""
    bad = _bad_query(query, index.taxonomy)
    if bad:
        with pytest.raises(InvalidQueryError) as info:
            search(index, query)
        assert info.value.parameter in bad
        event(f"refused: {info.value.parameter}")
        return
    result = search(index, query)
    event(f"answered: {query.mode}, {'hits' if result.hits else 'no hits'}")
    ids = [hit.id for hit in result.hits]
    assert len(ids) == len(set(ids)) == min(query.k, max(0, result.total - query.offset))
    assert set(ids) <= TINY_PRACTICES and result.total <= len(TINY_PRACTICES)
    assert not query.filters.country or {hit.country for hit in result.hits} <= set(
        query.filters.country
    )
    # a facet without a filter of its own counts exactly the practices matched (one country, one
    # language each); a filtered one, counted without its filter, at least those
    for facet in ("country", "language"):
        counted = sum(result.facets[facet].values())
        assert (
            counted == result.total
            if not getattr(query.filters, facet)
            else counted >= result.total
        )


@settings(max_examples=200, deadline=None)
@given(
    text=QUERIES,
    k=st.integers(1, MAX_K),
    offset=st.integers(0, 4),
    mode=st.sampled_from(MODES),
    filters=KNOWN_FILTERS,
    diversify=st.booleans(),
)
def test_search_answers_any_query_text(
    tiny_index: Index, text: str, k: int, offset: int, mode: str, filters: Filters, diversify: bool
) -> None:
    """Never an sqlite3 error: FTS5 operators, quotes and control characters in the text are searched as words."""
    _check_search(
        tiny_index,
        SearchQuery(text, k=k, offset=offset, mode=mode, filters=filters, diversify=diversify),
    )


@settings(max_examples=100, deadline=None)
@given(
    text=QUERIES,
    k=st.integers(-1, MAX_K + 1),
    offset=st.integers(-1, 4),
    mode=st.sampled_from([*MODES, "fuzzy"]),
    filters=FILTERS,
)
def test_search_names_the_bad_parameter(
    tiny_index: Index, text: str, k: int, offset: int, mode: str, filters: Filters
) -> None:
    """The problem details name the parameter to fix, and it is one that is really wrong."""
    _check_search(tiny_index, SearchQuery(text, k=k, offset=offset, mode=mode, filters=filters))


@settings(max_examples=20, deadline=None)
@given(st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True), st.sampled_from(["lexical", "hybrid"]))
def test_a_nul_in_a_query_word_is_no_sqlite_error(tiny_index: Index, word: str, mode: str) -> None:
    try:
        search(tiny_index, SearchQuery(word + "\x00", mode=mode))
    except InvalidQueryError as exc:
        assert exc.parameter == "q"


def _facet_oracle(index: Index, ids: list[str]) -> dict[tuple[str, str], int]:
    """Facet counts straight from the store, one practice at a time (what FacetTable must agree with)."""
    from practice_finder.query.cards import FACET_VOCABULARIES
    from practice_finder.query.filters import TEXT_TAG_MIN_COUNT

    counts: dict[tuple[str, str], int] = {}
    for rid in dict.fromkeys(ids):
        row = index.db.execute(
            "select country, language, budget_band from practices where id = ?", (rid,)
        ).fetchone()
        if row is None:
            continue
        keys = {
            ("country", row["country"]),
            ("language", row["language"]),
            ("budget", row["budget_band"]),
        }
        for facet, vocab in FACET_VOCABULARIES.items():
            keys |= {
                (facet, t["term"])
                for t in index.db.execute(
                    "select term from tags where record_type = 'practice' and record_id = ? and vocabulary = ? "
                    "and (source = 'declared' or count >= ?)",
                    (rid, vocab, TEXT_TAG_MIN_COUNT),
                )
            }
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
    return counts


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.sampled_from(sorted(TINY_PRACTICES) + ["no-such-practice"]), max_size=12))
def test_facet_table_counts_what_the_store_says(tiny_index: Index, ids: list[str]) -> None:
    assert tiny_index.facet_table.count(ids) == _facet_oracle(tiny_index, ids)
