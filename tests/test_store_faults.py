"""A store fault while a paid job ends (mavi_mcp/jobs.py, spool.py, recovery.py): the server stays up, the task
says what happened, the paid answer is kept in the spool and moved into the store once the fault clears.

The server is the real one (in-memory MCP client, in-process sandbox); the faults are real SQLite faults: another
connection holds the write lock (with the store's busy timeout shortened so the test does not wait 30 s), or the
store's write raises "database or disk is full".
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from mavi_mcp.recovery import drain_spool
from mavi_mcp.runtime import Runtime
from mavi_mcp.spool import SPOOL, pending, spool
from mavi_mcp.store import DB_NAME, Store
from tests.helpers import AMI_ES2004A, error, ok, sandbox_server

pytestmark = pytest.mark.anyio

DATA = Path(__file__).resolve().parent.parent / "mavi_mcp/sandbox/data"


class WriteLock:
    """Another process's connection takes the write lock the moment a job ends (the store waits 0.2 s for it,
    not 30 s), and holds it until `release()`."""

    def __init__(self, rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rt = rt
        self.other: sqlite3.Connection | None = None
        finish_job = rt.store.sync.finish_job

        def locked_then_finish(*args: Any, **kwargs: Any) -> Any:
            if self.other is None:
                rt.store.sync._db.execute("PRAGMA busy_timeout=200")  # pyright: ignore[reportPrivateUsage]
                self.other = sqlite3.connect(rt.store.path, isolation_level=None, check_same_thread=False)
                self.other.execute("BEGIN IMMEDIATE")
            return finish_job(*args, **kwargs)

        monkeypatch.setattr(rt.store.sync, "finish_job", locked_then_finish)

    def release(self) -> None:
        assert self.other is not None
        self.other.execute("ROLLBACK")
        self.other.close()
        self.rt.store.sync._db.execute("PRAGMA busy_timeout=30000")  # pyright: ignore[reportPrivateUsage]


def disk_full_on_finish(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(rt.store.sync, "finish_job", full)


async def test_a_full_disk_fails_the_task_saying_it_was_billed_and_kept_and_recovery_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anyio.fail_after(60):
        async with sandbox_server(tmp_path) as (client, rt):
            disk_full_on_finish(rt, monkeypatch)
            message = error(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            assert "so it is billed" in message
            assert "database or disk is full" in message
            assert str(tmp_path / "sandbox" / SPOOL) in message
            assert "Do not start the transcription again" in message

            listed = ok(await client.call_tool("list_tasks", {}))
            (task,) = listed["tasks"]
            assert task["status"] == "failed"
            assert "the answer is kept in" in task["error"]
            (kept,) = pending(tmp_path / "sandbox" / SPOOL)
            assert (kept.task_id, kept.meta["shape"]) == (task["task_id"], "sync-generate-speaker")

            monkeypatch.undo()  # the disk has room again
            assert await drain_spool(rt.store, tmp_path / "sandbox" / SPOOL) == 1
            assert pending(tmp_path / "sandbox" / SPOOL) == []
            done = ok(await client.call_tool("get_task", {"task_id": task["task_id"]}))
            assert done["status"] == "completed"
            assert done["asset_id"] == AMI_ES2004A
            page = ok(await client.call_tool("get_transcript", {"transcript_id": done["transcript_id"]}))
            assert page["speakers"]
            assert page["counts"]["segments"] > 0
    with sqlite3.connect(tmp_path / "sandbox" / DB_NAME) as db:
        (raw,) = db.execute("SELECT COUNT(*) FROM raw_results WHERE task_id = ?", (task["task_id"],)).fetchone()
    assert raw == 1  # the raw answer moved in with its transcript, once


async def test_a_write_lock_held_by_another_process_leaves_the_task_pending_and_the_server_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spooled = tmp_path / "sandbox" / SPOOL
    with anyio.fail_after(60):
        async with sandbox_server(tmp_path) as (client, rt):
            lock = WriteLock(rt, monkeypatch)
            answers: list[dict[str, Any]] = []

            async def transcribe() -> None:
                args = {"asset_id": AMI_ES2004A, "mode": "sync", "wait_seconds": 1}
                answers.append(ok(await client.call_tool("identify_speakers", args)))

            async with anyio.create_task_group() as tg:
                tg.start_soon(transcribe)
                # ending the job and failing its task both meet the lock: the answer is spooled, the job ends
                while not pending(spooled) or rt.jobs._running:  # pyright: ignore[reportPrivateUsage]
                    await anyio.sleep(0.05)
                assert await drain_spool(rt.store, spooled) == 0  # still locked: kept for the next pass
                assert len(pending(spooled)) == 1
                lock.release()
            (handle,) = answers
            assert handle["status"] == "pending"
            listed = ok(await client.call_tool("list_tasks", {}))
            assert [(t["task_id"], t["status"]) for t in listed["tasks"]] == [(handle["task_id"], "pending")]
            assert await drain_spool(rt.store, spooled) == 1
            done = ok(await client.call_tool("get_task", {"task_id": handle["task_id"]}))
            assert done["status"] == "completed"
            page = ok(await client.call_tool("get_transcript", {"transcript_id": done["transcript_id"]}))
            assert page["counts"]["segments"] > 0


async def test_a_server_restarted_after_the_fault_moves_the_spooled_answer_in_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anyio.fail_after(60):
        async with sandbox_server(tmp_path) as (client, rt):
            disk_full_on_finish(rt, monkeypatch)
            error(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            (task,) = ok(await client.call_tool("list_tasks", {}))["tasks"]
        monkeypatch.undo()
        async with sandbox_server(tmp_path) as (client, _):
            while (done := ok(await client.call_tool("get_task", {"task_id": task["task_id"]})))["status"] != (
                "completed"
            ):
                await anyio.sleep(0.05)
            assert done["transcript_id"]
    assert pending(tmp_path / "sandbox" / SPOOL) == []
    store = Store.in_dir(tmp_path / "sandbox")
    try:
        record = store.get_task(task["task_id"])
        assert record is not None
        assert record.error is None
    finally:
        store.close()


async def test_an_answer_written_ahead_by_a_server_killed_before_its_commit_is_stored_at_the_next_start(
    tmp_path: Path,
) -> None:
    """What a SIGKILL between MAVI's answer and the commit leaves: the job pending under a process that is gone,
    and its raw answer written ahead to the spool. The next server stores it and completes the task."""
    store_dir = tmp_path / "sandbox"
    gone = subprocess.Popen(["true"])  # a pid that no longer runs
    gone.wait()
    store = Store.in_dir(store_dir)
    try:
        store.create_task("job_killed", mode="sync", endpoint="sync-generate-speaker", tool="identify_speakers",
                          asset_id=AMI_ES2004A, params={})  # fmt: skip
    finally:
        store.close()
    with sqlite3.connect(store_dir / DB_NAME) as db:
        db.execute("UPDATE tasks SET owner_pid = ?", (gone.pid,))
    body = (DATA / "sync-generate-speaker" / "ES2004a.json").read_bytes()
    context = {"asset_id": AMI_ES2004A, "task_id": "job_killed", "sandbox": True, "model": "pyannote"}
    spool(store_dir / SPOOL, endpoint="sync-generate-speaker", task_id="job_killed", body=body,
          meta={"shape": "sync-generate-speaker", "context": context, "pid": gone.pid})  # fmt: skip
    with anyio.fail_after(30):
        async with sandbox_server(tmp_path) as (client, _):
            while (done := ok(await client.call_tool("get_task", {"task_id": "job_killed"})))["status"] != (
                "completed"
            ):
                await anyio.sleep(0.05)
    assert done["asset_id"] == AMI_ES2004A
    assert sorted(s["label"] for s in done["speakers"]) == [f"SPEAKER_0{i}" for i in range(4)]
    assert pending(store_dir / SPOOL) == []


async def test_a_tool_whose_store_read_hits_a_held_write_lock_says_so_instead_of_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anyio.fail_after(60):
        async with sandbox_server(tmp_path) as (client, rt):

            def locked(*args: Any, **kwargs: Any) -> Any:
                raise sqlite3.OperationalError("database is locked")

            monkeypatch.setattr(rt.store.sync, "list_tasks", locked)
            message = error(await client.call_tool("list_tasks", {}))
            monkeypatch.undo()
            listed = ok(await client.call_tool("list_tasks", {}))
    assert "database is locked" in message
    assert "write lock" in message
    assert "internal error" not in message
    assert listed["tasks"] == []
