"""Two builds' int8 question graphs side by side: how long one question takes in each, and how far
their vectors are from each other and from each build's float graph.

    .venv/bin/python scripts/bench_question_graphs.py --build A --build B [--threads 1] [--rounds 5] [--quick] [--json out.json]

`--build` is a build directory (`indexes/builds/<id>`, or a folder with export.json), the first one
the reference. Questions: the domain questions in English and their nine translations, encoded one at
a time as a search encodes them; the graphs run in alternating rounds over the same questions, and
the script prints each graph's median over the rounds of the per-question median and mean (long
questions weigh in the mean, which is what a busy server pays), and their ratios to the first build's.
`--threads 1` is what each process of `serve --workers 2` gives its encoder.

First, `layer_norms`: ONNX Runtime's fused SkipLayerNormalization against the same normalisation written
out as plain operators (`onnx_encoder._plain_layer_norms`), alone: a chain of 24 of them (a 12-layer
encoder's count) over a 20-token input of 384 channels, one thread, alternating runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_e5_onnx import alternate, encoders, questions  # noqa: E402

from practice_finder.build import onnx_encoder  # noqa: E402


def timed(model: Any, texts: Sequence[str]) -> Callable[[], tuple[float, float]]:
    """One pass over `texts`, one question at a time: the median and the mean in ms."""

    def run() -> tuple[float, float]:
        times = []
        for text in texts:
            start = time.perf_counter()
            model.encode([text], kind="query")
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times), statistics.fmean(times)

    return run


def layer_norm_chain(nodes: int = 24, hidden: int = 384) -> Any:
    """A graph of `nodes` SkipLayerNormalization nodes in a row, each adding the same skip input."""
    from onnx import TensorProto, helper, numpy_helper

    chain = []
    for i in range(nodes):
        out = "y" if i == nodes - 1 else f"t{i}"
        chain.append(
            helper.make_node(
                "SkipLayerNormalization",
                ["x" if i == 0 else f"t{i - 1}", "skip", "gamma", "beta"],
                [out],
                name=f"ln{i}",
                domain="com.microsoft",
                epsilon=1e-12,
            )
        )
    shape: list[str | int | None] = [1, "tokens", hidden]
    graph = helper.make_graph(
        chain,
        "layer norms",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "skip")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        [
            numpy_helper.from_array(np.ones(hidden, np.float32), "gamma"),
            numpy_helper.from_array(np.zeros(hidden, np.float32), "beta"),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", onnx_encoder.OPSET),
            helper.make_opsetid("com.microsoft", 1),
        ],
    )
    model.ir_version = 8
    return model


def layer_norms(rounds: int, runs: int = 500, tokens: int = 20) -> dict[str, Any]:
    """Microseconds per pass through the chain, fused and written out: the median of each round's
    median, and the ratio."""
    import copy

    import onnxruntime as ort

    fused = layer_norm_chain()
    plain = copy.deepcopy(fused)
    onnx_encoder._plain_layer_norms(plain)
    rng = np.random.default_rng(0)
    feed = {n: rng.normal(size=(1, tokens, 384)).astype(np.float32) for n in ("x", "skip")}

    def timer(model: Any) -> Callable[[], float]:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

        def run() -> float:
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                session.run(None, feed)
                times.append((time.perf_counter() - start) * 1e6)
            return statistics.median(times)

        return run

    seen = alternate({"fused": timer(fused), "plain": timer(plain)}, rounds)
    out: dict[str, Any] = {k: round(statistics.median(v), 1) for k, v in seen.items()}
    out["ratio"] = round(out["plain"] / out["fused"], 3)
    return {"nodes": 24, "tokens": tokens, "microseconds": out}


def cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    found = (a * b).sum(axis=1)
    return {"min": round(float(found.min()), 5), "median": round(float(np.median(found)), 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, action="append", required=True)
    parser.add_argument("--threads", type=int, default=1, help="0: as many as the machine has")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="every fifth question, two rounds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if len(args.build) != 2:
        parser.error("give two builds: --build A --build B")
    asked = questions()
    rounds = args.rounds
    if args.quick:
        asked, rounds = asked[::5], 2
    graphs = {f"{i}:{b.name}": encoders(b, args.threads) for i, b in enumerate(args.build)}
    vectors = {
        name: {kind: m[kind].encode(asked, kind="query") for kind in ("onnx_float", "onnx_int8")}
        for name, m in graphs.items()
    }
    first, second = list(graphs)
    seen = alternate({name: timed(m["onnx_int8"], asked) for name, m in graphs.items()}, rounds)
    result: dict[str, Any] = {
        "layer_norms": layer_norms(rounds),
        "questions": len(asked),
        "threads": args.threads,
        "graphs": {},
    }
    for name, runs in seen.items():
        median = statistics.median(r[0] for r in runs)
        mean = statistics.median(r[1] for r in runs)
        result["graphs"][name] = {
            "median_ms": [round(r[0], 3) for r in runs],
            "mean_ms": [round(r[1], 3) for r in runs],
            "median_of_medians_ms": round(median, 3),
            "median_of_means_ms": round(mean, 3),
            "int8_to_its_float": cosines(vectors[name]["onnx_int8"], vectors[name]["onnx_float"]),
        }
    a, b = result["graphs"][first], result["graphs"][second]
    result["ratio_median"] = round(b["median_of_medians_ms"] / a["median_of_medians_ms"], 3)
    result["ratio_mean"] = round(b["median_of_means_ms"] / a["median_of_means_ms"], 3)
    result["int8_to_int8"] = cosines(vectors[first]["onnx_int8"], vectors[second]["onnx_int8"])
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
