"""Load: concurrent MCP clients over streamable HTTP, pacing under the vendor limit, webhook ingestion and crashes.

Run: `python benchmarks/load_bench.py` (options: `--clients N`, `--rounds R`, `--burst B`).

1. Rate limit off (sandbox `--no-rate-limit`, server `MAVI_MCP_RATE_LIMIT=0`): N clients, each in its own MCP
   session, call identify_speakers (a paid sync call to the sandbox) and read the transcript back with
   get_transcript, for R rounds. Prints errors, the server's resident memory and open file descriptors after
   each round (flat = no leak).
2. Rate limit on (both sides, the vendor's 1 request/second per key): N concurrent calls; prints the elapsed
   time (expect about N x 1.1 s: the client paces) and how many requests the sandbox rejected (expect 0).
3. Webhook ingestion: a `mavi-mcp webhook` service receives B real callback bodies from 8 concurrent senders;
   prints deliveries/second with durable (synchronous=FULL) commits. Then a second burst is cut by SIGKILL
   in the middle: every delivery that was acknowledged (HTTP 200) must be in the store.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx2
from mcp import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import (  # noqa: E402
    WEBHOOK_SECRET,
    Process,
    free_port,
    mavi_mcp_command,
    server_env,
    start,
    start_sandbox,
    wait_http,
)

ASSET = "re_700000000000000012"  # AMI ES2004a, 260 speaker turns
CALLBACK = ROOT / "mavi_mcp/sandbox/data/async-generate-audio-callback/4474506.json"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def one_client(url: str) -> int:
    """One MCP session: a paid call and two reads. Returns the number of errors."""
    errors = 0
    async with Client(f"{url}/mcp") as client:
        result = await client.call_tool("identify_speakers", {"asset_id": ASSET, "mode": "sync", "refresh": True})
        if result.is_error or not result.structured_content:
            return 1
        tid = result.structured_content["transcript_id"]
        for fmt in ("rttm", "json"):
            page = await client.call_tool("get_transcript", {"transcript_id": tid, "format": fmt})
            errors += int(page.is_error)
    return errors


def start_server(tmp: Path, sandbox_url: str, **env: str) -> tuple[Process, str]:
    port = free_port()
    process = start(
        [*mavi_mcp_command(), "--transport", "streamable-http", "--port", str(port), "--log-level", "WARNING"],
        server_env(tmp, sandbox_url, **env),
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/ready")
    return process, url


async def rate_limit_off(clients: int, rounds: int) -> None:
    sandbox = start_sandbox("--no-rate-limit")
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(Path(tmp), sandbox.url, MAVI_MCP_RATE_LIMIT="0")
        try:
            print(f"\n1. {clients} concurrent MCP clients x {rounds} rounds, rate limit off")
            print("round  calls  errors  seconds  server RSS MB  open fds")
            for round_no in range(1, rounds + 1):
                started = time.perf_counter()
                results: list[int] = []

                async def run(results: list[int] = results) -> None:
                    results.append(await one_client(url))

                async with anyio.create_task_group() as tg:
                    for _ in range(clients):
                        tg.start_soon(run)
                elapsed = time.perf_counter() - started
                pid = server.popen.pid
                print(
                    f"{round_no:5d}  {clients * 3:5d}  {sum(results):6d}  {elapsed:7.2f}  "
                    f"{rss_kb(pid) / 1024:13.1f}  {open_fds(pid):8d}"
                )
        finally:
            server.stop()
            sandbox.process.stop()


async def rate_limit_on(calls: int) -> None:
    sandbox = start_sandbox()
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(Path(tmp), sandbox.url)
        try:
            started = time.perf_counter()
            errors: list[int] = []

            async def run() -> None:
                errors.append(await one_client(url))

            async with anyio.create_task_group() as tg:
                for _ in range(calls):
                    tg.start_soon(run)
            elapsed = time.perf_counter() - started
            with httpx2.Client(base_url=sandbox.url) as admin:
                seen = admin.get("/_sandbox/processed").json()
            rejected = seen["requests"] - len(seen["processed"])
            print(f"\n2. {calls} concurrent paid calls, rate limit on (1/s per key, client pacing 1.1 s)")
            print(
                f"   elapsed {elapsed:.1f} s ({elapsed / calls:.2f} s per call), tool errors {sum(errors)}, "
                f"requests the sandbox rejected: {rejected}"
            )
        finally:
            server.stop()
            sandbox.process.stop()


def _bodies(prefix: str, count: int) -> list[tuple[str, bytes]]:
    template = json.loads(CALLBACK.read_bytes())
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        template["task_id"] = f"{prefix}-{i}"
        out.append((template["task_id"], json.dumps(template).encode()))
    return out


def webhook_ingestion(burst: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = server_env(Path(tmp), None)
        receiver = start([*mavi_mcp_command(), "webhook", "--port", str(port), "--log-level", "WARNING"], env)
        receiver.wait_for("listening on")
        url = f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}"
        bodies = _bodies("rate", burst)

        def send(item: tuple[str, bytes], client: httpx2.Client) -> bool:
            try:
                return (
                    client.post(url, content=item[1], headers={"content-type": "application/json"}).status_code == 200
                )
            except httpx2.HTTPError:
                return False

        with httpx2.Client(timeout=30, limits=httpx2.Limits(max_connections=8)) as client:
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                oks = list(pool.map(lambda item: send(item, client), bodies))
            elapsed = time.perf_counter() - started
        print(f"\n3. webhook ingestion: {burst} real Whisper callbacks (130 KB each), 8 concurrent senders")
        print(f"   {sum(oks)} acknowledged in {elapsed:.2f} s: {sum(oks) / elapsed:.0f} deliveries/s, durable commits")

        acknowledged: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()
        kill_bodies = _bodies("kill", burst * 4)

        def sender(items: list[tuple[str, bytes]]) -> None:
            with httpx2.Client(timeout=10) as own:
                for task_id, body in items:
                    if stop.is_set():
                        return
                    try:
                        response = own.post(url, content=body, headers={"content-type": "application/json"})
                    except httpx2.HTTPError:
                        return
                    if response.status_code == 200:
                        with lock:
                            acknowledged.append(task_id)

        threads = [threading.Thread(target=sender, args=(kill_bodies[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(max(0.5, elapsed / 2))
        os.kill(receiver.popen.pid, signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        receiver.popen.wait(timeout=10)
        receiver.stop()
        with sqlite3.connect(Path(tmp) / "data" / "mavi-mcp.sqlite3") as db:
            stored = {row[0] for row in db.execute("SELECT task_id FROM tasks WHERE task_id LIKE 'kill-%'")}
        lost = [t for t in acknowledged if t not in stored]
        print(
            f"   SIGKILL mid-burst: {len(acknowledged)} acknowledged, {len(stored)} stored, lost {len(lost)} "
            f"(stored but unacknowledged: {len(stored) - len(set(acknowledged) & stored)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--paced", type=int, default=8, help="concurrent paid calls with the rate limit on")
    parser.add_argument("--burst", type=int, default=300)
    args = parser.parse_args()
    anyio.run(rate_limit_off, args.clients, args.rounds)
    anyio.run(rate_limit_on, args.paced)
    webhook_ingestion(args.burst)


if __name__ == "__main__":
    main()
