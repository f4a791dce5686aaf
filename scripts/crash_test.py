"""Kill -9 during a burst of writes: every acknowledged write must be there after the restart.

    .venv/bin/python scripts/crash_test.py [--writers 8] [--kill-after 3] [--rounds 1] [--json out.json]

The script copies the index to a temporary directory and starts `practice-finder serve` (port 8700-8799,
fresh state directory, new admin key). In each round:

1. `--writers` concurrent writers send writes as fast as they can: mostly POST /v1/practices of new records
   (distinct ids, each with a distinctive title), every 4th a PUT replacing one of their earlier records with
   a new title, every 10th a DELETE of one of them.
2. After `--kill-after` seconds the server and all its descendants (a background re-index runs as a child
   `practice-finder ingest`) get SIGKILL. Every write is recorded: acknowledged (2xx, with its seq) or failed
   (connection errors are expected after the kill).
3. The server is started again on the same index and state directories, and checked through the API:
   - the export (GET /v1/practices?format=jsonl) holds every acknowledged put with the title of the latest
     acknowledged write of that record, and no acknowledged delete; a write that was in flight at the kill
     may or may not have landed, so either outcome is accepted for it;
   - the index rebuilds by itself (GET /v1/admin/status until pending_writes == 0 and writes_served covers
     every acknowledged seq), and a search for acknowledged records' titles finds them; a deleted record
     is 404.

Checks are cumulative over rounds. Exit status 1 on any lost write, on a write that failed before the kill,
on a record in the export that no write explains, or when the index does not rebuild and serve the records.
The server log goes next to the JSON results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import ROOT, Server, parse_jsonl, server_on_copy, stop_on_sigterm  # noqa: E402

REINDEX_TIMEOUT = 1800.0
ABSENT = None  # the state of a record that is not there


@dataclass
class Write:
    """One write as the client saw it; `status` 0 is a transport error."""

    writer: int
    op: str  # post | put | delete
    id: str
    title: str | None  # the title written (None for a delete)
    started: float  # seconds since the round started
    ms: float
    status: int
    seq: int | None = None
    error: str = ""

    @property
    def acked(self) -> bool:
        return 200 <= self.status < 300

    @property
    def in_doubt(self) -> bool:
        """Sent but no answer, or a 5xx: the write may or may not be in the log (a refused connection is not)."""
        return (
            self.status == 0 and not self.error.startswith("ConnectError")
        ) or self.status >= 500


# -- writing ---------------------------------------------------------------------------------------------


def new_record(
    template: dict[str, Any], record_id: str, token: str, version: int
) -> dict[str, Any]:
    """A real practice with a new id and a title, summary and story that only this record (and version) has."""
    record = {**template, "id": record_id}
    record["title"] = f"Rope-walk workshop of {token}, version {version}"
    record["summary"] = (
        f"Volunteers in {token} reopened the rope walk for workshops (version {version})."
    )
    sections = dict(template["sections"])
    sections["what_happened"] = (
        f"{sections['what_happened']}\n\nIn {token} the rope walk became a workshop (version {version})."
    )
    record["sections"] = sections
    return record


@dataclass
class Writer:
    """One writer: its own ids, one request at a time, so the order of writes to each record is known."""

    number: int
    round: int
    template: dict[str, Any]
    rng: random.Random
    # id -> (token, version) created and not deleted
    live: dict[str, tuple[str, int]] = field(default_factory=dict)
    count: int = 0

    def next_write(self) -> tuple[str, str, dict[str, Any] | None]:
        """(op, id, body) of the next write: every 10th a delete, every 4th a put, otherwise a new record."""
        self.count += 1
        if self.count % 10 == 0 and len(self.live) >= 2:
            record_id = self.rng.choice(sorted(self.live))
            del self.live[record_id]
            return "delete", record_id, None
        if self.count % 4 == 0 and self.live:
            record_id = self.rng.choice(sorted(self.live))
            token, version = self.live[record_id]
            self.live[record_id] = (token, version + 1)
            return "put", record_id, new_record(self.template, record_id, token, version + 1)
        token = f"Kvarn{secrets.token_hex(4)}"
        record_id = f"crash-r{self.round}-w{self.number}-{self.count:05d}-{token.lower()}"
        self.live[record_id] = (token, 1)
        return "post", record_id, new_record(self.template, record_id, token, 1)


async def send(
    client: httpx.AsyncClient, op: str, record_id: str, body: dict[str, Any] | None
) -> tuple[int, int | None, str]:
    """(status, seq, error) of one write; status 0 on a transport error."""
    method, url = {
        "post": ("POST", "/v1/practices"),
        "put": ("PUT", f"/v1/practices/{record_id}"),
        "delete": ("DELETE", f"/v1/practices/{record_id}"),
    }[op]
    try:
        response = await client.request(method, url, json=body)
    except httpx.HTTPError as exc:
        return 0, None, f"{type(exc).__name__}: {exc!r}"
    if 200 <= response.status_code < 300:
        return response.status_code, int(response.json()["seq"]), ""
    return response.status_code, None, response.text[:300]


async def write_loop(
    client: httpx.AsyncClient, writer: Writer, stop: asyncio.Event, t0: float, out: list[Write]
) -> None:
    while not stop.is_set():
        op, record_id, body = writer.next_write()
        started = time.perf_counter()
        status, seq, error = await send(client, op, record_id, body)
        out.append(
            Write(
                writer.number,
                op,
                record_id,
                body["title"] if body else None,
                round(started - t0, 4),
                round((time.perf_counter() - started) * 1000, 2),
                status,
                seq,
                error,
            )
        )
        if status == 0:  # the server is gone (or going): do not spin on refused connections
            await asyncio.sleep(0.05)


def describe(server: Server) -> list[tuple[int, str]]:
    """(pid, end of the command line) of the server and its descendants."""
    out = []
    for proc in server.processes():
        with contextlib.suppress(psutil.Error):
            out.append((proc.pid, " ".join(proc.cmdline()[-4:])))
    return out


async def burst_and_kill(
    server: Server, template: dict[str, Any], args: argparse.Namespace, round_no: int
) -> dict[str, Any]:
    """Writers as fast as they can; SIGKILL to the server and its children after `kill_after` seconds."""
    writes: list[Write] = []
    stop, quiet = asyncio.Event(), asyncio.Event()
    limits = httpx.Limits(max_connections=args.writers, max_keepalive_connections=args.writers)
    headers = {"Authorization": f"Bearer {server.key}"}
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=30, limits=limits
    ) as client:
        t0 = time.perf_counter()
        writers = [
            Writer(w, round_no, template, random.Random(round_no * 100 + w))
            for w in range(args.writers)
        ]
        tasks = [
            asyncio.create_task(
                write_loop(client, w, quiet if args.write_for else stop, t0, writes)
            )
            for w in writers
        ]
        if args.write_for:
            await asyncio.sleep(args.write_for)
            quiet.set()
        await asyncio.sleep(args.kill_after - (args.write_for or 0))
        killed_at = time.perf_counter() - t0
        family = describe(server)
        server.kill9()
        stop.set()
        quiet.set()
        await asyncio.gather(*tasks)
    return {"writes": writes, "killed_at": round(killed_at, 3), "killed": family}


# -- checking --------------------------------------------------------------------------------------------


def allowed_states(writes: list[Write]) -> tuple[bool, set[str | None]]:
    """(any acked, the states the record may be in) from its writes in order: the state of the latest
    acknowledged write, or that of any later write in doubt. Without an ack, absent is allowed too."""
    last_acked = max((i for i, w in enumerate(writes) if w.acked), default=-1)
    states: set[str | None] = {writes[last_acked].title} if last_acked >= 0 else {ABSENT}
    states |= {w.title for w in writes[last_acked + 1 :] if w.in_doubt}
    return last_acked >= 0, states


def check_export(writes: list[Write], exported: dict[str, str]) -> dict[str, Any]:
    """Acknowledged writes against the export: lost (acked but wrong), unexpected (never acked, yet present
    in a state no write in doubt explains)."""
    by_id: dict[str, list[Write]] = {}
    for w in (
        writes
    ):  # writes of one record come from one writer, one at a time: list order is send order
        by_id.setdefault(w.id, []).append(w)
    lost: list[dict[str, Any]] = []
    unexpected: list[dict[str, Any]] = []
    for record_id, record_writes in by_id.items():
        acked, states = allowed_states(record_writes)
        actual = exported.get(record_id, ABSENT)
        if actual not in states:
            entry = {
                "id": record_id,
                "expected": sorted(states, key=str),
                "actual": actual,
                "writes": [asdict(w) for w in record_writes],
            }
            (lost if acked else unexpected).append(entry)
    ours = {i for i in exported if i.startswith("crash-")}
    strangers = sorted(ours - set(by_id))
    return {
        "records": len(by_id),
        "lost": lost,
        "unexpected": unexpected,
        "unknown_ids_in_export": strangers,
    }


async def fetch_export(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get("/v1/practices", params={"format": "jsonl"})
    response.raise_for_status()
    return {r["id"]: r["title"] for r in parse_jsonl(response)}


async def wait_reindexed(
    client: httpx.AsyncClient, acked_seq: int, timeout: float
) -> dict[str, Any]:
    """Poll the status until no write is pending and the served build covers `acked_seq`."""
    started = time.perf_counter()
    status: dict[str, Any] = {}
    while time.perf_counter() - started < timeout:
        response = await client.get("/v1/admin/status")
        response.raise_for_status()
        status = response.json()
        last = status.get("last_reindex") or {}
        if status["pending_writes"] == 0 and status["writes_served"] >= acked_seq:
            return {
                "ok": True,
                "seconds": round(time.perf_counter() - started, 1),
                "status": status,
            }
        if (
            last.get("ok") is False
            and status["writes_served"] < acked_seq
            and not status["reindex_running"]
        ):
            return {
                "ok": False,
                "seconds": round(time.perf_counter() - started, 1),
                "status": status,
                "error": f"re-index failed: {last.get('error')}",
            }
        await asyncio.sleep(1)
    return {
        "ok": False,
        "seconds": round(timeout, 1),
        "status": status,
        "error": f"not re-indexed after {timeout:.0f} s",
    }


def probes(
    writes: list[Write], exported: dict[str, str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Acked records to look for by title (the first, a replaced one, the last) and acked deletes to miss."""
    present = [
        (w.id, w.title) for w in writes if w.acked and w.title and exported.get(w.id) == w.title
    ]
    replaced = [
        (w.id, w.title)
        for w in writes
        if w.acked and w.op == "put" and w.title and exported.get(w.id) == w.title
    ]
    picks = list(dict.fromkeys([*present[:1], *replaced[-1:], *present[-1:]]))
    deleted = [w.id for w in writes if w.acked and w.op == "delete" and w.id not in exported]
    return picks, deleted[-2:]


async def check_served(
    client: httpx.AsyncClient, writes: list[Write], exported: dict[str, str]
) -> list[dict[str, Any]]:
    """Search for acked records by title (must be in the top 10) and GET acked deletes (must be 404)."""
    picks, deleted = probes(writes, exported)
    out = []
    for record_id, title in picks:
        response = await client.get("/v1/search", params={"q": title, "k": 10})
        ids = (
            [h["id"] for h in response.json().get("hits", [])]
            if response.status_code == 200
            else []
        )
        out.append(
            {
                "check": "search",
                "id": record_id,
                "title": title,
                "status": response.status_code,
                "rank": ids.index(record_id) + 1 if record_id in ids else None,
                "ok": record_id in ids,
            }
        )
    for record_id in deleted:
        response = await client.get(f"/v1/practices/{record_id}")
        out.append(
            {
                "check": "deleted is 404",
                "id": record_id,
                "status": response.status_code,
                "ok": response.status_code == 404,
            }
        )
    return out


async def restart_and_check(server: Server, writes: list[Write]) -> dict[str, Any]:
    """Start the server again, then check the export, the re-index and the search."""
    started = time.perf_counter()
    server.start()
    ready_s = await asyncio.to_thread(server.wait_ready)
    headers = {"Authorization": f"Bearer {server.key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as client:
        exported = await fetch_export(client)
        export = check_export(writes, exported)
        acked_seq = max((w.seq or 0 for w in writes if w.acked), default=0)
        status = (await client.get("/v1/admin/status")).json()
        reindex = await wait_reindexed(client, acked_seq, REINDEX_TIMEOUT)
        served = await check_served(client, writes, exported) if reindex["ok"] else []
    return {
        "ready_s": round(ready_s, 1),
        "reindex_after_ready_s": reindex["seconds"],
        "restart_to_reindexed_s": round(time.perf_counter() - started, 1),
        "acked_max_seq": acked_seq,
        "status_at_ready": status,
        "reindex": reindex,
        "export": export,
        "served": served,
    }


# -- rounds and report -----------------------------------------------------------------------------------


async def one_round(
    server: Server,
    template: dict[str, Any],
    args: argparse.Namespace,
    round_no: int,
    history: list[Write],
) -> dict[str, Any]:
    burst = await burst_and_kill(server, template, args, round_no)
    writes: list[Write] = burst["writes"]
    history.extend(writes)
    after = await restart_and_check(server, history)
    killed_at = burst["killed_at"]
    return {
        "round": round_no,
        "killed_at_s": killed_at,
        "killed": burst["killed"],
        "acked": sum(w.acked for w in writes),
        "failed": sum(not w.acked for w in writes),
        "in_doubt": sum(w.in_doubt and w.started < killed_at for w in writes),
        "failed_before_kill": [
            asdict(w) for w in writes if not w.acked and w.started + w.ms / 1000 < killed_at
        ],
        "ops": {op: sum(w.acked for w in writes if w.op == op) for op in ("post", "put", "delete")},
        "writes_per_s": round(sum(w.acked for w in writes) / (args.write_for or killed_at), 1),
        "lost": len(after["export"]["lost"]),
        **after,
    }


async def template_record(server: Server) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        response = await client.get("/v1/practices", params={"format": "jsonl"})
        response.raise_for_status()
    return next(r for r in parse_jsonl(response) if r.get("language") == "en" and r.get("city"))


async def drive(server: Server, args: argparse.Namespace) -> list[dict[str, Any]]:
    template = await template_record(server)
    history: list[Write] = []
    return [await one_round(server, template, args, n, history) for n in range(1, args.rounds + 1)]


def problems_of(rounds: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rounds:
        n = r["round"]
        if r["lost"]:
            out.append(f"round {n}: {r['lost']} acknowledged write(s) lost")
        if r["export"]["unexpected"] or r["export"]["unknown_ids_in_export"]:
            out.append(f"round {n}: records in the export that no write explains")
        if r["failed_before_kill"]:
            out.append(f"round {n}: {len(r['failed_before_kill'])} write(s) failed before the kill")
        if not r["reindex"]["ok"]:
            out.append(f"round {n}: {r['reindex'].get('error')}")
        if r["reindex"]["ok"] and (not r["served"] or not all(c["ok"] for c in r["served"])):
            out.append(f"round {n}: a search or 404 check failed")
    return out


def round_lines(r: dict[str, Any]) -> list[str]:
    ops = ", ".join(f"{v} {k}" for k, v in r["ops"].items())
    killed = "; ".join(f"{pid} ({cmd})" for pid, cmd in r["killed"])
    lines = [
        f"Round {r['round']}: SIGKILL at {r['killed_at_s']} s to {killed}",
        f"  writes: acked {r['acked']} ({ops}; {r['writes_per_s']}/s), failed {r['failed']} "
        f"(in flight at the kill: {r['in_doubt']}; failed before the kill: {len(r['failed_before_kill'])})",
        f"  restart: ready in {r['ready_s']} s; at ready: writes_logged {r['status_at_ready']['writes_logged']}, "
        f"writes_served {r['status_at_ready']['writes_served']}, pending {r['status_at_ready']['pending_writes']} "
        f"(highest acked seq {r['acked_max_seq']})",
        f"  export: {r['export']['records']} records written so far checked; lost {r['lost']}, "
        f"unexpected {len(r['export']['unexpected']) + len(r['export']['unknown_ids_in_export'])}",
        f"  re-index after restart: {'done' if r['reindex']['ok'] else 'NOT DONE'} {r['reindex_after_ready_s']} s after ready "
        f"({r['restart_to_reindexed_s']} s after the restart)",
    ]
    last = r["reindex"]["status"].get("last_reindex") or {}
    if last:
        lines.append(
            f"    last re-index: trigger {last.get('trigger')}, {last.get('seconds')} s, embedded {last.get('embedded')}, "
            f"reused {last.get('reused')}, ok {last.get('ok')}"
        )
    for c in r["served"]:
        what = f"rank {c['rank']}" if c["check"] == "search" else f"status {c['status']}"
        lines.append(f"  {c['check']:<15} {c['id']}: {what} {'ok' if c['ok'] else 'FAILED'}")
    for entry in r["export"]["lost"][:5]:
        lines.append(f"  LOST {entry['id']}: expected {entry['expected']}, found {entry['actual']}")
    return lines


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"Server started in {result['first_ready_s']} s; {result['writers']} writers, kill after {result['kill_after']} s"
    ]
    for r in result["rounds"]:
        lines += ["", *round_lines(r)]
    problems = result["problems"]
    totals = {k: sum(r[k] for r in result["rounds"]) for k in ("acked", "failed", "lost")}
    lines += [
        "",
        f"Total: acked {totals['acked']}, failed {totals['failed']}, lost {totals['lost']}",
        "RESULT: "
        + ("FAIL - " + "; ".join(problems) if problems else "PASS (no acknowledged write lost)"),
        f"Total {result['total_s']} s; server log: {result['server_log']}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument(
        "--index", type=Path, default=ROOT / "indexes", help="index to copy (never written)"
    )
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (default 8)")
    parser.add_argument(
        "--kill-after",
        type=float,
        default=3.0,
        help="seconds of writing before SIGKILL (default 3)",
    )
    parser.add_argument(
        "--write-for",
        type=float,
        default=None,
        help="stop writing after this many seconds (less than --kill-after: the kill then hits a re-index)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="kill and restart this many times (default 1)"
    )
    parser.add_argument(
        "--json", type=Path, help="write the results here (the server log goes next to it)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary index and state directories"
    )
    args = parser.parse_args(argv)
    if args.write_for is not None and args.write_for >= args.kill_after:
        parser.error("--write-for must be less than --kill-after")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Copy the index, start the server, run the rounds, stop it, clean up."""
    t0 = time.perf_counter()
    with server_on_copy(args.index, "crash_test", args.json, args.keep) as (server, work):
        first_ready = server.wait_ready()
        rounds = asyncio.run(drive(server, args))
    return {
        "writers": args.writers,
        "kill_after": args.kill_after,
        "write_for": args.write_for,
        "first_ready_s": round(first_ready, 1),
        "rounds": rounds,
        "problems": problems_of(rounds),
        "total_s": round(time.perf_counter() - t0, 1),
        "server_log": str(server.log_path),
        "work_dir": str(work) if args.keep else None,
        "load_average_end": os.getloadavg(),
    }


def main() -> None:
    stop_on_sigterm()
    args = parse_args()
    result = run(args)
    print(summary(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    sys.exit(1 if result["problems"] else 0)


if __name__ == "__main__":
    main()
