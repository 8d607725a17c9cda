"""The transcription tools' own checks, through the MCP client in memory against the sandbox app in process.

Page arguments (window, speakers) are checked before anything is sent: a typo must cost nothing. The sandbox
counts every request that reaches it (`Sandbox.requests`) and every one it processed, i.e. billed
(`Sandbox.processed`), so the tests see that nothing was sent.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mavi_mcp.sandbox.app import Sandbox
from mavi_mcp.sandbox.faults import Fault
from tests.conftest import in_process_server
from tests.helpers import error, ok, store_rows

pytestmark = pytest.mark.anyio

KEY = "sk-mavi-transcribe-test-0123456789"
SECRET = "transcribe-webhook-secret-0123456789"
SHORT = "re_700000000000000025"  # a short diarization (AMI)
WILDFIRES = "re_700000000000000004"


@dataclass
class Rig:
    client: Client
    sandbox: Sandbox
    data: Path
    sent: list[bytes]
    """Every request body that reached the sandbox, as sent."""

    def seen(self) -> tuple[int, list[str]]:
        return self.sandbox.requests, list(self.sandbox.processed)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The server over the in-process sandbox (`in_process_server`), recording every request body it sends."""
    sent: list[bytes] = []

    def recorded(app: ASGIApp) -> ASGIApp:
        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            async def received() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    sent.append(message.get("body", b""))
                return message

            await app(scope, received, send)

        return recording

    async with in_process_server(tmp_path / "data", [tmp_path], api_key=KEY, webhook_secret=SECRET, wrap=recorded) as (
        server,
        sandbox,
    ):
        with anyio.fail_after(60):
            async with Client(server) as client:
                yield Rig(client, sandbox, tmp_path / "data", sent)


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


# --- media URLs carry secrets ---------------------------------------------------------------------------------

SIGNED = (
    "https://ana:URLSECRET-password@media.example/calls/q1.mp3"
    "?X-Amz-Credential=AKIA%2FURLSECRET-credential&X-Amz-Signature=URLSECRET-signature&X-Amz-Expires=3600"
)
SHOWN = "https://…@media.example/calls/q1.mp3?…"
HOOK_WITH_TOKEN = "https://hooks.example/assemblyai?token=URLSECRET-hook-token"
URL_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("transcribe_assemblyai", {"url": SIGNED, "webhook_url": HOOK_WITH_TOKEN}),
    ("transcribe_assemblyai", {"source_url": SIGNED, "speaker_labels": True}),
    ("transcribe_elevenlabs", {"url": SIGNED}),
    ("transcribe_elevenlabs", {"source_url": SIGNED, "diarize": True}),
]


def everything_stored(data: Path) -> list[tuple[str, str]]:
    return store_rows(data / "mavi-mcp.sqlite3")


def assert_no_url_secret(where: str, text: str) -> None:
    assert "URLSECRET" not in text, f"{where}: {text[:500]}"


@pytest.mark.parametrize(("tool", "arguments"), URL_CALLS)
async def test_a_media_url_is_sent_to_mavi_in_full_but_stored_shown_and_logged_without_its_secrets(
    rig: Rig, tool: str, arguments: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await rig.client.call_tool(tool, {**arguments, "max_tokens": 500})
    page = ok(result)
    (body,) = [json.loads(b) for b in rig.sent if b.startswith(b"{")]
    assert body[next(k for k in ("url", "source_url") if k in arguments)] == SIGNED  # MAVI gets what it needs
    if "webhook_url" in arguments:
        assert body["webhook_url"] == HOOK_WITH_TOKEN
    first = result.content[0]
    assert first.type == "text"
    assert f"url {SHOWN}" in first.text  # the page header names the recording without its secrets
    assert "no audio was read from https://media.example/calls/q1.mp3." in first.text  # the sandbox's own words
    task = await rig.client.call_tool("get_task", {"task_id": page["task_id"]})
    listed = await rig.client.call_tool("list_tasks", {})
    pages = await rig.client.call_tool("get_transcript", {"transcript_id": page["transcript_id"], "format": "json"})
    resources = [
        await rig.client.read_resource(f"mavi://transcripts/{page['transcript_id']}"),
        await rig.client.read_resource(f"mavi://tasks/{page['task_id']}"),
    ]
    shown: list[tuple[str, str]] = []
    for name, answer in [(tool, result), ("get_task", task), ("list_tasks", listed), ("get_transcript", pages)]:
        shown += [(name, c.text) for c in answer.content if c.type == "text"]
        shown.append((name, json.dumps(answer.structured_content)))
    shown += [("resource", getattr(c, "text", "")) for r in resources for c in r.contents]
    stored = everything_stored(rig.data)
    in_json = json.dumps(SHOWN)[1:-1]
    assert any(in_json in text for where, text in stored if where == "table tasks"), "params keep the shown URL"
    assert any(where == "table raw_results" for where, _ in stored)
    for where, text in [*shown, *stored, ("log", caplog.text)]:
        assert_no_url_secret(where, text)


async def test_a_mavi_error_that_echoes_the_media_url_is_shown_and_stored_without_its_secrets(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = (
        f"Download error, unable to download {SIGNED} (403 Forbidden); also tried {SIGNED.replace('/', chr(92) + '/')}"
    )
    rig.sandbox.faults = {"speech-to-text": [Fault("status", status=400, message=echo)]}
    message = error(await rig.client.call_tool("transcribe_assemblyai", {"url": SIGNED}))
    assert f"Download error, unable to download {SHOWN} (403 Forbidden)" in message
    listed = ok(await rig.client.call_tool("list_tasks", {}))["tasks"]
    assert listed[0]["status"] == "failed"
    assert SHOWN in listed[0]["error"]
    for where, text in [("error", message), ("list_tasks", json.dumps(listed)), ("log", caplog.text)]:
        assert_no_url_secret(where, text)
    for where, text in everything_stored(rig.data):
        assert_no_url_secret(where, text)
