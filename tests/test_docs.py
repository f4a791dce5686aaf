"""The README documents every command, option and setting, and its two set-up commands exist."""

from __future__ import annotations

import re
from dataclasses import fields

import click

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
