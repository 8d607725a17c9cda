"""What reading durations and fingerprints costs (issue 15): PyAV's import, a duration per container, SHA-256.

Run: `python benchmarks/duration_bench.py` (`--runs N` repetitions, `--minutes M` length of the generated files).
Prints figures; asserts nothing. Files are written on the spot with PyAV's encoders (`tests/media_files.py`).

1. `import av` in a fresh interpreter (median wall time of N runs, and what `-X importtime` attributes to it):
   what the first `read_duration` of a server's life adds; server start pays nothing (the import is lazy).
2. `read_duration` per container on an M-minute file (median of N, after one warm read), and how it was read.
3. `file_sha256` throughput on a 256 MB file (the upload dedup fingerprint).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mavi_mcp.cost import file_sha256
from mavi_mcp.duration import read_duration
from tests.media_files import KINDS, make_media


def import_av(runs: int) -> None:
    walls: list[float] = []
    self_us: list[int] = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import av"], capture_output=True, text=True, check=True
        )
        walls.append(time.perf_counter() - start)
        line = [ln for ln in done.stderr.splitlines() if re.search(r"\|\s+av$", ln)][-1]
        self_us.append(int(line.split("|")[1]))
    base: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - start)
    print(
        f"import av: {statistics.median(self_us) / 1000:.0f} ms cumulative (-X importtime); interpreter with "
        f"import {statistics.median(walls) * 1000:.0f} ms vs bare {statistics.median(base) * 1000:.0f} ms "
        f"(median of {runs})"
    )


def durations(runs: int, minutes: float) -> None:
    seconds = minutes * 60
    print(f"\nread_duration on {minutes:g}-minute files (median of {runs}, after a warm read):")
    print("| container | size MB | read ms | seconds found | error s | how |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in KINDS:
            path = make_media(Path(folder), name, seconds)
            read_duration(path)
            times: list[float] = []
            found = None
            for _ in range(runs):
                start = time.perf_counter()
                found = read_duration(path)
                times.append(time.perf_counter() - start)
            assert found is not None
            error = f"{found.seconds - seconds:+.3f}" if found.seconds is not None else "-"
            print(
                f"| {name} | {path.stat().st_size / 1e6:.1f} | {statistics.median(times) * 1000:.1f} | "
                f"{found.seconds} | {error} | {found.method or found.problem} |"
            )


def hashing() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.bin"
        block = os.urandom(1 << 20)
        with path.open("wb") as handle:
            for _ in range(256):
                handle.write(block)
        file_sha256(path)
        start = time.perf_counter()
        file_sha256(path)
        elapsed = time.perf_counter() - start
    print(f"\nfile_sha256: 256 MB in {elapsed:.2f} s ({256 / elapsed:.0f} MB/s, page cache warm)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=2)
    args = parser.parse_args()
    import_av(args.runs)
    durations(args.runs, args.minutes)
    hashing()


if __name__ == "__main__":
    main()
