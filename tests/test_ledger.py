"""`mavi_mcp.ledger` on a real SQLite file: claims and reuse, settling, spend by day and month, and two
identical claims made at the same time from two connections (as two server processes would) giving one row."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mavi_mcp.confirm import start_of_day, start_of_month
from mavi_mcp.cost import Billed, estimate, request_key
from mavi_mcp.duration import MediaDuration
from mavi_mcp.ledger import (
    MAYBE_BILLED,
    SPEND_QUERY,
    Claim,
    claim,
    create_ledger,
    entries,
    entry,
    fail_charge,
    find_media,
    find_reusable,
    forget_media,
    media_duration,
    open_charge,
    remember_media,
    reuse_note,
    settle_charge,
    spend,
    spend_since,
)

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEY = request_key("sync-generate-audio", "re_1", {"model": "whisper-1", "speaker": True})
OTHER = request_key("sync-generate-audio", "re_1", {"model": "whisper-1", "speaker": False})


def connect(path: Path) -> sqlite3.Connection:
    """Opened like the store opens its file: autocommit, WAL, a busy timeout."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    return db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "store.sqlite3")
    create_ledger(connection)
    create_ledger(connection)  # idempotent
    yield connection
    connection.close()


def test_the_first_claim_is_new_and_an_identical_request_reuses_it(db: sqlite3.Connection) -> None:
    first = claim(db, task_id="t1", tool="transcribe_whisper", request_key=KEY, estimated_usd=7.534, now=NOON)
    assert first.new
    assert first.entry.status == "pending"
    again = claim(db, task_id="t2", tool="transcribe_whisper", request_key=KEY, estimated_usd=7.534, now=NOON)
    assert again == Claim(first.entry, new=False)
    assert reuse_note(again.entry) == (
        "Reused the result of task t1 (2026-11-30 12:00 UTC): nothing billed now; pass refresh=true to transcribe "
        "again and pay again."
    )
    assert entry(db, "t2") is None
    different = claim(db, task_id="t3", tool="transcribe_whisper", request_key=OTHER, estimated_usd=3.767, now=NOON)
    assert different.new


def test_settling_records_the_billed_seconds_cost_and_transcript(db: sqlite3.Connection) -> None:
    claim(db, task_id="t1", tool="transcribe_whisper", request_key=KEY, estimated_usd=7.6, now=NOON)
    billed = Billed(3767.0, "provider")
    settle_charge(
        db,
        "t1",
        billed=billed,
        cost_usd=billed.cost("transcribe_whisper", speaker=True).usd,
        transcript_id="tr_1",
        now=NOON + timedelta(minutes=2),
    )
    found = entry(db, "t1")
    assert found is not None
    assert (found.status, found.billed_seconds, found.billed_from, found.cost_usd, found.transcript_id) == (
        "billed",
        3767.0,
        "provider",
        7.534,
        "tr_1",
    )
    assert found.created_at == NOON
    assert found.settled_at == NOON + timedelta(minutes=2)
    assert find_reusable(db, KEY) == found


def test_a_failed_request_is_neither_reused_nor_counted(db: sqlite3.Connection) -> None:
    claim(db, task_id="t1", tool="transcribe_whisper", request_key=KEY, estimated_usd=7.5, now=NOON)
    fail_charge(db, "t1", now=NOON)
    assert find_reusable(db, KEY) is None
    assert spend_since(db, start_of_day(NOON)) == 0
    retry = claim(db, task_id="t2", tool="transcribe_whisper", request_key=KEY, estimated_usd=7.5, now=NOON)
    assert retry.new


def test_refresh_opens_a_second_charge_and_reuse_then_finds_the_newest(db: sqlite3.Connection) -> None:
    claim(db, task_id="t1", tool="transcribe_whisper", request_key=KEY, estimated_usd=1.0, now=NOON)
    open_charge(
        db, task_id="t2", tool="transcribe_whisper", request_key=KEY, estimated_usd=1.0, now=NOON + timedelta(1)
    )
    reusable = find_reusable(db, KEY)
    assert reusable is not None
    assert reusable.task_id == "t2"
    with pytest.raises(sqlite3.IntegrityError):
        open_charge(db, task_id="t2", tool="transcribe_whisper", request_key=KEY, estimated_usd=1.0)


def test_spend_counts_billed_costs_and_pending_estimates_by_utc_day_and_month(db: sqlite3.Connection) -> None:
    yesterday = NOON - timedelta(days=1)
    last_month = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
    for task, when, cost in (("a", last_month, 5.0), ("b", yesterday, 2.0), ("c", NOON, 0.156958)):
        open_charge(db, task_id=task, tool="transcribe_assemblyai", request_key=task, estimated_usd=9.0, now=when)
        settle_charge(db, task, billed=Billed(1, "asset"), cost_usd=cost, now=when)
    open_charge(db, task_id="d", tool="multi_speaker_async", request_key="d", estimated_usd=6.0, now=NOON)
    open_charge(db, task_id="e", tool="multi_speaker_async", request_key="e", estimated_usd=None, now=NOON)
    settle_charge(db, "e", billed=None, cost_usd=None, now=NOON)  # billed, cost unknown: counts nothing
    assert spend_since(db, start_of_day(NOON)) == 6.156958
    assert spend_since(db, start_of_month(NOON)) == 8.156958
    assert spend_since(db, last_month - timedelta(seconds=1)) == 13.156958
    assert spend_since(db, NOON + timedelta(microseconds=1)) == 0
    summary = spend(db, NOON)
    assert (summary.today_usd, summary.month_usd) == (6.156958, 8.156958)
    assert summary.text == "Spent today $6.16, this month $8.16 (MAVI prices; pending calls at their estimate)."
    costs = entries(db, ["a", "c", "d", "free"])
    assert {task: found.cost_usd for task, found in costs.items()} == {"a": 5.0, "c": 0.156958, "d": None}
    assert entries(db, []) == {}


def test_the_spend_is_summed_from_one_index_without_reading_the_table(tmp_path: Path) -> None:
    """Every paid call sums the month so far: SQLite reads it from `ledger_spend` alone (a covering index)."""
    path = tmp_path / "store.sqlite3"
    db = connect(path)
    create_ledger(db)
    db.execute("ANALYZE")
    plan = db.execute(f"EXPLAIN QUERY PLAN {SPEND_QUERY}", (MAYBE_BILLED, "2026-11-01")).fetchall()
    db.close()
    assert [row[-1] for row in plan] == ["SEARCH ledger USING COVERING INDEX ledger_spend (created_at>?)"]


def test_naive_times_are_refused(db: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        spend_since(db, datetime(2026, 11, 30))


def test_two_identical_claims_at_the_same_time_make_one_row(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    create_ledger(connect(path))
    ready = threading.Barrier(8)
    results: list[Claim] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        db = connect(path)
        ready.wait(timeout=10)
        db.execute("BEGIN IMMEDIATE")
        outcome = claim(db, task_id=f"t{index}", tool="identify_speakers", request_key=KEY, estimated_usd=1.0)
        db.execute("COMMIT")
        db.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 8
    assert sum(r.new for r in results) == 1
    assert len({r.entry.task_id for r in results}) == 1
    count = connect(path).execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    assert count == 1


def test_an_uploaded_file_is_found_by_its_sha256_with_its_duration(db: sqlite3.Connection) -> None:
    sha = "ab" * 32
    remember_media(
        db, asset_id="re_1", sha256=sha, size_bytes=1000, duration=MediaDuration(61.0, "container"), now=NOON
    )
    remember_media(
        db,
        asset_id="re_2",
        sha256=sha,
        size_bytes=1000,
        duration=MediaDuration(61.0, "container"),
        now=NOON + timedelta(hours=1),
    )
    remember_media(
        db, asset_id="re_3", sha256="cd" * 32, size_bytes=5, duration=MediaDuration(None, problem="not media"), now=NOON
    )
    assert [m.asset_id for m in find_media(db, sha)] == ["re_2", "re_1"]
    assert media_duration(db, "re_1") == 61.0
    assert media_duration(db, "re_3") is None
    assert find_media(db, "cd" * 32)[0].duration_problem == "not media"
    assert media_duration(db, "re_unknown") is None
    forget_media(db, "re_2")
    assert [m.asset_id for m in find_media(db, sha)] == ["re_1"]
    assert estimate("transcribe_whisper", media_duration(db, "re_1") or 0).text == "$0.06 for 1:01"
