"""SIGKILL one of three replicas in the middle of a burst of paid calls and webhook deliveries, round after round.

Run: `python benchmarks/replica_kill.py` (20 rounds), `--rounds N`, `--quick` (5 rounds), `--horizon S`,
`--database-url postgresql://...` (replicas on PostgreSQL, passed on as MAVI_MCP_DATABASE_URL; default: one
shared SQLite data directory, as replicas on one machine run), `--postgres` (a throw-away cluster from Debian's
package).

Setup: the MAVI sandbox as a real HTTP server in this process (vendor rate limit ON: 1 request/second per key),
its webhook set to nginx's /webhooks/mavi/<secret>; three `mavi-mcp --transport streamable-http` replicas
(MAVI_BASE_URL = the sandbox) behind nginx with examples/deploy's config, on one store.

Each round: `--calls` paid calls never made before (`round_calls`: identify_speakers and transcribe_whisper
async, transcribe_assemblyai sync, on the catalog's assets), sent at once through nginx as 2026-07-28 stateless
requests, plus `--deliveries` webhook bodies (a real Whisper callback under new task ids) posted to nginx by 8
senders; after a random moment within
the burst one replica gets SIGKILL and is started again `--restart-delay` seconds later (systemd's
Restart=always, RestartSec=2). Calls are not retried by the bench (an agent told "may have been billed" decides).
Then the round waits at most `--horizon` seconds for every task to end. `--restart-after-horizon` starts the
killed replica only after that wait: what the two survivors alone do with the dead one's jobs.

Counted over all rounds (targets: 0 each):
- acknowledged deliveries lost: a delivery answered 2xx (by the replica through nginx, or MAVI's own callback
  acknowledged to the sandbox) whose task id is not in the store's `deliveries`;
- requests billed twice: an identical transcription request (endpoint + body) that the sandbox processed (HTTP
  200) more than once;
- rejections by the 1 request/second limit: the sandbox's "Request has exceeded the limit." answers (the bench
  sends only valid requests, so each one is the rate limit);
- tasks not ended within the horizon: tasks still `pending` `--horizon` seconds after their round's burst.
  A killed replica's sync jobs end when another replica fails them: on PostgreSQL once their lease
  (`--lease-seconds`, passed as MAVI_MCP_LEASE_SECONDS; default 10 s) has run out, checked every third of it; on
  SQLite within `replicas.STALE_EVERY` (10 s). The horizon must exceed the kill's moment plus that.
Also printed: calls answered, calls cut by the kill (502 or a reset connection), tasks failed.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from replicas_bench import raw_call, require_postgres_store  # noqa: E402

from mavi_mcp.httpserve import server_config  # noqa: E402
from mavi_mcp.sandbox import ASSETS, SandboxConfig, create_app  # noqa: E402
from mavi_mcp.webhook import bind  # noqa: E402
from tests.services import Deployment, Replica, deployment, postgres_cluster  # noqa: E402

KEY = "sk-mavi-replica-kill-0123456789"
SECRET = "replica-kill-webhook-secret-0123456789ab"
LIMIT = "Request has exceeded the limit."
CALLBACK = ROOT / "mavi_mcp/sandbox/data/async-generate-audio-callback/4474506.json"
ASYNC_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("identify_speakers", {"mode": "async"}),
    ("transcribe_whisper", {"mode": "async", "speaker": False}),
    ("transcribe_whisper", {"mode": "async", "speaker": True}),
]


def round_calls(n: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    """Round `n`'s paid calls, none sent before (so the ledger cannot answer one from an earlier paid request):
    half async (speakers or Whisper on a catalog asset, each pair used once in 22 rounds), half sync AssemblyAI
    requests made unique by `audio_end_at` (milliseconds)."""
    plan = [(tool, {**options, "asset_id": a.asset_id}) for a in ASSETS for tool, options in ASYNC_VARIANTS]
    calls: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        if i % 2 == 0:
            calls.append(plan[(n * ((count + 1) // 2) + i // 2) % len(plan)])
        else:
            asset = ASSETS[(n + i) % len(ASSETS)].asset_id
            end = 60_000 + 1000 * (n * count + i)
            calls.append(("transcribe_assemblyai", {"asset_id": asset, "audio_end_at": end}))
    return calls


@dataclass
class Ledger:
    """What the sandbox answered on its API routes: transcription requests billed (HTTP 200) by identity, and
    rate-limit rejections."""

    billed: Counter[str] = field(default_factory=Counter[str])
    rejected: int = 0
    requests: int = 0


class Recorder:
    """ASGI middleware in front of the sandbox app recording each API request's body and answer (`Ledger`)."""

    def __init__(self, app: ASGIApp, ledger: Ledger) -> None:
        self.app = app
        self.ledger = ledger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        answer: list[bytes] = []
        status: list[int] = []

        async def tap_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def tap_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            elif message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
            await send(message)

        await self.app(scope, tap_receive, tap_send)
        self.ledger.requests += 1
        if status and status[0] == 400 and LIMIT.encode() in b"".join(answer):
            self.ledger.rejected += 1
        elif status and status[0] == 200 and "/transcriptions/" in path:
            body = b"".join(chunks)
            try:
                identity = json.dumps(json.loads(body or b"{}"), sort_keys=True)
            except ValueError:
                identity = body.decode(errors="replace")
            self.ledger.billed[f"{path} {identity}"] += 1


@contextmanager
def sandbox_server(ledger: Ledger) -> Iterator[tuple[str, SandboxConfig]]:
    """The sandbox (rate limit on, key `KEY`) on a loopback port in a thread; yields its URL and its config (the
    webhook URL is set once nginx runs)."""
    config = SandboxConfig(api_key=KEY, callback_delay=1.0, upload_processing_seconds=0.0)
    sandbox = create_app(config)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(server_config(Recorder(sandbox.app, ledger), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", config
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        acknowledged_callbacks.extend(d.task_id for d in sandbox.deliveries if d.status and 200 <= d.status < 300)


acknowledged_callbacks: list[str] = []
"""MAVI task ids whose callback the sandbox got a 2xx for (filled when the sandbox stops)."""


class Store:
    """Read-only SQL on the replicas' store (SQLite file or PostgreSQL), for what the bench checks."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url, autocommit=True) as conn:
                return list(conn.execute(sql.encode()).fetchall())
        with sqlite3.connect(f"file:{self.data_dir / 'mavi-mcp.sqlite3'}?mode=ro", uri=True, timeout=30) as db:
            return db.execute(sql).fetchall()


@dataclass
class Totals:
    answered: int = 0
    cut: int = 0
    refused: int = 0
    acknowledged: list[str] = field(default_factory=list[str])
    late_tasks: int = 0
    failed_tasks: int = 0
    notes: list[str] = field(default_factory=list[str])


def deliveries(prefix: str, count: int) -> list[tuple[str, bytes]]:
    template = json.loads(CALLBACK.read_bytes())
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        template["task_id"] = f"{prefix}-{i}"
        out.append((template["task_id"], json.dumps(template).encode()))
    return out


async def paid_call(http: httpx2.AsyncClient, url: str, tool: str, args: dict[str, Any], totals: Totals) -> None:
    try:
        status, result, text = await raw_call(http, url, tool, args)
    except httpx2.HTTPError:
        totals.cut += 1
        return
    if status in (502, 503, 504):
        totals.cut += 1
    elif result is None or result.get("isError"):
        totals.refused += 1
        content = result.get("content") if result else None
        totals.notes.append(f"{tool} {args}: HTTP {status} {str(content or text)[:240]}")
    else:
        totals.answered += 1


async def send_deliveries(url: str, items: list[tuple[str, bytes]], totals: Totals) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        for task_id, body in items:
            try:
                response = await http.post(
                    f"{url}/webhooks/mavi/{SECRET}", content=body, headers={"content-type": "application/json"}
                )
            except httpx2.HTTPError:
                continue
            if 200 <= response.status_code < 300:
                totals.acknowledged.append(task_id)


async def kill_one(dep: Deployment, at: float, restart_delay: float | None, rng: random.Random) -> Replica:
    """SIGKILL a random replica `at` seconds from now; start it again `restart_delay` seconds later (None: not
    now). Returns the killed replica."""
    await anyio.sleep(at)
    victim = rng.choice(dep.replicas)
    victim.kill()
    if restart_delay is not None:
        await anyio.sleep(restart_delay)
        await anyio.to_thread.run_sync(dep.restart, victim)
    return victim


async def one_round(
    n: int, dep: Deployment, calls: list[tuple[str, dict[str, Any]]], args: argparse.Namespace, totals: Totals
) -> Replica:
    """The round's burst with a SIGKILL inside it; returns the killed replica (started again unless
    `--restart-after-horizon`)."""
    rng = random.Random(n)
    bodies = deliveries(f"round{n}", args.deliveries)
    killed: list[Replica] = []
    delay = None if args.restart_after_horizon else args.restart_delay
    async with httpx2.AsyncClient(timeout=300) as http, anyio.create_task_group() as tg:
        for tool, arguments in calls:
            tg.start_soon(paid_call, http, dep.url, tool, arguments, totals)
        for i in range(8):
            tg.start_soon(send_deliveries, dep.url, bodies[i::8], totals)

        async def kill() -> None:
            # the burst lasts about one second per paid request (MAVI's pace): kill somewhere inside it
            killed.append(await kill_one(dep, rng.uniform(0.2, max(0.3, 0.8 * len(calls))), delay, rng))

        tg.start_soon(kill)
    return killed[0]


def pending_tasks(store: Store) -> list[str]:
    return [row[0] for row in store.rows("SELECT task_id FROM tasks WHERE status = 'pending'")]


async def run(args: argparse.Namespace) -> None:
    ledger = Ledger()
    totals = Totals()
    with tempfile.TemporaryDirectory(prefix="mavi-replica-kill-") as tmp, sandbox_server(ledger) as (api, config):
        data = Path(tmp) / "data"
        (Path(tmp) / "media").mkdir()
        env = {
            "MAVI_API_KEY": KEY,
            "MAVI_BASE_URL": api,
            "MAVI_MCP_DATA_DIR": str(data),
            "MAVI_MCP_ALLOWED_DIRS": str(Path(tmp) / "media"),
            "MAVI_MCP_WEBHOOK_SECRET": SECRET,
            "MAVI_MCP_REQUEST_STATE_KEYS": "replica-kill-request-state-key-0123456789",
            "MAVI_MCP_CONFIRM_ABOVE_USD": "1000",
            "MAVI_MCP_WAIT_SECONDS": str(args.wait_seconds),
            "MAVI_MCP_MAX_RETRY_WAIT": "2",
            "MAVI_MCP_LOG_LEVEL": "WARNING",
            "MAVI_MCP_LEASE_SECONDS": str(args.lease_seconds),
        }
        if args.database_url:
            env["MAVI_MCP_DATABASE_URL"] = args.database_url
        store = Store(data, args.database_url)
        with deployment(3, env) as dep:
            config.webhook_url = f"{dep.url}/webhooks/mavi/{SECRET}"
            started = time.monotonic()
            for n in range(args.rounds):
                calls = round_calls(n, args.calls)
                burst_start = time.monotonic()
                killed = await one_round(n, dep, calls, args, totals)
                deadline = burst_start + args.horizon
                while pending_tasks(store) and time.monotonic() < deadline:
                    await anyio.sleep(0.5)
                late = pending_tasks(store)
                totals.late_tasks += len(late)
                if args.restart_after_horizon:
                    await anyio.to_thread.run_sync(dep.restart, killed)
                print(
                    f"round {n + 1:>2}: killed {killed.name}; calls answered {totals.answered}, cut {totals.cut}, "
                    f"refused {totals.refused}; pending after {args.horizon:.0f} s: {len(late)}",
                    flush=True,
                )
            elapsed = time.monotonic() - started
            if args.database_url:
                require_postgres_store(args.database_url, "tasks")
            await anyio.sleep(3)  # callbacks acknowledged in the last moments are committed before the 2xx anyway
        stored = {row[0] for row in store.rows("SELECT DISTINCT task_id FROM deliveries WHERE task_id IS NOT NULL")}
        failed = store.rows("SELECT error FROM tasks WHERE status = 'failed'")
        kinds = store.rows(
            "SELECT origin, mode, status, COUNT(*) FROM tasks GROUP BY origin, mode, status ORDER BY 1, 2, 3"
        )
    callbacks = list(acknowledged_callbacks)
    lost = [t for t in totals.acknowledged if t not in stored]
    lost_callbacks = [t for t in callbacks if t not in stored]
    twice = {key: count for key, count in ledger.billed.items() if count > 1}
    store_name = "PostgreSQL" if args.database_url else "shared SQLite"
    lease = f", job leases {args.lease_seconds:.0f} s" if args.database_url else ""
    print(f"\n{args.rounds} rounds of SIGKILL, 3 replicas behind nginx, {store_name}{lease}, {elapsed:.0f} s")
    print(f"  paid calls: {totals.answered} answered, {totals.cut} cut by the kill, {totals.refused} refused")
    print(
        f"  acknowledged deliveries lost: {len(lost)} of {len(totals.acknowledged)} posted by the bench, "
        f"{len(lost_callbacks)} of {len(callbacks)} MAVI callbacks"
    )
    print(f"  requests billed twice: {len(twice)} (of {sum(ledger.billed.values())} billed)")
    print(f"  rejections by the 1 request/second limit: {ledger.rejected} (of {ledger.requests} API requests)")
    print(f"  tasks not ended within {args.horizon:.0f} s: {totals.late_tasks}; failed tasks: {len(failed)}")
    print("  tasks by origin, mode, status: " + "; ".join(f"{o}/{m}/{st}: {c}" for o, m, st, c in kinds))
    for reason, count in Counter(str(row[0])[:150] for row in failed).most_common(3):
        print(f"    failed x{count}: {reason}")
    for key in list(twice)[:3]:
        print(f"    billed twice: {key[:200]}")
    for note in totals.notes[:5]:
        print(f"    refused: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--calls", type=int, default=4, help="paid calls per round (each new: ~1 s of MAVI pace)")
    parser.add_argument("--deliveries", type=int, default=40, help="webhook deliveries posted per round")
    parser.add_argument("--restart-delay", type=float, default=2.0, help="seconds before the killed replica restarts")
    parser.add_argument(
        "--restart-after-horizon",
        action="store_true",
        help="start the killed replica again only after the horizon (what the survivors alone do with its jobs)",
    )
    parser.add_argument("--horizon", type=float, default=30.0, help="seconds after a burst for every task to end")
    parser.add_argument(
        "--lease-seconds", type=float, default=10.0, help="MAVI_MCP_LEASE_SECONDS of the replicas (PostgreSQL)"
    )
    parser.add_argument("--wait-seconds", type=float, default=3.0, help="MAVI_MCP_WAIT_SECONDS of the replicas")
    parser.add_argument("--database-url", help="PostgreSQL URL for the replicas' store (default: shared SQLite)")
    parser.add_argument("--postgres", action="store_true", help="start a throw-away PostgreSQL (Debian's package)")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 5
    if args.postgres:
        with postgres_cluster(fsync=True) as cluster:
            args.database_url = cluster.create_database()
            anyio.run(run, args)
        return
    anyio.run(run, args)


if __name__ == "__main__":
    main()
