"""The HTTP benchmark's own measurement (scripts/bench_http.py) against a stub server: seconds, no model.

The benchmark itself (the service on the demo corpus, 1 to 32 clients) is a script; its figures are in
docs/benchmarks.md#query-latency-and-throughput-over-http. What is tested here is that it reports the latencies its requests had.
"""

from __future__ import annotations

import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from .conftest import script

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None,
    reason="wrk is not installed (apt-get install wrk): the benchmark's load client goes untested",
)

SLOW_SECONDS = 0.06


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the service
    disable_nagle_algorithm = (
        True  # headers and body are two writes: with Nagle, the body waits for a delayed ACK
    )

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if self.path.startswith("/slow"):
            time.sleep(SLOW_SECONDS)
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
