"""Long work done right: bounded waits with progress, handles that outlive the call, restarts, crashes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from mavi_mcp.sandbox import catalog
from tests.conftest import (
    WEBHOOK_SECRET,
    free_port,
    mavi_mcp_command,
    server_env,
    start,
    start_sandbox,
    stdio_params,
)
from tests.helpers import AMI_ES2004A, COSTCO, MONRO, ok

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_a_callback_slower_than_the_wait_returns_a_handle_in_time_with_progress_and_arrives_later(
    tmp_path: Path,
) -> None:
    port = free_port()
    sandbox = start_sandbox(
        "--webhook-url", f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}", "--callback-delay", "9"
    )
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    try:
        async with Client(stdio_params(server_env(tmp_path, sandbox.url), "--webhook-port", str(port))) as client:
            started = time.monotonic()
            with anyio.fail_after(20):
                handle = ok(
                    await client.call_tool(
                        "multi_speaker_async", {"asset_id": MONRO, "wait_seconds": 6}, progress_callback=on_progress
                    )
                )
            waited = time.monotonic() - started
            assert handle["status"] == "pending"
            assert 5.5 <= waited < 9
            assert progress
            assert all(message and handle["task_id"] in message for _, message in progress)
            with anyio.fail_after(30):
                done = ok(await client.call_tool("get_task", {"task_id": handle["task_id"], "wait_seconds": 20}))
            assert done["status"] == "completed"
            assert len(done["speakers"]) == 10
    finally:
        sandbox.process.stop()


async def test_a_slow_sync_job_keeps_running_after_the_tool_answers_and_after_the_client_gives_up(
    tmp_path: Path,
) -> None:
    sandbox = start_sandbox("--no-rate-limit")
    with httpx2.Client(base_url=sandbox.url) as admin:
        slow = [{"kind": "latency", "seconds": 6}]
        admin.put("/_sandbox/faults", json={"sync-generate-speaker": slow, "sync-generate-audio": slow})
        env = server_env(tmp_path, sandbox.url, MAVI_MCP_RATE_LIMIT="0")
        try:
            async with Client(stdio_params(env)) as client:
                with anyio.fail_after(15):
                    handle = ok(
                        await client.call_tool(
                            "identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync", "wait_seconds": 1}
                        )
                    )
                assert handle["status"] == "pending"
                # the client gives up on a second call after 1 s: the job it started must still complete
                with pytest.raises(Exception, match=r"(?i)timed out|timeout"):
                    await client.call_tool(
                        "transcribe_whisper",
                        {"asset_id": COSTCO, "mode": "sync", "wait_seconds": 30},
                        read_timeout_seconds=1,
                    )
                admin.put("/_sandbox/faults", json={})
                with anyio.fail_after(30):
                    first = ok(await client.call_tool("get_task", {"task_id": handle["task_id"], "wait_seconds": 20}))
                    assert first["status"] == "completed"
                    assert first["counts"]["segments"] == 260
                    listed = ok(await client.call_tool("list_tasks", {}))
                    abandoned = next(t for t in listed["tasks"] if t["tool"] == "transcribe_whisper")
                    later = ok(
                        await client.call_tool("get_task", {"task_id": abandoned["task_id"], "wait_seconds": 20})
                    )
                    assert later["status"] == "completed"
                    assert len(later["speakers"]) == 0
                    assert later["counts"]["words"] == 11942
        finally:
            sandbox.process.stop()


async def test_tasks_survive_a_server_restart_pending_and_completed(tmp_path: Path) -> None:
    port = free_port()
    sandbox = start_sandbox(
        "--webhook-url", f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}", "--callback-delay", "6"
    )
    env = server_env(tmp_path, sandbox.url)
    receiver = start([*mavi_mcp_command(), "webhook", "--port", str(port)], env)
    try:
        receiver.wait_for("listening on")
        with anyio.fail_after(30):
            async with Client(stdio_params(env)) as first:
                done = ok(await first.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
                pending = ok(await first.call_tool("multi_speaker_async", {"asset_id": MONRO, "wait_seconds": 0}))
                assert pending["status"] == "pending"
        with anyio.fail_after(40):
            async with Client(stdio_params(env)) as second:
                again = ok(await second.call_tool("get_task", {"task_id": done["task_id"]}))
                assert again["status"] == "completed"
                assert again["transcript_id"] == done["transcript_id"]
                still = ok(await second.call_tool("get_task", {"task_id": pending["task_id"], "wait_seconds": 20}))
                assert still["status"] == "completed"
                assert len(still["speakers"]) == 10
    finally:
        receiver.stop()
        sandbox.process.stop()


def _callback(path: str, task_id: str) -> bytes:
    payload = json.loads((Path(catalog.__file__).parent / "data" / path).read_bytes())
    payload["task_id"] = task_id
    return json.dumps(payload).encode()


def test_no_acknowledged_delivery_is_lost_when_the_receiver_is_killed(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(tmp_path, None)
    receiver = start([*mavi_mcp_command(), "webhook", "--port", str(port)], env)
    acknowledged: list[str] = []
    try:
        receiver.wait_for("listening on")
        url = f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}"
        bodies = [
            _callback("async-generate-audio-callback/4474506.json", f"kill-{i}")
            if i % 2
            else _callback("async-generate-multi-speaker-callback/4320211.json", f"kill-{i}")
            for i in range(12)
        ]
        with httpx2.Client(timeout=10) as http:
            for i, body in enumerate(bodies):
                response = http.post(url, content=body, headers={"content-type": "application/json"})
                assert response.status_code == 200
                acknowledged.append(f"kill-{i}")
        os.kill(receiver.popen.pid, signal.SIGKILL)
        receiver.popen.wait(timeout=10)
    finally:
        receiver.stop()
    with sqlite3.connect(tmp_path / "data" / "mavi-mcp.sqlite3") as db:
        rows: list[Any] = db.execute("SELECT task_id, status FROM tasks").fetchall()
        deliveries = db.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'applied'").fetchone()[0]
    assert sorted(task for task, _ in rows) == sorted(acknowledged)
    assert {status for _, status in rows} == {"completed"}
    assert deliveries == len(acknowledged)
