"""The fault matrix: every fault the sandbox injects, on the endpoints where it matters, through a real server.

One sandbox process (vendor rate limit off, callbacks to the server's webhook port) and one `mavi-mcp` over
stdio (pacing off, `MAVI_MCP_MAX_RETRY_WAIT=1`, a 2 s read timeout) serve the whole module. Each test sets
its faults with `PUT /_sandbox/faults`, calls a tool through the MCP client, and checks what the agent is told
and, through `GET /_sandbox/processed`, how many requests reached the sandbox (attempts) and which ones it
processed (for transcriptions: billed). A billed request is never processed twice.

The README's table "Faults and what the agent is told" has one row per test here.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult

from tests.conftest import (
    API_KEY,
    WEBHOOK_SECRET,
    SandboxServer,
    free_port,
    server_env,
    start_sandbox,
    stdio_params,
    write_wav,
)
from tests.helpers import error as e2e_error
from tests.helpers import ok, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

AMI_ES2004A = "re_700000000000000012"  # 260 speaker turns
COSTCO = "re_700000000000000002"  # Whisper with speakers: 17 speakers
READ_TIMEOUT = 2.0
SPEAKER = "sync-generate-speaker"
AUDIO = "sync-generate-audio"
ASYNC_AUDIO = "async-generate-audio"


@dataclass(frozen=True)
class Seen:
    """What reached the sandbox since a snapshot: every request (attempts) and the processed (billed) ones."""

    requests: int
    processed: list[str]


@dataclass
class Rig:
    client: Client
    sandbox: SandboxServer
    admin: httpx2.Client
    media: Path
    data: Path
    log: Path
    names: Iterator[int] = field(default_factory=count)

    def faults(self, faults: dict[str, list[dict[str, Any]]]) -> None:
        response = self.admin.put("/_sandbox/faults", json=faults)
        assert response.status_code == 200, response.text

    def snapshot(self) -> Seen:
        body = self.admin.get("/_sandbox/processed").json()
        return Seen(body["requests"], list(body["processed"]))

    def since(self, before: Seen) -> Seen:
        now = self.snapshot()
        return Seen(now.requests - before.requests, now.processed[len(before.processed) :])

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[CallToolResult, Seen, float]:
        """Call `tool`; returns the result, what reached the sandbox meanwhile, and the seconds it took."""
        before = self.snapshot()
        started = time.monotonic()
        with anyio.fail_after(90):
            result = await self.client.call_tool(tool, arguments)
        return result, self.since(before), time.monotonic() - started

    async def upload(self) -> tuple[CallToolResult, Seen, float]:
        wav = write_wav(self.media / f"take-{next(self.names)}.wav", seconds=1.0)
        return await self.call("upload_media", {"path": str(wav), "refresh": True})  # same bytes: upload anyway

    def deliveries_after(self, seen: int) -> list[dict[str, Any]]:
        return self.admin.get("/_sandbox/deliveries").json()[seen:]

    def raw_results(self, task_id: str) -> list[bytes]:
        with sqlite3.connect(f"file:{self.data / 'mavi-mcp.sqlite3'}?mode=ro", uri=True) as db:
            return [row[0] for row in db.execute("SELECT body FROM raw_results WHERE task_id = ?", (task_id,))]

    def untasked_raw_results(self, endpoint: str) -> list[bytes]:
        """Raw answers of `endpoint` kept without a task (an async start whose task id could not be read)."""
        with sqlite3.connect(f"file:{self.data / 'mavi-mcp.sqlite3'}?mode=ro", uri=True) as db:
            query = "SELECT body FROM raw_results WHERE task_id IS NULL AND endpoint = ? ORDER BY id"
            return [row[0] for row in db.execute(query, (endpoint,))]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # the module-scoped rig needs a module-scoped backend


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("faults")
    port = free_port()
    sandbox = start_sandbox(
        "--no-rate-limit",
        "--upload-processing-seconds",
        "0.2",
        "--callback-delay",
        "0.2",
        "--webhook-url",
        f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}",
    )
    env = server_env(
        tmp,
        sandbox.url,
        MAVI_MCP_RATE_LIMIT="0",
        MAVI_MCP_MAX_RETRY_WAIT="1",
        MAVI_MCP_REQUEST_TIMEOUT=str(READ_TIMEOUT),
    )
    log = tmp / "server.log"
    try:
        with log.open("w") as errlog, sandbox.admin() as admin:
            params = stdio_params(env, "--webhook-port", str(port))
            # read_timeout_seconds bounds the start-up handshake and every call of the module
            async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=90) as client:
                yield Rig(client, sandbox, admin, tmp / "media", tmp / "data", log)
    finally:
        sandbox.process.stop()


@pytest.fixture(autouse=True)
def no_faults_left(rig: Rig) -> Iterator[None]:
    rig.admin.delete("/_sandbox/faults")
    yield
    rig.admin.delete("/_sandbox/faults")


def error(result: CallToolResult) -> str:
    """The tool error's text, checked to be an actionable message (no crash, no traceback, no key)."""
    message = e2e_error(result)
    assert "mavi-mcp hit an internal error" not in message
    assert not re.fullmatch(r"Error executing tool \w+", message)
    return message


def task_of(message: str) -> str:
    match = re.search(r"\(task (job_[0-9a-f]+)\)", message)
    assert match, message
    return match.group(1)


# every call of the module is a fresh paid request (`refresh`): an identical one would be served from the store


def sync_speakers() -> dict[str, Any]:
    return {"asset_id": AMI_ES2004A, "mode": "sync", "refresh": True}


def sync_whisper() -> dict[str, Any]:
    return {"asset_id": COSTCO, "speaker": True, "mode": "sync", "max_tokens": 1000, "refresh": True}


def async_whisper() -> dict[str, Any]:
    return {"asset_id": COSTCO, "speaker": True, "mode": "async", "max_tokens": 1000, "refresh": True}


def assert_turns(result: CallToolResult) -> None:
    assert ok(result)["counts"]["segments"] == 260


def assert_costco(result: CallToolResult) -> None:
    assert len(ok(result)["speakers"]) == 17
    assert "Good day and thank you for standing by" in text_of(result)


def assert_uploaded(result: CallToolResult) -> None:
    data = ok(result)
    assert data["status"] == "completed"
    assert data["upload_status"] == "SUCCESS"
    assert data["asset_id"].startswith("re_")


async def assert_the_uploaded_asset_is_reported(rig: Rig, message: str) -> str:
    """The upload succeeded and its confirmation failed: the message, get_task and list_tasks give the asset id."""
    match = re.search(r"MAVI stored the file as asset_id (re_\w+)\. Do not upload it again", message)
    assert match, message
    asset_id = match.group(1)
    assert f'call a transcription tool with asset_id="{asset_id}"' in message
    assert "upload_media failed" not in message
    task_id = task_of(message)
    task = ok(await rig.client.call_tool("get_task", {"task_id": task_id}))
    assert (task["status"], task["asset_id"]) == ("failed", asset_id)
    assert f"asset_id {asset_id}" in task["error"]
    listed = ok(await rig.client.call_tool("list_tasks", {"limit": 5}))["tasks"]
    assert next(t for t in listed if t["task_id"] == task_id)["asset_id"] == asset_id
    return asset_id


def assert_told_where_a_maybe_started_task_shows(message: str) -> None:
    """An async start that may have been processed: not resent, and the agent is told where its result would show
    (list_tasks, under MAVI's task id) and to look there before starting it again."""
    assert "did not resend the request, because it may have been processed and billed" in message
    assert "MAVI may have started the task" in message
    assert "its result still arrives at the webhook" in message
    assert "list_tasks shows it under MAVI's task id" in message
    assert f"endpoint {ASYNC_AUDIO}" in message
    assert "Check list_tasks before starting it again" in message
    assert "mode='async'" not in message  # the sync timeout's advice does not fit an async start


async def assert_listed_without_a_tool(rig: Rig, task_id: str) -> None:
    listed = ok(await rig.client.call_tool("list_tasks", {"limit": 10}))["tasks"]
    task = next(t for t in listed if t["task_id"] == task_id)
    assert (task["status"], task["tool"], task["endpoint"]) == ("completed", None, ASYNC_AUDIO)


async def wait_for_delivery(rig: Rig, seen: int) -> str:
    """The task id of the next callback the sandbox delivered successfully after `seen` deliveries (bounded)."""
    with anyio.fail_after(20):
        while True:
            done = [d for d in rig.deliveries_after(seen) if d["status"] == 200]
            if done:
                return str(done[0]["task_id"])
            await anyio.sleep(0.1)


# --- added latency and slow bodies ---------------------------------------------------------------------------


async def test_added_latency_delays_a_billed_transcription_that_is_then_answered_once(rig: Rig) -> None:
    rig.faults({SPEAKER: [{"kind": "latency", "seconds": 1.0}]})
    result, seen, took = await rig.call("identify_speakers", sync_speakers())
    assert_turns(result)
    assert seen == Seen(1, [SPEAKER])
    assert took >= 1.0


async def test_a_slow_body_is_read_to_the_end_because_the_read_timeout_is_per_chunk(rig: Rig) -> None:
    rig.faults({AUDIO: [{"kind": "slow", "seconds": 1.5 * READ_TIMEOUT}]})
    result, seen, took = await rig.call("transcribe_whisper", sync_whisper())
    assert_costco(result)
    assert seen == Seen(1, [AUDIO])
    assert took >= READ_TIMEOUT


# --- connection reset after the request was sent -------------------------------------------------------------


async def test_a_reset_after_a_billed_transcription_was_sent_is_not_resent_and_says_it_may_be_billed(
    rig: Rig,
) -> None:
    rig.faults({SPEAKER: [{"kind": "reset"}]})
    result, seen, _ = await rig.call("identify_speakers", sync_speakers())
    message = error(result)
    assert "connection" in message
    assert "may have been processed and billed" in message
    assert "did not resend" in message
    assert seen == Seen(1, [SPEAKER])


async def test_a_reset_of_the_free_metadata_poll_is_retried_and_the_upload_completes(rig: Rig) -> None:
    rig.faults({"metadata": [{"kind": "reset", "count": 1}]})
    result, seen, _ = await rig.upload()
    assert_uploaded(result)
    assert seen.processed.count("upload") == 1
    assert seen.processed.count("metadata") >= 2  # the reset one (processed, answer lost), then the retry


async def test_a_reset_of_an_upload_is_not_resent_and_the_agent_is_told(rig: Rig) -> None:
    rig.faults({"upload": [{"kind": "reset"}]})
    result, seen, _ = await rig.upload()
    message = error(result)
    assert "upload_media failed" in message
    assert "connection" in message
    assert seen == Seen(1, ["upload"])


async def test_a_reset_of_an_async_start_is_not_resent_and_its_result_still_arrives_by_webhook(rig: Rig) -> None:
    deliveries = len(rig.deliveries_after(0))
    rig.faults({ASYNC_AUDIO: [{"kind": "reset"}]})
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    message = error(result)
    assert "The connection to MAVI failed while waiting for the answer" in message
    assert_told_where_a_maybe_started_task_shows(message)
    assert seen == Seen(1, [ASYNC_AUDIO])
    task_id = await wait_for_delivery(rig, deliveries)
    kept = ok(await rig.client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10}))
    assert kept["status"] == "completed"
    assert len(kept["speakers"]) == 17
    await assert_listed_without_a_tool(rig, task_id)


# --- read timeout (the answer comes after MAVI_MCP_REQUEST_TIMEOUT) ------------------------------------------


async def test_a_read_timeout_of_a_billed_transcription_is_not_resent_and_says_it_may_be_billed(rig: Rig) -> None:
    rig.faults({AUDIO: [{"kind": "timeout", "seconds": 2 * READ_TIMEOUT}]})
    result, seen, took = await rig.call("transcribe_whisper", sync_whisper())
    message = error(result)
    assert "did not answer in time" in message
    assert "may still be processed (and billed)" in message
    assert "mode='async'" in message
    assert seen == Seen(1, [AUDIO])
    assert READ_TIMEOUT <= took < 2 * READ_TIMEOUT


async def test_a_read_timeout_of_the_free_metadata_poll_is_retried_and_the_upload_completes(rig: Rig) -> None:
    rig.faults({"metadata": [{"kind": "timeout", "seconds": 2 * READ_TIMEOUT, "count": 1}]})
    result, seen, took = await rig.upload()
    assert_uploaded(result)
    assert seen.processed.count("upload") == 1
    assert took >= READ_TIMEOUT


async def test_a_read_timeout_of_an_async_start_is_not_resent_and_its_result_still_arrives(rig: Rig) -> None:
    deliveries = len(rig.deliveries_after(0))
    rig.faults({ASYNC_AUDIO: [{"kind": "timeout", "seconds": 2 * READ_TIMEOUT}]})
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    message = error(result)
    assert "did not answer in time" in message
    assert_told_where_a_maybe_started_task_shows(message)
    assert seen == Seen(1, [ASYNC_AUDIO])
    task_id = await wait_for_delivery(rig, deliveries)
    assert ok(await rig.client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10}))["status"] == "completed"
    await assert_listed_without_a_tool(rig, task_id)


# --- 429 -------------------------------------------------------------------------------------------------------


async def test_a_429_with_retry_after_is_retried_after_that_many_seconds_and_billed_once(rig: Rig) -> None:
    rig.faults({SPEAKER: [{"kind": "status", "status": 429, "retry_after": "1", "count": 1}]})
    result, seen, took = await rig.call("identify_speakers", sync_speakers())
    assert_turns(result)
    assert seen == Seen(2, [SPEAKER])
    assert took >= 1.0


async def test_a_429_without_retry_after_is_retried_with_backoff_and_billed_once(rig: Rig) -> None:
    rig.faults({AUDIO: [{"kind": "status", "status": 429, "count": 2}]})
    result, seen, _ = await rig.call("transcribe_whisper", sync_whisper())
    assert_costco(result)
    assert seen == Seen(3, [AUDIO])


async def test_a_429_that_persists_stops_after_max_attempts_and_tells_the_agent_to_wait(rig: Rig) -> None:
    rig.faults({SPEAKER: [{"kind": "status", "status": 429}]})
    result, seen, _ = await rig.call("identify_speakers", sync_speakers())
    message = error(result)
    assert "rate limit" in message
    assert "HTTP 429" in message
    assert "Wait" in message
    assert seen == Seen(4, [])


async def test_a_429_asking_for_a_longer_wait_than_allowed_is_not_retried_and_the_wait_is_passed_on(rig: Rig) -> None:
    rig.faults({SPEAKER: [{"kind": "status", "status": 429, "retry_after": "120"}]})
    result, seen, took = await rig.call("identify_speakers", sync_speakers())
    message = error(result)
    assert "HTTP 429" in message
    assert "120 s" in message
    assert seen == Seen(1, [])
    assert took < 5


async def test_a_429_on_an_async_start_is_retried_and_the_result_arrives_by_webhook(rig: Rig) -> None:
    rig.faults({ASYNC_AUDIO: [{"kind": "status", "status": 429, "retry_after": "0", "count": 1}]})
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    assert_costco(result)
    assert ok(result)["endpoint"] == ASYNC_AUDIO
    assert seen == Seen(2, [ASYNC_AUDIO])


# --- 5xx bursts ------------------------------------------------------------------------------------------------


async def test_a_503_burst_on_a_billed_transcription_is_retried_because_503_means_not_processed(rig: Rig) -> None:
    rig.faults({SPEAKER: [{"kind": "status", "status": 503, "count": 2}]})
    result, seen, _ = await rig.call("identify_speakers", sync_speakers())
    assert_turns(result)
    assert seen == Seen(3, [SPEAKER])


@pytest.mark.parametrize("status", [500, 502])
async def test_a_500_or_502_on_a_billed_transcription_is_not_resent_and_says_it_may_be_billed(
    rig: Rig, status: int
) -> None:
    rig.faults({AUDIO: [{"kind": "status", "status": status, "count": 2}]})
    result, seen, _ = await rig.call("transcribe_whisper", sync_whisper())
    message = error(result)
    assert f"HTTP {status}" in message
    assert "did not resend" in message
    assert "may have been processed and billed" in message
    assert seen == Seen(1, [])


async def test_a_500_after_a_billed_transcription_was_processed_is_not_resent(rig: Rig) -> None:
    rig.faults({SPEAKER: [{"kind": "status_after", "status": 500}]})
    result, seen, _ = await rig.call("identify_speakers", sync_speakers())
    assert "did not resend" in error(result)
    assert seen == Seen(1, [SPEAKER])


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_burst_on_the_free_metadata_poll_is_retried_and_the_upload_completes(rig: Rig, status: int) -> None:
    rig.faults({"metadata": [{"kind": "status", "status": status, "count": 2}]})
    result, seen, _ = await rig.upload()
    assert_uploaded(result)
    assert seen.processed.count("upload") == 1
    assert seen.requests - len(seen.processed) == 2


async def test_a_5xx_that_persists_on_the_metadata_poll_stops_after_max_attempts_and_gives_the_uploaded_asset_id(
    rig: Rig,
) -> None:
    rig.faults({"metadata": [{"kind": "status", "status": 502}]})
    result, seen, _ = await rig.upload()
    message = error(result)
    assert "HTTP 502" in message
    assert seen == Seen(1 + 4, ["upload"])
    asset_id = await assert_the_uploaded_asset_is_reported(rig, message)
    rig.admin.delete("/_sandbox/faults")
    assert ok(await rig.client.call_tool("identify_speakers", {"asset_id": asset_id, "mode": "sync"}))["status"] == (
        "completed"
    )


async def test_a_503_on_an_upload_is_retried_and_the_file_is_uploaded_once(rig: Rig) -> None:
    rig.faults({"upload": [{"kind": "status", "status": 503, "count": 1}]})
    result, seen, _ = await rig.upload()
    assert_uploaded(result)
    assert seen.processed.count("upload") == 1
    assert seen.requests == 2 + seen.processed.count("metadata")


async def test_a_500_on_an_upload_is_not_resent_and_the_agent_is_told(rig: Rig) -> None:
    rig.faults({"upload": [{"kind": "status", "status": 500}]})
    result, seen, _ = await rig.upload()
    message = error(result)
    assert "upload_media failed" in message
    assert "HTTP 500" in message
    assert seen == Seen(1, [])


async def test_a_503_burst_on_an_async_start_is_retried_and_the_task_is_started_once(rig: Rig) -> None:
    rig.faults({ASYNC_AUDIO: [{"kind": "status", "status": 503, "count": 2}]})
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    assert_costco(result)
    assert seen == Seen(3, [ASYNC_AUDIO])


@pytest.mark.parametrize("status", [500, 502])
async def test_a_500_or_502_on_an_async_start_is_not_resent_and_says_where_its_result_would_show(
    rig: Rig, status: int
) -> None:
    rig.faults({ASYNC_AUDIO: [{"kind": "status", "status": status}]})
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    message = error(result)
    assert f"MAVI server error. ({ASYNC_AUDIO}; HTTP {status}" in message
    assert_told_where_a_maybe_started_task_shows(message)
    assert seen == Seen(1, [])


async def test_a_503_that_persists_on_an_async_start_is_not_said_to_show_in_list_tasks(rig: Rig) -> None:
    rig.faults({ASYNC_AUDIO: [{"kind": "status", "status": 503}]})
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    message = error(result)
    assert "HTTP 503" in message
    assert "list_tasks" not in message
    assert "not processed and nothing was billed" in message
    assert "may have been processed" not in message
    assert seen == Seen(4, [])


# --- HTTP 400 "Request has exceeded the limit." ----------------------------------------------------------------


async def test_the_ambiguous_limit_400_is_retried_once_and_then_billed_once(rig: Rig) -> None:
    rig.faults({AUDIO: [{"kind": "status", "status": 400, "count": 1}]})
    result, seen, _ = await rig.call("transcribe_whisper", sync_whisper())
    assert_costco(result)
    assert seen == Seen(2, [AUDIO])


async def test_the_ambiguous_limit_400_that_persists_lists_its_possible_causes_after_two_attempts(rig: Rig) -> None:
    rig.faults({SPEAKER: [{"kind": "status", "status": 400, "message": "Request has exceeded the limit."}]})
    result, seen, _ = await rig.call("identify_speakers", sync_speakers())
    message = error(result)
    assert "Request has exceeded the limit." in message
    assert "rate limit" in message
    assert "unknown or deleted asset_id" in message
    assert seen == Seen(2, [])


async def test_the_ambiguous_limit_400_on_an_async_start_is_retried_once(rig: Rig) -> None:
    rig.faults({ASYNC_AUDIO: [{"kind": "status", "status": 400, "count": 1}]})
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    assert_costco(result)
    assert seen == Seen(2, [ASYNC_AUDIO])


# --- bodies that cannot be read --------------------------------------------------------------------------------


async def test_a_truncated_body_of_a_billed_transcription_is_kept_raw_and_not_resent(rig: Rig) -> None:
    rig.faults({AUDIO: [{"kind": "truncated"}]})
    result, seen, _ = await rig.call("transcribe_whisper", sync_whisper())
    message = error(result)
    assert "not a JSON object" in message
    assert "raw answer was kept" in message
    assert seen == Seen(1, [AUDIO])
    (raw,) = rig.raw_results(task_of(message))
    assert raw.startswith(b'{"code":200,"msg":"success","data":{"model":"whisper-1","items":[')


async def test_a_truncated_body_of_the_free_metadata_poll_is_retried_and_the_upload_completes(rig: Rig) -> None:
    rig.faults({"metadata": [{"kind": "truncated", "count": 1}]})
    result, seen, _ = await rig.upload()
    assert_uploaded(result)
    assert seen.processed.count("upload") == 1


async def test_a_truncated_body_of_an_upload_is_not_resent_and_the_agent_is_told(rig: Rig) -> None:
    rig.faults({"upload": [{"kind": "truncated"}]})
    result, seen, _ = await rig.upload()
    message = error(result)
    assert "upload_media failed" in message
    assert "not a JSON object" in message
    assert seen == Seen(1, ["upload"])


async def test_an_unexpected_shape_of_a_billed_transcription_is_kept_raw_and_not_resent(rig: Rig) -> None:
    rig.faults({SPEAKER: [{"kind": "shape"}]})
    result, seen, _ = await rig.call("identify_speakers", sync_speakers())
    message = error(result)
    assert "does not recognise" in message
    assert "data.items" in message
    assert seen == Seen(1, [SPEAKER])
    (raw,) = rig.raw_results(task_of(message))
    assert b'"unexpected":"shape"' in raw


async def test_an_unexpected_shape_of_the_metadata_poll_is_reported_as_unreadable_not_as_an_unknown_asset(
    rig: Rig,
) -> None:
    rig.faults({"metadata": [{"kind": "shape"}]})
    result, seen, _ = await rig.upload()
    message = error(result)
    assert "does not recognise" in message
    assert "Check the id" not in message
    assert seen.processed[0] == "upload"
    await assert_the_uploaded_asset_is_reported(rig, message)
    assert "the raw answer was kept" in message
    (raw,) = rig.raw_results(task_of(message))
    assert b'"unexpected":"shape"' in raw


async def assert_an_unreadable_async_start_is_kept_and_its_result_still_arrives(rig: Rig, kind: str) -> str:
    """An async start whose answer cannot be read: not resent, the raw answer kept, the agent told that the task may
    run and be billed, and where its result will show; then the callback arrives and list_tasks lists it."""
    deliveries = len(rig.deliveries_after(0))
    kept_before = len(rig.untasked_raw_results(ASYNC_AUDIO))
    rig.faults({ASYNC_AUDIO: [{"kind": kind}]})
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    message = error(result)
    assert seen == Seen(1, [ASYNC_AUDIO])
    assert "the raw answer was kept" in message
    assert len(rig.untasked_raw_results(ASYNC_AUDIO)) == kept_before + 1
    assert "MAVI may have started the task, and billed it" in message
    assert "Do not start it again unless you accept paying twice" in message
    assert "list_tasks shows it under MAVI's task id" in message
    task_id = await wait_for_delivery(rig, deliveries)
    listed = ok(await rig.client.call_tool("list_tasks", {"limit": 5}))["tasks"]
    task = next(t for t in listed if t["task_id"] == task_id)
    assert (task["status"], task["tool"], task["endpoint"]) == ("completed", None, ASYNC_AUDIO)
    assert f"endpoint {ASYNC_AUDIO}" in message
    done = ok(await rig.client.call_tool("get_task", {"task_id": task_id}))
    assert done["status"] == "completed"
    assert len(done["speakers"]) == 17
    return message


async def test_an_unexpected_shape_of_an_async_start_is_kept_raw_not_resent_and_its_result_still_arrives(
    rig: Rig,
) -> None:
    message = await assert_an_unreadable_async_start_is_kept_and_its_result_still_arrives(rig, "shape")
    assert "does not recognise" in message
    assert b'"unexpected":"shape"' in rig.untasked_raw_results(ASYNC_AUDIO)[-1]


async def test_a_truncated_answer_to_an_async_start_is_kept_raw_not_resent_and_its_result_still_arrives(
    rig: Rig,
) -> None:
    message = await assert_an_unreadable_async_start_is_kept_and_its_result_still_arrives(rig, "truncated")
    assert "not a JSON object" in message
    assert rig.untasked_raw_results(ASYNC_AUDIO)[-1].startswith(b'{"code":"0000","msg":"success","data":{"task_id":')


async def test_a_truncated_answer_to_an_async_start_that_holds_the_whole_task_id_records_the_task_under_it(
    rig: Rig,
) -> None:
    deliveries = len(rig.deliveries_after(0))
    rig.faults({ASYNC_AUDIO: [{"kind": "truncated", "keep": -20}]})  # cut after `"task_id":"<32 hex>"},`
    result, seen, _ = await rig.call("transcribe_whisper", {**async_whisper(), "wait_seconds": 0})
    answer = ok(result)
    assert seen == Seen(1, [ASYNC_AUDIO])
    task_id = answer["task_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", task_id), answer
    assert answer["status"] in ("pending", "completed")
    if answer["status"] == "pending":
        assert f'get_task(task_id="{task_id}")' in text_of(result)
    assert await wait_for_delivery(rig, deliveries) == task_id
    done = ok(await rig.client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10}))
    assert (done["status"], done["task_id"], done["endpoint"]) == ("completed", task_id, ASYNC_AUDIO)
    assert len(done["speakers"]) == 17
    listed = ok(await rig.client.call_tool("list_tasks", {"limit": 5}))["tasks"]
    assert next(t for t in listed if t["task_id"] == task_id)["tool"] == "transcribe_whisper"
    (raw,) = rig.raw_results(task_id)  # the cut answer is kept, with the task it names
    assert raw.startswith(b'{"code":"0000","msg":"success","data":{"task_id":"' + task_id.encode() + b'"}')
    assert not raw.endswith(b"}")


# --- the documented envelope variants --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [200, "200", "0000"])
@pytest.mark.parametrize("key", ["msg", "message"])
async def test_every_documented_envelope_variant_is_a_success(rig: Rig, code: int | str, key: str) -> None:
    rig.faults({SPEAKER: [{"kind": "envelope", "code": code, "key": key}]})
    result, seen, _ = await rig.call("identify_speakers", sync_speakers())
    assert_turns(result)
    assert seen == Seen(1, [SPEAKER])


async def test_the_older_envelope_on_every_endpoint_still_uploads_and_starts_async_tasks(rig: Rig) -> None:
    rig.faults({"*": [{"kind": "envelope", "code": "0000", "key": "message"}]})
    uploaded, seen, _ = await rig.upload()
    assert_uploaded(uploaded)
    assert seen.processed[0] == "upload"
    result, seen, _ = await rig.call("transcribe_whisper", async_whisper())
    assert_costco(result)
    assert seen == Seen(1, [ASYNC_AUDIO])


def test_the_envelope_fault_sends_the_code_exactly_as_given(rig: Rig) -> None:
    for code in (200, "200", "0000"):
        rig.faults({SPEAKER: [{"kind": "envelope", "code": code, "key": "message"}]})
        response = rig.admin.post(
            "/transcriptions/sync-generate-speaker", json={"asset_id": AMI_ES2004A}, headers={"Authorization": API_KEY}
        )
        body = response.json()
        assert body["code"] == code
        assert type(body["code"]) is type(code)
        assert body["message"] == "success"
        assert "msg" not in body


# --- the API cannot be reached at all --------------------------------------------------------------------------


async def test_an_unreachable_api_is_retried_max_attempts_times_and_nothing_is_sent(tmp_path: Path) -> None:
    env = server_env(
        tmp_path, f"http://127.0.0.1:{free_port()}", MAVI_MCP_RATE_LIMIT="0", MAVI_MCP_MAX_RETRY_WAIT="0.2"
    )
    log = tmp_path / "server.log"
    with log.open("w") as errlog, anyio.fail_after(60):
        async with Client(stdio_client(stdio_params(env), errlog=errlog)) as client:
            message = error(await client.call_tool("identify_speakers", sync_speakers()))
    assert "Could not connect" in message
    assert "Check the network and MAVI_BASE_URL" in message
    retries = [line for line in log.read_text().splitlines() if "sync-generate-speaker attempt" in line]
    assert len(retries) == 3  # attempts 1..3 failed and were retried; the 4th failure is reported
