"""Where a build's question graph spends its time, by kind of operator: ONNX Runtime's own profile.

    .venv/bin/python scripts/profile_question_graph.py --index indexes [--index /tmp/idx-minilm] [--questions 200] [--json out.json]

Each index's current build: its question graph (the int8 one when the build has it, else the float
one) loaded once more with ONNX Runtime's profiling on, one thread, as each process of `serve
--workers 2` runs it. Then the first `--questions` of the 1,060 questions of both sets in ten
languages (in `bench_http.py --questions all`'s shuffled order), one at a time, as a search encodes
them. Per kind of operator (`DynamicQuantizeMatMul`,
`QAttention`, `Add`, ...) it prints its share of the operators' time, its microseconds a question and
its nodes a question. The profile's own bookkeeping slows every operator a little, so read the
shares, not the totals.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_http import load_inputs  # noqa: E402

from practice_finder.build import versions  # noqa: E402
from practice_finder.build.onnx_encoder import OnnxEmbedder  # noqa: E402


def by_operator(events: Iterable[Mapping[str, Any]], runs: int) -> dict[str, Any]:
    """ONNX Runtime's profile events summed per kind of operator: each kind's share of the operators'
    time, microseconds a run and nodes a run, largest first."""
    spent: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        kind = str(event.get("args", {}).get("op_name", "?"))
        spent[kind] += int(event.get("dur", 0))
        nodes[kind] += 1
    total = sum(spent.values()) or 1
    return {
        "us_a_question": round(total / max(1, runs), 1),
        "operators": {
            kind: {
                "share": round(us / total, 3),
                "us_a_question": round(us / max(1, runs), 1),
                "nodes_a_question": round(nodes[kind] / max(1, runs), 1),
            }
            for kind, us in spent.most_common()
        },
    }


def profile(index: Path, texts: list[str]) -> dict[str, Any]:
    """The question graph of `index`'s current build, profiled over `texts` one at a time."""
    import onnxruntime as ort

    build = versions.require_current(index)
    manifest = json.loads((build / "manifest.json").read_text())
    entry = manifest["query_encoder"]
    quantized = "int8" in entry
    embedder = OnnxEmbedder(manifest["model"]["name"], 384, build, entry, 1, quantized=quantized)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(
        Path(tempfile.gettempdir()) / f"pf-question-graph-{os.getpid()}"
    )
    graph = build / (entry["int8"]["file"] if quantized else entry["file"])
    embedder.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    embedder._sessions = [embedder.session]  # the one session `encode` runs one text on
    for text in texts:
        embedder.encode([text], kind="query")
    trace = Path(embedder.session.end_profiling())
    try:
        events = json.loads(trace.read_text())
    finally:
        trace.unlink()
    return {
        "model": manifest["model"]["name"],
        "graph": graph.name,
        "questions": len(texts),
        **by_operator(events, len(texts)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, action="append", required=True)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    texts = load_inputs("all")[0][: args.questions]
    result = [profile(index, texts) for index in args.index]
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
