"""The README documents every command, option and setting, and its two set-up commands exist; the docs
read as a reference (no diary), and their links and the code's pointers into them resolve."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import click
import pytest

from practice_finder.cli.main import cli
from practice_finder.config import Settings

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_and_option_is_in_the_readme() -> None:
    for name, command in cli.commands.items():
        assert f"practice-finder {name}" in README, name
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                long = max(param.opts, key=len)
                assert long in README, f"{name} {long}"


def test_every_setting_is_in_the_readme() -> None:
    for f in fields(Settings):
        if f.name != "extra":
            assert f"`PF_{f.name.upper()}`" in README, f.name


def test_readme_set_up_commands_are_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("serve", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_api_route_is_in_the_readme() -> None:
    from practice_finder.web.app import create_app

    app = create_app(Settings(index_dir=ROOT / "no-such-index"), make_embedder=lambda: None)  # type: ignore[arg-type,return-value]
    documented = README.replace("\\|", "|")
    for route in app.routes:
        path = (
            re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            .replace("{practice_id}", "{id}")
            .replace("{city_id}", "{id}")
            .replace("{plan_id}", "{id}")
        )
        if path.startswith(("/v1", "/health", "/ready")):
            assert path in documented, path


# The docs describe the software as it is, not the history of its making.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ORDINAL = r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(?:st|nd|rd|th))"
# Any "session" but a framework's (session middleware, session cookies), and "fifth round" and the like.
DIARY = re.compile(
    rf"\b{ORDINAL}\s+(?:session|round)s?\b|\bsessions?\b(?!\s+(?:middleware|cookies?)\b)",
    re.IGNORECASE,
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
DOC_REFERENCE = re.compile(r"\b(docs/[\w-]+\.md)#([\w-]+)")


def _prose(text: str) -> str:
    """The text without fenced code blocks (console transcripts are not links or prose)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation removed, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    for line in _prose(page.read_text(encoding="utf-8")).splitlines():
        if match := re.match(r"#{1,6}\s+(.+?)\s*#*$", line):
            slug = _slug(match[1])
            seen[slug] = seen.get(slug, -1) + 1
            if seen[slug]:
                seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_docs_read_as_reference_not_as_a_diary(page: Path) -> None:
    found = [m[0] for m in DIARY.finditer(page.read_text(encoding="utf-8"))]
    assert not found, f"{page.name}: {found}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name}: {target}"


def test_code_points_to_sections_that_exist() -> None:
    """Comments that cite a section of a doc (the doc's path, then #anchor) name a heading that is there."""
    for folder in ("src", "scripts", "tests"):
        for source in (ROOT / folder).rglob("*.py"):
            for doc, anchor in DOC_REFERENCE.findall(source.read_text(encoding="utf-8")):
                assert anchor in _anchors(ROOT / doc), f"{source.relative_to(ROOT)}: {doc}#{anchor}"
