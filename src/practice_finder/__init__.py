"""practice-finder: semantic search and recommendations over good practices of the BSR Cultural Pearls programme.

The public API, for scripts and notebooks (the CLI and the web service are built on the same calls)::

    import practice_finder as pf

    settings = pf.Settings.from_env()  # PF_* variables; by default corpus/ and indexes/
    make_embedder = lambda: pf.load_embedder(settings.model, settings.batch_size, settings.threads)
    pf.ingest(settings, make_embedder)  # builds a new index version when the corpus changed
    index = pf.open_index(settings, make_embedder)
    try:
        result = pf.search(index, pf.SearchQuery("young people leave our small town", k=5))
        for hit in result.hits or result.closest:  # closest: when it matches no practice
            print(hit.score, hit.title, hit.municipality)
        picks = pf.recommend(index, pf.RecommendationRequest(city="kuldiga", k=3))
        print([r.title for r in picks.recommendations])  # pf.find_peers: towns to learn from
    except pf.NotFoundError as exc:  # every error the library raises on purpose is a PracticeFinderError
        print(exc)
    finally:
        index.close()

Names are imported on first use, so `import practice_finder` stays cheap (no numpy, FAISS or torch).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOMES = {
    "Settings": "practice_finder.config",
    "ingest": "practice_finder.build.ingest",
    "load_embedder": "practice_finder.build.encoders",
    "open_index": "practice_finder.query.handle",
    "search": "practice_finder.query.search",
    "SearchQuery": "practice_finder.query.search",
    "recommend": "practice_finder.query.recommend",
    "RecommendationRequest": "practice_finder.query.recommend",
    "find_peers": "practice_finder.query.peers",
    "PracticeFinderError": "practice_finder.errors",
    "NotFoundError": "practice_finder.errors",
    "InvalidQueryError": "practice_finder.errors",
    "IndexMissingError": "practice_finder.errors",
    "IndexMismatchError": "practice_finder.errors",
    "IngestLockedError": "practice_finder.errors",
    "ConflictError": "practice_finder.errors",
    "AuthenticationError": "practice_finder.errors",
    "PermissionDeniedError": "practice_finder.errors",
    "CorpusError": "practice_finder.errors",
}

__all__ = [  # the names of _HOMES, written out for linters and type checkers
    "AuthenticationError",
    "ConflictError",
    "CorpusError",
    "IndexMismatchError",
    "IndexMissingError",
    "IngestLockedError",
    "InvalidQueryError",
    "NotFoundError",
    "PermissionDeniedError",
    "PracticeFinderError",
    "RecommendationRequest",
    "SearchQuery",
    "Settings",
    "__version__",
    "find_peers",
    "ingest",
    "load_embedder",
    "open_index",
    "recommend",
    "search",
]

if TYPE_CHECKING:
    from practice_finder.build.encoders import load_embedder
    from practice_finder.build.ingest import ingest
    from practice_finder.config import Settings
    from practice_finder.errors import (
        AuthenticationError,
        ConflictError,
        CorpusError,
        IndexMismatchError,
        IndexMissingError,
        IngestLockedError,
        InvalidQueryError,
        NotFoundError,
        PermissionDeniedError,
        PracticeFinderError,
    )
    from practice_finder.query.handle import open_index
    from practice_finder.query.peers import find_peers
    from practice_finder.query.recommend import RecommendationRequest, recommend
    from practice_finder.query.search import SearchQuery, search


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562), and keep it here for the next."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'practice_finder' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
