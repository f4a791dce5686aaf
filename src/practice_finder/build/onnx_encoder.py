"""A faster query path: the shipped model exported once to ONNX at ingestion, run with ONNX Runtime.

Ingestion keeps sentence-transformers (torch); queries go through ONNX Runtime with the model's own
fast tokenizer, mean pooling and L2 normalisation, which is what the sentence-transformers model does.
The export lives in the build directory and is recorded in the manifest.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from practice_finder.build.versions import read_manifest, sha256_file
from practice_finder.errors import IndexMismatchError, PracticeFinderError

ONNX_FILE = "query-encoder.onnx"
INT8_FILE = "query-encoder-int8.onnx"
TOKENIZER_FILE = "query-tokenizer.json"
OPSET = 17
# The export traces the model with plain ("eager") attention, which ONNX Runtime's transformer optimiser
# recognises and fuses (one Attention node per layer, SkipLayerNormalization, BiasGelu,
# EmbedLayerNormalization): 46 nodes in float, against 669 in the unfused export, which matters for a ten-token question
# (docs/benchmarks.md#query-encoder-onnx-float-and-int8).
GRAPH = "eager attention, onnxruntime transformer fusions"
# Dynamic int8 quantisation of the matrix multiplications and the fused attention, one scale per output
# channel; the token embeddings stay float. Measured (docs/benchmarks.md#query-encoder-onnx-float-and-int8):
# about 2.4x faster per query on one core than the float export, nDCG@10 within 0.005 of the float model on SciFact and on the domain set.
INT8_METHOD = "dynamic int8, per channel, MatMul and fused Attention"


def export(model: Any, folder: Path, reuse_from: Path | None = None) -> dict[str, Any]:
    """Write the ONNX export and tokenizer of a SentenceTransformer into `folder`; return the manifest entry.

    An identical export of the previous build is hard-linked instead of exported again.
    """
    info = _describe(model)
    tokenizer_path = Path(info.pop("tokenizer_path"))
    old = _previous_entry(reuse_from) if reuse_from is not None else {}
    extra: dict[str, Any]
    if reuse_from is not None and _same_export(reuse_from, old, info):
        for name in (ONNX_FILE, INT8_FILE, TOKENIZER_FILE):
            _link_or_copy(reuse_from / name, folder / name)
        extra = {"fused": old.get("fused", {}), "reused_from": reuse_from.name}
    else:
        _export_onnx(model, folder / ONNX_FILE)
        extra = {"fused": _fuse(model, folder / ONNX_FILE)}
        _quantize(folder / ONNX_FILE, folder / INT8_FILE)
        shutil.copyfile(tokenizer_path, folder / TOKENIZER_FILE)
    int8 = {"file": INT8_FILE, "method": INT8_METHOD, "sha256": sha256_file(folder / INT8_FILE)}
    return {**info, "sha256": sha256_file(folder / ONNX_FILE), "int8": int8, **extra}


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # for tensors the fused graph leaves untyped
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul", "Attention"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _fuse(model: Any, path: Path) -> dict[str, int]:
    """Rewrite the export in place with ONNX Runtime's transformer fusions; return the fused operators' counts.

    A model the optimiser does not know keeps its plain graph (the counts are then zero), which is slower
    but gives the same vectors.
    """
    import logging

    from onnxruntime.transformers.optimizer import MODEL_TYPES, optimize_model

    config = model[0].auto_model.config
    kind = config.model_type if config.model_type in MODEL_TYPES else "bert"
    quiet = logging.getLogger("onnxruntime.transformers")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # the optimiser logs each fusion at INFO
    try:
        fused = optimize_model(
            str(path),
            model_type=kind,
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
        )
        fused.save_model_to_file(str(path))
    finally:
        quiet.setLevel(level)
    return {op: int(n) for op, n in sorted(fused.get_fused_operator_statistics().items()) if n}


def _describe(model: Any) -> dict[str, Any]:
    import onnxruntime
    import torch

    tokenizer_path = Path(model.tokenizer.name_or_path) / "tokenizer.json"
    if not tokenizer_path.exists():
        raise PracticeFinderError(
            f"the model has no fast tokenizer file at {tokenizer_path}",
            "use a model that ships tokenizer.json",
        )
    pooling = (
        model[1].get_pooling_mode_str()
        if len(model) > 1 and hasattr(model[1], "get_pooling_mode_str")
        else "mean"
    )
    return {
        "file": ONNX_FILE,
        "tokenizer": TOKENIZER_FILE,
        "format": "onnx",
        "opset": OPSET,
        "graph": GRAPH,
        "pooling": pooling,
        "max_length": int(model.max_seq_length),
        "torch": str(torch.__version__),  # a str subclass, which msgspec does not encode
        "onnxruntime": str(onnxruntime.__version__),
        "tokenizer_path": str(tokenizer_path),
    }


def _previous_entry(previous: Path) -> dict[str, Any]:
    """The query encoder entry of an earlier build's manifest ({} when there is none or it cannot be read)."""
    try:
        return read_manifest(previous).query_encoder or {}
    except IndexMismatchError:
        return {}


def _same_export(previous: Path, old: dict[str, Any], info: dict[str, Any]) -> bool:
    keys = ("format", "opset", "pooling", "max_length", "torch")
    files = (ONNX_FILE, INT8_FILE, TOKENIZER_FILE)
    return (
        all(old.get(k) == info.get(k) for k in keys)
        and made_as_now(old)
        and all((previous / f).exists() for f in files)
    )


def made_as_now(entry: dict[str, Any]) -> bool:
    """A manifest's query encoder entry was exported and quantised the way this code does it."""
    return entry.get("graph") == GRAPH and (entry.get("int8") or {}).get("method") == INT8_METHOD


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _export_onnx(model: Any, path: Path) -> None:
    """Trace the transformer with eager attention (the form the optimiser fuses), then put its setting back."""
    transformer = model[0].auto_model.eval()
    before = transformer.config._attn_implementation
    transformer.config._attn_implementation = (
        "eager"  # read at each forward call; the layers share this config
    )
    try:
        _trace(model, transformer, path)
    finally:
        transformer.config._attn_implementation = before


def _trace(model: Any, transformer: Any, path: Path) -> None:
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = model.tokenizer(
        ["a short text", "a slightly longer second text"], padding=True, return_tensors="pt"
    )
    axes = {"batch": 0, "tokens": 1}
    dynamic = {
        name: {v: k for k, v in axes.items()}
        for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
    }
    with torch.no_grad():
        torch.onnx.export(
            Encoder(transformer),
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )


class OnnxEmbedder:
    """Encodes texts with ONNX Runtime; same vectors as the sentence-transformers model it was exported from."""

    BATCH = 32  # texts per run; each batch is padded to its own longest text

    def __init__(
        self,
        name: str,
        dimension: int,
        folder: Path,
        info: dict[str, Any],
        threads: int = 0,
        quantized: bool = False,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.dimension = dimension
        self.quantized = quantized
        if info.get("pooling", "mean") != "mean":
            raise IndexMismatchError(
                f"the ONNX query encoder supports mean pooling only, not {info.get('pooling')!r}"
            )
        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            model_file = info["int8"]["file"] if quantized else info["file"]
            self.session = ort.InferenceSession(
                str(folder / model_file), options, providers=["CPUExecutionProvider"]
            )
            self.tokenizer = Tokenizer.from_file(str(folder / info["tokenizer"]))
        except Exception as exc:  # onnxruntime raises its own exception types for damaged files
            raise IndexMismatchError(
                f"the ONNX query encoder of build {folder.name} cannot be loaded: {exc}"
            ) from exc
        self.tokenizer.enable_truncation(max_length=int(info["max_length"]))
        self.tokenizer.no_padding()  # each batch is padded in _run, to its own longest text

    def encode(
        self, texts: Sequence[str], *, kind: str = "query", progress: bool = False
    ) -> np.ndarray:
        """Unit vectors for `texts`, in their order. Texts are run in batches of similar length (as
        sentence-transformers does), so a long text does not pad every short one to its length.

        With the int8 model a text's vector depends a little on its batch (the activations are quantised
        with one scale per run); a question is always encoded alone.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encoded = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        for start in range(0, len(order), self.BATCH):
            chosen = order[start : start + self.BATCH]
            out[chosen] = self._run([encoded[i] for i in chosen])
        return out

    def _run(self, encoded: Sequence[Any]) -> np.ndarray:
        """Mean-pooled, L2-normalised vectors of tokenised texts, padded here to the longest of them (the
        padding's ids do not matter: the attention mask hides those positions and pooling skips them)."""
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(encoded), width), dtype=np.int64)
        mask = np.zeros((len(encoded), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = e.attention_mask
        hidden = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)
