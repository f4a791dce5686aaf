"""How `practice-finder serve` runs uvicorn: connection limits, the header deadline and size, and the
proxies whose forwarded headers are believed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from practice_finder.cli.main import cli
from practice_finder.config import Settings
from practice_finder.web.app import create_app
from practice_finder.web.server import uvicorn_options

from .conftest import ROOT, script


def _serve_options(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, Any]:
    """What `practice-finder serve` hands to uvicorn with this environment."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    result = CliRunner().invoke(cli, ["serve"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return calls[0]


def test_serve_passes_the_connection_limits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    defaults = _serve_options(monkeypatch, {"PF_INDEX_DIR": str(tmp_path)})
    assert defaults["timeout_keep_alive"] == 5 and defaults["limit_concurrency"] == 512
    assert defaults["http"].keywords == {"header_timeout": 10, "max_header_bytes": 16_384}
    changed = _serve_options(
        monkeypatch,
        {
            "PF_INDEX_DIR": str(tmp_path),
            "PF_TIMEOUT_KEEP_ALIVE": "2",
            "PF_LIMIT_CONCURRENCY": "0",
            "PF_HEADER_TIMEOUT": "3",
            "PF_MAX_HEADER_BYTES": "4096",
        },
    )
    assert changed["timeout_keep_alive"] == 2 and changed["limit_concurrency"] is None
    assert changed["http"].keywords == {"header_timeout": 3, "max_header_bytes": 4096}


def _at_address(app: Any, host: str) -> Any:
    """The app as reached from `host` (the test client's own address is not an IP address)."""

    async def call(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": (host, 40000)}
        await app(scope, receive, send)

    return call


@pytest.mark.parametrize(("trusted", "fresh_buckets"), [("", False), ("127.0.0.1", True)])
def test_forwarded_headers_count_only_from_trusted_proxies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trusted: str, fresh_buckets: bool
) -> None:
    """Made-up X-Forwarded-For headers from an address that is not a trusted proxy (here 127.0.0.1, which
    uvicorn trusts by default) all count in that address's one bucket."""
    import uvicorn

    env = {"PF_INDEX_DIR": str(tmp_path / "none"), "PF_TRUSTED_PROXIES": trusted}
    options = _serve_options(monkeypatch, env)
    kept = {k: options[k] for k in ("proxy_headers", "forwarded_allow_ips") if k in options}
    app = create_app(
        Settings(index_dir=tmp_path / "none", state_dir=tmp_path / "state", rate_limit=2),
        make_embedder=lambda: None,  # type: ignore[arg-type,return-value]
        watch=False,
    )
    config = uvicorn.Config(app, log_config=None, **kept)
    config.load()
    with TestClient(_at_address(config.loaded_app, "127.0.0.1")) as c:
        codes = [
            c.get("/v1/taxonomy", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(4)
        ]
    assert (429 in codes) is not fresh_buckets, codes


@contextmanager
def _running(settings: Settings) -> Iterator[int]:
    """A real uvicorn server in a thread with the service's options, around a trivial app; yields its port."""
    import uvicorn

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(b"content-length", b"2")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"ok"})

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, lifespan="off", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


def _exchange(port: int, data: bytes) -> bytes:
    """Send `data`, then read until the server closes the connection (a generous safety timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


def test_unfinished_or_huge_headers_are_cut_off() -> None:
    """A request whose headers never end is closed after the header timeout (the read would otherwise wait
    for ever; the socket's 30 s is only a safety net); headers above the limit get a 431."""
    settings = Settings(header_timeout=1, max_header_bytes=2_000, timeout_keep_alive=1)
    with _running(settings) as port:
        assert _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n") == b""
        too_big = _exchange(
            port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3_000 + b"\r\n\r\n"
        )
        assert too_big.startswith(b"HTTP/1.1 431 ")
        ok = _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 ") and ok.endswith(b"ok")
        # a kept-alive connection's second request gets the same deadline
        second = _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n")
        assert second.count(b"HTTP/1.1 200 ") == 1


@pytest.mark.real
def test_the_start_benchmark_times_a_server_to_ready_and_stops_it(
    minilm_settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """scripts/bench_start.py: one start of the service from this checkout's source, timed to /ready;
    the server is stopped afterwards (nothing listens on its port)."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # as when it is run: it imports bench_http
    module = script("bench_start")
    ports: list[int] = []
    free_port = module.free_port
    module.free_port = lambda: ports.append(free_port()) or ports[-1]
    seconds = module.time_to_ready(ROOT / "src", minilm_settings.index_dir, workers=1)
    assert seconds > 0 and len(ports) == 1
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", ports[0]))  # nothing listens there any more
