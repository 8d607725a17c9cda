"""Pending async tasks (tools/_answers.py): elapsed time is real time since creation, and a task pending past
`MAVI_MCP_PENDING_HORIZON` says plainly that no result has arrived and what to check."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.store import DB_NAME, Store
from tests.helpers import ok, text_of

pytestmark = pytest.mark.anyio

TASK = "664add874ed6520ea9ecbef1f47c2b54"


def async_task_created(data_dir: Path, seconds_ago: float) -> None:
    """An async task recorded `seconds_ago`, whose callback never came (and no later update)."""
    store = Store.in_dir(data_dir)
    try:
        store.create_task(TASK, mode="async", endpoint="async-generate-audio", tool="transcribe_whisper",
                          asset_id="re_700000000000000001", params={})  # fmt: skip
    finally:
        store.close()
    when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - seconds_ago))
    with sqlite3.connect(data_dir / DB_NAME) as db:
        db.execute("UPDATE tasks SET created_at = ?, updated_at = ?", (when, when))


async def get_task(data_dir: Path, **settings: float) -> tuple[dict[str, object], str]:
    config = Settings(data_dir=data_dir, rate_limit=0, log_level="WARNING", **settings)  # pyright: ignore[reportArgumentType]
    with anyio.fail_after(30):
        async with Client(create_server(config, holder=RuntimeHolder(config))) as client:
            result = await client.call_tool("get_task", {"task_id": TASK})
    return ok(result), text_of(result)


async def test_a_pending_task_counts_its_elapsed_time_from_creation_not_from_its_last_update(tmp_path: Path) -> None:
    async_task_created(tmp_path, seconds_ago=600)
    answer, text = await get_task(tmp_path)
    assert answer["status"] == "pending"
    assert isinstance(answer["elapsed_seconds"], float)
    assert 600 <= answer["elapsed_seconds"] < 660
    assert "will be stored" in text  # within the horizon (1 h): the usual handle


async def test_a_task_pending_past_the_horizon_says_no_result_arrived_and_what_to_check(tmp_path: Path) -> None:
    async_task_created(tmp_path, seconds_ago=2 * 3600)
    answer, text = await get_task(tmp_path, pending_horizon=3600)
    assert answer["status"] == "pending"
    assert f"No result has arrived for transcribe_whisper (MAVI task {TASK}) in 2.0 h" in text
    assert "webhook_info" in text
    assert "MAVI console's Webhooks Settings" in text
    assert "will be stored even if" not in text


async def test_the_horizon_is_a_setting(tmp_path: Path) -> None:
    async_task_created(tmp_path, seconds_ago=600)
    _, text = await get_task(tmp_path, pending_horizon=300)
    assert "No result has arrived" in text
