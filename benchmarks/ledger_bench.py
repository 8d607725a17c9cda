"""What summing the spend costs a store in long use: `ledger.spend` (today's and this month's spend, read on every
paid call by the cost gate) over a SQLite ledger holding N paid calls made this month.

Run: `python benchmarks/ledger_bench.py` (`--rows N`, `--repeat N`). Prints figures; asserts nothing.

The store is made by `Store.in_dir` (this tree's schema, its indexes included), then filled with N billed rows spread
over the month so far. The same sum is then timed with the index the store had before, `ledger_created` on
`created_at` alone, in place of `ledger_spend` (the query then reads each row from the table), in the same run.
Median of `--repeat` reads.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mavi_mcp import ledger
from mavi_mcp.store import DB_NAME, Store


def seeded(directory: Path, rows: int) -> sqlite3.Connection:
    """A store in `directory` with `rows` billed paid calls made between the start of this month (UTC) and now."""
    Store.in_dir(directory).close()
    db = sqlite3.connect(directory / DB_NAME, isolation_level=None)
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span = (now - month).total_seconds()
    db.execute("BEGIN")
    for n in range(rows):
        at = (month + timedelta(seconds=span * n / rows)).isoformat()
        db.execute(
            "INSERT INTO ledger (task_id, tool, request_key, status, estimated_usd, billed_seconds, cost_usd,"
            " created_at, settled_at) VALUES (?, 'identify_speakers', ?, 'billed', 0.01, 60, 0.01, ?, ?)",
            (f"job_{n:016x}", f"seed-{n}", at, at),
        )
    db.execute("COMMIT")
    return db


def median_ms(db: sqlite3.Connection, repeat: int) -> float:
    times: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        ledger.spend(db)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def plan(path: Path) -> str:
    """SQLite's plan for the spend sum, on a new connection (a connection's statement cache keeps an old plan)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(f"EXPLAIN QUERY PLAN {ledger.SPEND_QUERY}", (ledger.MAYBE_BILLED, "2026")).fetchall()
    finally:
        db.close()
    return "; ".join(str(row[-1]) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="paid calls made this month (default 20,000)")
    parser.add_argument("--repeat", type=int, default=41, help="timed reads per variant (default 41)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mavi-ledger-") as work:
        db = seeded(Path(work), args.rows)
        try:
            median_ms(db, 5)  # warm the page cache
            with_index = median_ms(db, args.repeat)
            with_plan = plan(Path(work) / DB_NAME)
            db.execute("DROP INDEX ledger_spend")
            db.execute("CREATE INDEX ledger_created ON ledger(created_at)")
            median_ms(db, 5)
            without = median_ms(db, args.repeat)
            without_plan = plan(Path(work) / DB_NAME)
        finally:
            db.close()
    print(f"ledger.spend (today and this month) with {args.rows:,} paid calls this month, median of {args.repeat}:")
    print(f"  with the ledger_spend index:                        {with_index:.2f} ms  ({with_plan})")
    print(f"  with ledger_created instead (rows from the table): {without:.2f} ms  ({without_plan})")
    print(f"  ratio: {without / with_index:.1f}x")


if __name__ == "__main__":
    main()
