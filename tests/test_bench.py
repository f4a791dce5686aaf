"""The HTTP benchmark's own measurement (scripts/bench_http.py) against a stub server: seconds, no model.

The benchmark itself (the service on the demo corpus, 1 to 32 clients) is a script; its figures are in
docs/benchmarks.md#query-latency-and-throughput-over-http. What is tested here is that it reports the latencies its requests had.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from practice_finder import Settings

from .conftest import script

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None,
    reason="wrk is not installed (apt-get install wrk): the benchmark's load client goes untested",
)

SLOW_SECONDS = 0.06
BUSY_SECONDS = 0.005  # CPU time a request to /busy costs the stub server


def _burn(seconds: float) -> None:
    """Use `seconds` of this thread's CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the service
    disable_nagle_algorithm = (
        True  # headers and body are two writes: with Nagle, the body waits for a delayed ACK
    )

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if self.path.startswith("/slow"):
            time.sleep(SLOW_SECONDS)
        if self.path.startswith("/busy"):
            _burn(BUSY_SECONDS)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the signature http.server defines)
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # wrk drops its connections when the time is up, in the middle of a response


def _bench_http() -> ModuleType:
    return script("bench_http")


def test_every_request_is_reported_as_measured_not_as_wrk_corrects_it() -> None:
    server = _Server(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        result = _bench_http().wrk_run(
            base, ["/fast", "/fast", "/fast", "/slow", "/slow"], "GET", 1, 2
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result["failed"] == 0 and result["requests"] >= 10, result
    # Three requests in five answer at once and two after 60 ms: the median is a fast one.
    assert result["median_ms"] < SLOW_SECONDS * 1000 / 3, result
    assert result["p99_ms"] >= SLOW_SECONDS * 1000, result
    # wrk's histogram adds a made-up sample between each slow request and the mean: its median is one of those.
    assert result["wrk_corrected_median_ms"] > result["median_ms"] + 10, result


def test_a_run_reports_what_each_request_cost_the_server_in_cpu() -> None:
    """The stub server runs in this process, so this process's CPU time is the server's: each request
    costs it at least BUSY_SECONDS."""
    server = _Server(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        result = _bench_http().wrk_run(base, ["/busy"], "GET", 2, 1, time.process_time)
    finally:
        server.shutdown()
        server.server_close()
    assert result["failed"] == 0 and result["requests"] >= 10, result
    assert result["server_cpu_ms_per_request"] >= BUSY_SECONDS * 1000, result
    assert result["server_cores_busy"] > 0, result


def test_the_servers_cpu_counts_its_worker_processes() -> None:
    """A server whose worker process used CPU and then waits: its CPU time includes the worker's."""
    burn = "import time\nu = time.thread_time() + 0.3\nwhile time.thread_time() < u: pass\n"
    worker = f"import time\n{burn}print('done', flush=True)\ntime.sleep(60)\n"
    parent = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', {worker!r}])\n"
        "p.wait()\n"
    )
    bench = _bench_http()
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
        assert bench.server_cpu_seconds(proc.pid) >= 0.3
    finally:
        for child in bench.psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()


def test_a_search_snapshot_holds_every_question_without_timings(minilm_index) -> None:  # type: ignore[no-untyped-def]
    """scripts/search_snapshot.py: one result per question (here the domain set in English and Latvian)
    and the filtered search; timings left out, so two runs of the same code and build write the same
    file."""
    module = script("search_snapshot")
    taken = module.snapshot(minilm_index, ("domain",), ("en", "lv"))
    assert len(taken) == 3 * 56 + 1 and "filtered" in taken  # English, Latvian, English filtered
    nordic = [
        hit for qid, found in taken.items() if qid.endswith("/nordic") for hit in found["hits"]
    ]
    assert nordic and all(hit["country"] in ("DK", "FI", "NO", "SE") for hit in nordic)
    assert not any("timings_ms" in result for result in taken.values())
    assert taken["filtered"]["hits"] and all(
        hit["country"] in ("LV", "EE") and hit["population"] <= 30_000
        for hit in taken["filtered"]["hits"]
    )
    assert taken["domain/en/q01"] == module._plain(
        module.search(minilm_index, module.SearchQuery(text=taken["domain/en/q01"]["query"], k=20))
    )


def test_a_graphs_profile_is_summed_per_kind_of_operator() -> None:
    """scripts/profile_question_graph.py: kernel times per kind of operator, over the runs; other events
    (the session's own, a node's input and output times) left out."""
    events = [
        {"cat": "Node", "name": "a_kernel_time", "dur": 30, "args": {"op_name": "MatMul"}},
        {"cat": "Node", "name": "b_kernel_time", "dur": 10, "args": {"op_name": "MatMul"}},
        {"cat": "Node", "name": "c_kernel_time", "dur": 60, "args": {"op_name": "Add"}},
        {"cat": "Node", "name": "c_fence_before", "dur": 500, "args": {"op_name": "Add"}},
        {"cat": "Session", "name": "model_run", "dur": 900},
    ]
    got = script("profile_question_graph").by_operator(events, runs=2)
    assert got["us_a_question"] == 50.0
    assert list(got["operators"]) == ["Add", "MatMul"]
    assert got["operators"]["Add"] == {"share": 0.6, "us_a_question": 30.0, "nodes_a_question": 0.5}
    assert got["operators"]["MatMul"] == {
        "share": 0.4,
        "us_a_question": 20.0,
        "nodes_a_question": 1.0,
    }


def test_the_encoders_cost_is_fitted_per_token() -> None:
    """scripts/bench_encoder_ceiling.py: a question's cost as a line in its tokens."""
    got = script("bench_encoder_ceiling").fitted([10, 20, 40], [3.0, 5.0, 9.0])
    assert got == {"per_token_ms": 0.2, "fixed_ms": 1.0}


def test_the_encoder_ceiling_runs_on_a_real_build(real_settings: Settings) -> None:
    """The script's quick variant on the shipped corpus: questions encoded alone and side by side, and
    the CPU budget a target rate leaves for the rest of a search."""
    bench = script("bench_encoder_ceiling")
    alone = bench.alone(real_settings.index_dir, rounds=1)
    assert alone["questions"] == 56 and alone["per_token_ms"] > 0 and alone["cpu_ms_mean"] > 0
    run = bench.side_by_side(real_settings.index_dir, 2, 2, 1.0, locked=True)
    assert run["questions_per_s"] > 0 and run["cpu_ms_a_question"] > 0
