"""What the cost path (issue 15) adds to a call: the gate, the ledger claim and the cost line.

Run: `python benchmarks/cost_bench.py` (`--calls N`). Prints figures; asserts nothing.

The server runs in this process (`create_server` + the SDK's in-memory client) against the sandbox over HTTP in its
own process (vendor rate limit off). Per call, the median wall time of:
- `identify_speakers` on AMI ES2004a (260 turns) with `refresh=true`: the paid path (gate, claim, MAVI call,
  normalize, store, settle, answer with its cost);
- the same call without `refresh`: served from the store (gate lookup, claim finds the paid request, page);
- `get_transcript` of the same transcript: the free read the reuse is compared with;
- `list_tasks` (limit 50) after all of them, with the ledger reconciled and today's and this month's spend summed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from mavi_mcp.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import start_sandbox

AMI_ES2004A = "re_700000000000000012"


async def timed(client: Client, tool: str, arguments: dict[str, Any], n: int) -> tuple[float, dict[str, Any]]:
    """Median milliseconds of `n` calls, and the last call's structured content."""
    walls: list[float] = []
    data: dict[str, Any] = {}
    for _ in range(n):
        started = time.perf_counter()
        result = await client.call_tool(tool, arguments)
        walls.append(time.perf_counter() - started)
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")
        data = result.structured_content or {}
    return statistics.median(walls) * 1000, data


async def run(calls: int) -> None:
    from mavi_mcp.server import create_server

    sandbox = start_sandbox("--no-rate-limit")
    url = sandbox.url
    try:
        with tempfile.TemporaryDirectory() as work:
            settings = Settings(
                api_key="sk-bench-0123456789",  # pyright: ignore[reportArgumentType]
                base_url=url,
                data_dir=Path(work),
                rate_limit=0,
                log_level="WARNING",
            )
            async with Client(create_server(settings)) as client:
                call = {"asset_id": AMI_ES2004A, "mode": "sync", "max_tokens": 1000}
                paid, data = await timed(client, "identify_speakers", {**call, "refresh": True}, calls)
                reused, again = await timed(client, "identify_speakers", call, calls)
                read, _ = await timed(client, "get_transcript", {"transcript_id": data["transcript_id"]}, calls)
                listed, tasks = await timed(client, "list_tasks", {"limit": 50}, 5)
    finally:
        sandbox.process.stop()
    print(f"{calls} calls each, medians (ms); the paid call cost ${data['cost_usd']:.3f} and was billed once per call")
    print(f"identify_speakers, paid (refresh=true):        {paid:8.1f}")
    print(f"identify_speakers, identical, from the store:  {reused:8.1f}  reused={again.get('reused')}")
    print(f"get_transcript of the same transcript:         {read:8.1f}")
    print(f"list_tasks (50, with spend):                    {listed:8.1f}  spent today ${tasks['spent_today_usd']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    anyio.run(run, args.calls)


if __name__ == "__main__":
    main()
