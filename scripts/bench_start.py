"""What starting from nothing costs, for one or more versions of the code: a first build of the corpus,
and the service's start until it answers /ready.

    .venv/bin/python scripts/bench_start.py --index indexes
    .venv/bin/python scripts/bench_start.py --index indexes --src /tmp/before/src --src src --runs 5
    .venv/bin/python scripts/bench_start.py --build --src /tmp/before/src --src src --runs 2

Each run puts the given source tree first on PYTHONPATH (default: this checkout's `src`). Without
`--build` it starts `python -m practice_finder serve` on a free localhost port, polls GET /ready
every 0.1 s and stops the server. What a start does before /ready: each worker opens the build, loads
the spaCy pipelines, builds the taxonomy's matchers in every question language, reads the tables of
base forms and spellings, and runs one search (web/serving.warm_up). With `--build` it runs
`python -m practice_finder ingest` into an empty temporary index folder instead (the model's export
included: nothing is linked from an earlier build) and reports the build's own timings too.

With several trees the runs alternate between them, the order flipping each round, and the medians
are reported with their ratios to the first tree's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_http import free_port, index_model  # this script's folder is on sys.path

ROOT = Path(__file__).resolve().parents[1]


def environment(src: Path, **more: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **more}
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def first_build(src: Path, corpus: Path) -> tuple[float, dict[str, Any]]:
    """Seconds of a first build of `corpus` by the code in `src`, and the build's own timings."""
    folder = Path(tempfile.mkdtemp(prefix="bench-start-"))
    command = [sys.executable, "-m", "practice_finder", "ingest", "--corpus", str(corpus)]
    command += ["--index", str(folder / "indexes"), "--no-progress", "--json"]
    try:
        started = time.perf_counter()
        done = subprocess.run(
            command, env=environment(src), cwd=ROOT, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"the build from {src} failed: {done.stderr.strip()[-500:]}")
        return seconds, json.loads(done.stdout)["timings"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def time_to_ready(src: Path, index: Path, workers: int, limit: float = 300.0) -> float:
    port = free_port()
    env = environment(src, PF_MODEL=index_model(index))
    command = [sys.executable, "-m", "practice_finder", "serve", "--port", str(port)]
    command += ["--index", str(index), "--workers", str(workers)]
    started = time.perf_counter()
    server = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - started < limit:
            if server.poll() is not None:
                raise SystemExit(f"the server from {src} stopped (exit code {server.returncode})")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"the server from {src} was not ready in {limit:.0f} s")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "indexes")
    parser.add_argument("--src", type=Path, action="append", help="a source tree (repeatable)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="runs of each tree")
    parser.add_argument("--build", action="store_true", help="time first builds, not starts")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="with --build")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    trees = [p.resolve() for p in (args.src or [ROOT / "src"])]
    seconds: dict[Path, list[float]] = {tree: [] for tree in trees}
    timings: dict[Path, list[dict[str, Any]]] = {tree: [] for tree in trees}
    for run in range(args.runs):
        for tree in trees if run % 2 == 0 else list(reversed(trees)):
            if args.build:
                took, told = first_build(tree, args.corpus)
                timings[tree].append(told)
            else:
                took = time_to_ready(tree, args.index, args.workers)
            seconds[tree].append(took)
            print(f"run {run + 1}: {tree}: {took:.1f} s", flush=True)
    first = statistics.median(seconds[trees[0]])
    report = []
    for tree in trees:
        median = statistics.median(seconds[tree])
        report.append(
            {
                "src": str(tree),
                "seconds": [round(s, 2) for s in seconds[tree]],
                "median_s": round(median, 2),
                "ratio_to_first": round(median / first, 3),
                **({"timings": timings[tree]} if args.build else {}),
            }
        )
        print(f"{tree}: median {median:.1f} s, {median / first:.2f} of the first")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
