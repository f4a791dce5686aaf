"""How the vector side of search behaves at 10k, 100k and 1M records: memory, build time, latency, recall.

    .venv/bin/python scripts/bench_scale.py [--index indexes] [--sizes 10000 100000 1000000] [--json out.json] [--plot docs/scale-latency.png]

Synthetic records from the demo corpus: each synthetic vector is a real passage vector of the shipped
build, plus half of another random one, plus Gaussian noise, normalised (so the copies spread over the
space the real texts occupy instead of piling up on 2,000 points). Queries are the 56 domain questions
and their translations in nine languages, encoded by the build's float ONNX encoder.

For each size and each index type (`flat`: exact; `ivf`: the inverted file that `vectors.build` uses
above `vectors.FLAT_MAX`), one thread, as the service runs it:
- build time, and memory (resident set size added by the index);
- query latency for k = 10 and for the depth the dense leg asks for (200 practices x 12 passages);
- recall@10 against the exact (flat) result.
The `auto` column says what `vectors.build` picks for that size. Every loop is bounded.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from practice_finder.build import vectors, versions
from practice_finder.query.legs import PASSAGES_PER_RECORD

ROOT = Path(__file__).resolve().parents[1]
DENSE_DEPTH = 200 * PASSAGES_PER_RECORD
NOISE = 0.35  # per vector (spread over 384 dimensions), before normalising


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def base_vectors(index_dir: Path) -> np.ndarray:
    import sqlite3

    build = versions.current_build(index_dir)
    if build is None:
        raise SystemExit(f"no build in {index_dir}: run `practice-finder ingest` first")
    with sqlite3.connect(build / "store.db") as db:
        rows = db.execute(
            "select embedding from passages where record_type = 'practice' order by id"
        ).fetchall()
    return np.vstack([np.frombuffer(r[0], dtype=np.float32) for r in rows])


def queries(index_dir: Path) -> np.ndarray:
    from practice_finder.build.onnx_encoder import OnnxEmbedder

    build = versions.current_build(index_dir)
    assert build is not None
    manifest = versions.read_manifest(build)
    texts = [
        json.loads(line)["text"]
        for path in sorted((ROOT / "eval/domain").rglob("queries*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    encoder = OnnxEmbedder(
        manifest.model.name,
        manifest.model.dimension,
        build,
        manifest.query_encoder or {},
    )
    return encoder.encode(texts)


def synthetic(base: np.ndarray, size: int, seed: int = 11, chunk: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((size, base.shape[1]), dtype=np.float32)
    for start in range(0, size, chunk):
        n = min(chunk, size - start)
        mixed = base[rng.integers(0, len(base), n)] + 0.5 * base[rng.integers(0, len(base), n)]
        mixed += rng.normal(0, NOISE / np.sqrt(base.shape[1]), mixed.shape).astype(np.float32)
        out[start : start + n] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    return out


def latencies(index: Any, qs: np.ndarray, k: int) -> tuple[float, float]:
    times = []
    for q in qs:
        started = time.perf_counter()
        vectors.search_arrays(index, q, k)
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return statistics.median(times), ordered[int(0.99 * (len(ordered) - 1))]


def top10(index: Any, qs: np.ndarray) -> list[set[int]]:
    return [set(vectors.search_arrays(index, q, 10)[0].tolist()) for q in qs]


def measure(
    kind: str, data: np.ndarray, qs: np.ndarray, exact: list[set[int]] | None
) -> tuple[dict[str, Any], list[set[int]]]:
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = vectors.build(data, np.arange(len(data), dtype=np.int64), data.shape[1], kind=kind)
    built = time.perf_counter() - started
    memory = rss_mb() - before
    found = top10(index, qs)
    recall = (
        1.0
        if exact is None
        else statistics.fmean(len(a & b) / 10 for a, b in zip(found, exact, strict=True))
    )
    p50_10, p99_10 = latencies(index, qs, 10)
    p50_deep, p99_deep = latencies(index, qs, DENSE_DEPTH)
    info = vectors.describe(index)
    del index
    gc.collect()
    return {
        "kind": kind,
        "type": info["type"],
        **({"lists": info["lists"], "probes": info["probes"]} if "lists" in info else {}),
        "build_s": round(built, 2),
        "memory_mb": round(memory, 1),
        "k10_median_ms": round(p50_10, 3),
        "k10_p99_ms": round(p99_10, 3),
        f"k{DENSE_DEPTH}_median_ms": round(p50_deep, 3),
        f"k{DENSE_DEPTH}_p99_ms": round(p99_deep, 3),
        "recall_at_10": round(recall, 4),
    }, found


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for kind, style in (("flat", "o-"), ("ivf", "s--")):
        rows = [(r["size"], m) for r in results for m in r["indexes"] if m["kind"] == kind]
        if rows:
            ax.plot(
                [s for s, _ in rows],
                [m[f"k{DENSE_DEPTH}_median_ms"] for _, m in rows],
                style,
                label=f"{kind}: dense-leg depth (k={DENSE_DEPTH})",
            )
            ax.plot(
                [s for s, _ in rows],
                [m["k10_median_ms"] for _, m in rows],
                style,
                alpha=0.45,
                label=f"{kind}: k=10",
            )
    ax.axvline(vectors.FLAT_MAX, color="grey", lw=0.8, ls=":")
    ax.text(
        vectors.FLAT_MAX * 1.08,
        ax.get_ylim()[1] * 0.5,
        "auto: flat | ivf",
        color="grey",
        fontsize=8,
        rotation=90,
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vectors in the index (synthetic, from the demo corpus)")
    ax.set_ylabel("median query latency, ms (1 thread)")
    ax.set_title("Vector search latency against corpus size (2-core machine)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / "indexes")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)  # as the service searches
    base, qs = base_vectors(args.index), queries(args.index)
    results = []
    for size in args.sizes:
        data = synthetic(base, size)
        flat, exact = measure("flat", data, qs, None)
        rows = [flat]
        if size >= 50_000:  # an inverted file on fewer vectors has lists too small to be worth it
            ivf, _ = measure("ivf", data, qs, exact)
            rows.append(ivf)
        results.append({"size": size, "auto": vectors.choose_kind(size), "indexes": rows})
        print(json.dumps(results[-1]), flush=True)
        del data
    out = {
        "queries": len(qs),
        "dense_depth": DENSE_DEPTH,
        "flat_max": vectors.FLAT_MAX,
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
