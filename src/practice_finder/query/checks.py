"""Checks of request values shared by search, records, recommendations and peers: each written once.

A failed check raises InvalidQueryError naming the parameter, with the same message everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from practice_finder.errors import InvalidQueryError
from practice_finder.languages import QUESTION_LANGUAGES
from practice_finder.models import COUNTRIES


def check_k(k: int, most: int, parameter: str = "k") -> None:
    """How many results were asked for: 1 to `most`."""
    if not 1 <= k <= most:
        raise InvalidQueryError(parameter, f"must be between 1 and {most}, got {k}")


def check_countries(codes: Iterable[str], parameter: str = "country") -> None:
    """Country codes of the region (ISO 3166-1 alpha-2, upper case)."""
    for code in codes:
        if code not in COUNTRIES:
            raise InvalidQueryError(
                parameter, f"unknown country code {code!r}", f"use one of {', '.join(COUNTRIES)}"
            )


def country_codes(values: Iterable[str]) -> tuple[str, ...]:
    """Country codes as typed (`lv`, `Ee`) in the form the checks and filters use (`LV`, `EE`)."""
    return tuple(value.upper() for value in values)


def check_language_prior(code: str | None, parameter: str = "language_prior") -> None:
    """A language prior must be a language the detector knows."""
    if code is not None and code not in QUESTION_LANGUAGES:
        raise InvalidQueryError(
            parameter,
            f"unknown language {code!r}",
            f"use one of {', '.join(QUESTION_LANGUAGES)}",
        )


def check_range(name: str, low: int | None, high: int | None, floor: int, ceiling: int) -> None:
    """Raise InvalidQueryError naming the bound (`population_min`, `year_to`...) outside [floor, ceiling],
    or the range whose lower bound is above its upper one."""
    for suffix, value in (
        ("min" if name == "population" else "from", low),
        ("max" if name == "population" else "to", high),
    ):
        if value is not None and not floor <= value <= ceiling:
            raise InvalidQueryError(
                f"{name}_{suffix}", f"must be between {floor} and {ceiling}, got {value}"
            )
    if low is not None and high is not None and low > high:
        raise InvalidQueryError(name, f"the lower bound {low} is above the upper bound {high}")
