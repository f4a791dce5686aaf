"""Validation of corpus records: every problem named with its file and field, all in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from practice_finder.corpus.folder import load_corpus, split_sections
from practice_finder.errors import CorpusError

from .conftest import CORPUS


def _problems(folder: Path) -> list[str]:
    with pytest.raises(CorpusError) as info:
        load_corpus(folder)
    return [str(p) for p in info.value.problems]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_corpus_is_valid_and_large_enough() -> None:
    corpus = load_corpus(CORPUS)
    assert len(corpus.practices) >= 150
    assert len(corpus.cities) >= 60
    assert len(corpus.plans) >= 30
    countries = {p.country for p in corpus.practices}
    assert countries == {"DK", "EE", "FI", "DE", "LV", "LT", "PL", "SE", "NO"}
    assert sum(1 for c in corpus.cities if c.pearl_year) == 14


def test_shipped_practices_span_small_and_large_towns() -> None:
    sizes = [p.population for p in load_corpus(CORPUS).practices]
    assert min(sizes) <= 2_000 and max(sizes) >= 100_000


def test_norway_country_code_is_not_read_as_false(tiny) -> None:  # type: ignore[no-untyped-def]
    path = tiny.corpus_dir / "practices" / "nordby-harbour-songs.md"
    _edit(path, 'country: "NO"', "country: NO")
    corpus = load_corpus(tiny.corpus_dir)
    assert {p.id: p.country for p in corpus.practices}["nordby-harbour-songs"] == "NO"


def test_every_problem_is_reported_in_one_run(tiny) -> None:  # type: ignore[no-untyped-def]
    practices = tiny.corpus_dir / "practices"
    _edit(
        practices / "testby-library-evenings.md",
        "challenges: [loneliness]",
        "challenges: [lonelyness]",
    )
    _edit(practices / "nordby-harbour-songs.md", "title: Harbour songs for all generations\n", "")
    (practices / "ostby-memory-group.md").write_text(
        "---\nid: ostby-memory-group\ntitle: [unclosed\n---\nbody\n"
    )
    problems = _problems(tiny.corpus_dir)
    assert any(
        "testby-library-evenings.md: challenges: unknown challenges id 'lonelyness'" in p
        for p in problems
    )
    assert any("nordby-harbour-songs.md: title: is required but missing" in p for p in problems)
    assert any("ostby-memory-group.md: front matter: cannot be parsed" in p for p in problems)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("population: 12000", "population: many", "population: 'many' is not a whole number"),
        ("years: [2021, 2022]", "years: [1821]", "years: 1821 is not a year"),
        (
            "budget_band: under-10k",
            "budget_band: cheap",
            "budget_band: 'cheap' is not a known budget band",
        ),
        ('country: "DK"', 'country: "XX"', "country: 'XX' is not a known country code"),
        (
            "source: illustrative",
            "source: somewhere",
            "source: 'somewhere' is neither an http(s) URL nor 'illustrative'",
        ),
        (
            "language: en",
            "language: English",
            "language: 'English' is not a lowercase ISO 639 language code",
        ),
        (
            "## Success factors",
            "## Why it worked",
            "## Success factors: section is missing or empty",
        ),
        ("source: illustrative", "source: illustrative\nrating: 5", "rating: is not a known field"),
        (
            "id: testby-library-evenings",
            "id: Testby Library",
            "id: 'Testby Library' must equal the file name",
        ),
    ],
)
def test_field_problems_name_file_and_field(tiny, old: str, new: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    path = tiny.corpus_dir / "practices" / "testby-library-evenings.md"
    _edit(path, old, new)
    problems = _problems(tiny.corpus_dir)
    assert any(p.startswith(str(path)) and expected in p for p in problems), problems


def test_short_what_happened_is_rejected(tiny) -> None:  # type: ignore[no-untyped-def]
    path = tiny.corpus_dir / "practices" / "ostby-memory-group.md"
    text = path.read_text()
    start = text.index("## What happened") + len("## What happened")
    path.write_text(
        text[:start] + "\n\nToo short to be useful.\n\n" + text[text.index("## Outcomes") :]
    )
    assert any(
        "## What happened: has 5 words; at least 120" in p for p in _problems(tiny.corpus_dir)
    )


def test_links_to_unknown_cities_are_reported(tiny) -> None:  # type: ignore[no-untyped-def]
    _edit(tiny.corpus_dir / "plans" / "testby-cureap-2025.md", "city: testby", "city: nowhere")
    assert any(
        "testby-cureap-2025.md: city: no city profile with id 'nowhere'" in p
        for p in _problems(tiny.corpus_dir)
    )


def test_taxonomy_problems_are_reported(tiny) -> None:  # type: ignore[no-untyped-def]
    path = tiny.corpus_dir / "taxonomy.yaml"
    _edit(path, "      - id: population-decline\n", "      - id: population-ageing\n")
    assert any("duplicate term id 'population-ageing'" in p for p in _problems(tiny.corpus_dir))


@pytest.mark.parametrize(
    ("everyday", "problem"),
    [
        ("{lv: [tukši veikali], xx: [empty]}", "unknown language code 'xx'"),
        ("{en: [empty shops]}", "English phrases belong in the term's own fields"),
        ("[tukši veikali]", "must map language codes to lists of phrases"),
        ("{lv: [tukši veikali, 12]}", "must map language codes to lists of phrases"),
    ],
)
def test_everyday_wordings_in_other_languages_are_checked(
    tiny, everyday: str, problem: str
) -> None:  # type: ignore[no-untyped-def]
    path = tiny.corpus_dir / "taxonomy.yaml"
    # the first term's own lists move to a key the loader does not read
    block = "        everyday_labels:\n"
    _edit(path, block, f"        everyday_labels: {everyday}\n        set_aside:\n")
    assert any(f"everyday_labels: {problem}" in p for p in _problems(tiny.corpus_dir))


def test_sections_are_split_by_level_two_headings() -> None:
    sections = split_sections("intro\n## One\nfirst\n\n## Two ##\nsecond\n### sub\nmore")
    assert sections == {"": "intro", "One": "first", "Two": "second\n### sub\nmore"}


def test_record_kinds_are_named_once(tiny) -> None:  # type: ignore[no-untyped-def]
    from practice_finder.build import store
    from practice_finder.corpus import catalog
    from practice_finder.models import RECORD_KINDS, RECORD_TYPES, TABLES, record_type

    assert RECORD_TYPES == ("practice", "city", "plan")
    assert TABLES == store.TABLES == catalog.COLLECTIONS
    assert TABLES == {"practice": "practices", "city": "cities", "plan": "plans"}
    assert catalog.KINDS == {"practices": "practice", "cities": "city", "plans": "plan"}
    corpus = load_corpus(tiny.corpus_dir)
    for kind in RECORD_KINDS:
        records = corpus.of_kind(kind.name)
        assert records == getattr(corpus, kind.table) and records
        assert {record_type(r) for r in records} == {kind.name}
        assert all(isinstance(r, kind.model) for r in records)
    assert list(corpus.records()) == [*corpus.practices, *corpus.cities, *corpus.plans]


def test_a_record_is_built_from_front_matter_by_the_public_builder(tiny) -> None:  # type: ignore[no-untyped-def]
    import frontmatter

    from practice_finder.corpus import folder

    corpus = load_corpus(tiny.corpus_dir)
    practice = corpus.practices[0]
    post = frontmatter.loads(Path(practice.path).read_text(encoding="utf-8"))
    problems = folder.Problems()
    built = folder.build_record(
        "practice",
        Path(practice.path),
        dict(post.metadata),
        split_sections(post.content),
        corpus.taxonomy,
        problems,
    )
    assert not problems and built == practice
    broken = folder.build_record(
        "practice", Path("x.md"), {"id": "x"}, {}, corpus.taxonomy, problems
    )
    assert broken is None and problems and all(p.path == "x.md" for p in problems)


def test_no_module_reaches_into_the_private_functions_of_the_corpus_and_build_modules() -> None:
    import re

    from .conftest import ROOT

    private = re.compile(r"\b(folder|catalog|write_log|versions|manifest)\._[a-zA-Z]")
    for folder in ("src", "tests", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not private.findall(path.read_text(encoding="utf-8")), path
