"""Test doubles: a small deterministic embedder and a tiny corpus written inline."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from practice_finder.config import DEFAULT_MODEL, Settings, key_digest


class HashingEmbedder:
    """Bag of hashed words in 64 dimensions: deterministic, fast, similar texts get similar vectors."""

    name = DEFAULT_MODEL  # pretends to be the configured model so the pipeline accepts it
    dimension = 64

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[int] = []
        self.fail_after = fail_after

    def encode(
        self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False
    ) -> np.ndarray:
        self.calls.append(len(texts))
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise RuntimeError("embedding failed (simulated)")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    @property
    def embedded(self) -> int:
        return sum(self.calls)


WHAT_HAPPENED = (
    "The town library opened its reading room on Thursday evenings for older residents who live alone. "
    "Volunteers from the local choir collected people by car from the villages, and the librarian chose "
    "books and songs that residents had asked for in a short survey in the spring. Over two winters the "
    "evenings grew from eight to forty regular guests. Pupils from the music school came once a month to "
    "play, and the guests taught them songs from their own school days. The municipality paid for petrol "
    "and coffee; the library gave staff time. When the bus line to two villages was cut, the volunteers "
    "extended their rounds. In the second year the guests started a memory group that recorded stories "
    "of the old harbour for the local museum, and a small exhibition followed in the autumn. "
)


def practice(
    pid: str, title: str, town: str, country: str, challenges: str, extra: str = ""
) -> str:
    return f"""---
id: {pid}
title: {title}
municipality: {town}
country: "{country}"
population: 12000
years: [2021, 2022]
challenges: [{challenges}]
assets: [library, choir]
themes: [social-cohesion]
target_groups: [older-people]
participation: [volunteering]
summary: A short summary of {title.lower()}.
budget_band: under-10k
resources: Staff time of the library and volunteer drivers.
partners: [Town library, Local choir]
language: en
source: illustrative
---

## What happened

{WHAT_HAPPENED}{extra}

## Outcomes and evidence

Forty regular guests by the second winter; a survey showed most felt less alone.

## Success factors

Volunteers with cars, a warm room, and songs people knew.
"""


CITY = """---
id: testby
name: Testby
country: DK
region: Region of Southern Denmark
population: 12000
population_year: 2024
lat: 55.1
lon: 10.6
settlement_type: town
challenges: [loneliness]
assets: [library]
languages: [da]
pearl_year: null
---

Testby is a made-up harbour town used only by the test suite. It has a library, a choir, a
small museum and a ferry to two islands. Many older people live alone in the villages around it,
and young people leave for the cities after school, which is why its culture office works on
meeting places for all generations and on ways to keep in touch with those who moved away.
"""

PLAN = """---
id: testby-cureap-2025
city: testby
title: Testby culture and resilience plan
years: [2025]
status: draft
challenges: [loneliness]
assets: [library]
language: en
source: illustrative
---

## Local context
Testby has 12,000 inhabitants.
## Challenges
Loneliness among older residents.
## Goals
More meeting places.
## Target groups
Older people.
## Cultural assets
The library and the choir.
## Actions
Evening openings of the library.
## Participation
Volunteers.
## Expected outcomes
Fewer lonely residents.
"""


def write_tiny_corpus(folder: Path, taxonomy: Path) -> None:
    """Three practices, one city, one plan, with the real taxonomy."""
    for sub in ("practices", "cities", "plans"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(taxonomy, folder / "taxonomy.yaml")
    records = {
        "testby-library-evenings": practice(
            "testby-library-evenings",
            "Library evenings against loneliness",
            "Testby",
            "DK",
            "loneliness",
        ),
        "nordby-harbour-songs": practice(
            "nordby-harbour-songs",
            "Harbour songs for all generations",
            "Nordby",
            "NO",
            "intergenerational-gap",
        ),
        "ostby-memory-group": practice(
            "ostby-memory-group",
            "A memory group for the old harbour",
            "Ostby",
            "SE",
            "population-ageing",
        ),
    }
    for pid, text in records.items():
        (folder / "practices" / f"{pid}.md").write_text(text, encoding="utf-8")
    (folder / "cities" / "testby.md").write_text(CITY, encoding="utf-8")
    (folder / "plans" / "testby-cureap-2025.md").write_text(PLAN, encoding="utf-8")


def service_settings(root: Path, admin_key: str | None = None, **changes: object) -> Settings:
    """Settings of a service over `root` (corpus/, indexes/, state/) as the write tests drive it: re-indexes
    in a thread as soon as asked, no rate limit, plain-text logs; writes on when `admin_key` is given."""
    return Settings(
        corpus_dir=root / "corpus",
        index_dir=root / "indexes",
        state_dir=root / "state",
        progress=False,
        admin_keys=(key_digest(admin_key),) if admin_key else (),
        reindex_runner="thread",
        reindex_delay=0,
        rate_limit=0,
        log_format="text",
        **changes,  # type: ignore[arg-type]
    )


def glossary_index(glossary: dict[tuple[str, str], tuple[str, ...]]) -> SimpleNamespace:
    """An index with only a glossary: (language, key) -> English translations, looked up as the build's is."""

    def lookup(lang: str, keys: list[str]) -> dict[str, tuple[str, ...]]:
        return {k: glossary[(lang, k)] for k in keys if (lang, k) in glossary}

    return SimpleNamespace(glossary=lookup)
