"""Server CPU, garbage-collection time and memory per large transcription call, with transcripts already cached.

Run: `python benchmarks/call_bench.py` (`--calls N`, `--warm N`). Prints figures; asserts nothing.

The server runs in this process (`create_server` + the SDK's in-memory client, as a client would call it) against
the sandbox over HTTP in its own process (`python -m mavi_mcp.sandbox`, vendor rate limit off), so the sandbox's
CPU is not counted. Each call is `transcribe_elevenlabs` on the 66-minute Costco call (2.1 MB answer, 11,942 words):
the client's request, the MAVI answer parsed and normalized, the transcript, its raw body and its task stored in
one SQLite transaction, the first page rendered, the result sent back. `--warm` calls first fill the store's cache
(8 transcripts). Per call: process CPU time (median), the part spent in cyclic garbage collection (`gc.callbacks`),
and the process's RSS after all calls (24 by default, as the issue asks).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from mavi_mcp.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import start_sandbox

COSTCO = "re_700000000000000002"
SK_TELECOM = "re_700000000000000001"


class GcClock:
    """CPU seconds spent in the cyclic garbage collector since `reset`, by `gc.callbacks` (the CPU time of the thread
    that collects, so the machine's other load does not count)."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.collections = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.spent += time.thread_time() - self._started
            self.collections += 1

    def reset(self) -> None:
        self.spent = 0.0
        self.collections = 0


def rss_mb() -> float:
    """Current resident set size of this process, MB (from /proc; ru_maxrss is the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(calls: int, warm: int, profile: int) -> None:
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
            server = create_server(settings)
            clock = GcClock()
            async with Client(server) as client:
                for i in range(warm):
                    asset = COSTCO if i % 2 == 0 else SK_TELECOM
                    await client.call_tool(
                        "transcribe_elevenlabs", {"asset_id": asset, "wait_seconds": 55, "refresh": True}
                    )
                cpu: list[float] = []
                gc_spent: list[float] = []
                profiler = cProfile.Profile() if profile else None
                if profiler is not None:
                    profiler.enable()
                for _ in range(calls):
                    clock.reset()
                    started = time.process_time()
                    result = await client.call_tool(  # refresh: the paid path every time, never the stored result
                        "transcribe_elevenlabs", {"asset_id": COSTCO, "wait_seconds": 55, "refresh": True}
                    )
                    cpu.append(time.process_time() - started)
                    gc_spent.append(clock.spent)
                    assert not result.is_error, result
                if profiler is not None:
                    profiler.disable()
                    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(profile)
                rss = rss_mb()
    finally:
        sandbox.process.stop()
    median_cpu = statistics.median(cpu)
    median_gc = statistics.median(gc_spent)
    print(f"transcribe_elevenlabs, 66-min Costco body, {warm} warm-up calls, then {calls} timed calls")
    spread = f"min {min(cpu) * 1000:.1f}, max {max(cpu) * 1000:.1f}"
    print(f"  server CPU per call: median {median_cpu * 1000:.1f} ms ({spread})")
    print(
        f"  cyclic GC per call: median {median_gc * 1000:.1f} ms ({median_gc / median_cpu:.0%} of the CPU), "
        f"gc.get_count() {gc.get_count()}, thresholds {gc.get_threshold()}"
    )
    print(f"  RSS after {warm + calls} calls: {rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=16, help="timed calls")
    parser.add_argument("--warm", type=int, default=8, help="calls before timing (fill the transcript cache)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions (stderr)")
    args = parser.parse_args()
    anyio.run(run, args.calls, args.warm, args.profile)


if __name__ == "__main__":
    main()
