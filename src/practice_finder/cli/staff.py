"""`practice-finder staff`: the accounts of the programme's staff who review submissions."""

from __future__ import annotations

from pathlib import Path

import click

from practice_finder.config import Settings

state_option = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="State folder holding the review store [default: state/, env PF_STATE_DIR].",
)


@click.group()
def staff() -> None:
    """Staff accounts of the review pages (/staff)."""


@staff.command()
@click.argument("name")
@state_option
@click.password_option(
    prompt="Password (at least 12 characters)", help="Prompted when not given (never echoed)."
)
def add(name: str, state_dir: Path | None, password: str) -> None:
    """Add an account NAME (or give it a new password); the password is stored as an argon2 hash."""
    from practice_finder.corpus.staff_accounts import add_staff
    from practice_finder.corpus.submissions import ReviewStore

    settings = Settings.from_env(state_dir=state_dir)
    add_staff(ReviewStore(settings.state_dir), name, password)
    click.echo(f"Staff account {name!r} is ready: sign in at /staff.")


@staff.command(name="list")
@state_option
def list_(state_dir: Path | None) -> None:
    """The names of the staff accounts."""
    from practice_finder.corpus.staff_accounts import staff_names
    from practice_finder.corpus.submissions import ReviewStore

    for name in staff_names(ReviewStore(Settings.from_env(state_dir=state_dir).state_dir)):
        click.echo(name)
