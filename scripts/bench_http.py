"""Latency and throughput of the service through HTTP, on the shipped demo corpus.

    .venv/bin/python scripts/bench_http.py [--index indexes] [--workers 2] [--seconds 20] [--json out.json]
    .venv/bin/python scripts/bench_http.py --index indexes --index /tmp/idx-minilm --alternations 3

With two indexes (say, one per embedding model) each is measured in turn, the order flipping each
time, and the medians are reported with their ratios to the last index's.

Starts `practice-finder serve` on a free localhost port, then measures:
- one client: median and p99 of GET /v1/search (the 56 domain questions, cycled, or with
  `--questions all` the 1,060 of both sets in ten languages) and of
  POST /v1/recommendations (the 14 domain profiles, cycled);
- 8 and 32 concurrent clients for a fixed time: requests per second, failures, median, p99;
- where the time goes: the server's own per-stage timings (timings_ms in each search response)
  against what the client measured;
- what a search costs the machine: the CPU time (user and system) the server's processes used during
  each run, per request (`server_cpu_ms_per_request`), and how many cores that kept busy on average
  (`server_cores_busy`). On N cores a server cannot answer more than N * 1000 / (CPU ms a request)
  requests a second, whatever the number of clients.

The load comes from `wrk` (a C client: `apt-get install wrk`) when it is installed, because a Python
client on the same two cores takes CPU away from the server it measures; without wrk an httpx client
does the same runs (and says so in the output). wrk runs one thread per connection, and each
request's latency is timed by the script itself (see WRK_SCRIPT), not taken from wrk's corrected
histogram. The stage breakdown always uses httpx, one request at a time. Every loop is bounded in count and time and talks only to 127.0.0.1.

The server keeps no question vectors (PF_QUESTION_VECTORS_KEPT=0): the runs cycle their questions, and a
kept vector would spare every repeat its encoding. `--keep-question-vectors` measures the service's
default, which is what a question asked again (its next page, a filter) costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def index_model(index: Path) -> str:
    """The model the index's current build was made with (the server must be configured with it)."""
    from practice_finder.build import versions

    build = versions.current_build(index)
    if build is None:
        raise SystemExit(f"no build in {index}: run `practice-finder ingest` first")
    return versions.read_manifest(build).model.name


def start_server(
    index: Path, port: int, extra_env: dict[str, str], workers: int = 1
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PF_MODEL": index_model(index), **extra_env}
    cmd = [
        sys.executable,
        "-m",
        "practice_finder",
        "serve",
        "--port",
        str(port),
        "--index",
        str(index),
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not become ready in 180 s")


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user and system, seconds) the process `pid` and every process under it (the server's
    workers) have used so far."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # a worker that ended between the listing and the reading
            continue
        total += times.user + times.system
    return total


def cpu_reading(cpu: Callable[[], float] | None) -> float:
    """The server's CPU seconds so far (`cpu`: server_cpu_seconds of its process), 0 without a way to
    read them."""
    return cpu() if cpu else 0.0


def cpu_figures(
    cpu: Callable[[], float] | None, before: float, requests: int, seconds: float
) -> dict[str, float]:
    """The server's CPU time since the reading `before` (cpu_reading), over a run of `requests` that
    took `seconds`: per request, and as the number of cores kept busy; nothing without `cpu`."""
    if cpu is None:
        return {}
    used = cpu() - before
    return {
        "server_cpu_ms_per_request": round(used * 1000 / max(1, requests), 2),
        "server_cores_busy": round(used / seconds, 2) if seconds > 0 else 0.0,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(times: list[float]) -> dict[str, float]:
    return {
        "n": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(percentile(times, 99), 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def load_inputs(questions: str = "domain") -> tuple[list[str], list[dict[str, Any]]]:
    """The questions to cycle (`domain`: the 56 English domain questions; `all`: both sets in English and
    the nine translations, 1,060, in one fixed shuffled order, so that a run sees few questions twice, as
    a service in use does) and the recommendation profiles."""
    if questions == "all":
        from practice_finder.evaluation.relevance import load_domain, load_translations

        texts = []
        for name in ("domain", "officers"):
            folder = ROOT / "eval" / name
            texts += list(load_domain(folder)[0].values())
            texts += [t for qs in load_translations(folder).values() for t in qs.values()]
        random.Random(0).shuffle(texts)
    else:
        texts = [
            json.loads(line)["text"]
            for path in sorted((ROOT / "eval/domain").glob("queries*.jsonl"))
            for line in path.read_text().splitlines()
            if line.strip()
        ]
    profiles = [
        json.loads(line)["profile"]
        for line in (ROOT / "eval/domain/recommendations.jsonl").read_text().splitlines()
        if line.strip()
    ]
    return texts, profiles


def one_client(
    base: str,
    queries: list[str],
    profiles: list[dict[str, Any]],
    n: int,
    cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """`n` searches and a fifth as many recommendations, one at a time; `cpu`: the server's CPU seconds
    so far (server_cpu_seconds), read around the searches."""
    search_ms: list[float] = []
    stages: dict[str, list[float]] = {}
    rec_ms: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(10):  # warm-up
            client.get("/v1/search", params={"q": queries[i % len(queries)]})
        cpu_before, started_all = cpu_reading(cpu), time.perf_counter()
        for i in range(n):
            started = time.perf_counter()
            r = client.get("/v1/search", params={"q": queries[i % len(queries)], "k": 10})
            search_ms.append((time.perf_counter() - started) * 1000)
            r.raise_for_status()
            for stage, ms in r.json()["timings_ms"].items():
                stages.setdefault(stage, []).append(ms)
        searched = cpu_figures(cpu, cpu_before, n, time.perf_counter() - started_all)
        for i in range(max(20, n // 5)):
            started = time.perf_counter()
            r = client.post(
                "/v1/recommendations", json={"profile": profiles[i % len(profiles)], "k": 10}
            )
            rec_ms.append((time.perf_counter() - started) * 1000)
            r.raise_for_status()
    server_total = statistics.median(stages["total"])
    breakdown = {stage: round(statistics.median(v), 2) for stage, v in stages.items()}
    breakdown["http_and_framework"] = round(statistics.median(search_ms) - server_total, 2)
    return {
        "search": {**summary(search_ms), **searched},
        "recommendations": summary(rec_ms),
        "search_breakdown_ms": breakdown,
    }


async def _worker(
    client: httpx.AsyncClient,
    queries: list[str],
    stop: float,
    out: list[float],
    errors: list[int],
    offset: int,
) -> None:
    i = offset
    while time.perf_counter() < stop:
        started = time.perf_counter()
        try:
            r = await client.get("/v1/search", params={"q": queries[i % len(queries)], "k": 10})
            if r.status_code != 200:
                errors.append(r.status_code)
        except httpx.HTTPError:
            errors.append(0)
        out.append((time.perf_counter() - started) * 1000)
        i += 1


async def concurrent(
    base: str,
    queries: list[str],
    clients: int,
    seconds: float,
    cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        times: list[float] = []
        errors: list[int] = []
        cpu_before = cpu_reading(cpu)
        started = time.perf_counter()
        stop = started + seconds
        await asyncio.gather(
            *(_worker(client, queries, stop, times, errors, k * 7) for k in range(clients))
        )
        elapsed = time.perf_counter() - started
        used = cpu_figures(cpu, cpu_before, len(times), elapsed)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(times),
        "failed": len(errors),
        "requests_per_s": round(len(times) / elapsed, 1),
        **{k: v for k, v in summary(times).items() if k != "n"},
        **used,
    }


# Each wrk thread drives one connection and times every request itself (LuaJIT's ffi reads the monotonic
# clock): wrk's own latency figures are "corrected" for coordinated omission after the run (for every
# request slower than twice the mean it adds made-up samples between the two), which suits a client
# sending at a fixed rate, not this closed loop of one request at a time. With questions of very
# different lengths it moved the reported median far from any measured request
# (docs/benchmarks.md#why-wrks-latency-histogram-is-not-used). Its figures are kept beside the measured
# ones as `wrk_corrected_*`.
WRK_SCRIPT = """
local lines = {}
for line in io.lines(os.getenv("PF_BENCH_REQUESTS")) do lines[#lines + 1] = line end
local method = os.getenv("PF_BENCH_METHOD")
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } pf_timespec;
int clock_gettime(int clock_id, pf_timespec *tp);
]]
local clock = ffi.new("pf_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local i, sent, out
init = function(args)
  i = (id * 7) % #lines
  out = io.open(os.getenv("PF_BENCH_OUT") .. "." .. id, "w")
end
request = function()
  i = i % #lines + 1
  sent = now_ms()
  if method == "POST" then
    return wrk.format("POST", "/v1/recommendations", {["Content-Type"] = "application/json"}, lines[i])
  end
  return wrk.format("GET", lines[i])
end
response = function(status, headers, body)
  out:write(string.format("%.3f %d\\n", now_ms() - sent, status))
  out:flush()
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('PF_RESULT {"seconds": %.3f, "socket_errors": %d, "wrk_corrected_median_ms": %.3f, "wrk_corrected_p99_ms": %.3f}\\n',
    summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk_run(
    base: str,
    lines: list[str],
    method: str,
    clients: int,
    seconds: float,
    cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """One wrk run cycling through `lines` (paths for GET, JSON bodies for POST): one thread per connection,
    latencies as each request measured them; with `cpu` (the server's CPU seconds so far), what the run
    cost the server (cpu_figures)."""
    with tempfile.TemporaryDirectory() as tmp:
        script, requests, timings = (
            Path(tmp) / "cycle.lua",
            Path(tmp) / "requests.txt",
            Path(tmp) / "timings",
        )
        script.write_text(WRK_SCRIPT)
        requests.write_text("\n".join(lines) + "\n")
        env = {
            **os.environ,
            "PF_BENCH_REQUESTS": str(requests),
            "PF_BENCH_METHOD": method,
            "PF_BENCH_OUT": str(timings),
        }
        cmd = [
            "wrk",
            f"-t{clients}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            base,
        ]
        cpu_before = cpu_reading(cpu)
        out = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout
        measured = [
            line.split()
            for path in sorted(Path(tmp).glob("timings.*"))
            for line in path.read_text().splitlines()
        ]
    line = next(x for x in out.splitlines() if x.startswith("PF_RESULT "))
    result = json.loads(line.removeprefix("PF_RESULT "))
    times = [float(ms) for ms, _ in measured]
    failed = result.pop("socket_errors") + sum(
        1 for _, status in measured if not status.startswith("2")
    )
    return {
        "clients": clients,
        "requests": len(times),
        "seconds": round(result["seconds"], 2),
        "failed": failed,
        **{k: v for k, v in summary(times).items() if k != "n"},
        "requests_per_s": round(len(times) / result["seconds"], 1),
        **{k: round(v, 2) for k, v in result.items() if k.startswith("wrk_")},
        # read after the run's timings: the server is idle by then
        **cpu_figures(cpu, cpu_before, len(times), result["seconds"]),
    }


def search_paths(queries: list[str]) -> list[str]:
    return ["/v1/search?" + urllib.parse.urlencode({"q": q, "k": 10}) for q in queries]


def with_wrk(
    base: str,
    queries: list[str],
    profiles: list[dict[str, Any]],
    seconds: float,
    cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    paths = search_paths(queries)
    bodies = [json.dumps({"profile": p, "k": 10}) for p in profiles]
    return {
        "client": "wrk",
        "search_1_client": wrk_run(base, paths, "GET", 1, seconds, cpu),
        "recommendations_1_client": wrk_run(base, bodies, "POST", 1, seconds, cpu),
        "concurrent": [wrk_run(base, paths, "GET", c, seconds, cpu) for c in (8, 32)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--index",
        type=Path,
        action="append",
        help="an index directory (default: indexes); give two to compare them in alternating runs",
    )
    parser.add_argument(
        "--alternations",
        type=int,
        default=3,
        help="with two or more indexes: measure each this many times, in turn",
    )
    parser.add_argument(
        "--requests", type=int, default=300, help="sequential search requests with one client"
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="duration of each concurrent run"
    )
    parser.add_argument(
        "--query-encoder", default="auto", choices=["auto", "onnx-int8", "onnx", "torch"]
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="PF_THREADS for the server (0: the serve command's default)",
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "httpx"],
        default="auto",
        help="load client (auto: wrk if installed)",
    )
    parser.add_argument(
        "--questions",
        choices=["domain", "all"],
        default="domain",
        help="domain: the 56 English domain questions, cycled; all: the 1,060 of both sets in ten "
        "languages, shuffled (a run sees few twice)",
    )
    parser.add_argument(
        "--keep-question-vectors",
        action="store_true",
        help="let the server keep its questions' vectors (the service's default): a question asked "
        "again is not encoded again, which a run that cycles its questions measures every time",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    indexes = args.index or [ROOT / "indexes"]
    result = measure(indexes[0], args) if len(indexes) == 1 else compare(indexes, args)
    text = json.dumps(result, indent=2)
    print(text)
    runs = result.get("runs", [result])
    failed = sum(run.get("failed", 0) for one in runs for run in _runs(one))
    if failed:
        print(
            f"WARNING: {failed} requests failed; the figures above do not measure a healthy server",
            file=sys.stderr,
        )
    if args.json:
        args.json.write_text(text + "\n")


def compare(indexes: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """Each index measured `args.alternations` times, in turn (the order flips each time, so a
    machine slowing down or speeding up hits both alike); the medians, and each index's against the
    last one's as ratios."""
    runs: list[dict[str, Any]] = []
    for turn in range(args.alternations):
        order = indexes if turn % 2 == 0 else list(reversed(indexes))
        for index in order:
            run = measure(index, args)
            run["index"] = str(index)
            runs.append(run)
    medians = {
        str(index): _medians([r for r in runs if r["index"] == str(index)]) for index in indexes
    }
    base = medians[str(indexes[-1])]
    for figures in medians.values():
        figures["ratio_to_last"] = {
            key: round(value / base[key], 2)
            for key, value in figures.items()
            if isinstance(value, float) and base.get(key)
        }
    return {"medians": medians, "runs": runs}


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over runs of the headline figures: search latency with one client, requests/s."""
    figures: dict[str, list[float]] = {}
    for run in runs:
        one = run.get("search_1_client") or run["search"]  # wrk's run when there is one
        figures.setdefault("search_median_ms", []).append(one["median_ms"])
        if "server_cpu_ms_per_request" in one:
            figures.setdefault("server_cpu_ms_per_search_1_client", []).append(
                one["server_cpu_ms_per_request"]
            )
        rec = run.get("recommendations_1_client") or run["recommendations"]
        figures.setdefault("recommendations_median_ms", []).append(rec["median_ms"])
        for load in run.get("concurrent", []):
            figures.setdefault(f"requests_per_s_{load['clients']}_clients", []).append(
                load["requests_per_s"]
            )
            if "server_cpu_ms_per_request" in load:
                figures.setdefault(
                    f"server_cpu_ms_per_search_{load['clients']}_clients", []
                ).append(load["server_cpu_ms_per_request"])
    out: dict[str, Any] = {"model": runs[0]["model"]}
    out.update({k: round(statistics.median(v), 2) for k, v in figures.items()})
    return out


def measure(index: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One server on `index`: the one-client runs, then the concurrent ones."""
    queries, profiles = load_inputs(args.questions)
    port = free_port()
    # The rate limit (600 requests a minute per client by default) is off: the benchmark is one client
    # measuring capacity, and would otherwise count 429s.
    env = {
        "PF_QUERY_ENCODER": args.query_encoder,
        "PF_RATE_LIMIT": "0",
        **({"PF_THREADS": str(args.threads)} if args.threads else {}),
        # the questions cycle: kept vectors would measure the store, not the encoder (unless asked)
        **({} if args.keep_question_vectors else {"PF_QUESTION_VECTORS_KEPT": "0"}),
    }
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    proc = start_server(index, port, env, args.workers)
    cpu = partial(server_cpu_seconds, proc.pid)
    try:
        base = f"http://127.0.0.1:{port}"
        result: dict[str, Any] = {
            "model": index_model(index),
            "query_encoder": args.query_encoder,
            "threads": args.threads,
            "workers": args.workers,
            "cores": os.cpu_count(),
        }
        result.update(one_client(base, queries, profiles, args.requests, cpu))
        if use_wrk:
            result.update(with_wrk(base, queries, profiles, args.seconds, cpu))
        else:
            result["client"] = "httpx"
            result["concurrent"] = [
                asyncio.run(concurrent(base, queries, c, args.seconds, cpu)) for c in (8, 32)
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return result


def _runs(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in result.values() if isinstance(v, dict) and "failed" in v] + list(
        result.get("concurrent", [])
    )


if __name__ == "__main__":
    main()
