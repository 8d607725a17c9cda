"""The spool (mavi_mcp/spool.py): paid answers kept as files while the store cannot take them, moved in later.

These tests drive the spool alone against the real store; tests/test_store_faults.py drives it through the server.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mavi_mcp.spool import SPOOL, Spooled, drain, pending, spool
from mavi_mcp.store import Store

BODY = b'{"code":200,"msg":"success","data":[{"start":0.0,"end":1.5,"speaker":"SPEAKER_00"}]}\xff raw'


def test_a_spooled_answer_is_kept_byte_for_byte_and_moved_into_the_store_once(tmp_path: Path) -> None:
    folder = tmp_path / SPOOL
    first = spool(folder, endpoint="sync-generate-speaker", task_id="job_1", body=BODY)
    spool(folder, endpoint="sync-generate-audio", task_id=None, body=b"")
    items = pending(folder)
    assert (items[0].path, items[0].endpoint, items[0].task_id, items[0].body) == (
        first,
        "sync-generate-speaker",
        "job_1",
        BODY,
    )
    assert items[1].task_id is None
    store = Store.in_dir(tmp_path)
    try:
        moved = drain(folder, lambda item: store.save_raw_result(item.endpoint, item.body, task_id=item.task_id))
        assert moved == 2
        assert pending(folder) == []
        assert drain(folder, lambda item: pytest.fail("nothing left to move")) == 0
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "mavi-mcp.sqlite3") as db:
        rows = db.execute("SELECT endpoint, task_id, body FROM raw_results ORDER BY id").fetchall()
    assert rows == [("sync-generate-speaker", "job_1", BODY), ("sync-generate-audio", None, b"")]


def test_a_store_that_still_fails_keeps_the_answer_for_the_next_attempt(tmp_path: Path) -> None:
    folder = tmp_path / SPOOL
    spool(folder, endpoint="sync-generate-speaker", task_id="job_1", body=BODY)
    spool(folder, endpoint="sync-generate-speaker", task_id="job_2", body=BODY)
    saved: list[str | None] = []

    def full_after_one(item: Spooled) -> None:
        if saved:
            raise sqlite3.OperationalError("database or disk is full")
        saved.append(item.task_id)

    with pytest.raises(sqlite3.OperationalError):
        drain(folder, full_after_one)
    assert saved == ["job_1"]
    assert [i.task_id for i in pending(folder)] == ["job_2"]


def test_a_file_cut_by_a_crash_mid_write_is_never_taken_for_an_answer(tmp_path: Path) -> None:
    folder = tmp_path / SPOOL
    folder.mkdir()
    (folder / ".partial-20261130T000000000000-abcd.answer").write_bytes(b'{"endpoint": "sync-gen')
    (folder / "unreadable.answer").write_bytes(b"no header line")
    kept = spool(folder, endpoint="upload", task_id="job_3", body=BODY)
    assert [i.path for i in pending(folder)] == [kept]
    assert sorted(p.name for p in folder.iterdir()) == sorted([kept.name, "unreadable.answer"])


def test_when_even_the_spool_cannot_be_written_the_error_says_so_and_nothing_is_left(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match=r"Not a directory|File exists"):
        spool(blocker / SPOOL, endpoint="upload", task_id=None, body=BODY)
    assert blocker.read_text() == "x"
