"""Store operations on SQLite vs PostgreSQL, on the bundled recordings, in one run.

Run: `python benchmarks/store_bench.py` (`--runs N` repetitions per recording, `--pg-url URL` to use an existing
PostgreSQL database instead of a throw-away cluster). Prints figures; asserts nothing.

Both stores are used as the server uses them, from async code: SQLite through `AsyncStore` (each call in a worker
thread, one at a time, `synchronous=FULL`), PostgreSQL through `PgStore` (a psycopg pool, `synchronous_commit=on`).
The throw-away cluster is Debian's PostgreSQL started like the tests' (`tests/services.py`) with `fsync=on`, on
the same disk as the SQLite file, so both pay for durable commits. Caches are off (`cache_size=0`): every read
goes to the database.

Operations, each timed per call (median and p90, milliseconds):
- `save`: `save_transcript(transcript, raw=body)` of every bundled recording (normalized with `normalize_body`),
  grouped by endpoint folder (the body size is shown).
- `read a page (store part)`: `get_transcript` + `speaker_names`, what `get_transcript` the tool reads before it
  renders a page (rendering is the same code for both backends and is left out).
- `list 20`: `list_transcripts(20)` and `list_tasks(limit=20)` once everything is stored.
- `job`: `create_task` + `finish_task` (a sync job's two writes); `webhook ack`: `record_delivery` +
  `complete_from_callback` + `mark_delivery` (what a delivery costs before its 2xx).
- `50 concurrent get_task`: wall time for 50 calls started together (SQLite serializes them on its one
  connection; PostgreSQL spreads them over its pool of 10 open connections).
- `search`: `search(SearchRequest(query))` over everything stored (every recording x runs), the page rendered
  within the tool's default budget, for each query of `SEARCHES` (all transcripts, then one transcript, then the
  second page); SQLite's FTS5/BM25 index vs PostgreSQL's tsvector/GIN/ts_rank one (`search.pg_index`).
- `spend_now`: the cost ledger's `in_transaction(billing.spend_now)`, as every paid tool's cost check calls it.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mavi_mcp import billing
from mavi_mcp.render.search import SearchRequest
from mavi_mcp.store import AsyncStore, Store
from mavi_mcp.transcript import Transcript, new_transcript_id
from tests.data import all_recordings, raw

try:  # after the pipeline refactor (issue 10) one registry of shapes normalizes whole bodies
    from mavi_mcp.shapes import normalize_body  # type: ignore[import-not-found]
except ImportError:
    from mavi_mcp.normalize import normalize_body


class SqliteFace:
    """The SQLite store's async face: `AsyncStore`'s own coroutines (every method after the pipeline refactor),
    else `AsyncStore.run(store.sync.X, ...)`, as the server of that version calls it."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if inspect.iscoroutinefunction(getattr(AsyncStore, name, None)):
            return getattr(self._store, name)
        method = getattr(self._store.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._store.run(method, *args, **kwargs)

        return call


@asynccontextmanager
async def sqlite_store(directory: Path) -> AsyncIterator[Any]:
    store = Store(directory / "bench.sqlite3", cache_size=0)
    try:
        yield SqliteFace(AsyncStore(store))
    finally:
        store.close()


@asynccontextmanager
async def pg_store(url: str) -> AsyncIterator[Any]:
    from mavi_mcp.store_pg import PgStore

    async with PgStore.open(url, cache_size=0, min_size=10, max_size=10) as store:  # a warm pool, as a busy replica has
        yield store


@contextlib.contextmanager
def pg_database(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    from tests.services import Unavailable, postgres_cluster

    try:
        with postgres_cluster(fsync=True) as cluster:
            yield cluster.create_database()
    except Unavailable as exc:
        sys.exit(f"store_bench: {exc}")


def ms(samples: list[float]) -> str:
    if not samples:
        return "-"
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(ordered) * 1000:7.2f} ({p90 * 1000:6.2f})"


async def timed(samples: list[float], call: Awaitable[Any]) -> Any:
    start = time.perf_counter()
    result = await call
    samples.append(time.perf_counter() - start)
    return result


async def measure(store: Any, recordings: list[tuple[str, bytes, Transcript]], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    saved: list[tuple[str, str]] = []
    for run in range(runs):
        for folder, body, transcript in recordings:
            copy = transcript.model_copy(update={"id": new_transcript_id()})
            await timed(times.setdefault(f"save {folder}", []), store.save_transcript(copy, raw=body))
            saved.append((folder, copy.id))
            job = f"job_{run}_{copy.id}"
            samples = times.setdefault("job: create_task + finish_task", [])
            start = time.perf_counter()
            await store.create_task(job, mode="sync", endpoint=folder, tool="bench", asset_id=None)
            await store.finish_task(job, "completed", transcript_id=copy.id)
            samples.append(time.perf_counter() - start)
            task = f"{run:08x}{copy.id[3:]}".ljust(32, "0")
            samples = times.setdefault("webhook ack: record + complete + mark", [])
            start = time.perf_counter()
            delivery = await store.record_delivery(body[:2048], task_id=task, status="received")
            await store.complete_from_callback(task, folder, None, "bench")
            await store.mark_delivery(delivery, "applied")
            samples.append(time.perf_counter() - start)
    for folder, transcript_id in saved:
        samples = times.setdefault(f"read {folder}", [])
        start = time.perf_counter()
        transcript = await store.get_transcript(transcript_id)
        await store.speaker_names(transcript_id)
        samples.append(time.perf_counter() - start)
        assert transcript is not None
    for _ in range(20):
        await timed(times.setdefault("list_transcripts(20)", []), store.list_transcripts(20))
        await timed(times.setdefault("list_tasks(limit=20)", []), store.list_tasks(limit=20))
    await search(store, saved, times)
    for _ in range(20):
        await timed(times.setdefault("spend_now (ledger transaction)", []), store.in_transaction(billing.spend_now))
    task_ids = [t.task_id for t in await store.list_tasks(limit=50)]
    for _ in range(5):
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for task_id in task_ids:
                tg.start_soon(store.get_task, task_id)
        times.setdefault("50 concurrent get_task (wall)", []).append(time.perf_counter() - start)
    return times


SEARCHES = ("membership fee", "quarter OR margin", '"e commerce"', "renew*", "the")
"""Queries timed by `search`: a common pair, an OR, a phrase, a prefix, and a word in almost every passage."""


async def search(store: Any, saved: list[tuple[str, str]], times: dict[str, list[float]]) -> None:
    one = next(transcript_id for folder, transcript_id in saved if folder == "speech-to-text-assemblyai")
    for _ in range(5):
        for query in SEARCHES:
            page = await timed(times.setdefault(f"search {query}", []), store.search(SearchRequest(query)))
            await timed(
                times.setdefault(f"search {query} (one transcript)", []),
                store.search(SearchRequest(query, transcript_id=one)),
            )
            if page.next_cursor is not None:
                await timed(
                    times.setdefault(f"search {query} (page 2)", []),
                    store.search(SearchRequest(query), cursor=page.next_cursor),
                )


async def main_async(args: argparse.Namespace) -> None:
    recordings = [
        (folder, raw(folder, name), normalize_body(folder, raw(folder, name))) for folder, name in all_recordings()
    ]
    sizes: dict[str, list[int]] = {}
    for folder, body, _ in recordings:
        sizes.setdefault(folder, []).append(len(body))
    with tempfile.TemporaryDirectory(prefix="mavi-store-bench-") as tmp, pg_database(args.pg_url) as url:
        async with sqlite_store(Path(tmp)) as store:
            sqlite = await measure(store, recordings, args.runs)
        async with pg_store(url) as store:
            postgres = await measure(store, recordings, args.runs)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{len(recordings)} bundled recordings x {args.runs} runs; ms per call: median (p90)")
    print(f"{os.cpu_count()} CPUs, load average {load} (other work on the machine shows in every figure)")
    print(f"{'operation':52} {'SQLite':>17} {'PostgreSQL':>17}")
    for op in sqlite:
        label = op
        folder = op.split(" ", 1)[1] if op.startswith(("save ", "read ")) else None
        if folder in sizes:
            label = f"{op} ({statistics.median(sizes[folder]) / 1024:.0f} KB)"
        print(f"{label:52} {ms(sqlite[op]):>17} {ms(postgres.get(op, [])):>17}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions per recording (default 3)")
    parser.add_argument("--pg-url", default=None, help="an existing PostgreSQL database (default: a throw-away one)")
    anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
