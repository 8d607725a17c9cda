"""Group commit in the async store (mavi_mcp/store.py `AsyncStore`, `Store.run_batch`): calls made together run in
one thread hop and one transaction, each in its own savepoint; none returns before the commit. And a paid job hands
what it stored to the tool waiting for it (mavi_mcp/jobs.py), which answers without reading it back.

Real SQLite files; the batches are observed by wrapping `Store.run_batch` (what ran together), the results read
back through a second connection (what was committed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from mavi_mcp.ledger import SqlTx, entry, open_charge
from mavi_mcp.store import AsyncStore, Store, StoreCall, TaskRecord
from mavi_mcp.transcript import Transcript
from tests.helpers import AMI_ES2004A, ok, sandbox_server

pytestmark = pytest.mark.anyio


class Recording(Store):
    """A store that records the size of every batch it runs."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[int] = []

    def run_batch(self, calls: Sequence[StoreCall]) -> None:
        self.batches.append(len(calls))
        super().run_batch(calls)


def committed_tasks(path: Path) -> set[str]:
    other = sqlite3.connect(path)
    try:
        return {row[0] for row in other.execute("SELECT task_id FROM tasks")}
    finally:
        other.close()


async def create(store: AsyncStore, task_id: str) -> None:
    await store.create_task(task_id, mode="sync", endpoint="speech-to-text", tool="t", asset_id=None)


async def test_calls_made_together_run_as_batches_and_every_write_is_committed(tmp_path: Path) -> None:
    sync = Recording(tmp_path / "s.sqlite3")
    store = AsyncStore(sync)
    async with anyio.create_task_group() as group:
        for n in range(40):
            group.start_soon(create, store, f"job_{n:016x}")
    assert committed_tasks(sync.path) == {f"job_{n:016x}" for n in range(40)}
    assert sum(sync.batches) == 40
    assert max(sync.batches) > 1  # calls queued behind a running batch ran together
    assert len(sync.batches) < 40
    store.close()


async def test_a_call_that_fails_in_a_batch_undoes_only_its_own_writes(tmp_path: Path) -> None:
    sync = Recording(tmp_path / "s.sqlite3")
    store = AsyncStore(sync)

    def charge_then_fail(db: SqlTx) -> None:
        open_charge(db, task_id="job_failing", tool="t", request_key="k", estimated_usd=1.0)
        raise RuntimeError("refused after writing")

    failures: list[str] = []

    async def failing() -> None:
        try:
            await store.in_transaction(charge_then_fail)
        except RuntimeError as exc:
            failures.append(str(exc))

    async with anyio.create_task_group() as group:
        group.start_soon(create, store, "job_first")  # runs alone; the next three queue behind it
        await anyio.sleep(0)
        group.start_soon(create, store, "job_before")
        group.start_soon(failing)
        group.start_soon(create, store, "job_after")
    assert failures == ["refused after writing"]
    assert max(sync.batches) >= 3  # the failing call shared its transaction with others
    assert committed_tasks(sync.path) == {"job_first", "job_before", "job_after"}
    assert await store.in_transaction(lambda db: entry(db, "job_failing")) is None
    store.close()


async def test_a_failed_commit_fails_every_call_of_the_batch_and_stores_none_of_it(tmp_path: Path) -> None:
    sync = Store(tmp_path / "s.sqlite3")
    # a deferred foreign key checked at COMMIT: a batch that violates it fails to commit (as on a full disk)
    sync.in_transaction(
        lambda db: db.execute(
            "CREATE TABLE child (parent TEXT REFERENCES tasks(task_id) DEFERRABLE INITIALLY DEFERRED)"
        )
    )

    def task(task_id: str) -> StoreCall:
        return StoreCall(
            lambda: sync.create_task(task_id, mode="sync", endpoint="e", tool="t", asset_id=None), write=True
        )

    orphan = StoreCall(
        lambda: sync.in_transaction(lambda db: db.execute("INSERT INTO child VALUES ('none')")), write=True
    )
    calls = [task("job_a"), orphan, task("job_b")]
    sync.run_batch(calls)
    for call in calls:
        with pytest.raises(sqlite3.IntegrityError):
            call.outcome()
    assert committed_tasks(sync.path) == set()
    sync.create_task("job_c", mode="sync", endpoint="e", tool="t", asset_id=None)  # the store goes on
    assert committed_tasks(sync.path) == {"job_c"}
    sync.close()


async def test_a_call_cancelled_before_its_batch_starts_never_runs(tmp_path: Path) -> None:
    sync = Recording(tmp_path / "s.sqlite3")
    store = AsyncStore(sync)
    async with anyio.create_task_group() as group:
        group.start_soon(create, store, "job_running")
        await anyio.sleep(0)  # its batch is in the thread; the next call waits for it
        with anyio.CancelScope() as scope:
            scope.cancel()
            await create(store, "job_cancelled")
    await create(store, "job_later")
    assert committed_tasks(sync.path) == {"job_running", "job_later"}
    store.close()


async def test_a_paid_answer_is_rendered_from_the_transcript_its_job_stored_without_reading_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anyio.fail_after(60):
        async with sandbox_server(tmp_path) as (client, rt):
            reads: list[str] = []
            get_transcript, get_task = rt.store.sync.get_transcript, rt.store.sync.get_task

            def counted_transcript(transcript_id: str) -> Transcript | None:
                reads.append("transcript")
                return get_transcript(transcript_id)

            def counted_task(task_id: str) -> TaskRecord | None:
                reads.append("task")
                return get_task(task_id)

            monkeypatch.setattr(rt.store.sync, "get_transcript", counted_transcript)
            monkeypatch.setattr(rt.store.sync, "get_task", counted_task)
            answer = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            assert answer["status"] == "completed"
            assert answer["counts"]["segments"] > 200
            assert reads == []  # the job handed its task's end and its transcript to the waiting tool
            again = ok(await client.call_tool("get_transcript", {"transcript_id": answer["transcript_id"]}))
            assert reads == ["transcript"]  # later readers use the store
            assert again["counts"] == answer["counts"]
            assert rt.jobs.take_transcript(answer["transcript_id"]) is None  # nothing left behind


async def test_a_job_whose_caller_stopped_waiting_keeps_nothing_for_it_in_memory(tmp_path: Path) -> None:
    with anyio.fail_after(60):
        async with sandbox_server(tmp_path) as (client, rt):
            args = {"asset_id": AMI_ES2004A, "mode": "sync", "wait_seconds": 0}
            answer = ok(await client.call_tool("identify_speakers", args))
            assert answer["status"] == "pending"
            await rt.jobs.drain()  # the job ends with nobody waiting for it
            record = await rt.store.get_task(answer["task_id"])
            assert record is not None
            assert record.status == "completed"
            assert record.transcript_id is not None
            assert rt.jobs.take_transcript(record.transcript_id) is None
            done = ok(await client.call_tool("get_task", {"task_id": answer["task_id"]}))
            assert done["transcript_id"] == record.transcript_id
