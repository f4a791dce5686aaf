"""A town as recommendations and peer matching see it: size, type, place, challenges, assets and text.

A profile comes from a city of the corpus (with its action plan) or from what a town types in; free
text is tagged with taxonomy terms exactly as ingestion tags records, and the result says what was
understood.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import msgspec
import numpy as np

from practice_finder import i18n
from practice_finder.corpus import schema
from practice_finder.errors import InvalidQueryError
from practice_finder.languages import UNDETERMINED
from practice_finder.models import SETTLEMENT_TYPES
from practice_finder.query.checks import check_countries, check_language_prior
from practice_finder.query.handle import Index, record_vector
from practice_finder.query.legs import toward_english
from practice_finder.query.reads import CityDetail, get_city
from practice_finder.text import diacritics, pipelines
from practice_finder.text.reading import read_text

MAX_TEXT_CHARS = 20_000
TEXT_PASSAGES_EMBEDDED = 12  # a long draft plan is represented by the mean of its first passages


class ProfileIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a town tells about itself (every field optional; the more, the better the match)."""

    name: str | None = None
    country: str | None = None
    population: int | None = None
    settlement_type: str | None = None
    lat: float | None = None
    lon: float | None = None
    challenges: list[str] = []
    assets: list[str] = []
    text: str = ""


class TextCut(msgspec.Struct, kw_only=True):
    """A town's text longer than what is embedded: its vector rests on the first `embedded_chars`."""

    embedded_chars: int
    reason: str


class Profile(msgspec.Struct, kw_only=True):
    """The profile used for matching, and what was understood from the free text."""

    source: str  # "city" or "profile"
    city: str | None
    name: str | None
    country: str | None
    population: int | None
    settlement_type: str | None
    settlement_type_estimated: bool
    lat: float | None
    lon: float | None
    challenges: list[str]  # declared by the town or its city profile and plan
    assets: list[str]
    understood: dict[str, list[str]]  # taxonomy terms found in the free text
    text_chars: int
    text_language: str = UNDETERMINED  # the language of most of the text (see text.reading)
    text_languages: list[str] = []  # every language the text was read in
    text_cut: TextCut | None = None  # set when only the start of the text was embedded

    def embedded_text(self, text: str) -> str:
        """The part of the town's text its vector rests on."""
        return text if self.text_cut is None else text[: self.text_cut.embedded_chars]

    def all_challenges(self) -> list[str]:
        return _union(self.challenges, self.understood.get("challenges", []))

    def all_assets(self) -> list[str]:
        return _union(self.assets, self.understood.get("assets", []))


def _union(a: list[str], b: list[str]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def estimate_settlement_type(population: int) -> str:
    """A stand-in for Eurostat's DEGURBA class when only the population is known."""
    return "urban" if population >= 50_000 else "town" if population >= 5_000 else "rural"


def validate_profile(profile: ProfileIn, index: Index) -> None:
    if profile.name is not None and (wrong := schema.text_problem(profile.name, schema.MAX_NAME)):
        raise InvalidQueryError("profile.name", wrong)
    for field in ("challenges", "assets"):
        if len(getattr(profile, field)) > schema.MAX_TAGS:
            raise InvalidQueryError(
                f"profile.{field}", f"at most {schema.MAX_TAGS} ids are allowed"
            )
    if profile.country is not None:
        check_countries([profile.country], "profile.country")
    if profile.population is not None and not 1 <= profile.population <= 5_000_000:
        raise InvalidQueryError(
            "profile.population", f"must be between 1 and 5000000, got {profile.population}"
        )
    if profile.settlement_type is not None and profile.settlement_type not in SETTLEMENT_TYPES:
        raise InvalidQueryError(
            "profile.settlement_type", f"must be one of {', '.join(SETTLEMENT_TYPES)}"
        )
    if (profile.lat is None) != (profile.lon is None):
        raise InvalidQueryError("profile.lat", "give both lat and lon, or neither")
    if (
        profile.lat is not None
        and profile.lon is not None
        and not (-90 <= profile.lat <= 90 and -180 <= profile.lon <= 180)
    ):
        raise InvalidQueryError("profile.lat", "coordinates out of range")
    if len(profile.text) > MAX_TEXT_CHARS:
        raise InvalidQueryError(
            "profile.text",
            f"is {len(profile.text)} characters long; at most {MAX_TEXT_CHARS} are allowed",
        )
    for field, vocab in (("challenges", "challenges"), ("assets", "assets")):
        for term in getattr(profile, field):
            if not index.taxonomy.has(vocab, term):
                raise InvalidQueryError(
                    f"profile.{field}",
                    f"unknown {vocab} id {term!r}",
                    "see GET /v1/taxonomy for the ids",
                )
    if not (profile.text.strip() or profile.challenges or profile.assets):
        raise InvalidQueryError("profile", "needs at least one of text, challenges or assets")


def from_input(index: Index, profile: ProfileIn, language_prior: str | None = None) -> Profile:
    """The profile of a described town; `language_prior`: the language its text is most likely written in."""
    validate_profile(profile, index)
    estimated = profile.settlement_type is None and profile.population is not None
    reading = read_text(index.tagger, profile.text, language_prior)
    return Profile(
        source="profile",
        city=None,
        name=profile.name,
        country=profile.country,
        population=profile.population,
        settlement_type=profile.settlement_type
        or (estimate_settlement_type(profile.population) if profile.population else None),
        settlement_type_estimated=estimated,
        lat=profile.lat,
        lon=profile.lon,
        challenges=list(profile.challenges),
        assets=list(profile.assets),
        understood=reading.understood,
        text_chars=len(profile.text),
        text_language=reading.language,
        text_languages=list(reading.languages),
        text_cut=text_cut(profile.text, index.admission.limits.embed_chars),
    )


def text_cut(text: str, limit: int) -> TextCut | None:
    """Where a text longer than `limit` characters is cut for embedding: at the last space before the
    limit (at the limit when there is none)."""
    if len(text) <= limit:
        return None
    space = text.rfind(" ", 0, limit + 1)
    end = space if space > limit // 2 else limit
    return TextCut(
        embedded_chars=end,
        reason=f"only the first {end} of {len(text)} characters are embedded (PF_PROFILE_EMBED_CHARS); "
        "the whole text was read for taxonomy terms",
    )


def city_profile(index: Index, city: CityDetail, text: str) -> Profile:
    """A corpus city with the declared tags of its profile and plans, and the terms its plan text
    (`text`, see `city_text`) mentions."""
    plan_tags = index.db.execute(
        "select vocabulary, term from tags t join plans p on p.id = t.record_id where t.record_type = 'plan' "
        "and t.source = 'declared' and p.city = ? and t.vocabulary in ('challenges', 'assets')",
        (city.id,),
    ).fetchall()
    challenges = _union(
        city.tags.declared.get("challenges", []),
        [r["term"] for r in plan_tags if r["vocabulary"] == "challenges"],
    )
    assets = _union(
        city.tags.declared.get("assets", []),
        [r["term"] for r in plan_tags if r["vocabulary"] == "assets"],
    )
    reading = read_text(index.tagger, text)
    return Profile(
        source="city",
        city=city.id,
        name=city.name,
        country=city.country,
        population=city.population,
        settlement_type=city.settlement_type,
        settlement_type_estimated=False,
        lat=city.lat,
        lon=city.lon,
        challenges=challenges,
        assets=assets,
        understood=reading.understood,
        text_chars=len(text),
        text_language=reading.language,
        text_languages=list(reading.languages),
    )


def city_text(index: Index, city_id: str) -> str:
    """A city's plan text when it has a plan, else its profile description."""
    rows = index.db.execute(
        "select text from plans where city = ? order by id", (city_id,)
    ).fetchall()
    if rows:
        return "\n\n".join(r["text"] for r in rows)
    row = index.db.execute("select description from cities where id = ?", (city_id,)).fetchone()
    return str(row["description"]) if row else ""


def profile_vector(index: Index, profile: Profile, text: str = "") -> np.ndarray:
    """One vector for a town: its plan vector for a corpus city, else the mean of its text and tag labels."""
    if profile.city:
        plan = index.db.execute(
            "select id from plans where city = ? order by id limit 1", (profile.city,)
        ).fetchone()
        return (
            record_vector(index, "plan", plan["id"])
            if plan
            else record_vector(index, "city", profile.city)
        )
    labels = [index.taxonomy.label("challenges", t) for t in profile.all_challenges()]
    labels += [index.taxonomy.label("assets", t) for t in profile.all_assets()]
    lang = profile.text_languages[0] if profile.text_languages else "en"
    summary = [f"A town facing {', '.join(labels)}."] if labels else []
    own = pipelines.passages(profile.embedded_text(text), lang)[:TEXT_PASSAGES_EMBEDDED]
    # one passage at a time, each after the questions being encoded (see query.admission)
    matrix = index.admission.encode_behind(summary + own or ["a small town"], kind="query")
    # the town's own words are moved as a question in its language is (legs.toward_english); the summary,
    # a sentence of English labels made here, stays as encoded (moved too, the recommendations' nDCG@10
    # on the 14 domain profiles was 0.8415 against 0.8575)
    for row in range(len(summary), len(matrix)):
        matrix[row] = toward_english(index, matrix[row], lang)
    mean = matrix.mean(axis=0)
    return np.asarray(mean / (np.linalg.norm(mean) or 1.0), dtype=np.float32)


class Town(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A town as a request names it: `city` (an id of the corpus) or `profile` (what it tells about itself)."""

    city: str | None = None
    profile: ProfileIn | None = None
    # the language the profile's text is most likely written in, such as the page's: it weighs in when the
    # text alone does not tell which (see languages.guess); a code of languages.QUESTION_LANGUAGES
    language_prior: str | None = None

    def check(self) -> None:
        if (self.city is None) == (self.profile is None):
            raise InvalidQueryError("body", "give exactly one of `city` (a city id) or `profile`")
        check_language_prior(self.language_prior)


@dataclass(frozen=True)
class ResolvedTown:
    """A town ready to be matched: its profile and its one vector, shared by recommendations and peers."""

    profile: Profile
    vector: np.ndarray


def resolve_town(index: Index, town: Town) -> ResolvedTown:
    """The profile of a corpus city or of a described town, and its vector (the text encoded once)."""
    town.check()
    if town.city is not None:
        return city_town(index, get_city(index, town.city))
    assert town.profile is not None
    heavy: AbstractContextManager[None] = (
        index.admission.heavy() if town.profile.text.strip() else nullcontext()
    )
    with heavy:  # free text to read and embed: one of the process's few heavy slots, or BusyError
        # a plan typed without its letters' marks is read and embedded with them restored (text.diacritics)
        text = diacritics.restored(town.profile.text, town.language_prior, index.tagger.vocabulary)
        described = msgspec.structs.replace(town.profile, text=text)
        profile = from_input(index, described, town.language_prior)
        return ResolvedTown(profile, profile_vector(index, profile, text))


def city_town(index: Index, city: CityDetail) -> ResolvedTown:
    """A corpus city already read, ready to be matched (its vector is the stored one of its plan)."""
    text = city_text(index, city.id)
    profile = city_profile(index, city, text)
    return ResolvedTown(profile, profile_vector(index, profile, text))


# -- comparability --------------------------------------------------------------------------------


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def population_similarity(a: int | None, b: int | None) -> float | None:
    """1 for equal sizes, 0.5 for a tenfold difference, 0 from a hundredfold difference (log scale)."""
    if not a or not b:
        return None
    return max(0.0, 1.0 - abs(math.log10(a) - math.log10(b)) / 2.0)


SAME_SIZE = (0.67, 1.5)  # population ratios told as "about your size"
SIZE_RATIO_TOLD = (
    100.0  # beyond a hundredfold either way a ratio is not a reason (population similarity is 0)
)


def size_comparison(theirs: int | None, yours: int | None) -> tuple[str, str] | None:
    """How another town's population compares with yours, for a reason, in the reader's number format:
    ("same", ""), ("times", "2.5") for a larger town, ("share", "40%") for a smaller one; None when a
    population is unknown or zero or the ratio passes a hundredfold (a size that far off is no reason)."""
    if not theirs or not yours or theirs < 0 or yours < 0:
        return None
    ratio = theirs / yours
    if SAME_SIZE[0] <= ratio <= SAME_SIZE[1]:
        return ("same", "")
    if ratio > SIZE_RATIO_TOLD or ratio < 1 / SIZE_RATIO_TOLD:
        return None
    if ratio > 1:
        return ("times", i18n.number(ratio, pattern="#,##0.#"))
    return ("share", i18n.percent(ratio))


TYPE_ORDER = {"rural": 0, "town": 1, "urban": 2}


def type_similarity(a: str | None, b: str | None) -> float | None:
    """1 for the same DEGURBA class, 0.5 for neighbours (rural-town, town-urban), 0 for rural-urban."""
    if a is None or b is None:
        return None
    return 1.0 - abs(TYPE_ORDER[a] - TYPE_ORDER[b]) / 2.0


DISTANCE_SCALE_KM = 500.0


def proximity(km: float | None) -> float | None:
    """1 next door, 0.5 at 500 km, 0.25 at 1500 km."""
    return None if km is None else 1.0 / (1.0 + km / DISTANCE_SCALE_KM)


def jaccard(a: list[str] | set[str], b: list[str] | set[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def distance_km(profile: Profile, lat: float | None, lon: float | None) -> float | None:
    if profile.lat is None or profile.lon is None or lat is None or lon is None:
        return None
    return round(haversine_km((profile.lat, profile.lon), (lat, lon)), 1)


def article(word: str) -> str:
    """'an' before a vowel ('an urban municipality'), else 'a'."""
    return "an" if word[:1] in "aeiou" else "a"
