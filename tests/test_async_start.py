"""An async start that MAVI answers slowly (mavi_mcp/pipeline.py `transcribe`, tools/_answers.py `wait_for`): the
tool answers within wait_seconds (+1 s) with a task id it can pass to get_task, and MAVI's task id shows in
get_task and list_tasks as soon as MAVI returns it. The real server over the in-process sandbox, whose fault
console delays the start's answer."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mavi_mcp.sandbox.faults import Fault
from tests.conftest import in_process_server
from tests.helpers import COSTCO, error, ok

pytestmark = pytest.mark.anyio

MAVI_TASK = re.compile(r"[0-9a-f]{32}")


@asynccontextmanager
async def served(tmp_path: Path, **faults: list[Fault]) -> AsyncIterator[Client]:
    """A client of the real server over the in-process sandbox, with `faults` by endpoint."""
    async with (
        in_process_server(tmp_path / "data", [tmp_path], api_key="sk-test", webhook_secret="s" * 32, faults=faults) as (
            server,
            _,
        ),  # fmt: skip
        Client(server) as client,
    ):
        yield client


async def test_a_slow_async_start_answers_within_the_wait_and_mavis_task_id_follows(tmp_path: Path) -> None:
    slow = {"async-generate-audio": [Fault("latency", seconds=4)]}
    async with served(tmp_path, **slow) as client:
        started = time.monotonic()
        with anyio.fail_after(10):
            handle = ok(
                await client.call_tool("transcribe_whisper", {"asset_id": COSTCO, "mode": "async", "wait_seconds": 1})
            )
        assert time.monotonic() - started < 2.0  # wait_seconds + 1 s, although MAVI takes 4 s to answer
        assert handle["status"] == "pending"
        pointer = handle["task_id"]
        assert not MAVI_TASK.fullmatch(pointer)  # MAVI has not named its task yet: the server's own id

        listed = ok(await client.call_tool("list_tasks", {}))
        assert [(t["task_id"], t["status"]) for t in listed["tasks"]] == [(pointer, "pending")]

        with anyio.fail_after(20):
            done = ok(await client.call_tool("get_task", {"task_id": pointer, "wait_seconds": 15}))
        assert done["status"] == "completed"
        assert MAVI_TASK.fullmatch(done["task_id"])  # the same id now answers for MAVI's task
        assert done["counts"]["segments"] > 0
        assert done["cost_usd"] > 0  # the ledger row followed MAVI's task id

        listed = ok(await client.call_tool("list_tasks", {}))
        assert [(t["task_id"], t["status"]) for t in listed["tasks"]] == [(done["task_id"], "completed")]
        again = ok(await client.call_tool("get_task", {"task_id": done["task_id"]}))
        assert again["transcript_id"] == done["transcript_id"]


async def test_a_fast_async_start_answers_with_the_transcript_under_mavis_task_id(tmp_path: Path) -> None:
    async with served(tmp_path) as client:
        with anyio.fail_after(20):
            done = ok(
                await client.call_tool("transcribe_whisper", {"asset_id": COSTCO, "mode": "async", "wait_seconds": 15})
            )
        assert done["status"] == "completed"
        assert MAVI_TASK.fullmatch(done["task_id"])
        assert done["cost_usd"] > 0


async def test_a_refused_async_start_fails_its_task_with_mavis_reason_and_costs_nothing(tmp_path: Path) -> None:
    refused = {"async-generate-audio": [Fault("status", status=402)]}
    async with served(tmp_path, **refused) as client:
        with anyio.fail_after(10):
            message = error(
                await client.call_tool("transcribe_whisper", {"asset_id": COSTCO, "mode": "async", "wait_seconds": 0})
            )
        assert "HTTP 402" in message
        assert "Top up" in message
        (task,) = ok(await client.call_tool("list_tasks", {}))["tasks"]
        assert (task["status"], task["cost_usd"]) == ("failed", None)
        assert "HTTP 402" in task["error"]
