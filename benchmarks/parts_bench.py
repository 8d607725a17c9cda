"""Where a paid call's CPU goes, by difference: the same call and its parts, one at a time, in one process.

Run: `python benchmarks/parts_bench.py` (`--calls N`). Prints figures; asserts nothing.

The server runs in this process (`create_server` + the SDK's in-memory client, whose own CPU is counted too) against
the sandbox over HTTP in its own process (vendor rate limit off, so its CPU is not counted). Median CPU time of this
process per call, on AMI ES2004a (260 speaker turns), each kind of call timed in its own run of `--calls` calls:

- `identify_speakers` with `refresh=true`: the whole paid path (cost gate, ledger claim, job, request, normalize,
  spool write-ahead, store, answer with its cost);
- the same call without `refresh`: the cost gate and the claim find the stored result, which is answered free;
- `get_transcript` of that transcript: a store read, the first page rendered, the SDK's round trip;
- `list_tasks(limit=1)`: little more than the SDK's round trip;
- the request alone, POSTed with httpx2 straight to the sandbox, then also parsed and normalized.

The paid call minus the free one is what paying adds; the free one minus `get_transcript`, what the cost gate and the
claim cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx2
from mcp import Client

from mavi_mcp import shapes
from mavi_mcp.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import start_sandbox

AMI_ES2004A = "re_700000000000000012"
KEY = "sk-bench-0123456789"


async def cpu_ms(call: Callable[[], Awaitable[object]], n: int) -> float:
    """Median CPU milliseconds of this process per `call`, after a few untimed ones."""
    for _ in range(10):
        await call()
    spent: list[float] = []
    for _ in range(n):
        started = time.process_time()
        await call()
        spent.append(time.process_time() - started)
    return statistics.median(spent) * 1000


async def run(calls: int) -> None:
    from mavi_mcp.server import create_server

    sandbox = start_sandbox("--no-rate-limit")
    try:
        with tempfile.TemporaryDirectory() as work:
            settings = Settings(
                api_key=KEY,  # pyright: ignore[reportArgumentType]
                base_url=sandbox.url,
                data_dir=Path(work),
                rate_limit=0,
                log_level="WARNING",
            )
            async with Client(create_server(settings)) as client, httpx2.AsyncClient(base_url=sandbox.url) as http:
                paid = {"asset_id": AMI_ES2004A, "mode": "sync", "refresh": True}
                first = await client.call_tool("identify_speakers", paid)
                assert first.structured_content is not None, first
                transcript_id = first.structured_content["transcript_id"]
                speaker_shape = shapes.SHAPES["sync-generate-speaker"]

                async def tool(name: str, arguments: dict[str, object]) -> None:
                    result = await client.call_tool(name, arguments)
                    assert not result.is_error, result

                async def post() -> bytes:
                    response = await http.post(
                        "/transcriptions/sync-generate-speaker",
                        json={"asset_id": AMI_ES2004A},
                        headers={"Authorization": KEY},
                    )
                    return response.content

                async def post_and_normalize() -> None:
                    speaker_shape.normalize_body(await post())

                parts: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                    ("identify_speakers, paid (refresh=true)", lambda: tool("identify_speakers", paid)),
                    (
                        "identify_speakers, the stored result (free)",
                        lambda: tool("identify_speakers", {**paid, "refresh": False}),
                    ),
                    (
                        "get_transcript of that transcript",
                        lambda: tool("get_transcript", {"transcript_id": transcript_id}),
                    ),
                    ("list_tasks(limit=1)", lambda: tool("list_tasks", {"limit": 1})),
                    ("the request alone (httpx2 POST to the sandbox)", post),
                    ("the request, then parse and normalize", post_and_normalize),
                ]
                print(f"AMI ES2004a (260 turns), median CPU of this process per call, {calls} calls each:")
                for label, call in parts:
                    print(f"  {label}: {await cpu_ms(call, calls):.2f} ms")
    finally:
        sandbox.process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150, help="timed calls of each kind")
    args = parser.parse_args()
    anyio.run(run, args.calls)


if __name__ == "__main__":
    main()
