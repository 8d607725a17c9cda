"""Replicas: three `mavi-mcp --transport streamable-http --sandbox` processes behind nginx against one, same run.

Run: `python benchmarks/replicas_bench.py` (200 concurrent sessions), `--quick` (40), `--sessions N`,
`--replicas 1,3`, `--client raw|sdk|legacy` (raw 2026-07-28 JSON-RPC POSTs, the default and cheapest client; the
MCP SDK client, stateless; or the SDK with the 2025 session handshake, routed by the replica named in its session id),
`--database-url postgresql://...` (replicas on PostgreSQL: passed on as MAVI_MCP_DATABASE_URL; default: one
shared SQLite data directory), `--postgres` (a throw-away cluster from Debian's package, a fresh database for each
configuration).

Each configuration: nginx with examples/deploy's config in front of N replicas on one store. A warm-up stores
the transcripts the calls use (identify_speakers on each asset once, transcribe_whisper on one), so every
configuration measures the same path: the paid call answered from the ledger (an identical request already paid
for), not MAVI's 1 request/second. Then S concurrent MCP client sessions each call
identify_speakers (sandbox), get_transcript and search_transcripts once.

Prints per configuration: calls/second over the burst, p50 and p99 latency per tool (milliseconds), CPU time
per call of the replicas and of nginx (psutil on their pids, user + system, milliseconds), and the client's own
CPU. The clients run in this process on the same cores as the servers: on a 2-core machine three replicas
cannot be three times faster; the figures say how much they gain there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
import psutil
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services import Deployment, deployment, postgres_cluster  # noqa: E402

ASSETS = ["re_700000000000000012", "re_700000000000000011", "re_700000000000000013", "re_700000000000000014"]
"""AMI meetings (speaker turns from pyannote); ES2004a also gets a Whisper transcript for search to find."""
WORDS_ASSET = "re_700000000000000012"
QUERIES = ["remote control", "design", "buttons", "meeting"]


def replica_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {
        "MAVI_MCP_DATA_DIR": str(data_dir),
        "MAVI_MCP_ALLOWED_DIRS": str(data_dir),
        "MAVI_MCP_WEBHOOK_SECRET": "bench-webhook-secret-0123456789abcdef",
        "MAVI_MCP_REQUEST_STATE_KEYS": "bench-request-state-key-0123456789abcdef",
        "MAVI_MCP_CONFIRM_ABOVE_USD": "1000",
        "MAVI_MCP_LOG_LEVEL": "WARNING",
    }
    if database_url:
        env["MAVI_MCP_DATABASE_URL"] = database_url
    return env


@dataclass
class Outcome:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list[str])


PROTOCOL = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": PROTOCOL,
    "io.modelcontextprotocol/clientInfo": {"name": "replicas-bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def session_calls(n: int, transcripts: dict[str, str]) -> list[tuple[str, dict[str, object]]]:
    asset = ASSETS[n % len(ASSETS)]
    return [
        ("identify_speakers", {"asset_id": asset, "mode": "sync"}),
        ("get_transcript", {"transcript_id": transcripts[asset]}),
        ("search_transcripts", {"query": QUERIES[n % len(QUERIES)]}),
    ]


async def raw_call(
    http: httpx2.AsyncClient, url: str, tool: str, arguments: dict[str, object], number: int = 1
) -> tuple[int, dict[str, object] | None, str]:
    """One `tools/call` as a 2026-07-28 client sends it (one JSON-RPC POST to `url`/mcp, no session): the HTTP
    status, the result object when the answer is one (None otherwise) and the answer's text (for errors).

    Raises:
        httpx2.HTTPError: the connection failed or was cut.
    """
    body = {
        "jsonrpc": "2.0",
        "id": number,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": META},
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": PROTOCOL,
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }
    response = await http.post(f"{url}/mcp", json=body, headers=headers)
    try:
        answer = response.json() if response.status_code == 200 else {}
    except ValueError:
        answer = {}
    result = answer.get("result") if isinstance(answer, dict) else None
    return response.status_code, result if isinstance(result, dict) else None, response.text


async def raw_session(http: httpx2.AsyncClient, url: str, n: int, transcripts: dict[str, str], out: Outcome) -> None:
    """A 2026-07-28 client on the wire (`raw_call`): what the SDK sends, minus the `tools/list` the SDK client
    adds after a call to check its output schema."""
    for number, (tool, arguments) in enumerate(session_calls(n, transcripts), start=1):
        started = time.perf_counter()
        try:
            status, result, text = await raw_call(http, url, tool, arguments, number)
        except httpx2.HTTPError as exc:
            out.errors.append(f"{tool}: {type(exc).__name__}: {exc}")
            continue
        if result is None or result.get("isError"):
            out.errors.append(f"{tool}: HTTP {status} {text[:200]}")
        else:
            out.latencies[tool].append(time.perf_counter() - started)


async def sdk_session(url: str, mode: str, n: int, transcripts: dict[str, str], outcome: Outcome) -> None:
    """The MCP SDK's client, in `mode` ("auto": 2026-07-28 stateless, "legacy": 2025 session handshake)."""
    try:
        async with (
            httpx2.AsyncClient(timeout=300) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client,
        ):
            for tool, arguments in session_calls(n, transcripts):
                started = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                elapsed = time.perf_counter() - started
                if result.is_error:
                    outcome.errors.append(f"{tool}: {result.content[0]}")
                else:
                    outcome.latencies[tool].append(elapsed)
    except Exception as exc:  # a failed session counts, and the burst goes on
        outcome.errors.append(f"session {n}: {type(exc).__name__}: {exc}")


async def warm_up(url: str) -> dict[str, str]:
    """Store what the burst reads (paid once, paced at MAVI's 1/s); returns asset -> its speaker transcript id."""
    transcripts: dict[str, str] = {}
    async with (
        httpx2.AsyncClient(timeout=300) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        for asset in ASSETS:
            result = await client.call_tool("identify_speakers", {"asset_id": asset, "mode": "sync"})
            assert not result.is_error, result.content
            assert result.structured_content is not None
            transcripts[asset] = result.structured_content["transcript_id"]
        words = await client.call_tool("transcribe_whisper", {"asset_id": WORDS_ASSET, "mode": "sync"})
        assert not words.is_error, words.content
    return transcripts


def require_postgres_store(database_url: str, table: str = "transcripts") -> None:
    """Exit with a message unless the replicas wrote to `table` of the PostgreSQL database (a checkout whose
    runtime does not read MAVI_MCP_DATABASE_URL would silently measure SQLite)."""
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(f"SELECT COUNT(*) FROM {table}".encode()).fetchone()
    except psycopg.Error as exc:
        raise SystemExit(f"The replicas did not use PostgreSQL ({type(exc).__name__}: {exc}).") from None
    if not row or not row[0]:
        raise SystemExit(f"The replicas wrote nothing to PostgreSQL's {table}: is MAVI_MCP_DATABASE_URL wired in?")


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def nginx_pids(dep: Deployment) -> list[int]:
    master = psutil.Process(dep.proxy.process.pid)
    return [master.pid, *(child.pid for child in master.children(recursive=True))]


def ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.0f}"


async def measure(count: int, sessions: int, mode: str, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="mavi-replicas-bench-") as tmp:
        env = replica_env(Path(tmp) / "data", database_url)
        with deployment(count, env, "--sandbox") as dep:
            transcripts = await warm_up(dep.url)
            if database_url:
                require_postgres_store(database_url)
            replica_pids = [r.process.pid for r in dep.replicas]
            proxy_pids = nginx_pids(dep)
            me = psutil.Process(os.getpid())
            cpu_replicas, cpu_nginx = cpu_seconds(replica_pids), cpu_seconds(proxy_pids)
            cpu_client = sum(me.cpu_times()[:2])
            outcome = Outcome()
            started = time.perf_counter()
            limits = httpx2.Limits(max_connections=sessions, max_keepalive_connections=sessions)
            async with httpx2.AsyncClient(timeout=300, limits=limits) as http, anyio.create_task_group() as tg:
                for n in range(sessions):
                    if mode == "raw":
                        tg.start_soon(raw_session, http, dep.url, n, transcripts, outcome)
                    else:
                        tg.start_soon(sdk_session, dep.url, mode, n, transcripts, outcome)
            wall = time.perf_counter() - started
            calls = sum(len(v) for v in outcome.latencies.values())
            used_replicas = cpu_seconds(replica_pids) - cpu_replicas
            used_nginx = cpu_seconds(proxy_pids) - cpu_nginx
            used_client = sum(me.cpu_times()[:2]) - cpu_client
            spread = defaultdict(int)
            for upstream, _, method, _ in dep.upstream_log():
                if method == "POST":
                    spread[upstream] += 1
    store = "PostgreSQL" if database_url else "shared SQLite"
    print(f"\n{count} replica(s) behind nginx, {store}, {sessions} concurrent {mode} sessions x 3 calls")
    print(f"  {calls} calls in {wall:.2f} s: {calls / wall:.1f} calls/s; errors: {len(outcome.errors)}")
    for tool, values in outcome.latencies.items():
        print(f"  {tool:<20} p50 {ms(values, 0.5):>6} ms   p99 {ms(values, 0.99):>6} ms   (n={len(values)})")
    if calls:
        print(
            f"  CPU per call: replicas {1000 * used_replicas / calls:.1f} ms, nginx {1000 * used_nginx / calls:.2f} ms,"
            f" clients (this process) {1000 * used_client / calls:.1f} ms"
        )
    print(f"  POSTs per replica (nginx log): {sorted(spread.values(), reverse=True)}")
    for error in outcome.errors[:5]:
        print(f"  error: {error[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200, help="concurrent MCP sessions (default 200)")
    parser.add_argument("--quick", action="store_true", help="40 sessions")
    parser.add_argument("--replicas", default="1,3", help="replica counts to compare, comma-separated")
    parser.add_argument(
        "--client",
        choices=["raw", "sdk", "legacy"],
        default="raw",
        help="raw: 2026-07-28 JSON-RPC POSTs (default, cheapest client); sdk: the MCP SDK client, stateless; "
        "legacy: the SDK client with the 2025 session handshake (sticky routing)",
    )
    parser.add_argument("--database-url", help="PostgreSQL URL for the replicas' store (default: shared SQLite)")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throw-away PostgreSQL (Debian's package), a database each"
    )
    args = parser.parse_args()
    sessions = 40 if args.quick else args.sessions
    mode = {"raw": "raw", "sdk": "auto", "legacy": "legacy"}[args.client]
    print(f"cores: {os.cpu_count()}; load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    counts = [int(c) for c in args.replicas.split(",")]
    if args.postgres:
        with postgres_cluster(fsync=True) as cluster:
            for count in counts:
                anyio.run(measure, count, sessions, mode, cluster.create_database())
        return
    for count in counts:
        anyio.run(measure, count, sessions, mode, args.database_url)


if __name__ == "__main__":
    main()
