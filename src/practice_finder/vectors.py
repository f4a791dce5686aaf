"""FAISS vector indexes whose ids are the rowids of the `passages` table."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import IndexMismatchError

if TYPE_CHECKING:
    import faiss


def build(vectors: np.ndarray, ids: np.ndarray, dimension: int) -> faiss.Index:
    """An exact inner-product index (vectors are normalised, so this is cosine similarity)."""
    import faiss

    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    return index


def describe(index: faiss.Index) -> dict[str, Any]:
    """What the manifest records about an index."""
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    return {"type": type(inner).__name__, "metric": "inner_product", "size": int(index.ntotal)}


def save(index: faiss.Index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path, expected_size: int, dimension: int) -> faiss.Index:
    """Read an index and check it holds what the manifest says."""
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IndexMismatchError(f"the vector index {path.name} is damaged: {str(exc).splitlines()[0]}") from exc
    if index.ntotal != expected_size or index.d != dimension:
        raise IndexMismatchError(
            f"the vector index {path.name} holds {index.ntotal} vectors of dimension {index.d}; "
            f"the manifest expects {expected_size} of dimension {dimension}"
        )
    return index


def search(index: faiss.Index, query: np.ndarray, k: int, allowed: Iterable[int] | None = None) -> list[tuple[int, float]]:
    """(id, similarity) of the `k` nearest vectors, optionally restricted to `allowed` ids."""
    import faiss

    k = min(k, int(index.ntotal))
    if k <= 0:
        return []
    params = None
    if allowed is not None:
        allowed_ids = np.fromiter(allowed, dtype=np.int64)
        if not len(allowed_ids):
            return []
        k = min(k, len(allowed_ids))
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed_ids))  # type: ignore[call-arg]
    scores, ids = index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k, params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
