"""End to end on PostgreSQL: `mavi-mcp` over stdio and a separate `mavi-mcp webhook` process, each with its own
data dir, sharing nothing but `MAVI_MCP_DATABASE_URL` (a real PostgreSQL started by `tests/services.py`; the
tests skip, saying why, when PostgreSQL is not installed) against the sandbox as a real HTTP server.

A sync transcription, reading it back, searching it, an async task completed by a webhook that the other process
received, and the same paid request from a third process reused through the shared ledger; the database
password appears in no output of any process, nor in the error for a wrong one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

from tests.conftest import (
    WEBHOOK_SECRET,
    free_port,
    mavi_mcp_command,
    server_env,
    start,
    start_sandbox,
    stdio_params,
)
from tests.helpers import COSTCO, MONRO, ok, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_a_server_and_a_separate_receiver_share_transcripts_tasks_and_search_through_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    password = urlsplit(pg_url).password
    assert password
    port = free_port()
    sandbox = start_sandbox(
        "--webhook-url", f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}", "--callback-delay", "1"
    )
    receiver_env = server_env(tmp_path / "receiver", sandbox.url, MAVI_MCP_DATABASE_URL=pg_url)
    receiver = start([*mavi_mcp_command(), "webhook", "--port", str(port)], receiver_env)
    server_log = tmp_path / "server.log"
    try:
        started = receiver.wait_for(r"listening on .*, store (\S+)")
        assert started.group(1).startswith("postgresql://")  # the masked URL: no password
        assert password not in started.group(0)
        env = server_env(tmp_path / "server", sandbox.url, MAVI_MCP_DATABASE_URL=pg_url, MAVI_MCP_LOG_LEVEL="INFO")
        with server_log.open("w") as log, anyio.fail_after(120):
            async with Client(stdio_client(stdio_params(env), errlog=log)) as client:
                # sync: the transcript is stored in PostgreSQL, read back by page, found by search
                sync = ok(await client.call_tool("transcribe_whisper", {"asset_id": MONRO, "mode": "sync"}))
                assert sync["status"] == "completed", sync
                transcript_id = sync["transcript_id"]
                page = await client.call_tool("get_transcript", {"transcript_id": transcript_id})
                assert ok(page)["counts"]["segments"] == sync["counts"]["segments"]
                found = ok(await client.call_tool("search_transcripts", {"query": "quarter"}))
                assert found["hits"]
                assert {h["transcript_id"] for h in found["hits"]} == {transcript_id}
                assert all("quarter" in h["text"].lower() for h in found["hits"])

                # async: the other process receives the webhook and completes the task in the shared database
                info = ok(await client.call_tool("webhook_info", {}))
                assert info["running_here"] is False
                assert len(info["other_receivers"]) == 1
                result = ok(
                    await client.call_tool("transcribe_whisper", {"asset_id": COSTCO, "mode": "async", "speaker": True})
                )
                assert result["status"] == "completed", result
                assert result["endpoint"] == "async-generate-audio"
                assert len(result["speakers"]) == 17
                task = ok(await client.call_tool("get_task", {"task_id": result["task_id"]}))
                assert task["status"] == "completed"
                again = ok(await client.call_tool("search_transcripts", {"query": "membership fee"}))
                assert {h["transcript_id"] for h in again["hits"]} == {result["transcript_id"]}
                listed = text_of(await client.call_tool("list_tasks", {}))
                assert result["task_id"] in listed
                assert sync["task_id"] in listed

            # another server (its own data dir) on the same database: the same paid request is reused, not sent
            other_env = server_env(tmp_path / "other", sandbox.url, MAVI_MCP_DATABASE_URL=pg_url)
            async with Client(stdio_client(stdio_params(other_env), errlog=log)) as other:
                reused = await other.call_tool("transcribe_whisper", {"asset_id": MONRO, "mode": "sync"})
                assert (ok(reused)["reused"], ok(reused)["task_id"]) == (True, sync["task_id"])
                assert text_of(reused).startswith(f"Reused the result of task {sync['task_id']} (")
        with sandbox.admin() as admin:
            processed = admin.get("/_sandbox/processed").json()["processed"]
        assert processed.count("sync-generate-audio") == 1
    finally:
        receiver.stop()
        sandbox.process.stop()
    assert password not in server_log.read_text()
    assert password not in "\n".join(receiver.seen)
    assert not (tmp_path / "server" / "data" / "mavi-mcp.sqlite3").exists()  # nothing went to the SQLite file


@pytest.mark.parametrize("command", [["webhook", "--port", "0"], [], ["--check"]], ids=["webhook", "stdio", "check"])
def test_a_wrong_database_password_stops_the_server_with_the_url_masked(
    tmp_path: Path, pg_url: str, command: list[str]
) -> None:
    parts = urlsplit(pg_url)
    wrong = "not-the-password-7f3a"
    bad_url = pg_url.replace(f":{parts.password}@", f":{wrong}@")
    env = server_env(tmp_path, "http://127.0.0.1:9", MAVI_MCP_DATABASE_URL=bad_url)
    done = subprocess.run(
        [*mavi_mcp_command(), *command],
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "password authentication failed" in done.stderr
    assert f"{parts.hostname}:{parts.port}" in done.stderr
    assert "MAVI_MCP_DATABASE_URL" in done.stderr
    assert wrong not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


async def test_a_runtime_on_postgresql_fails_a_stopped_replicas_jobs_and_paces_in_the_database(
    tmp_path: Path, pg_url: str
) -> None:
    import psycopg

    from mavi_mcp.runtime import RuntimeHolder
    from mavi_mcp.settings import Settings
    from mavi_mcp.store_pg import PgPacing, PgStore

    async with PgStore.open(pg_url, owner="replica-gone") as gone:
        for task_id, mode in (("job_gone", "sync"), ("task_async", "async")):
            await gone.create_task(task_id, mode=mode, endpoint="sync-generate-audio", tool="t", asset_id=None)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # replica-gone stopped renewing long ago
        conn.execute("UPDATE tasks SET lease_expires_at = now() - interval '1 minute' WHERE owner = 'replica-gone'")
    settings = Settings(
        sandbox=True,
        data_dir=tmp_path / "data",
        database_url=pg_url,  # pyright: ignore[reportArgumentType]
        log_level="WARNING",
    )
    with anyio.fail_after(60):
        async with RuntimeHolder(settings).open() as runtime:
            store = runtime.store
            assert isinstance(store, PgStore)
            failed = await store.get_task("job_gone")
            assert failed is not None
            assert failed.status == "failed"
            assert "may still have been processed and billed" in (failed.error or "")
            still = await store.get_task("task_async")  # an async task has no lease: its webhook may still come
            assert still is not None
            assert still.status == "pending"
            assert isinstance(runtime.client.pacer.shared, PgPacing)
            mine = await store.create_task("job_mine", mode="sync", endpoint="e", tool="t", asset_id=None)
            owner, until = await store.lease_of(mine.task_id)
            assert owner == store.owner
            assert until is not None
    assert not (tmp_path / "data" / "sandbox" / "mavi-mcp.sqlite3").exists()
