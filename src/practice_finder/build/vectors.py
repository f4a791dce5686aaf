"""FAISS vector indexes whose ids are the rowids of the `passages` table."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from practice_finder.errors import IndexMismatchError

if TYPE_CHECKING:
    import faiss


# The index type follows the number of vectors (measured by scripts/bench_scale.py, docs/benchmarks.md#scale-10k-100k-and-1m-vectors):
# exact search while one query over every vector stays within a few milliseconds on one core, then an
# inverted file whose probe count keeps recall@10 against exact search at 0.95 or more.
FLAT_MAX = 50_000  # vectors; above this one exact query takes more than about 3 ms on one core
IVF_TRAIN_PER_LIST = 64  # training vectors per inverted list
KINDS = ("auto", "flat", "ivf")


def choose_kind(size: int) -> str:
    """The index type for a number of vectors: exact up to FLAT_MAX, an inverted file above."""
    return "flat" if size <= FLAT_MAX else "ivf"


def ivf_lists(size: int) -> int:
    """Inverted lists for `size` vectors: about 4 * sqrt(size), a power of two (1,024 at 100k, 4,096 at 1M)."""
    return int(2 ** round(np.log2(4 * np.sqrt(max(size, 1)))))


def ivf_probes(lists: int) -> int:
    """Lists visited per query: 1/32 of them (recall@10 >= 0.95 on the scale benchmark), at least 16."""
    return max(16, lists // 32)


def build(
    vectors: np.ndarray, ids: np.ndarray, dimension: int, kind: str = "auto", seed: int = 7
) -> faiss.Index:
    """An inner-product index (vectors are normalised, so this is cosine similarity) of the kind for its size."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    kind = choose_kind(len(ids)) if kind == "auto" else kind
    inner: Any
    if kind == "flat":
        inner = faiss.IndexFlatIP(dimension)
    elif kind == "ivf":
        lists = ivf_lists(len(ids))
        inner = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT
        )
        inner.cp.seed = seed
        sample = np.random.default_rng(seed).permutation(len(vectors))[: lists * IVF_TRAIN_PER_LIST]
        inner.train(vectors[np.sort(sample)])
        inner.nprobe = ivf_probes(lists)
    else:
        raise ValueError(f"unknown vector index kind {kind!r}; use one of {', '.join(KINDS)}")
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
    return index


def _inner(index: faiss.Index) -> Any:
    import faiss

    return faiss.downcast_index(index.index) if hasattr(index, "index") else index


def describe(index: faiss.Index) -> dict[str, Any]:
    """What the manifest records about an index."""
    inner = _inner(index)
    info: dict[str, Any] = {
        "type": type(inner).__name__,
        "metric": "inner_product",
        "size": int(index.ntotal),
    }
    if hasattr(inner, "nlist"):
        info.update(lists=int(inner.nlist), probes=int(inner.nprobe))
    return info


def save(index: faiss.Index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path, expected_size: int, dimension: int) -> faiss.Index:
    """Read an index and check it holds what the manifest says."""
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IndexMismatchError(
            f"the vector index {path.name} is damaged: {str(exc).splitlines()[0]}"
        ) from exc
    inner = _inner(index)
    if hasattr(inner, "nprobe"):  # the probe count is not always kept by the file format
        inner.nprobe = ivf_probes(int(inner.nlist))
    if index.ntotal != expected_size or index.d != dimension:
        raise IndexMismatchError(
            f"the vector index {path.name} holds {index.ntotal} vectors of dimension {index.d}; "
            f"the manifest expects {expected_size} of dimension {dimension}"
        )
    return index


def search(
    index: faiss.Index, query: np.ndarray, k: int, allowed: Iterable[int] | None = None
) -> list[tuple[int, float]]:
    """(id, similarity) of the `k` nearest vectors, optionally restricted to `allowed` ids."""
    ids, scores = search_arrays(index, query, k, allowed)
    return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]


EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


def search_arrays(
    index: faiss.Index, query: np.ndarray, k: int, allowed: Iterable[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and similarities of the `k` nearest vectors, best first, as arrays (for callers that stay in numpy).

    One query gains nothing from FAISS's OpenMP threads, which go on spinning after the search and take the
    cores from the query encoder. OpenMP counts threads per calling thread, so the service's request threads
    each need the setting: a process-wide call at start-up reached only the main thread, and a search through
    the service took 13 ms where the same search in the main thread took 8 (docs/benchmarks.md#what-the-figures-rest-on).
    """
    import faiss

    k = min(k, int(index.ntotal))
    if k <= 0:
        return EMPTY
    params = None
    if allowed is not None:
        allowed_ids = np.fromiter(allowed, dtype=np.int64)
        if not len(allowed_ids):
            return EMPTY
        k = min(k, len(allowed_ids))
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed_ids))  # type: ignore[call-arg]
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # for this thread only; see the docstring
    try:
        scores, ids = index.search(
            np.asarray(query, dtype=np.float32).reshape(1, -1), k, params=params
        )
    finally:
        faiss.omp_set_num_threads(before)
    keep = ids[0] >= 0
    return ids[0][keep], scores[0][keep]
