"""Constraints a question states about the practices it wants: a town's size, a budget, countries, target groups.

"Cheap ideas for our village in the Baltic states" asks for practices of small towns with small budgets
in Estonia, Latvia and Lithuania. Each constraint read here becomes a soft preference of the ranking (a
small bounded lift, `boost`) and a filter the user can turn on with one click (`Constraint.filter`, the
API's parameters). Sizes, budgets and places are read from a few words and number patterns per language
of the region; target groups are the taxonomy terms the question mentions (text.reading).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

import msgspec

from practice_finder import i18n
from practice_finder.languages import REGION_LANGUAGES
from practice_finder.models import COUNTRIES

# population bands of the search page's size filter: key -> (lowest, highest), None = open
SIZE_BANDS: dict[str, tuple[int | None, int | None]] = {
    "village": (None, 4_999),
    "small": (5_000, 19_999),
    "medium": (20_000, 99_999),
    "large": (100_000, None),
}
BUDGET_LOWEST = {"under-10k": 0, "10k-50k": 10_000, "50k-250k": 50_000, "over-250k": 250_000}

# one practice's lift when it meets every constraint, as a share of the best fused score (one met of
# two: half of it); small enough that a practice meeting them never passes one clearly more relevant
BOOST_SHARE = 0.1
LIFTING = ("size", "budget", "country")  # the kinds that lift; see Constraint.lifts
# a town "of about 6,000" is met by towns between a third and three times its size, not by its size band
# alone (a town of 4,900 is as comparable as one of 5,100); the band stays the user's filter
SIZE_FACTOR = 3.0

PEOPLE = (
    r"people|persons|inhabitants|residents|souls|invånare|människor|indbyggere|mennesker|innbyggere|"
    r"asuk\w*|ihmis\w*|elanik\w*|inimes\w*|iedzīvotāj\w*|cilvēk\w*|gyventoj\w*|žmon\w*|mieszkań\w*|"
    r"osób|ludzi|einwohner\w*|menschen"
)
NUMBER = r"(\d{1,3}(?:[ ,.\u00a0\u202f]\d{3})+|\d+)\s*(k|thousand|tusen|tusind|tuhat\w*|tūkst\w*|tūkst\.|tys\.|tys\w*|tausend)?"
SIZE_NUMBER = re.compile(rf"{NUMBER}\s+(?:{PEOPLE})\b", re.IGNORECASE)
EURO = r"€|eur\w*|eiro"
# "a town of about 15,000": English names a place's size without saying whose, the other languages of
# the region with their word for inhabitants (PEOPLE)
PLACE_OF_NUMBER = re.compile(
    rf"\b(?:towns?|city|cities|municipality|municipalities|villages?|parish|parishes|communit(?:y|ies)|"
    rf"boroughs?|islands?) of (?:about |around |roughly |some |nearly |almost |just over |just under |"
    rf"over |under |fewer than |less than |more than )?{NUMBER}(?![\w,.]*\s*(?:{EURO}|years?|km|kilomet))",
    re.IGNORECASE,
)
# The region's words for a village, written so that their neighbours in other languages do not count:
# Estonian "küla" but not "külastaja" (visitor), "külaskäik" (visit), "külaline" (guest); Latvian "ciems" but
# not Polish "ciemny" (dark) or Latvian "ciemiņš" (guest); Lithuanian "kaimas" but not Lithuanian "kaimynas"
# or Latvian "kaimiņš" (neighbour). Swedish "by" is a village, Danish and Norwegian "by" a town, and
# English "by" a preposition, so only Swedish forms that are none of these count ("byn", "byar", "byskolan").
VILLAGE = re.compile(
    r"\b(villages?|hamlet|landsby(?!gd)\w*|byn|byar|byarna|bybor\w*|byskol\w*|bygd\w*|grend\w*|kylä\w*|"
    r"küla(?!st[aju]|skäi|lis|lin)\w*|"
    r"kyli(?:en|ss|st|in|lt|ll|ä)\w*|ciem(?!n|iņ)\w*|kaim(?!yn|iņ)\w*|wieś|wsi|wsie|wsiach|wsiom|"
    r"wiejsk\w*|sołectw\w*|wiosk\w*|byfören\w*|byalag\w*|dorf\w*|dörfer\w*)\b",
    re.IGNORECASE,
)
CHEAP = re.compile(
    r"\b(no money|no budget|little money|without money|low[- ]cost|small budget|tight budget|"
    r"cheap\w*|inexpensive|free of charge|low[- ]budget|billig\w*|inga pengar|lite pengar|ingen penge|få penge|"
    r"ingen penger|lite penger|halp\w*|halvalla|edullis\w*|ei rahaa|vähän rahaa|vähällä rahalla|"
    r"odava\w*|odav|vähe raha\w*|"
    r"raha pole|vähese rahaga|lēt\w*|bez naudas|maz naudas|pig(?:u|i|ū|es)\w*|be pinigų|mažai pinigų|tani\w*|tanio|"
    r"bez pieniędzy|mało pieniędzy|niski\w* budżet\w*|günstig\w*|kein geld|wenig geld|kleine\w* budget)\b",
    re.IGNORECASE,
)
UNDER = r"under|below|less than|up to|at most|max(?:imum)?|mindre än|højst|høyst|alle|kuni|alla|līdz|iki|poniżej|do|unter|bis"
# "under 10,000", "up to €5,000"; a sum a question says it has ("we have around 100,000 euros") is no
# limit: nearly every practice costs less, and lifting them all lowered the officers' set
AMOUNT = re.compile(rf"\b(?:{UNDER})\s*(?:{EURO})?\s*{NUMBER}\s*(?:{EURO})?", re.IGNORECASE)
REGIONS = {
    ("EE", "LV", "LT"): re.compile(
        r"\b(baltic (states|countries)|baltics|baltikum\w*|baltimaa\w*|balti riigi\w*|balti riik\w*|"
        r"baltia|baltian|baltiassa|baltijas valst\w*|baltijos šal\w*|"
        r"baltiska (länder\w*|stater\w*)|baltiske (land\w*|stat\w*)|baltischen (staaten|länder\w*)|"
        r"(państw\w*|kraj\w*) bałtycki\w*)\b",
        re.IGNORECASE,
    ),
    ("DK", "FI", "NO", "SE"): re.compile(
        r"\b(nordic countries|nordics|scandinavia\w*|skandinavi\w*|norden|pohjoismai\w*|pohjoismaa\w*|"
        r"põhjamaa\w*|ziemeļvalst\w*|šiaurės šal\w*|skandynaw\w*|nordischen länder\w*)\b",
        re.IGNORECASE,
    ),
}
# the starts of each country's adjective in English and the region's languages, without accents ("a Finnish
# town", "en finsk by", "fińskie miasteczko", "suomalainen kaupunki"); a language writes them in lower case,
# so each has at least SHORT_NAME letters (Scandinavian "tysk", Latvian "vācu" and "somu" are too short to
# tell from other words, and Estonian "saksa" is, without its accents, where Latvian "sākšana", starting,
# begins)
ADJECTIVE_STARTS = {
    "DE": ("germa", "tyska", "tyske", "deutsch", "niemieck", "vokisk", "vokieciu", "saksalai"),
    "DK": ("danis", "dansk", "dunsk", "taani", "tanskalai"),
    "EE": ("estonia", "estnisk", "estisk", "estnisch", "estonsk", "igaunu", "virolai", "eesti"),
    "FI": ("finnis", "finlandsk", "finsk", "suomisk", "suomalai", "soome"),
    "LT": ("lithuania", "litauisk", "litauisch", "litewsk", "leedu", "liettualai"),
    "LV": ("latvia", "lettisk", "lettisch", "lotewsk", "latvialai"),
    "NO": ("norwegia", "norsk", "norwesk", "norvegu", "norvegisk", "norjalai"),
    "PL": ("polis", "polnisch", "lenkisk", "poola", "puolalai"),
    "SE": ("swedis", "svensk", "schwedisch", "szwedzk", "zviedru", "svedisk", "ruotsalai"),
}
SHORT_NAME = 5  # letters of a name's start below which it must be written with a capital
# words that begin as a country's name in one language and name something else in another: Swedish
# Norrland, Norrbotten, Norrköping and Norrtälje begin as Estonian "Norra" (Norway) does
NOT_NAMES = ("norrl", "norrb", "norrk", "norrt")
# a compass point compounded with a country's name ("Nordschweden", "Nordsverige", "pohjoisruotsissa"),
# without accents; the other languages write the point as a word of its own, and Finnish "itä" and Estonian
# "ida" (east) are left out, too short to tell from the start of other words
DIRECTION = re.compile(
    r"^(nord|sud|syd|ost|øst|west|vest|vast|pohjois|etela|lansi|pohja|louna|laane)"
)
NAME_ENDING = 5  # letters a country's name may take on as an inflection ("Latviassa", "Łotwie")


class Constraint(msgspec.Struct, kw_only=True):
    """One constraint read from a question: its kind, the values it names (a size band, budget bands,
    country codes, target group ids), the words it was read from, and the API filter it becomes."""

    kind: str  # size | budget | country | target_group
    values: list[str]
    phrase: str
    filter: dict[str, list[str]]
    population: int | None = None  # the size a question gives in numbers

    @property
    def lifts(self) -> bool:
        """Whether the practices that meet it are lifted in the ranking (search.prefer): a size only when
        given in numbers. "Our villages feel swallowed up" or "a closed village school" name where the
        question is set, not the size of town it wants answers from; shown and offered as a filter, the
        village lifts nothing (docs/benchmarks.md#sizes-villages-and-budgets-as-written)."""
        if self.kind == "size":
            return self.population is not None
        return self.kind in LIFTING


def read_constraints(text: str, understood: dict[str, list[str]]) -> list[Constraint]:
    """The constraints `text` states (`understood`: the taxonomy terms it mentions, by vocabulary)."""
    out = [c for c in (_size(text), _budget(text), _places(text)) if c is not None]
    groups = understood.get("target_groups", [])
    if groups:
        out.append(
            Constraint(
                kind="target_group",
                values=list(groups),
                phrase="",
                filter={"target_group": list(groups)},
            )
        )
    return out


def band_of(population: int) -> str:
    """The size band a population falls in."""
    for key, (low, high) in SIZE_BANDS.items():
        if (low is None or population >= low) and (high is None or population <= high):
            return key
    return "large"


def _number(digits: str, scale: str | None) -> int:
    value = int(re.sub(r"\D", "", digits))
    return value * 1000 if scale else value


def _size(text: str) -> Constraint | None:
    found = SIZE_NUMBER.search(text) or PLACE_OF_NUMBER.search(text)
    population = None
    if found:
        population = _number(found.group(1), found.group(2))
        band = band_of(population)
    else:
        found = VILLAGE.search(text)
        band = "village" if found else ""
    if not found:
        return None
    low, high = SIZE_BANDS[band]
    limits = {"population_min": low, "population_max": high}
    return Constraint(
        kind="size",
        values=[band],
        phrase=found.group(0).strip(),
        filter={name: [str(v)] for name, v in limits.items() if v is not None},
        population=population,
    )


def _budget(text: str) -> Constraint | None:
    found = AMOUNT.search(text)
    if found:
        amount = _number(found.group(1), found.group(2))
        bands = [band for band, low in BUDGET_LOWEST.items() if low < amount]
    else:
        found = CHEAP.search(text)
        bands = ["under-10k"] if found else []
    if not found or not bands:
        return None
    return Constraint(kind="budget", values=bands, phrase=found.group(0), filter={"budget": bands})


def _places(text: str) -> Constraint | None:
    codes: dict[str, str] = {}
    for region, pattern in REGIONS.items():
        if found := pattern.search(text):
            codes.update(dict.fromkeys(region, found.group(0)))
    for word in re.findall(r"\w+", text):
        plain = _plain(word)
        if plain.startswith(NOT_NAMES):
            continue
        # a compass point compounded with a name ("nordschweden"): the rest read as a word of its own
        point = DIRECTION.match(plain)
        named = _named(plain, word[:1].isupper()) + (
            _named(plain[point.end() :], False) if point else []
        )
        for code in named:
            codes.setdefault(code, word)
    if not codes:
        return None
    ordered = [code for code in COUNTRIES if code in codes]
    phrase = ", ".join(dict.fromkeys(codes[code] for code in ordered))
    return Constraint(kind="country", values=ordered, phrase=phrase, filter={"country": ordered})


def _named(plain: str, capital: bool) -> list[str]:
    """The countries whose name's start `plain` (a word without accents, in lower case) begins with, at
    most NAME_ENDING letters of inflection after it. A short name's start is often a common word ("Puola",
    Poland, and "puolet", half): it counts only when the word was written with a `capital`."""
    return [
        code
        for length, names in _country_starts().items()
        if (length >= SHORT_NAME or capital) and length <= len(plain) <= length + NAME_ENDING
        for code in names.get(plain[:length], ())
    ]


@cache
def _country_prefixes() -> tuple[tuple[str, str], ...]:
    """Each country's name in English and the region's languages, without accents and in lower case, less
    its last letter (a name of four letters whole): what an inflected form starts with; and the starts of
    its adjective in those languages (ADJECTIVE_STARTS)."""
    out: set[tuple[str, str]] = set()
    for code in COUNTRIES:
        names = {i18n.country_name(code, lang) for lang in ("en", *REGION_LANGUAGES)}
        for name in names:
            plain = _plain(name)
            if len(plain) >= 4 and " " not in plain:
                out.add((code, plain[:-1] if len(plain) >= 5 else plain))
        out.update((code, start) for start in ADJECTIVE_STARTS.get(code, ()))
    return tuple(sorted(out))


@cache
def _country_starts() -> dict[int, dict[str, tuple[str, ...]]]:
    """The starts of _country_prefixes by their length: length -> start -> the countries it names (one
    look-up per length and word instead of a comparison with every start)."""
    out: dict[int, dict[str, tuple[str, ...]]] = {}
    for code, prefix in _country_prefixes():
        names = out.setdefault(len(prefix), {})
        names[prefix] = (*names.get(prefix, ()), code)
    return out


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower().replace("ł", "l"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def met(
    constraints: Sequence[Constraint], facts: tuple[int, str, str], groups: frozenset[str]
) -> list[str]:
    """The kinds of `constraints` a practice meets, from its (population, budget band, country) and its
    declared target groups."""
    population, budget, country = facts
    out = []
    for c in constraints:
        if c.kind == "size" and c.population:
            ok = c.population / SIZE_FACTOR <= population <= c.population * SIZE_FACTOR
        elif c.kind == "size":
            ok = band_of(population) in c.values
        elif c.kind == "budget":
            ok = budget in c.values
        elif c.kind == "country":
            ok = country in c.values
        else:
            ok = bool(groups & set(c.values))
        if ok:
            out.append(c.kind)
    return out
