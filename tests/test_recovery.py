"""Deliveries left `received` (mavi_mcp/recovery.py): a receiver killed between commit and apply.

The state such a kill leaves is made with the store's own API (a pending task, its callback committed as
`received` a minute ago); then the real receiver (`mavi-mcp webhook`, a subprocess) and the real server runtime
must apply it, through the same path as a live delivery.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mavi_mcp.recovery import received_deliveries, recover_received
from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.store import DB_NAME, AsyncStore, Store
from tests.conftest import mavi_mcp_command, server_env, start

CALLBACK = Path(__file__).resolve().parent.parent / "mavi_mcp/sandbox/data/async-generate-audio-callback/4474506.json"
TASK = "664add874ed6520ea9ecbef1f47c2b54"  # the task id in that real callback
ASSET = "re_700000000000000001"


def left_received(data_dir: Path, *, seconds_ago: float = 60.0) -> None:
    """What a receiver killed between commit and apply leaves: the task pending, its callback `received`."""
    store = Store.in_dir(data_dir)
    try:
        store.create_task(TASK, mode="async", endpoint="async-generate-audio", tool="transcribe_whisper",
                          asset_id=ASSET, params={"speaker": True})  # fmt: skip
        store.record_delivery(CALLBACK.read_bytes(), task_id=TASK, status="received")
    finally:
        store.close()
    with sqlite3.connect(data_dir / DB_NAME) as db:
        when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - seconds_ago))
        db.execute("UPDATE deliveries SET received_at = ?", (when,))


def settled(data_dir: Path) -> tuple[str, str | None, str]:
    with sqlite3.connect(data_dir / DB_NAME) as db:
        status, transcript_id = db.execute(
            "SELECT status, transcript_id FROM tasks WHERE task_id = ?", (TASK,)
        ).fetchone()
        (delivery,) = db.execute("SELECT status FROM deliveries WHERE task_id = ?", (TASK,)).fetchone()
    return status, transcript_id, delivery


@pytest.mark.e2e
def test_a_restarted_webhook_receiver_applies_a_delivery_its_predecessor_committed_but_never_applied(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    left_received(data)
    receiver = start([*mavi_mcp_command(), "webhook", "--port", "0"], server_env(tmp_path, None))
    try:
        receiver.wait_for("listening on")
        deadline = time.monotonic() + 30
        while settled(data)[0] == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        receiver.stop()
    status, transcript_id, delivery = settled(data)
    assert (status, delivery) == ("completed", "applied")
    with sqlite3.connect(data / DB_NAME) as db:
        (body,) = db.execute("SELECT body FROM transcripts WHERE id = ?", (transcript_id,)).fetchone()
    transcript = json.loads(body)
    assert transcript["source"]["asset_id"] == ASSET  # joined with the task's own facts
    assert transcript["segments"][0]["text"].startswith("Good day and thank you for standing by")


@pytest.mark.anyio
async def test_a_starting_server_applies_it_too_and_get_task_returns_the_transcript(tmp_path: Path) -> None:
    left_received(tmp_path)
    settings = Settings(data_dir=tmp_path, rate_limit=0)
    with anyio.fail_after(30):
        async with Client(create_server(settings, holder=RuntimeHolder(settings))) as client:
            while True:
                result = await client.call_tool("get_task", {"task_id": TASK})
                assert result.structured_content is not None
                if result.structured_content["status"] != "pending":
                    break
                await anyio.sleep(0.1)
    assert result.structured_content["status"] == "completed"
    assert result.structured_content["asset_id"] == ASSET
    assert settled(tmp_path)[2] == "applied"


@pytest.mark.anyio
async def test_a_fresh_received_row_is_left_to_the_receiver_that_may_still_be_applying_it(tmp_path: Path) -> None:
    left_received(tmp_path, seconds_ago=0.0)
    store = AsyncStore(Store.in_dir(tmp_path))
    try:
        assert received_deliveries(store.path) == []
        assert await recover_received(store) == 0
        assert settled(tmp_path)[0] == "pending"
        assert await recover_received(store, min_age=0) == 1
        assert settled(tmp_path)[:1] == ("completed",)
        assert await recover_received(store, min_age=0) == 0  # nothing left `received`
    finally:
        store.close()
