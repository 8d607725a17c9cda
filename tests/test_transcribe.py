"""The transcription tools' own checks, through the MCP client in memory against the sandbox app in process.

Page arguments (window, speakers) are checked before anything is sent: a typo must cost nothing. The sandbox
counts every request that reaches it (`Sandbox.requests`) and every one it processed, i.e. billed
(`Sandbox.processed`), so the tests see that nothing was sent.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from starlette.types import Receive, Scope, Send

from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.sandbox import SandboxConfig, create_app
from mavi_mcp.sandbox.app import Sandbox
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.webhook import receiver_app
from tests.test_e2e import error, ok

pytestmark = pytest.mark.anyio

KEY = "sk-mavi-transcribe-test-0123456789"
SECRET = "transcribe-webhook-secret-0123456789"
SHORT = "re_700000000000000025"  # a short diarization (AMI)
WILDFIRES = "re_700000000000000004"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Rig:
    client: Client
    sandbox: Sandbox

    def seen(self) -> tuple[int, list[str]]:
        return self.sandbox.requests, list(self.sandbox.processed)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The server over the in-process sandbox (no rate limit); callbacks reach its receiver in process, and the
    receiver counts as running (transport streamable-http), so async modes are allowed."""
    holder: RuntimeHolder | None = None

    async def receiver(scope: Scope, receive: Receive, send: Send) -> None:
        runtime = holder.current if holder is not None else None
        assert runtime is not None
        await receiver_app(runtime.receiver)(scope, receive, send)

    deliveries = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=receiver))
    sandbox = create_app(
        SandboxConfig(
            rate_limit=False,
            webhook_url=f"http://mavi-mcp.test/webhooks/mavi/{SECRET}",
            webhook_client=deliveries,
            callback_delay=0.0,
        )
    )
    config = Settings(
        api_key=KEY,  # pyright: ignore[reportArgumentType]
        base_url="http://mavi.test",
        data_dir=tmp_path / "data",
        allowed_dirs=[tmp_path],
        rate_limit=0,
        max_retry_wait=0,
        transport="streamable-http",
        webhook_secret=SECRET,  # pyright: ignore[reportArgumentType]
        log_level="WARNING",
    )
    async with deliveries, sandbox.running():
        holder = RuntimeHolder(config, transport=httpx2.ASGITransport(app=sandbox.app))
        with anyio.fail_after(60):
            async with Client(create_server(config, holder=holder)) as client:
                yield Rig(client, sandbox)


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("identify_speakers", {"asset_id": SHORT, "mode": "sync"}),
    ("identify_speakers", {"asset_id": SHORT, "mode": "async"}),
    ("transcribe_whisper", {"asset_id": SHORT, "mode": "sync"}),
    ("transcribe_whisper", {"asset_id": SHORT, "mode": "async", "speaker": True}),
    ("transcribe_assemblyai", {"asset_id": WILDFIRES}),
    ("transcribe_elevenlabs", {"asset_id": WILDFIRES}),
    ("multi_speaker_async", {"asset_id": SHORT}),
]
BAD_PAGES: list[tuple[dict[str, Any], str]] = [
    ({"start": "nan"}, "is not a time"),
    ({"start": "99:99"}, "is not a valid clock time"),
    ({"end": -1}, "finite number of seconds >= 0"),
    ({"start": "2:00", "end": "1:00"}, "end (60.0 s) must be after start (120.0 s)"),
    ({"start": 30, "end": 30}, "must be after start"),
    ({"speakers": ["SPEAKER_00", "  "]}, "speakers: an entry is blank"),
]


@pytest.mark.parametrize(("bad", "expected"), BAD_PAGES)
@pytest.mark.parametrize(("tool", "arguments"), CALLS)
async def test_bad_page_arguments_are_refused_before_anything_is_sent_or_billed(
    rig: Rig, tool: str, arguments: dict[str, Any], bad: dict[str, Any], expected: str
) -> None:
    before = rig.seen()
    message = error(await rig.client.call_tool(tool, {**arguments, **bad}))
    assert expected in message
    assert "Nothing was sent or billed." in message
    assert "internal error" not in message
    assert rig.seen() == before
    assert ok(await rig.client.call_tool("list_tasks", {}))["tasks"] == []


@pytest.mark.parametrize(("tool", "arguments"), CALLS)
async def test_the_same_calls_with_good_page_arguments_reach_mavi(
    rig: Rig, tool: str, arguments: dict[str, Any]
) -> None:
    """The control of the test above: the sandbox does see these calls when the arguments are good."""
    result = ok(await rig.client.call_tool(tool, {**arguments, "start": "0:10", "end": 60, "wait_seconds": 0}))
    assert result["task_id"]
    with anyio.fail_after(20):
        while not rig.sandbox.processed:
            await anyio.sleep(0.05)
    assert rig.sandbox.requests >= 1


async def test_an_unknown_speaker_is_refused_after_the_paid_result_is_stored_and_names_the_transcript(
    rig: Rig,
) -> None:
    message = error(
        await rig.client.call_tool("identify_speakers", {"asset_id": SHORT, "mode": "sync", "speakers": ["Nobody"]})
    )
    assert "No speaker 'Nobody'" in message
    assert rig.sandbox.processed == ["sync-generate-speaker"]
    match = re.search(r'The transcript is stored: read it with get_transcript\(transcript_id="(tr_\w+)"\)', message)
    assert match, message
    page = ok(await rig.client.call_tool("get_transcript", {"transcript_id": match.group(1)}))
    assert page["endpoint"] == "sync-generate-speaker"
    assert rig.sandbox.processed == ["sync-generate-speaker"]
