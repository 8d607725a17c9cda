"""Crash consistency: bursts of webhook deliveries and paid calls, SIGKILL at a random moment, restart.

Run: `python benchmarks/crash_consistency.py` (options: `--rounds N` (default 100), `--deliveries D` per round,
`--paid P` per round, `--seed S`).

Set-up, kept for the whole run: the sandbox over HTTP (rate limit off, callbacks after 0.2 s, retried 3 times over
1.5 s as configured), a `mavi-mcp webhook` receiver, and a `mavi-mcp` server over streamable HTTP, both on one
data dir (one store). Each round:

1. a burst: 4 threads POST D real Whisper callback bodies (130 KB each, task ids `r<round>-d<i>`) to the
   receiver, as MAVI would; meanwhile P MCP clients make paid calls on the server: half `identify_speakers`
   sync (the answer is a stored transcript), half `identify_speakers` async (the answer is a task id; the
   sandbox calls the receiver back);
2. at a random moment in the burst, SIGKILL of the receiver or of the server (chosen at random);
3. the killed process is restarted on the same port, and the next round begins.

At the end, after every callback has had time to arrive, the store is read and each acknowledged item counted:

- acknowledged: a delivery answered 200; a sync call answered with a transcript; an async call answered with
  a task id (and, for the result, its callback answered 200 by the receiver);
- stored: an acknowledged item that is in the store (the delivery row; the transcript; the task row);
- applied: an acknowledged item whose task is completed with its transcript;
- lost: acknowledged but not stored (the goal: 0);
- stranded: a result in the store that was never applied to its task -- a delivery left `received`, a task
  left `pending` although its callback body is stored -- acknowledged or not (the goal: 0).

It also prints how many sync answers MAVI (the sandbox) processed -- billed -- against the raw results kept,
and async results the sandbox could not deliver at all (the receiver was down for all 3 attempts; MAVI does not
resend those, so they are not counted as lost by mavi-mcp, but the task stays pending until its horizon).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import (  # noqa: E402
    WEBHOOK_SECRET,
    Process,
    SandboxServer,
    free_port,
    mavi_mcp_command,
    server_env,
    start,
    start_sandbox,
    wait_http,
)

ASSET = "re_700000000000000012"  # AMI ES2004a: speaker turns, sync and async
CALLBACK = ROOT / "mavi_mcp/sandbox/data/async-generate-audio-callback/4474506.json"
SYNC_ENDPOINTS = ("sync-generate-speaker",)


@dataclass
class Tally:
    """What the clients saw acknowledged during the run."""

    deliveries: list[str] = field(default_factory=list[str])
    sync_transcripts: list[str] = field(default_factory=list[str])
    async_tasks: list[str] = field(default_factory=list[str])
    kills: dict[str, int] = field(default_factory=lambda: {"receiver": 0, "server": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, value: str) -> None:
        with self.lock:
            getattr(self, kind).append(value)


class Services:
    """The receiver and the server on fixed ports, restartable after a SIGKILL."""

    def __init__(self, data: Path, sandbox: SandboxServer, receiver_port: int) -> None:
        self.env = server_env(
            data, sandbox.url, MAVI_MCP_RATE_LIMIT="0", MAVI_MCP_LOG_LEVEL="WARNING", MAVI_MCP_CONFIRM_ABOVE_USD="1000"
        )  # no confirmation to ask (the MCP clients here cannot answer one)
        self.receiver_port = receiver_port
        self.server_port = free_port()
        self.receiver_url = f"http://127.0.0.1:{receiver_port}/webhooks/mavi/{WEBHOOK_SECRET}"
        self.server_url = f"http://127.0.0.1:{self.server_port}"
        self.processes: dict[str, Process] = {}
        self.start("receiver")
        self.start("server")

    def start(self, which: str) -> None:
        command = mavi_mcp_command()
        if which == "receiver":
            args = [*command, "webhook", "--port", str(self.receiver_port), "--log-level", "WARNING"]
            self.processes[which] = start(args, self.env)
            wait_http(f"http://127.0.0.1:{self.receiver_port}/healthz", timeout=60)
        else:
            args = [*command, "--transport", "streamable-http", "--port", str(self.server_port)]
            self.processes[which] = start(args, self.env)
            wait_http(f"{self.server_url}/ready", timeout=60)

    def kill(self, which: str) -> None:
        process = self.processes[which]
        os.kill(process.popen.pid, signal.SIGKILL)
        process.popen.wait(timeout=10)
        process.stop()

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()


def bodies(round_no: int, count: int) -> list[tuple[str, bytes]]:
    template = json.loads(CALLBACK.read_bytes())
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        template["task_id"] = f"r{round_no}-d{i}"
        out.append((template["task_id"], json.dumps(template).encode()))
    return out


def send_deliveries(url: str, items: list[tuple[str, bytes]], tally: Tally) -> None:
    """One sender, like MAVI: POST each body once; stop at the first connection failure (the receiver died)."""
    with httpx2.Client(timeout=30) as client:
        for task_id, body in items:
            try:
                answer = client.post(url, content=body, headers={"content-type": "application/json"})
            except httpx2.HTTPError:
                return
            if answer.status_code == 200:
                tally.add("deliveries", task_id)


async def paid_call(url: str, mode: str, tally: Tally) -> None:
    """One MCP session, one paid call; what it acknowledged goes to the tally. Failures (server killed) count
    as not acknowledged."""
    try:
        with anyio.fail_after(60):
            async with Client(f"{url}/mcp") as client:
                args = {"asset_id": ASSET, "mode": mode, "refresh": True}  # every call paid, never a reuse
                args |= {"wait_seconds": 0} if mode == "async" else {}
                result = await client.call_tool("identify_speakers", args)
    except Exception:  # the server was killed mid-call: nothing acknowledged
        return
    content = result.structured_content
    if result.is_error or content is None:
        return
    if mode == "sync" and content.get("transcript_id"):
        tally.add("sync_transcripts", str(content["transcript_id"]))
    elif mode == "async" and content.get("task_id"):
        tally.add("async_tasks", str(content["task_id"]))


def paid_calls(url: str, count: int, tally: Tally) -> None:
    async def run() -> None:
        async with anyio.create_task_group() as group:
            for i in range(count):
                group.start_soon(paid_call, url, "sync" if i % 2 == 0 else "async", tally)

    anyio.run(run)


def one_round(services: Services, round_no: int, args: argparse.Namespace, rng: random.Random, tally: Tally) -> None:
    items = bodies(round_no, args.deliveries)
    threads = [
        threading.Thread(target=send_deliveries, args=(services.receiver_url, items[i::4], tally)) for i in range(4)
    ]
    threads.append(threading.Thread(target=paid_calls, args=(services.server_url, args.paid, tally)))
    for thread in threads:
        thread.start()
    victim = rng.choice(["receiver", "server"])
    time.sleep(rng.uniform(0.05, args.window))
    services.kill(victim)
    tally.kills[victim] += 1
    for thread in threads:
        thread.join(timeout=90)
    services.start(victim)


def count(db: sqlite3.Connection, sql: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found |= {row[0] for row in db.execute(sql.format(marks=marks), chunk)}
    return found


@dataclass
class Row:
    """One line of the report. `stranded` counts every result in the store not applied, acknowledged or not."""

    name: str
    acknowledged: int
    stored: int
    applied: int
    stranded: int
    note: str = ""

    def __str__(self) -> str:
        lost = self.acknowledged - self.stored
        return (
            f"{self.name:26s} {self.acknowledged:6d} {self.stored:7d} {self.applied:8d} {lost:5d} "
            f"{self.stranded:9d}  {self.note}"
        )


def report(data: Path, sandbox: SandboxServer, tally: Tally, rounds: int, elapsed: float) -> None:
    with httpx2.Client(base_url=sandbox.url, timeout=30) as admin:
        processed: list[str] = admin.get("/_sandbox/processed").json()["processed"]
        deliveries: list[dict[str, Any]] = admin.get("/_sandbox/deliveries").json()
    callback_ok = {d["task_id"] for d in deliveries if d["status"] is not None and 200 <= d["status"] < 300}
    callback_tried = {d["task_id"] for d in deliveries}
    completed = (
        "SELECT task_id FROM tasks WHERE status = 'completed' AND transcript_id IS NOT NULL AND task_id IN ({marks})"
    )
    with sqlite3.connect(data / "data" / "mavi-mcp.sqlite3") as db:
        # webhook deliveries sent by the benchmark (task ids r<round>-d<i>)
        acked = sorted(set(tally.deliveries))
        held = sorted({r[0] for r in db.execute("SELECT task_id FROM deliveries WHERE task_id LIKE 'r%-d%'")})
        held_applied = count(db, completed, held)
        received = db.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'received'").fetchone()[0]
        d_row = Row(
            "webhook deliveries",
            len(acked),
            len(count(db, "SELECT task_id FROM deliveries WHERE task_id IN ({marks})", acked)),
            len(count(db, completed, acked)),
            len(held) - len(held_applied),
            f"({received} deliveries left 'received'; {len(held) - len(acked)} stored but never acknowledged)",
        )
        # sync paid calls: the answer is a transcript
        sync_ids = sorted(set(tally.sync_transcripts))
        s_stored = len(count(db, "SELECT id FROM transcripts WHERE id IN ({marks})", sync_ids))
        s_row = Row("sync paid calls", len(sync_ids), s_stored, s_stored, 0)
        # async paid calls: the start's answer is a task id; the result comes by callback
        async_ids = sorted(set(tally.async_tasks))
        a_stored = len(count(db, "SELECT task_id FROM tasks WHERE task_id IN ({marks})", async_ids))
        a_row = Row("async starts (task id)", len(async_ids), a_stored, a_stored, 0)
        results = sorted(callback_tried)  # every MAVI task the sandbox called back for, started by an ack or not
        acked_results = sorted(callback_ok)
        r_held = count(db, "SELECT task_id FROM deliveries WHERE task_id IN ({marks})", results)
        r_row = Row(
            "async results (callback)",
            len(acked_results),
            len(count(db, "SELECT task_id FROM deliveries WHERE task_id IN ({marks})", acked_results)),
            len(count(db, completed, acked_results)),
            len(r_held - count(db, completed, sorted(r_held))),
            f"({len(set(results) - callback_ok)} callbacks undeliverable: receiver down for all 3 attempts)",
        )
        raw_sync = db.execute(
            f"SELECT COUNT(*) FROM raw_results WHERE endpoint IN ({','.join('?' * len(SYNC_ENDPOINTS))})",
            SYNC_ENDPOINTS,
        ).fetchone()[0]
        pending_all = db.execute("SELECT COUNT(*) FROM tasks WHERE status = 'pending'").fetchone()[0]
    billed_sync = sum(1 for name in processed if name in SYNC_ENDPOINTS)
    print(f"\n{rounds} rounds in {elapsed:.0f} s; SIGKILL of the receiver {tally.kills['receiver']} times, "
          f"of the server {tally.kills['server']} times")  # fmt: skip
    print(f"{'':26s} {'acked':>6s} {'stored':>7s} {'applied':>8s} {'lost':>5s} {'stranded':>9s}")
    rows = [d_row, s_row, a_row, r_row]
    for row in rows:
        print(row)
    print(
        Row(
            "TOTAL",
            sum(r.acknowledged for r in rows),
            sum(r.stored for r in rows),
            sum(r.applied for r in rows),
            sum(r.stranded for r in rows),
        )
    )
    print(f"sync answers billed by MAVI {billed_sync}, raw results kept {raw_sync}, "
          f"billed but not kept {max(0, billed_sync - raw_sync)}")  # fmt: skip
    print(f"store overall: {pending_all} tasks pending")


def main(argv: list[str] | None = None, *, on_round: Callable[[int], None] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--deliveries", type=int, default=20, help="webhook deliveries per round")
    parser.add_argument("--paid", type=int, default=4, help="paid calls per round (half sync, half async)")
    parser.add_argument("--window", type=float, default=3.0, help="the kill comes within this many seconds")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds for the last callbacks and a recovery pass")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    receiver_port = free_port()
    sandbox = start_sandbox(
        "--no-rate-limit",
        "--callback-delay",
        "0.2",
        "--webhook-url",
        f"http://127.0.0.1:{receiver_port}/webhooks/mavi/{WEBHOOK_SECRET}",
    )
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        services = Services(data, sandbox, receiver_port)
        started = time.perf_counter()
        try:
            for round_no in range(1, args.rounds + 1):
                one_round(services, round_no, args, rng, tally)
                if on_round is not None:
                    on_round(round_no)
                elif round_no % 10 == 0:
                    print(f"round {round_no}/{args.rounds}", file=sys.stderr, flush=True)
            time.sleep(args.settle)  # the last callbacks (0.2 s delay, retries over 1.5 s) arrive
            elapsed = time.perf_counter() - started
            report(data, sandbox, tally, args.rounds, elapsed)
        finally:
            services.stop()
            sandbox.process.stop()


if __name__ == "__main__":
    main()
