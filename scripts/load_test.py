"""Bounded load on a local server: a read mix, memory over many requests, optionally a re-index under load.

    .venv/bin/python scripts/load_test.py [--duration 60] [--clients 16] [--requests 20000] [--further 5000]
                                          [--reindex] [--quick] [--json out.json]
    .venv/bin/python scripts/load_test.py --heavy [--duration 60] [--clients 4] [--heavy-clients 4]
                                          [--heavy-chars 20000] [--json out.json]

The script copies the index to a temporary directory, starts `practice-finder serve` on a free port in
8700-8799 with a fresh state directory and a new admin key, waits for GET /ready, and stops the server
(and any re-index it started) at the end. The server's log goes next to the JSON results.

- Phase A: `--clients` concurrent clients for `--duration` seconds, each looping over a mix of 60% search,
  25% recommendations (a corpus city) and 15% peers. A request fails on a transport error or any status
  other than 200. Reported per kind and overall: count, failures, requests/s, p50/p90/p99 latency (client side).
- Phase B (memory): RSS of the server process (and any worker it forks; a running re-index is reported on its
  own) after warm-up, after `--requests` requests in total (phase A's count included), and after a further
  `--further`, with a reading every 1,000 requests in between, so growth can be told from noise.
- `--reindex`: during phase A, one extra task waits 10 s, POSTs a new practice, waits for its background
  re-index, then asks POST /v1/admin/reindex and waits for that build too; phase A goes on until both are
  done. Then GET /v1/search with the new record's title must list it and GET /v1/practices/<id> must be 200.
  Latency is reported separately for the windows while a re-index ran (request sent -> build served) and not.

- `--heavy` (instead of phases A and B): searches beside towns described in long free text. First
  `--clients` clients search only, for `--duration` seconds (quiet); then the same searches run for as long
  again while `--heavy-clients` more clients each POST /v1/recommendations with a profile of `--heavy-chars`
  characters (slices of the shipped plans' text), one after another. Reported: search p50/p99 quiet and
  under heavy load and their ratio, and the heavy requests by status (a 503 with Retry-After is the
  service refusing heavy work beyond its slots and queue, not a failure). Target: the search median under
  heavy load at most HEAVY_TARGET times the quiet one.

Exit status 1 on any failed request, when the re-index under load did not end with the record served, or
(--heavy) when the search median under heavy load missed its target.
The client runs on the same cores as the server: numbers are for this machine under this load, not capacity.
crash_test.py imports the server harness from here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
# the project's own index and state: never written by these scripts
PROTECTED = (
    ROOT / "indexes",
    ROOT / "state",
)
PORTS = range(8700, 8800)
MIX = {"search": 0.60, "recommendations": 0.25, "peers": 0.15}
READY_TIMEOUT = 240.0
HEAVY_TARGET = 3.0  # the search median under heavy load, at most this many times the quiet median
CHECKPOINT = 1_000  # requests between two memory readings in phase B


# -- the server harness (also used by crash_test.py) --------------------------------------------------------


def free_port() -> int:
    """The first port of 8700-8799 that nothing listens on."""
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 8700-8799")


def guard(path: Path) -> Path:
    """Refuse a path inside the project's own indexes/ or state/ (the scripts work on copies)."""
    resolved = path.resolve()
    for protected in PROTECTED:
        if resolved == protected.resolve() or protected.resolve() in resolved.parents:
            raise SystemExit(f"refusing to write into {protected}: the scripts work on a copy")
    return resolved


def prepare_dirs(source_index: Path, work: Path) -> tuple[Path, Path]:
    """A copy of the index and a fresh, empty state directory, both under `work`."""
    index, state = guard(work / "indexes"), guard(work / "state")
    shutil.copytree(source_index, index, ignore=shutil.ignore_patterns(".tmp-*", ".lock"))
    state.mkdir()
    return index, state


def index_model(index: Path) -> str:
    """The model the index's current build was made with: the server must be configured with the same."""
    from practice_finder.build import versions

    return versions.read_manifest(versions.require_current(index)).model.name


def log_path_for(json_path: Path | None, name: str) -> Path:
    """The server log: next to the JSON results, else in the system's temporary directory."""
    if json_path is not None:
        return json_path.with_name(json_path.stem + ".server.log")
    return Path(tempfile.gettempdir()) / f"{name}-{os.getpid()}.server.log"


@dataclass
class Server:
    """One `practice-finder serve` process on a copied index and its own state directory."""

    index_dir: Path
    state_dir: Path
    key: str
    log_path: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "PF_INDEX_DIR": str(self.index_dir),
            "PF_STATE_DIR": str(self.state_dir),
            "PF_CORPUS_DIR": str(ROOT / "corpus"),
            "PF_MODEL": index_model(self.index_dir),
            "PF_ADMIN_KEYS": self.key,
            "PF_RATE_LIMIT": "0",
            "PF_LOG_FORMAT": "json",
        }

    def start(self) -> None:
        """Start the server on a free port; its output is appended to the log file."""
        self.port = free_port()
        command = [str(ROOT / ".venv/bin/practice-finder"), "serve", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            log.write(
                f"--- {time.strftime('%H:%M:%S')} starting on port {self.port} ---\n".encode()
            )
            log.flush()
            self.proc = subprocess.Popen(
                command,
                env=self.env(),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Seconds until GET /ready answers 200; SystemExit if the server exits or takes too long."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.proc is None or self.proc.poll() is not None:
                raise SystemExit(f"the server exited during start-up; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise SystemExit(f"the server was not ready after {timeout:.0f} s; see {self.log_path}")

    def processes(self) -> list[psutil.Process]:
        """The server process and all its descendants (workers, a running re-index)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s; descendants (a re-index in progress) are killed as well."""
        if self.proc is None:
            return
        family = self.processes()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        _kill_all(family[1:])

    def kill9(self) -> list[int]:
        """SIGKILL the server and its descendants at once (no shutdown code runs); the pids killed."""
        family = self.processes()
        _kill_all(family)
        if self.proc is not None:
            self.proc.wait(timeout=10)
        return [p.pid for p in family]

    def memory(self) -> dict[str, float]:
        """RSS in MB of the server (with any worker it forked) and, separately, of a re-index child running now."""
        serving = reindex = 0
        for proc in self.processes():
            try:
                rss, ingest = proc.memory_info().rss, "ingest" in proc.cmdline()
            except psutil.Error:
                continue
            if ingest:
                reindex += rss
            else:
                serving += rss
        return {"rss_mb": round(serving / 2**20, 1), "reindex_rss_mb": round(reindex / 2**20, 1)}


@contextlib.contextmanager
def server_on_copy(
    source_index: Path, name: str, json_path: Path | None, keep: bool
) -> Iterator[tuple[Server, Path]]:
    """A started (not yet ready) server on a copy of `source_index` with a fresh state directory, both in a
    temporary work directory; stopped on leaving, and the work directory removed unless `keep`."""
    work = Path(tempfile.mkdtemp(prefix=f"pf-{name}-"))
    log = log_path_for(json_path, name)
    log.unlink(missing_ok=True)
    try:
        index, state = prepare_dirs(source_index, work)
        server = Server(index, state, secrets.token_urlsafe(32), log)
        try:
            server.start()
            yield server, work
        finally:
            server.stop()
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _kill_all(processes: Iterable[psutil.Process]) -> None:
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(list(processes), timeout=10)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the `finally` blocks stop the server."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


# -- requests and their statistics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One request as the client saw it; `status` 0 is a transport error; `ok`: the status expected."""

    kind: str
    started: float  # time.perf_counter() when it was sent
    ms: float
    status: int
    ok: bool
    error: str = ""

    @property
    def failed(self) -> bool:
        return not self.ok


@dataclass(frozen=True)
class Inputs:
    questions: list[str]
    cities: list[str]


def load_questions() -> list[str]:
    """The officer questions of the domain evaluation (eval/domain/queries-*.jsonl)."""
    paths = sorted((ROOT / "eval/domain").glob("queries*.jsonl"))
    return [
        json.loads(line)["text"]
        for path in paths
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


async def timed(
    client: httpx.AsyncClient,
    kind: str,
    method: str,
    url: str,
    expect: tuple[int, ...] = (200,),
    **kwargs: Any,
) -> tuple[Sample, httpx.Response | None]:
    """Send one request; never raises for a transport error (it becomes a failed sample)."""
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        return Sample(
            kind,
            started,
            (time.perf_counter() - started) * 1000,
            0,
            False,
            f"{type(exc).__name__}: {exc!r}",
        ), None
    ms = (time.perf_counter() - started) * 1000
    ok = response.status_code in expect
    return Sample(
        kind, started, ms, response.status_code, ok, "" if ok else response.text[:300]
    ), response


async def mixed_request(client: httpx.AsyncClient, inputs: Inputs, rng: random.Random) -> Sample:
    """One request of the mix: 60% search, 25% recommendations, 15% peers."""
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    city = rng.choice(inputs.cities)
    if kind == "search":
        sample, _ = await timed(
            client, kind, "GET", "/v1/search", params={"q": rng.choice(inputs.questions), "k": 10}
        )
    elif kind == "recommendations":
        sample, _ = await timed(
            client, kind, "POST", "/v1/recommendations", json={"city": city, "k": 10}
        )
    else:
        sample, _ = await timed(client, kind, "GET", f"/v1/cities/{city}/peers", params={"k": 10})
    return sample


async def worker(
    client: httpx.AsyncClient,
    inputs: Inputs,
    rng: random.Random,
    more: Callable[[], bool],
    out: list[Sample],
) -> None:
    while more():
        out.append(await mixed_request(client, inputs, rng))


async def run_clients(
    client: httpx.AsyncClient, inputs: Inputs, clients: int, more: Callable[[], bool], seed: int
) -> list[Sample]:
    out: list[Sample] = []
    await asyncio.gather(
        *(worker(client, inputs, random.Random(seed * 1000 + i), more, out) for i in range(clients))
    )
    return out


def budget(n: int) -> Callable[[], bool]:
    """A `more` function that says yes exactly n times."""
    left = [n]

    def more() -> bool:
        left[0] -= 1
        return left[0] >= 0

    return more


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between the closest ranks (of a non-empty sequence)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def stats(samples: Sequence[Sample], seconds: float | None) -> dict[str, Any]:
    """Count, failures, requests/s and latency percentiles (ms) of a set of requests."""
    times = [s.ms for s in samples]
    out: dict[str, Any] = {"count": len(samples), "failures": sum(s.failed for s in samples)}
    if seconds:
        out["per_s"] = round(len(samples) / seconds, 1)
    out.update(
        {f"p{p}_ms": round(percentile(times, p), 1) if times else None for p in (50, 90, 99)}
    )
    return out


def by_kind(samples: Sequence[Sample], seconds: float | None) -> dict[str, dict[str, Any]]:
    kinds = {kind: stats([s for s in samples if s.kind == kind], seconds) for kind in MIX}
    return {**kinds, "all": stats(samples, seconds)}


def failure_examples(samples: Iterable[Sample], limit: int = 20) -> list[dict[str, Any]]:
    return [asdict(s) for s in samples if s.failed][:limit]


# -- re-index under load ---------------------------------------------------------------------------------------


@dataclass
class ReindexReport:
    """What the re-index task saw; windows are (start, end) in perf_counter seconds."""

    record_id: str = ""
    title: str = ""
    write_seq: int = 0
    write_reindex_s: float | None = None  # POST sent -> a build with the write served
    write_reindex_server_s: float | None = (
        None  # the server's own timing of that build (last_reindex.seconds)
    )
    admin_reindex_s: float | None = None  # POST /v1/admin/reindex sent -> the new build served
    admin_reindex_server_s: float | None = None
    found_in_search: bool = False
    search_rank: int | None = None
    practice_status: int | None = None
    error: str | None = None
    windows: list[tuple[float, float]] = field(default_factory=list)
    control: list[Sample] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.found_in_search and self.practice_status == 200


def parse_jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    """The records of an export (GET /v1/<collection>?format=jsonl)."""
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def distinctive_record(template: dict[str, Any], tag: str) -> dict[str, Any]:
    """A copy of a real practice with a new id and a title, summary and story no other record shares."""
    token = f"Zorvik{secrets.token_hex(4)}"
    record = {**template, "id": f"{tag}-{token.lower()}"}
    record["title"] = f"Moonlit kelp lantern regatta of {token}"
    record["summary"] = (
        f"Volunteers in {token} hung kelp lanterns along the harbour for a winter regatta."
    )
    sections = dict(template["sections"])
    sections["what_happened"] = (
        f"{sections['what_happened']}\n\nIn {token} the harbour kelp lanterns became a regatta of their own."
    )
    record["sections"] = sections
    return record


async def control_call(
    client: httpx.AsyncClient, report: ReindexReport, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """A request of the re-index task: recorded (its failures count), and it must succeed."""
    sample, response = await timed(client, "control", method, url, expect=(200, 202), **kwargs)
    report.control.append(sample)
    if response is None or not sample.ok:
        raise RuntimeError(f"{method} {url} -> {sample.status} {sample.error}")
    return response


async def wait_status(
    client: httpx.AsyncClient,
    report: ReindexReport,
    before: dict[str, Any] | None,
    done: Callable[[dict[str, Any]], bool],
    timeout: float,
) -> dict[str, Any]:
    """Poll GET /v1/admin/status every 0.5 s until `done(status)`; raise when a re-index newer than `before`
    (the last_reindex read before asking) failed."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        status: dict[str, Any] = (
            await control_call(client, report, "GET", "/v1/admin/status")
        ).json()
        last = status.get("last_reindex")
        if last and last != before and last.get("ok") is False:
            raise RuntimeError(f"re-index failed: {last.get('error')}")
        if done(status):
            return status
        await asyncio.sleep(0.5)
    raise RuntimeError(f"no build after {timeout:.0f} s")


async def write_and_wait(
    client: httpx.AsyncClient, report: ReindexReport, record: dict[str, Any], timeout: float
) -> None:
    """POST the record and wait for the background re-index that serves it."""
    before = (
        (await control_call(client, report, "GET", "/v1/admin/status")).json().get("last_reindex")
    )
    started = time.perf_counter()
    accepted = (await control_call(client, report, "POST", "/v1/practices", json=record)).json()
    report.write_seq = int(accepted["seq"])
    status = await wait_status(
        client,
        report,
        before,
        lambda s: s["writes_served"] >= report.write_seq and s["pending_writes"] == 0,
        timeout,
    )
    report.write_reindex_s = round(time.perf_counter() - started, 2)
    report.windows.append((started, time.perf_counter()))
    report.write_reindex_server_s = (status.get("last_reindex") or {}).get("seconds")


async def admin_reindex_and_wait(
    client: httpx.AsyncClient, report: ReindexReport, timeout: float
) -> None:
    """POST /v1/admin/reindex and wait until another build is served."""
    before = (await control_call(client, report, "GET", "/v1/admin/status")).json()
    started = time.perf_counter()
    await control_call(client, report, "POST", "/v1/admin/reindex")
    status = await wait_status(
        client,
        report,
        before.get("last_reindex"),
        lambda s: s["build"] != before["build"] and s["pending_writes"] == 0,
        timeout,
    )
    report.admin_reindex_s = round(time.perf_counter() - started, 2)
    report.windows.append((started, time.perf_counter()))
    report.admin_reindex_server_s = (status.get("last_reindex") or {}).get("seconds")


async def check_served(client: httpx.AsyncClient, report: ReindexReport) -> None:
    """The new record is found by its title and can be fetched."""
    found = (
        await control_call(client, report, "GET", "/v1/search", params={"q": report.title, "k": 10})
    ).json()
    ids = [hit["id"] for hit in found["hits"]]
    report.found_in_search = report.record_id in ids
    report.search_rank = ids.index(report.record_id) + 1 if report.found_in_search else None
    sample, _ = await timed(client, "control", "GET", f"/v1/practices/{report.record_id}")
    report.control.append(sample)
    report.practice_status = sample.status


async def reindex_under_load(url: str, key: str, wait: float, timeout: float) -> ReindexReport:
    """Wait, write a new practice, wait for its re-index, ask a full re-index, wait, then check the record."""
    report = ReindexReport()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        await asyncio.sleep(wait)
        try:
            export = parse_jsonl(
                await control_call(
                    client, report, "GET", "/v1/practices", params={"format": "jsonl"}
                )
            )
            template = next(r for r in export if r.get("language") == "en" and r.get("city"))
            record = distinctive_record(template, "loadtest")
            report.record_id, report.title = record["id"], record["title"]
            await write_and_wait(client, report, record, timeout)
            await admin_reindex_and_wait(client, report, timeout)
            await check_served(client, report)
        except (RuntimeError, KeyError, ValueError, StopIteration) as exc:
            report.error = str(exc) or type(exc).__name__
    return report


def in_windows(sample: Sample, windows: Sequence[tuple[float, float]]) -> bool:
    return any(start <= sample.started <= end for start, end in windows)


# -- searches beside heavy requests (--heavy) -----------------------------------------------------------------


def plan_text() -> str:
    """The shipped plans' text, joined: the source of long, varied profile texts in the region's languages."""
    return "\n\n".join(
        p.read_text(encoding="utf-8").split("---", 2)[-1]
        for p in sorted((ROOT / "corpus/plans").glob("*.md"))
    )


def heavy_profile(source: str, chars: int, rng: random.Random) -> dict[str, Any]:
    """A recommendation request for a town described in `chars` characters of free text."""
    start = rng.randrange(max(1, len(source) - chars))
    text = (source[start:] + "\n\n" + source)[:chars]
    return {"profile": {"text": text, "population": rng.randrange(2_000, 60_000)}, "k": 10}


async def searcher(
    client: httpx.AsyncClient,
    questions: list[str],
    rng: random.Random,
    until: float,
    out: list[Sample],
) -> None:
    while time.perf_counter() < until:
        sample, _ = await timed(
            client, "search", "GET", "/v1/search", params={"q": rng.choice(questions), "k": 10}
        )
        out.append(sample)


async def heavy_poster(
    client: httpx.AsyncClient,
    source: str,
    chars: int,
    rng: random.Random,
    until: float,
    out: list[Sample],
) -> None:
    while time.perf_counter() < until:
        sample, response = await timed(
            client,
            "heavy",
            "POST",
            "/v1/recommendations",
            expect=(200, 503),
            json=heavy_profile(source, chars, rng),
        )
        out.append(sample)
        if response is not None and response.status_code == 503:  # refused: wait as told
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def search_window(
    client: httpx.AsyncClient, inputs: Inputs, args: argparse.Namespace, heavy: bool, seed: int
) -> tuple[list[Sample], list[Sample], float]:
    """`--clients` searchers for `--duration` seconds, with `--heavy-clients` heavy posters when `heavy`."""
    started = time.perf_counter()
    until = started + args.duration
    searches: list[Sample] = []
    heavies: list[Sample] = []
    source = plan_text()
    tasks = [
        searcher(client, inputs.questions, random.Random(seed * 1000 + i), until, searches)
        for i in range(args.clients)
    ]
    if heavy:
        tasks += [
            heavy_poster(
                client,
                source,
                args.heavy_chars,
                random.Random(seed * 1000 + 500 + i),
                until,
                heavies,
            )
            for i in range(args.heavy_clients)
        ]
    await asyncio.gather(*tasks)
    return searches, heavies, time.perf_counter() - started


async def drive_heavy(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up, then searches alone, then the same searches beside heavy profiles."""
    inputs = await fetch_inputs(server.url)
    connections = args.clients + args.heavy_clients
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
        warmup = await run_clients(client, inputs, args.clients, budget(args.warmup), seed=0)
        quiet, _, quiet_s = await search_window(client, inputs, args, heavy=False, seed=1)
        loaded, heavy, loaded_s = await search_window(client, inputs, args, heavy=True, seed=2)
    quiet_stats, loaded_stats = stats(quiet, quiet_s), stats(loaded, loaded_s)
    ratio = (
        round(loaded_stats["p50_ms"] / quiet_stats["p50_ms"], 2)
        if quiet_stats["p50_ms"] and loaded_stats["p50_ms"]
        else None
    )
    statuses: dict[str, int] = {}
    for sample in heavy:
        statuses[str(sample.status)] = statuses.get(str(sample.status), 0) + 1
    return {
        "inputs": {"questions": len(inputs.questions), "cities": len(inputs.cities)},
        "warmup": {
            "count": len(warmup),
            "failures": sum(s.failed for s in warmup),
            "samples": warmup,
        },
        "heavy": {
            "clients": args.clients,
            "heavy_clients": args.heavy_clients,
            "heavy_chars": args.heavy_chars,
            "search_quiet": quiet_stats,
            "search_under_heavy": loaded_stats,
            "median_ratio": ratio,
            "target": HEAVY_TARGET,
            "heavy_requests": stats(heavy, loaded_s),
            "heavy_statuses": statuses,
            "samples": [*quiet, *loaded, *heavy],
        },
    }


def heavy_lines(h: dict[str, Any]) -> list[str]:
    q, loaded, r = h["search_quiet"], h["search_under_heavy"], h["heavy_requests"]
    return [
        "",
        f"Searches beside heavy requests: {h['clients']} search clients; then {h['heavy_clients']} more "
        f"posting profiles of {h['heavy_chars']:,} characters",
        f"  search alone         n={q['count']:<6} p50 {q['p50_ms']} ms, p99 {q['p99_ms']} ms",
        f"  search beside heavy  n={loaded['count']:<6} p50 {loaded['p50_ms']} ms, p99 {loaded['p99_ms']} ms",
        f"  median ratio {h['median_ratio']} (target at most {h['target']})",
        f"  heavy requests       n={r['count']:<6} p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms; "
        f"statuses {h['heavy_statuses']} (503: refused beyond the heavy slots and queue)",
    ]


# -- the phases ------------------------------------------------------------------------------------------------


async def fetch_inputs(url: str) -> Inputs:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await client.get("/v1/cities")
        response.raise_for_status()
        cities = [c["id"] for c in response.json()]
    return Inputs(load_questions(), cities)


async def phase_a(
    client: httpx.AsyncClient, server: Server, inputs: Inputs, args: argparse.Namespace
) -> dict[str, Any]:
    """`clients` clients for `duration` seconds (longer with --reindex, until the re-index task is done)."""
    task = (
        asyncio.create_task(
            reindex_under_load(server.url, server.key, args.reindex_after, args.reindex_timeout)
        )
        if args.reindex
        else None
    )
    started = time.perf_counter()
    deadline = started + args.duration

    def more() -> bool:
        return time.perf_counter() < deadline or (task is not None and not task.done())

    samples = await run_clients(client, inputs, args.clients, more, seed=1)
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {
        "seconds": round(seconds, 1),
        "clients": args.clients,
        "kinds": by_kind(samples, seconds),
        "samples": samples,
    }
    if task is not None:
        report = await task
        during = [s for s in samples if in_windows(s, report.windows)]
        outside = [s for s in samples if not in_windows(s, report.windows)]
        out["reindex"] = report
        out["latency_during_reindex"] = stats(during, None)
        out["latency_outside_reindex"] = stats(outside, None)
    return out


async def memory_run(
    client: httpx.AsyncClient,
    server: Server,
    inputs: Inputs,
    start_count: int,
    target: int,
    clients: int,
    seed: int,
) -> tuple[list[Sample], list[dict[str, Any]]]:
    """Requests of the mix until `target` in total, with a memory reading every CHECKPOINT requests."""
    samples: list[Sample] = []
    readings = []
    count = start_count
    while count < target:
        chunk = min(CHECKPOINT - count % CHECKPOINT, target - count)
        samples.extend(await run_clients(client, inputs, clients, budget(chunk), seed=seed + count))
        count += chunk
        readings.append({"requests": count, **server.memory()})
    return samples, readings


async def phase_b(
    client: httpx.AsyncClient,
    server: Server,
    inputs: Inputs,
    done: int,
    args: argparse.Namespace,
    warm: dict[str, Any],
) -> dict[str, Any]:
    """Continue from `done` requests to `--requests`, then a further `--further`; RSS at each checkpoint."""
    started = time.perf_counter()
    first, readings = await memory_run(
        client, server, inputs, done, args.requests, args.clients, seed=2
    )
    at_target = {"requests": max(done, args.requests), **server.memory()}
    second, more_readings = await memory_run(
        client,
        server,
        inputs,
        at_target["requests"],
        at_target["requests"] + args.further,
        args.clients,
        seed=3,
    )
    at_end = {"requests": at_target["requests"] + args.further, **server.memory()}
    samples = first + second
    seconds = time.perf_counter() - started
    after = [r["rss_mb"] for r in more_readings] or [at_end["rss_mb"]]
    return {
        "seconds": round(seconds, 1),
        "kinds": by_kind(samples, seconds),
        "samples": samples,
        "points": {"after_warmup": warm, "after_target": at_target, "after_further": at_end},
        "growth_mb": {
            "warmup_to_target": round(at_target["rss_mb"] - warm["rss_mb"], 1),
            "target_to_further": round(at_end["rss_mb"] - at_target["rss_mb"], 1),
        },
        "noise_mb_during_further": round(max(after) - min(after), 1),
        "readings": readings + more_readings,
    }


async def drive(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up, phase A, phase B against a running server."""
    inputs = await fetch_inputs(server.url)
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        warmup = await run_clients(client, inputs, args.clients, budget(args.warmup), seed=0)
        warm = {"requests": len(warmup), **server.memory()}
        a = await phase_a(client, server, inputs, args)
        b = await phase_b(client, server, inputs, len(warmup) + len(a["samples"]), args, warm)
    return {
        "inputs": {"questions": len(inputs.questions), "cities": len(inputs.cities)},
        "warmup": {
            "count": len(warmup),
            "failures": sum(s.failed for s in warmup),
            "samples": warmup,
        },
        "phase_a": a,
        "phase_b": b,
    }


# -- report ----------------------------------------------------------------------------------------------------


def all_samples(result: dict[str, Any]) -> list[Sample]:
    if "heavy" in result:
        return [*result["warmup"]["samples"], *result["heavy"]["samples"]]
    reindex = result["phase_a"].get("reindex")
    return [
        *result["warmup"]["samples"],
        *result["phase_a"]["samples"],
        *result["phase_b"]["samples"],
        *(reindex.control if reindex else []),
    ]


def verdict(result: dict[str, Any]) -> list[str]:
    """What makes the run fail: failed requests, a re-index under load that did not serve the record."""
    problems = []
    failed = sum(s.failed for s in all_samples(result))
    if failed:
        problems.append(f"{failed} failed request(s)")
    if "heavy" in result:
        ratio = result["heavy"]["median_ratio"]
        if ratio is None or ratio > HEAVY_TARGET:
            problems.append(f"search median beside heavy requests {ratio} times the quiet one")
        return problems
    reindex = result["phase_a"].get("reindex")
    if reindex is not None and not reindex.ok:
        problems.append(f"re-index under load: {reindex.error or 'the new record was not served'}")
    return problems


def table(kinds: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        f"  {'kind':<16}{'count':>8}{'failed':>8}{'req/s':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
    ]
    for kind, s in kinds.items():
        ms = "".join(f"{'-' if s[k] is None else s[k]:>9}" for k in ("p50_ms", "p90_ms", "p99_ms"))
        lines.append(f"  {kind:<16}{s['count']:>8}{s['failures']:>8}{s.get('per_s', ''):>8}{ms}")
    return lines


def reindex_lines(a: dict[str, Any]) -> list[str]:
    r: ReindexReport = a["reindex"]
    lines = [
        "",
        "Re-index under load:",
        f"  record {r.record_id} ({r.title!r}), write seq {r.write_seq}",
        f"  write -> served:        {r.write_reindex_s} s (server build {r.write_reindex_server_s} s)",
        f"  admin re-index -> served: {r.admin_reindex_s} s (server build {r.admin_reindex_server_s} s)",
        f"  found by its title: {'yes, rank ' + str(r.search_rank) if r.found_in_search else 'NO'}; "
        f"GET /v1/practices/{r.record_id}: {r.practice_status}",
        f"  control requests: {len(r.control)}, failed {sum(s.failed for s in r.control)}",
    ]
    if r.error:
        lines.append(f"  ERROR: {r.error}")
    for label, key in (
        ("while re-indexing", "latency_during_reindex"),
        ("otherwise", "latency_outside_reindex"),
    ):
        s = a[key]
        lines.append(
            f"  latency {label:<18} n={s['count']:<6} p50 {s['p50_ms']} ms, p90 {s['p90_ms']} ms, p99 {s['p99_ms']} ms"
        )
    return lines


def memory_lines(b: dict[str, Any]) -> list[str]:
    p, g = b["points"], b["growth_mb"]
    lines = ["", "Memory (RSS of the server process and its workers):"]
    for label, key in (
        ("after warm-up", "after_warmup"),
        ("after target", "after_target"),
        ("after further", "after_further"),
    ):
        point = p[key]
        extra = (
            f" (+ re-index child {point['reindex_rss_mb']} MB)" if point["reindex_rss_mb"] else ""
        )
        lines.append(
            f"  {label:<14} {point['requests']:>7} requests: {point['rss_mb']:>8.1f} MB{extra}"
        )
    lines.append(
        f"  growth warm-up -> target: {g['warmup_to_target']:+.1f} MB; target -> further: {g['target_to_further']:+.1f} MB "
        f"(spread of the readings during the further run: {b['noise_mb_during_further']} MB)"
    )
    return lines


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"Server ready in {result['ready_s']} s (port {result['port']}); {result['inputs']['questions']} questions, "
        f"{result['inputs']['cities']} cities; warm-up {result['warmup']['count']} requests, {result['warmup']['failures']} failed",
    ]
    if "heavy" in result:
        lines += heavy_lines(result["heavy"])
    else:
        lines += phase_lines(result["phase_a"], result["phase_b"])
    problems = verdict(result)
    examples = failure_examples(all_samples(result), 5)
    lines += [
        "",
        *(f"  failed: {e['kind']} status {e['status']} {e['error'][:160]}" for e in examples),
    ]
    lines.append(
        "RESULT: " + ("FAIL - " + "; ".join(problems) if problems else "PASS (no failed request)")
    )
    lines.append(
        f"Total {result['total_s']} s; load average (1/5/15 min) at start {fmt_load(result['load_average_start'])}, "
        f"at end {fmt_load(result['load_average_end'])}; server log: {result['server_log']}"
    )
    return "\n".join(lines)


def phase_lines(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    lines = ["", f"Phase A: {a['clients']} clients, {a['seconds']} s", *table(a["kinds"])]
    if "reindex" in a:
        lines += reindex_lines(a)
    return [
        *lines,
        "",
        f"Phase B: {b['kinds']['all']['count']} more requests in {b['seconds']} s",
        *table(b["kinds"]),
        *memory_lines(b),
    ]


def fmt_load(load: Sequence[float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    """The results without the raw samples (failures kept as examples)."""
    out = {k: v for k, v in result.items() if k not in ("warmup", "phase_a", "phase_b", "heavy")}
    out["warmup"] = {k: v for k, v in result["warmup"].items() if k != "samples"}
    if "heavy" in result:
        out["heavy"] = {k: v for k, v in result["heavy"].items() if k != "samples"}
        out["failure_examples"] = failure_examples(all_samples(result))
        out["verdict"] = verdict(result)
        out.pop("t0", None)
        return out
    out["phase_a"] = {k: v for k, v in result["phase_a"].items() if k not in ("samples", "reindex")}
    out["phase_b"] = {k: v for k, v in result["phase_b"].items() if k != "samples"}
    reindex = result["phase_a"].get("reindex")
    if reindex is not None:
        data = asdict(reindex)
        data["control"] = {
            "count": len(reindex.control),
            "failures": sum(s.failed for s in reindex.control),
        }
        data["windows_s"] = [
            (round(s - result["t0"], 2), round(e - result["t0"], 2)) for s, e in reindex.windows
        ]
        del data["windows"]
        out["phase_a"]["reindex"] = data
    out["failure_examples"] = failure_examples(all_samples(result))
    out["verdict"] = verdict(result)
    out.pop("t0", None)
    return out


# -- main --------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument(
        "--index", type=Path, default=ROOT / "indexes", help="index to copy (never written)"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--duration", type=float, default=60.0, help="phase A seconds (default 60)")
    parser.add_argument(
        "--requests",
        type=int,
        default=20_000,
        help="requests in total before the 2nd memory reading",
    )
    parser.add_argument(
        "--further",
        type=int,
        default=5_000,
        help="requests between the 2nd and 3rd memory readings",
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="requests before the first memory reading"
    )
    parser.add_argument("--reindex", action="store_true", help="re-index under load during phase A")
    parser.add_argument(
        "--reindex-after", type=float, default=10.0, help="seconds into phase A before the write"
    )
    parser.add_argument(
        "--reindex-timeout", type=float, default=900.0, help="seconds to wait for each build"
    )
    parser.add_argument(
        "--heavy",
        action="store_true",
        help="searches alone, then beside heavy free-text profiles (instead of phases A and B)",
    )
    parser.add_argument(
        "--heavy-clients", type=int, default=4, help="--heavy: clients posting profiles (default 4)"
    )
    parser.add_argument(
        "--heavy-chars",
        type=int,
        default=20_000,
        help="--heavy: characters of each profile's text (default 20,000, the most accepted)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 4 clients, 10 s, 2,000 + 500 requests, 50 warm-up",
    )
    parser.add_argument(
        "--json", type=Path, help="write the results here (the server log goes next to it)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary index and state directories"
    )
    args = parser.parse_args(argv)
    if args.heavy:  # searches beside heavy requests: 4 search clients unless told otherwise
        for name, value in {"clients": 4, "duration": 30.0}.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if args.quick:  # smaller defaults; options given on the command line still win
        quick = {"clients": 4, "duration": 10.0, "requests": 2_000, "further": 500, "warmup": 50}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Copy the index, start the server, drive it, stop it, clean up."""
    load_start = os.getloadavg()  # other work on the machine skews every number here
    t0 = time.perf_counter()
    with server_on_copy(args.index, "load_test", args.json, args.keep) as (server, work):
        ready = server.wait_ready()
        result = asyncio.run(drive_heavy(server, args) if args.heavy else drive(server, args))
    result.update(
        t0=t0,
        ready_s=round(ready, 1),
        load_average_end=os.getloadavg(),
        load_average_start=load_start,
        port=server.port,
        server_log=str(server.log_path),
        work_dir=str(work) if args.keep else None,
        total_s=round(time.perf_counter() - t0, 1),
        config={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    )
    return result


def main() -> None:
    stop_on_sigterm()
    args = parse_args()
    result = run(args)
    print(summary(result))
    if args.json:
        args.json.write_text(
            json.dumps(to_json(result), indent=2, default=str) + "\n", encoding="utf-8"
        )
    sys.exit(1 if verdict(result) else 0)


if __name__ == "__main__":
    main()
