"""Reading a corpus directory: taxonomy, practices, cities and plans, validated in one pass."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from practice_finder import i18n
from practice_finder.corpus import schema
from practice_finder.errors import CorpusError, RecordProblem
from practice_finder.languages import TAXONOMY_LANGUAGES
from practice_finder.models import (
    CONTACT_FIELDS,
    PLAN_SECTIONS,
    RECORD_KINDS,
    VOCABULARIES,
    City,
    Corpus,
    Plan,
    Practice,
    Record,
    Tags,
    Taxonomy,
    Term,
)

# `## Outcomes ##` is `Outcomes`; `## C#` keeps its #
HEADING = re.compile(r"^##\s+(\S.*?)(?:\s+#+)?\s*$")


class YamlLoader(yaml.SafeLoader):
    """Safe YAML where only true/false are booleans: `country: NO` stays Norway, not False."""


YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _FrontMatter(frontmatter.YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml.load(fm, Loader=YamlLoader)  # noqa: S506 - a SafeLoader subclass


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=YamlLoader)  # noqa: S506 - a SafeLoader subclass


class Problems(list[RecordProblem]):
    """The problems found so far, each with its file and field: collected, then raised as one CorpusError."""

    def add(self, path: Path | str, field: str, message: str) -> None:
        self.append(RecordProblem(str(path), field, message))


def load_corpus(corpus_dir: Path) -> Corpus:
    """Read and validate everything under `corpus_dir`; raise CorpusError listing every problem."""
    if not corpus_dir.is_dir():
        raise CorpusError([RecordProblem(str(corpus_dir), "-", "corpus directory does not exist")])
    problems = Problems()
    taxonomy = load_taxonomy(corpus_dir / "taxonomy.yaml", problems)
    # each kind's files lie in the folder named by its table
    practices, cities, plans = (
        _load_kind(corpus_dir / kind.table, taxonomy, BUILDERS[kind.name], problems)
        for kind in RECORD_KINDS
    )
    check_links(practices, cities, plans, problems)
    if problems:
        raise CorpusError(list(problems))
    return Corpus(taxonomy, tuple(practices), tuple(cities), tuple(plans))


# -- taxonomy ------------------------------------------------------------------------------


def load_taxonomy(path: Path, problems: Problems | None = None) -> Taxonomy:
    """Parse taxonomy.yaml; problems are collected (or raised when no collector is given)."""
    own = problems is None
    problems = Problems() if problems is None else problems
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        problems.add(path, "-", f"cannot read taxonomy: {_one_line(exc)}")
        data = {}
    vocabularies = {
        v: _vocabulary(path, v, (data or {}).get("vocabularies", {}).get(v), problems)
        for v in VOCABULARIES
    }
    if own and problems:
        raise CorpusError(list(problems))
    return Taxonomy(vocabularies)


def _vocabulary(path: Path, name: str, data: Any, problems: Problems) -> dict[str, Term]:
    if not isinstance(data, dict) or not isinstance(data.get("terms"), list):
        problems.add(path, f"vocabularies.{name}", "missing or has no list of terms")
        return {}
    terms: dict[str, Term] = {}
    for i, raw in enumerate(data["terms"]):
        where = f"vocabularies.{name}.terms[{i}]"
        term = _term(raw, name, path, where, problems)
        if term and term.id in terms:
            problems.add(path, where, f"duplicate term id {term.id!r}")
        elif term:
            terms[term.id] = term
    return terms


def _term(raw: Any, vocabulary: str, path: Path, where: str, problems: Problems) -> Term | None:
    if not isinstance(raw, dict) or schema._slug(raw.get("id")) or schema._text(raw.get("label")):
        problems.add(path, where, "each term needs a slug `id` and a text `label`")
        return None
    labels = _by_language(raw, "labels", path, where, problems)
    everyday_labels = _by_language(raw, "everyday_labels", path, where, problems)
    return Term(
        id=raw["id"],
        vocabulary=vocabulary,
        label=raw["label"],
        definition=raw.get("definition") or "",
        synonyms=tuple(str(s) for s in raw.get("synonyms") or ()),
        everyday=tuple(str(s) for s in raw.get("everyday") or ()),
        labels=labels,
        everyday_labels=everyday_labels,
    )


def _by_language(
    raw: dict[str, Any], key: str, path: Path, where: str, problems: Problems
) -> dict[str, tuple[str, ...]]:
    """A term's `key` field: phrases per language code."""
    phrases = raw.get(key) or {}
    if not isinstance(phrases, dict) or not all(
        isinstance(items, list) and all(isinstance(p, str) for p in items)
        for items in phrases.values()
    ):
        problems.add(path, f"{where}.{key}", "must map language codes to lists of phrases")
        return {}
    unknown = sorted(set(phrases) - set(TAXONOMY_LANGUAGES))
    if unknown == ["en"]:
        problems.add(path, f"{where}.{key}", "English phrases belong in the term's own fields")
    elif unknown:
        problems.add(path, f"{where}.{key}", f"unknown language code {unknown[0]!r}")
    return {lang: tuple(items) for lang, items in phrases.items()}


# -- records -------------------------------------------------------------------------------

Builder = Callable[[Path, dict[str, Any], dict[str, str], Taxonomy, Problems], Any]


def _load_kind(folder: Path, taxonomy: Taxonomy, build: Builder, problems: Problems) -> list[Any]:
    if not folder.is_dir():
        problems.add(folder, "-", "folder is missing")
        return []
    records = []
    for path in sorted(folder.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        parsed = _parse(path, problems)
        if parsed is None:
            continue
        meta, sections = parsed
        if meta.get("id") is not None and meta.get("id") != path.stem:
            problems.add(path, "id", f"{meta.get('id')!r} must equal the file name {path.stem!r}")
        record = build(path, meta, sections, taxonomy, problems)
        if record is not None:
            records.append(record)
    return records


def _parse(path: Path, problems: Problems) -> tuple[dict[str, Any], dict[str, str]] | None:
    """Front matter and body sections of one Markdown file, or None if unreadable."""
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"), handler=_FrontMatter())
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        problems.add(path, "front matter", f"cannot be parsed: {_one_line(exc)}")
        return None
    if not post.metadata:
        problems.add(
            path,
            "front matter",
            "missing: the file must start with a YAML block between '---' lines",
        )
        return None
    return dict(post.metadata), split_sections(post.content)


def split_sections(body: str) -> dict[str, str]:
    """Map each `## Heading` to the text under it; text before the first heading goes under ''."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in body.splitlines():
        match = HEADING.match(line)
        if match:
            current = match.group(1).strip()
            # a repeated heading continues its section: no text is dropped
            sections.setdefault(current, [])
        else:
            sections[current].append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _checked(
    path: Path, meta: dict[str, Any], spec: list[schema.Field], problems: Problems
) -> bool:
    found = schema.check_fields(meta, spec)
    for field, message in found:
        problems.add(path, field, message)
    return not found


def _tags(meta: dict[str, Any]) -> Tags:
    return Tags(**{v: tuple(meta.get(v) or ()) for v in VOCABULARIES})


def _years(value: Any) -> tuple[int, ...]:
    return tuple(sorted(value if isinstance(value, list) else [value]))


def _sections(
    path: Path, sections: dict[str, str], wanted: Iterable[tuple[str, str]], problems: Problems
) -> dict[str, str] | None:
    body: dict[str, str] = {}
    for key, heading in wanted:
        text = sections.get(heading, "")
        wrong = (
            i18n.gettext("section is missing or empty") if not text else schema.body_problem(text)
        )
        if wrong:
            problems.add(path, f"## {heading}", wrong)
            text = ""
        body[key] = text
    return body if all(body.values()) else None


def build_practice(
    path: Path,
    meta: dict[str, Any],
    sections: dict[str, str],
    taxonomy: Taxonomy,
    problems: Problems,
) -> Practice | None:
    """A practice from its file's front matter (`meta`) and its body's sections by heading, or None when
    invalid; what is wrong is added to `problems`, filed under `path`."""
    ok = _checked(path, meta, schema.practice_fields(taxonomy), problems)
    body = _sections(path, sections, schema.PRACTICE_SECTIONS.items(), problems)
    if body and schema.word_count(body["what_happened"]) < schema.MIN_WHAT_HAPPENED_WORDS:
        words = schema.word_count(body["what_happened"])
        problems.add(
            path,
            "## What happened",
            i18n.gettext("has %(words)s words; at least %(minimum)s are needed")
            % {
                "words": schema.count(words),
                "minimum": schema.count(schema.MIN_WHAT_HAPPENED_WORDS),
            },
        )
        return None
    if not ok or body is None:
        return None
    return Practice(
        id=meta["id"],
        title=meta["title"].strip(),
        municipality=meta["municipality"],
        country=meta["country"],
        population=meta["population"],
        years=_years(meta["years"]),
        tags=_tags(meta),
        summary=meta["summary"].strip(),
        what_happened=body["what_happened"],
        outcomes=body["outcomes"],
        success_factors=body["success_factors"],
        budget_band=meta["budget_band"],
        resources=meta["resources"].strip(),
        language=meta["language"],
        source=meta["source"],
        city=meta.get("city"),
        partners=tuple(meta.get("partners") or ()),
        basis=meta.get("basis"),
        **_contact(meta),
        path=str(path),
    )


def _contact(meta: dict[str, Any]) -> dict[str, Any]:
    """The contact fields as given (checked by schema.contact_fields); consent only when stated."""
    found: dict[str, Any] = {name: meta.get(name) for name in CONTACT_FIELDS[:3]}
    return {**found, "contact_consent": meta.get("contact_consent") is True}


def build_city(
    path: Path,
    meta: dict[str, Any],
    sections: dict[str, str],
    taxonomy: Taxonomy,
    problems: Problems,
) -> City | None:
    """A city profile from its front matter and body text (all sections, joined), or None when invalid;
    what is wrong is added to `problems`."""
    ok = _checked(path, meta, schema.city_fields(taxonomy), problems)
    description = "\n\n".join(text for text in sections.values() if text).strip()
    wrong = (
        "the profile text below the front matter is missing"
        if not description
        else schema.body_problem(description)
    )
    if wrong:
        problems.add(path, "body", wrong)
    if not ok or wrong:
        return None
    return City(
        id=meta["id"],
        name=meta["name"],
        country=meta["country"],
        region=meta["region"],
        population=meta["population"],
        population_year=meta["population_year"],
        lat=float(meta["lat"]),
        lon=float(meta["lon"]),
        settlement_type=meta["settlement_type"],
        tags=_tags(meta),
        description=description,
        languages=tuple(meta.get("languages") or ()),
        pearl_year=meta.get("pearl_year"),
        **_contact(meta),
        path=str(path),
    )


def build_plan(
    path: Path,
    meta: dict[str, Any],
    sections: dict[str, str],
    taxonomy: Taxonomy,
    problems: Problems,
) -> Plan | None:
    """A plan from its front matter and its body's sections by heading, or None when invalid; what is wrong
    is added to `problems`."""
    ok = _checked(path, meta, schema.plan_fields(taxonomy), problems)
    body = _sections(path, sections, PLAN_SECTIONS, problems)
    if not ok or body is None:
        return None
    return Plan(
        id=meta["id"],
        city=meta["city"],
        title=meta["title"].strip(),
        years=_years(meta["years"]),
        status=meta["status"],
        tags=_tags(meta),
        body=body,
        language=meta["language"],
        source=meta["source"],
        basis=meta.get("basis"),
        path=str(path),
    )


BUILDERS: dict[str, Builder] = {"practice": build_practice, "city": build_city, "plan": build_plan}


def build_record(
    kind: str,
    path: Path,
    meta: dict[str, Any],
    sections: dict[str, str],
    taxonomy: Taxonomy,
    problems: Problems,
) -> Record | None:
    """A record of a kind ('practice', 'city', 'plan') from front matter and sections, checked as a corpus
    file is (the write log's records go through here too); None when invalid, with `problems` added."""
    record: Record | None = BUILDERS[kind](path, meta, sections, taxonomy, problems)
    return record


def check_links(
    practices: list[Practice], cities: list[City], plans: list[Plan], problems: Problems
) -> None:
    """Cross-record rules: unique ids per kind, links to existing cities, matching countries."""
    by_id = {c.id: c for c in cities}
    for practice in practices:
        city = by_id.get(practice.city) if practice.city else None
        if practice.city and city is None:
            problems.add(
                practice.path, "city", f"no city profile with id {practice.city!r} in cities/"
            )
        elif city and city.country != practice.country:
            problems.add(
                practice.path,
                "country",
                f"{practice.country} differs from the country of its city {city.id!r}, {city.country}",
            )
    for plan in plans:
        if plan.city not in by_id:
            problems.add(plan.path, "city", f"no city profile with id {plan.city!r} in cities/")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
