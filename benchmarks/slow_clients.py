"""Slow clients against the webhook receiver: idle and trickling connections must not starve real deliveries.

Run: `python benchmarks/slow_clients.py` (options: `--idle N` (500), `--deliveries D` (100)).

A `mavi-mcp webhook` service (a real process, its own store) receives D real Whisper callbacks (130 KB each),
one after the other, first alone (baseline), then while N other connections are held open against it: a third
say nothing, a third send half a request head and stop, a third send a head and a little of a promised body.
The receiver closes each after its head or body deadline (`httpserve.Limits`, 10 s / 60 s); the attacker
reconnects at once, so N stay open throughout. Prints per-delivery latency (median, p95, max) in both runs,
the ratio, how many deliveries were acknowledged and stored, and how many slow connections the receiver closed.
Target (issue 12): all D stored, each delivery within twice its latency without the slow clients.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import WEBHOOK_SECRET, free_port, mavi_mcp_command, server_env, start  # noqa: E402

CALLBACK = ROOT / "mavi_mcp/sandbox/data/async-generate-audio-callback/4474506.json"
OPENERS = [
    b"",
    b"POST /webhooks/mavi/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic",
    f"POST /webhooks/mavi/{WEBHOOK_SECRET} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "Content-Length: 100000\r\n\r\n{".encode(),  # the real route: it waits for the rest of the body
]


def bodies(prefix: str, count: int) -> list[bytes]:
    payload = json.loads(CALLBACK.read_bytes())
    out: list[bytes] = []
    for i in range(count):
        payload["task_id"] = f"{prefix}-{i}"
        out.append(json.dumps(payload).encode())
    return out


async def deliver(url: str, items: list[bytes]) -> list[float]:
    """Send `items` one after the other on one kept-alive connection; latency of each (seconds)."""
    latencies: list[float] = []
    async with httpx2.AsyncClient(timeout=60) as client:
        for body in items:
            started = time.perf_counter()
            response = await client.post(url, content=body, headers={"content-type": "application/json"})
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
    return latencies


async def hold(port: int, idle: int, stop: anyio.Event, counts: dict[str, int]) -> None:
    """Keep `idle` slow connections open until `stop`, reconnecting each as soon as the receiver closes it."""

    async def one(i: int) -> None:
        while not stop.is_set():
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                counts["refused"] += 1
                await anyio.sleep(0.1)
                continue
            counts["opened"] += 1
            async with stream:
                if OPENERS[i % 3]:
                    await stream.send(OPENERS[i % 3])
                with anyio.move_on_after(120):
                    try:
                        while await stream.receive():
                            pass
                    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                        pass
                    if not stop.is_set():
                        counts["closed_by_server"] += 1
                        counts[f"closed_kind_{i % 3}"] += 1

    async with anyio.create_task_group() as tg:
        for i in range(idle):
            tg.start_soon(one, i)
        await stop.wait()
        tg.cancel_scope.cancel()


def summary(name: str, latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"{name}: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"


async def run(idle: int, count: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = server_env(Path(tmp), None)
        receiver = start([*mavi_mcp_command(), "webhook", "--port", str(port), "--log-level", "WARNING"], env)
        try:
            receiver.wait_for("listening on")
            url = f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}"
            await deliver(url, bodies("warm", 5))
            alone = await deliver(url, bodies("alone", count))
            counts = {"opened": 0, "closed_by_server": 0, "refused": 0, "closed_kind_0": 0, "closed_kind_1": 0}
            counts["closed_kind_2"] = 0
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(hold, port, idle, stop, counts)
                while counts["opened"] < idle:
                    await anyio.sleep(0.05)
                await anyio.sleep(1.0)  # all of them open and stalled
                crowded = await deliver(url, bodies("crowded", count))
                await anyio.sleep(11)  # past the head deadline: the receiver closes the stalled ones
                stop.set()
        finally:
            receiver.stop()
        with sqlite3.connect(Path(tmp) / "data" / "mavi-mcp.sqlite3") as db:
            stored = db.execute("SELECT count(*) FROM deliveries WHERE task_id LIKE 'crowded-%'").fetchone()[0]
    print(f"webhook receiver, {count} real Whisper callbacks (130 KB) one after the other:")
    print("  " + summary("alone", alone))
    print("  " + summary(f"with {idle} slow connections held open", crowded))
    ratios = [c / a for a, c in zip(sorted(alone), sorted(crowded), strict=True)]
    worst = max(ratios)
    print(f"  latency ratio, rank by rank: median {statistics.median(ratios):.2f}x, worst {worst:.2f}x")
    print(f"  stored: {stored}/{count}; slow connections opened {counts['opened']}, closed by the receiver "
          f"{counts['closed_by_server']} (silent {counts['closed_kind_0']}, half a head {counts['closed_kind_1']}, "
          f"head and a bit of body {counts['closed_kind_2']}), refused {counts['refused']}")  # fmt: skip
    return 0 if stored == count and worst <= 2.0 else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--deliveries", type=int, default=100)
    args = parser.parse_args()
    raise SystemExit(anyio.run(run, args.idle, args.deliveries))


if __name__ == "__main__":
    main()
