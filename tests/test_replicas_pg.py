"""Replicas on one store, behind the example nginx (examples/deploy), against the sandbox as a real HTTP server
(its 1 request/second limit on, its webhook set to nginx's public route).

On PostgreSQL (a real cluster from `tests/services.py`; skipped, saying why, when PostgreSQL cannot be started):
what one replica stores is read and searched on another, an async task's webhook reaching any replica through
nginx completes it for a client of another, and a replica SIGKILLed in the middle of a sync job has that job
failed by another replica once its lease (`MAVI_MCP_LEASE_SECONDS`) runs out. On one shared SQLite file the
same kill is noticed by the running replica (`replicas.keep_failing_stale_jobs`), without any restart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mavi_mcp.replicas import STALE_EVERY
from tests.conftest import API_KEY, SandboxServer, start_sandbox
from tests.helpers import AMI_ES2004A, COSTCO, MONRO, ok, text_of
from tests.services import Deployment, Replica, deployment

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SECRET = "replicas-pg-webhook-secret-0123456789abcdef"
LEASE_SECONDS = 3.0
MAYBE_BILLED = "may still have been processed and billed"


def replica_env(tmp_path: Path, sandbox: SandboxServer, database_url: str | None) -> dict[str, str]:
    """What every replica shares: MAVI (the sandbox server), the store, the webhook secret, requestState keys."""
    (tmp_path / "media").mkdir(parents=True, exist_ok=True)
    env = {
        "MAVI_BASE_URL": sandbox.url,
        "MAVI_API_KEY": API_KEY,
        "MAVI_MCP_DATA_DIR": str(tmp_path / "data"),
        "MAVI_MCP_ALLOWED_DIRS": str(tmp_path / "media"),
        "MAVI_MCP_WEBHOOK_SECRET": SECRET,
        "MAVI_MCP_REQUEST_STATE_KEYS": "replicas-pg-request-state-key-0123456789",
        "MAVI_MCP_CONFIRM_ABOVE_USD": "100",
        "MAVI_MCP_MAX_RETRY_WAIT": "2",
        "MAVI_MCP_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    if database_url is not None:
        env["MAVI_MCP_DATABASE_URL"] = database_url
    return env


@asynccontextmanager
async def client_of(replica: Replica) -> AsyncGenerator[Client]:
    """A stateless (2026-07-28) SDK client talking to `replica` directly, not through the proxy."""
    async with (
        httpx2.AsyncClient(timeout=60) as http,
        Client(streamable_http_client(f"http://127.0.0.1:{replica.port}/mcp", http_client=http)) as client,
    ):
        yield client


@asynccontextmanager
async def replicas_on(tmp_path: Path, database_url: str | None) -> AsyncGenerator[tuple[Deployment, SandboxServer]]:
    """Two replicas behind nginx on one store, and the sandbox whose webhook is nginx's route."""
    sandbox = start_sandbox("--upload-processing-seconds", "0.3", "--callback-delay", "1")
    try:
        with deployment(2, replica_env(tmp_path, sandbox, database_url)) as dep:
            with sandbox.admin() as admin:
                admin.put("/_sandbox/webhook", json={"url": f"{dep.url}/webhooks/mavi/{SECRET}"}).raise_for_status()
            yield dep, sandbox
    finally:
        sandbox.process.stop()


async def task_of(client: Client, task_id: str) -> tuple[str, str]:
    """(status, the answer's text) of `get_task` without waiting."""
    result = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 0})
    content: dict[str, Any] = result.structured_content or {}
    return str(content.get("status", "error" if result.is_error else "")), text_of(result)


async def kill_the_replica_of_a_running_sync_job(dep: Deployment, sandbox: SandboxServer) -> tuple[str, Replica]:
    """Start a sync job on r1 that MAVI answers only after 120 s, SIGKILL r1; returns (the job's task id, r2)."""
    first, second = dep.replicas
    with sandbox.admin() as admin:
        slow = [{"kind": "latency", "seconds": 120}]
        admin.put("/_sandbox/faults", json={"sync-generate-speaker": slow}).raise_for_status()
    async with client_of(first) as client:
        handle = ok(
            await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync", "wait_seconds": 1})
        )
    assert handle["status"] == "pending", handle
    async with client_of(second) as other:
        assert (await task_of(other, handle["task_id"]))[0] == "pending"  # visible, running on r1
    first.kill()
    return handle["task_id"], second


async def wait_until_failed(replica: Replica, task_id: str, within: float) -> tuple[float, str]:
    """Poll `replica` for `task_id` until it is failed (at most `within` SECONDS); (seconds it took, its text)."""
    started = time.monotonic()
    async with client_of(replica) as client:
        with anyio.fail_after(within):
            while (state := await task_of(client, task_id))[0] == "pending":
                await anyio.sleep(0.25)
    assert state[0] == "failed", state
    return time.monotonic() - started, state[1]


async def test_replicas_on_postgresql_share_transcripts_search_and_webhooks_and_fail_a_killed_replicas_job(
    nginx_available: Path, tmp_path: Path, pg_url: str
) -> None:
    async with replicas_on(tmp_path, pg_url) as (dep, sandbox):
        first, second = dep.replicas
        with anyio.fail_after(120):
            # a sync call on r1 is read and searched on r2
            async with client_of(first) as client:
                made = ok(await client.call_tool("transcribe_whisper", {"asset_id": MONRO, "mode": "sync"}))
                assert made["status"] == "completed", made
                started = ok(
                    await client.call_tool(
                        "transcribe_whisper", {"asset_id": COSTCO, "mode": "async", "speaker": True, "wait_seconds": 0}
                    )
                )
            assert started["status"] == "pending", started
            async with client_of(second) as other:
                page = ok(await other.call_tool("get_transcript", {"transcript_id": made["transcript_id"]}))
                assert page["counts"]["segments"] == made["counts"]["segments"]
                found = ok(await other.call_tool("search_transcripts", {"query": "quarter"}))
                assert {h["transcript_id"] for h in found["hits"]} == {made["transcript_id"]}
                assert all("quarter" in h["text"].lower() for h in found["hits"])

                # the async task started on r1 is completed by MAVI's callback through nginx, for r2's client
                done = ok(await other.call_tool("get_task", {"task_id": started["task_id"], "wait_seconds": 30}))
                assert done["status"] == "completed", done
                assert len(done["speakers"]) == 17
        with sandbox.admin() as admin:
            sent: list[dict[str, Any]] = admin.get("/_sandbox/deliveries").json()
        through_nginx = [d["status"] for d in sent if d["url"] == f"{dep.url}/webhooks/mavi/{SECRET}"]
        assert through_nginx == [200], sent  # the one async task's callback, acknowledged by a replica

        # SIGKILL of the replica running a sync job: r2 fails it once the lease has run out
        task_id, survivor = await kill_the_replica_of_a_running_sync_job(dep, sandbox)
        took, text = await wait_until_failed(survivor, task_id, within=LEASE_SECONDS + 20)
        assert MAYBE_BILLED in text
        assert took <= LEASE_SECONDS + 2 * LEASE_SECONDS / 3 + 5  # lease end + one renewal period + slack
        password = urlsplit(pg_url).password
        assert password
        assert password not in first.log() + survivor.log()


async def test_on_shared_sqlite_a_running_replica_fails_a_killed_replicas_sync_job_without_a_restart(
    nginx_available: Path, tmp_path: Path
) -> None:
    async with replicas_on(tmp_path, None) as (dep, sandbox):
        with anyio.fail_after(60):
            task_id, survivor = await kill_the_replica_of_a_running_sync_job(dep, sandbox)
        took, text = await wait_until_failed(survivor, task_id, within=STALE_EVERY + 15)
        assert MAYBE_BILLED in text
        assert took <= STALE_EVERY + 5
        assert len(dep.replicas) == 2
        assert dep.replicas[1] is survivor  # nothing was restarted
