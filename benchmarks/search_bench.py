"""Search latency, index build time and index size on a store of 200 transcripts.

Run: `python benchmarks/search_bench.py` (`--transcripts N`, `--repeat N`, `--keep DIR` to keep the store).

The store is a real `Store` file holding the bundled recordings that have words (mavi_mcp/sandbox/data), saved
again and again under different ids until there are N (200) transcripts; each save indexes its transcript in the
same transaction. A copy of it is then made as the store's schema 1 left it (no search tables, `user_version`
1), and opened with `Store`: its migration builds the index for every transcript (`sqlite_index.backfill`, as
on the first start after an upgrade). Figures:

- words stored, store size without and with the index (after a WAL checkpoint and VACUUM, bytes on disk);
- time to save (and index) one transcript; index build time on the upgrade (seconds) and passages indexed;
- latency of one search (`Store.search`: parse, bm25-ranked FTS5 query, title facts, rendering of a 2,000-token
  page) over >= 50 queries (words, phrases, prefixes, OR, exclusions; across the whole store and within one
  transcript): each query runs `--repeat` times, its median counts; printed are the median and p95 over the
  queries and the slowest query. Goal: each <= 20 ms.

Both wall-clock and CPU time (`time.process_time`: SQLite runs in this process) are printed: on a shared,
loaded machine the wall clock mostly measures waiting for a core, the CPU time what a search costs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from mavi_mcp.render.search import SearchRequest
from mavi_mcp.shapes import normalize_body
from mavi_mcp.store import Store
from mavi_mcp.transcript import Transcript

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "mavi_mcp" / "sandbox" / "data"

EXTRA_QUERIES = [
    "revenue",
    "quarter",
    "the",
    "margin",
    "guidance",
    "dividend",
    "inflation",
    "tires",
    "smoke",
    "subscribers",
    '"gross margin"',
    '"same store sales"',
    '"thank you"',
    '"question and answer"',
    "acqui*",
    "mem*",
    "trans*",
    "fee OR price",
    "capex OR capital expenditures",
    "dividend OR buyback OR repurchase",
    "margin -gas",
    "sales -e-commerce",
    "quarter -revenue -margin",
    "executive members renewal",
    "supply chain containers",
    "operating income increased",
    "weather snow",
    "Amazon tire",
    "spinoff dividend policy",
    "five g subscribers target",
]


def bodies() -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for path in sorted(DATA.glob("*/*.json")):
        if path.parent.name != "sync-generate-speaker":
            out.append((path.parent.name, path.read_bytes()))
    return out


def size(path: Path) -> int:
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("VACUUM")
    db.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcripts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()

    originals: list[Transcript] = [normalize_body(folder, body) for folder, body in bodies()]
    originals = [t for t in originals if t.word_count > 1000]  # the calls, not the few-second clips
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="mavi-search-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "store.sqlite3"
    store = Store(path)
    ids: list[str] = []
    words = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for n in range(args.transcripts):
        original = originals[n % len(originals)]
        copy = original.model_copy(update={"id": f"tr_bench{n:04d}"})
        store.save_transcript(copy)
        ids.append(copy.id)
        words += copy.word_count
    save, save_cpu = (time.perf_counter() - started) / len(ids), (time.process_time() - cpu_started) / len(ids)
    store.close()
    with_index = size(path)

    old = workdir / "schema1.sqlite3"  # the store as schema 1 left it: the same tables, no search_* tables
    shutil.copyfile(path, old)
    db = sqlite3.connect(old)
    with db:
        for table in ("search_fts", "search_passages", "search_docs"):
            db.execute(f"DROP TABLE {table}")
        db.execute("PRAGMA user_version=1")
    db.close()
    without = size(old)
    started, cpu_started = time.perf_counter(), time.process_time()
    upgraded = Store(old)  # the migration to schema 2 indexes every stored transcript
    build, build_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    indexed = upgraded._query("SELECT count(*) AS n FROM search_docs")[0]["n"]  # pyright: ignore[reportPrivateUsage]
    passages = upgraded._query("SELECT count(*) AS n FROM search_passages")[0]["n"]  # pyright: ignore[reportPrivateUsage]
    upgraded.close()

    questions = json.loads((HERE / "evidence_questions.json").read_text())["questions"]
    queries = [q["query"] for q in questions] + EXTRA_QUERIES
    store = Store(path)
    requests = [SearchRequest(q) for q in queries] + [SearchRequest(q, transcript_id=ids[7]) for q in queries]
    wall: list[tuple[float, str]] = []
    cpu: list[tuple[float, str]] = []
    for request in requests:
        runs: list[float] = []
        cpu_runs: list[float] = []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            store.search(request)
            runs.append(time.perf_counter() - t0)
            cpu_runs.append(time.process_time() - c0)
        where = " (one transcript)" if request.transcript_id else ""
        wall.append((statistics.median(runs) * 1000, request.query + where))
        cpu.append((statistics.median(cpu_runs) * 1000, request.query + where))
    store.close()

    print(f"store: {args.transcripts} transcripts, {words:,} words ({workdir})")
    print(
        f"size without index: {without / 1e6:.1f} MB; with index: {with_index / 1e6:.1f} MB "
        f"(index +{(with_index - without) / 1e6:.1f} MB, +{(with_index - without) / without:.0%})"
    )
    print(
        f"save of one transcript, indexed in the same transaction: {save * 1000:.0f} ms wall, "
        f"{save_cpu * 1000:.0f} ms CPU"
    )
    print(
        f"index build on the upgrade to schema 2 (Store open, backfill of {indexed} transcripts, {passages:,} "
        f"passages): {build:.2f} s wall, {build_cpu:.2f} s CPU"
    )
    print(f"search latency over {len(wall)} queries (median of {args.repeat} runs each, 2,000-token page rendered):")
    for name, timings in (("wall", wall), ("CPU ", cpu)):
        values = sorted(t for t, _ in timings)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        slowest = max(timings)
        print(
            f"  {name}: median {statistics.median(values):.2f} ms, p95 {p95:.2f} ms, slowest {slowest[0]:.2f} ms "
            f"({slowest[1]!r}), over 20 ms: {sum(v > 20 for v in values)}"
        )
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
