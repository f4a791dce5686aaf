"""How many questions a second a build's question encoder alone answers on this machine, and what a
target rate then leaves for the rest of a search.

    .venv/bin/python scripts/bench_encoder_ceiling.py --index indexes [--index /tmp/idx-minilm] [--processes 2] [--threads 1 --threads 4] [--seconds 15] [--rate 150] [--json out.json]

For each index's current build, with its question encoder as `serve --workers 2` runs it (one ONNX
Runtime thread a process):

- **alone**: one process encodes each of the 56 domain questions (each alone, as a search does) in
  `--rounds` rounds; the CPU time of a question against its tokens, fitted by least squares as
  `ms = per_token * tokens + fixed`;
- **side by side**: `--processes` processes at once, for `--seconds`, each with every `--threads`
  count of threads calling its one encoder together (as a worker's request threads do), and the same
  with a lock so that a process encodes one question at a time. Each reports the CPU time of a
  question and the questions a second of all the processes together.

Then the budget: at `--rate` requests a second, the machine's cores give each request
`cores * 1000 / rate` ms of CPU; less the encoder's CPU a question side by side (one thread, no lock),
what is left is the budget of everything else a search does (reading, legs, fusion, snippets, HTTP).
Compare it with the same figure for a build whose server is measured: `bench_http.py`'s
`server_cpu_ms_per_request` less this script's encoder CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_http import load_inputs  # noqa: E402

from practice_finder import Settings  # noqa: E402
from practice_finder.build.onnx_encoder import OnnxEmbedder  # noqa: E402
from practice_finder.query.handle import open_as_built  # noqa: E402


def fitted(tokens: Sequence[int], ms: Sequence[float]) -> dict[str, float]:
    """Least squares `ms = per_token * tokens + fixed`."""
    a = np.vstack([np.asarray(tokens, dtype=float), np.ones(len(tokens))]).T
    (per_token, fixed), *_ = np.linalg.lstsq(a, np.asarray(ms, dtype=float), rcond=None)
    return {"per_token_ms": round(float(per_token), 4), "fixed_ms": round(float(fixed), 3)}


def _encoder(index_dir: Path) -> OnnxEmbedder:
    index = open_as_built(Settings(index_dir=index_dir, threads=1, question_vectors_kept=0))
    embedder = index.admission.inner
    if not isinstance(embedder, OnnxEmbedder):
        raise SystemExit(f"{index_dir}: the build's questions are not encoded with ONNX Runtime")
    return embedder


def alone(index_dir: Path, rounds: int) -> dict[str, Any]:
    """One process, one thread: each question's CPU ms (median of the rounds) against its tokens."""
    embedder = _encoder(index_dir)
    questions = load_inputs("domain")[0]
    tokens = [len(embedder._rows(embedder._tokenize([q], "query"))[0][0]) for q in questions]
    for q in questions[:10]:
        embedder.encode([q], kind="query")
    spent: list[list[float]] = [[] for _ in questions]
    for _ in range(rounds):
        for i, q in enumerate(questions):
            started = time.thread_time()
            embedder.encode([q], kind="query")
            spent[i].append((time.thread_time() - started) * 1000)
    ms = [statistics.median(s) for s in spent]
    return {
        "model": embedder.name,
        "questions": len(questions),
        "tokens_median": statistics.median(tokens),
        "tokens_mean": round(statistics.fmean(tokens), 1),
        "cpu_ms_median": round(statistics.median(ms), 2),
        "cpu_ms_mean": round(statistics.fmean(ms), 2),
        **fitted(tokens, ms),
    }


def worker(index_dir: Path, threads: int, seconds: float, locked: bool) -> dict[str, float]:
    """This process's part of a side-by-side run: `threads` threads encoding the domain questions in
    turn for `seconds`, through one encoder; with `locked`, one question at a time."""
    embedder = _encoder(index_dir)
    questions = load_inputs("domain")[0]
    for q in questions[:10]:
        embedder.encode([q], kind="query")
    lock = threading.Lock() if locked else None
    done: list[tuple[float, int]] = []

    def loop(start: int) -> None:
        until = time.perf_counter() + seconds
        n, cpu = start, time.thread_time()
        while time.perf_counter() < until:
            text = questions[n % len(questions)]
            if lock is None:
                embedder.encode([text], kind="query")
            else:
                with lock:
                    embedder.encode([text], kind="query")
            n += 1
        done.append((time.thread_time() - cpu, n - start))

    runners = [threading.Thread(target=loop, args=(7 * k,)) for k in range(threads)]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    return {"cpu_s": sum(c for c, _ in done), "questions": sum(n for _, n in done)}


def side_by_side(
    index_dir: Path, processes: int, threads: int, seconds: float, locked: bool
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", str(index_dir), str(threads), str(seconds)]
    children = [
        subprocess.Popen(
            command + (["--locked"] if locked else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(processes)
    ]
    parts = [json.loads(child.communicate()[0].strip().splitlines()[-1]) for child in children]
    questions = sum(p["questions"] for p in parts)
    return {
        "processes": processes,
        "threads_per_process": threads,
        "one_at_a_time": locked,
        "cpu_ms_a_question": round(sum(p["cpu_s"] for p in parts) * 1000 / questions, 2),
        "questions_per_s": round(questions / seconds, 1),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        index_dir, threads, seconds = Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(worker(index_dir, threads, seconds, "--locked" in sys.argv)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, action="append")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, action="append")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    budget = cores * 1000 / args.rate
    results = []
    for index_dir in args.index or [ROOT / "indexes"]:
        runs = [
            side_by_side(index_dir, args.processes, threads, args.seconds, locked)
            for threads in args.threads or [1, 4]
            for locked in ((False,) if threads == 1 else (False, True))
        ]
        encoder_ms = next(r["cpu_ms_a_question"] for r in runs if r["threads_per_process"] == 1)
        results.append(
            {
                "index": str(index_dir),
                "alone": alone(index_dir, args.rounds),
                "side_by_side": runs,
                "budget": {
                    "rate": args.rate,
                    "cores": cores,
                    "cpu_ms_a_request": round(budget, 2),
                    "encoder_cpu_ms": encoder_ms,
                    "left_for_the_rest_ms": round(budget - encoder_ms, 2),
                },
            }
        )
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
