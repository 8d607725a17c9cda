"""Async endpoints: the documented callback bodies reach the webhook with the task's id; retries; bookkeeping.

The receiver is a small Starlette app reached in process through `httpx2.ASGITransport` (the sandbox's injected
delivery client). Every wait is `Sandbox.settled(task_id)` bounded by `anyio.fail_after`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mavi_mcp.sandbox import ASSETS, SandboxConfig, catalog
from mavi_mcp.sandbox.app import Sandbox
from mavi_mcp.sandbox.catalog import BY_ID
from mavi_mcp.wire import CallbackEnvelope, MultiSpeakerCallbackResult, SpeakerCallbackResult, WhisperCallbackResult
from tests.helpers import AMI_EN2002B, HOOK, LIMIT, NO_WEBHOOK, assert_error, config, serve, upload

pytestmark = pytest.mark.anyio

ASSET_IDS = [pytest.param(a.asset_id, id=a.recording) for a in ASSETS]
LABELLED_WORDS = {
    "4430051",
    "4474506",
    "4320211",
    "vercel_ai_elevenlabs-transcription",
    "vercel_ai_issue-22052-diarized",
}
"""Recordings with real words AND speakers: their multi-speaker callback is real or built from real results."""


@dataclass
class Receiver:
    """Answers with `statuses` in turn (then 200) and keeps every delivery's body and content type."""

    statuses: list[int] = field(default_factory=list[int])
    bodies: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    content_types: list[str] = field(default_factory=list[str])
    paths: list[str] = field(default_factory=list[str])

    async def hook(self, request: Request) -> Response:
        self.bodies.append(json.loads(await request.body()))
        self.content_types.append(request.headers["content-type"])
        self.paths.append(request.url.path)
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook/{secret}", self.hook, methods=["POST"])])


@asynccontextmanager
async def running(
    receiver: Receiver, settings: SandboxConfig | None = None, **changes: Any
) -> AsyncGenerator[tuple[Sandbox, httpx2.AsyncClient]]:
    """A sandbox whose callbacks reach `receiver` in process; fast retries unless `changes` say otherwise."""
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=receiver.app)) as deliveries:
        values: dict[str, Any] = {"webhook_client": deliveries, "callback_delay": 0.0, "callback_backoff": 0.001}
        async with serve(settings or config(**{**values, **changes})) as (sandbox, http):
            yield sandbox, http


async def start(http: httpx2.AsyncClient, endpoint: str, body: dict[str, Any]) -> str:
    response = await http.post(f"/transcriptions/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert (envelope["code"], envelope["msg"], envelope["success"], envelope["failed"]) == (
        "0000",
        "success",
        True,
        False,
    )
    task_id: str = envelope["data"]["task_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    return task_id


async def settle(sandbox: Sandbox, task_id: str) -> list[tuple[int, int | None, str | None]]:
    """`(attempt, status, error)` of each delivery attempt, once the task's callback is settled."""
    with anyio.fail_after(5):
        attempts = await sandbox.settled(task_id)
    return [(a.attempt, a.status, a.error) for a in attempts]


def inner(body: dict[str, Any], msg: str) -> Any:
    """The callback's `data.data`, after checking the documented envelope around it."""
    envelope = CallbackEnvelope.model_validate(body)
    assert (envelope.code, envelope.message) == ("0000", "SUCCESS")
    assert envelope.data is not None
    assert (envelope.data.msg, envelope.data.success) == (msg, True)
    assert set(body) == {"code", "message", "data", "task_id"}
    return envelope.data.data


# --- bodies --------------------------------------------------------------------------------------


async def test_a_whisper_callback_with_speakers_is_the_recorded_callback_with_the_real_task_id() -> None:
    receiver = Receiver()
    async with running(receiver) as (sandbox, http):
        task_id = await start(http, "async-generate-audio", {"asset_id": "re_700000000000000001", "speaker": True})
        assert await settle(sandbox, task_id) == [(1, 200, None)]
    recorded = catalog.body("async-generate-audio-callback", "4430051")
    assert recorded is not None
    assert receiver.bodies == [{**recorded, "task_id": task_id}]
    result = WhisperCallbackResult.model_validate(inner(receiver.bodies[0], "ASR transcription completed successfully"))
    assert (len(result.data), result.data[1].speaker) == (441, "SPEAKER_01")
    assert result.data[1].text == " Good afternoon. I am Joong-suk Oh, Head of IR Planning at SK Telecom."
    assert receiver.content_types == ["application/json"]
    assert receiver.paths == ["/hook/s3cret"]


async def test_a_whisper_callback_without_speakers_has_null_speakers_and_a_usage_object() -> None:
    receiver = Receiver()
    async with running(receiver) as (sandbox, http):
        task_id = await start(http, "async-generate-audio", {"asset_id": "re_700000000000000002", "model": "whisper-1"})
        await settle(sandbox, task_id)
    data = inner(receiver.bodies[0], "ASR transcription completed successfully")
    segments = data["data"]
    assert len(segments) == 551
    assert segments[0] == {
        "start_time": 2.52,
        "end_time": 7.16,
        "text": " Good day and thank you for standing by and welcome to the q one Earnings Call.",
        "speaker": None,
    }
    assert data["usage_metadata"] == {"duration": 3973, "model": "whisper-1", "output_tokens": 0, "prompt_tokens": 0}


async def test_a_speaker_callback_carries_the_real_turns_and_a_usage_object() -> None:
    receiver = Receiver()
    async with running(receiver) as (sandbox, http):
        task_id = await start(http, "async-generate-speaker", {"asset_id": "re_700000000000000022"})
        await settle(sandbox, task_id)
    assert receiver.bodies[0]["task_id"] == task_id
    data = inner(receiver.bodies[0], "Task completed successfully")
    result = SpeakerCallbackResult.model_validate(data)
    assert (len(result.data), result.data[0].start, result.data[0].speaker) == (217, 0.48, "SPEAKER_01")
    assert data["usage_metadata"] == {"duration": 996, "model": "pyannote", "output_tokens": 0, "prompt_tokens": 0}


async def test_a_multi_speaker_callback_names_the_speakers_and_has_a_usage_array() -> None:
    receiver = Receiver()
    async with running(receiver) as (sandbox, http):
        task_id = await start(http, "async-generate-multi-speaker", {"asset_id": "re_700000000000000003"})
        await settle(sandbox, task_id)
    assert receiver.bodies[0]["task_id"] == task_id
    data = inner(receiver.bodies[0], "Multimodal ASR completed successfully")
    result = MultiSpeakerCallbackResult.model_validate(data)
    assert len(result.audio_transcription) == 420
    assert result.audio_transcription[-1].speaker == "Maureen Mulholland"
    assert len({s.speaker for s in result.audio_transcription}) == 10
    assert {"Brett Ponton", "Brian D'Ambrosia"} <= {s.speaker for s in result.audio_transcription}
    assert result.faces == []
    assert isinstance(data["usage_metadata"], list)


@pytest.mark.parametrize("asset_id", ASSET_IDS)
async def test_every_preloaded_asset_calls_back_on_every_async_endpoint_with_its_sync_results(asset_id: str) -> None:
    item = BY_ID[asset_id]
    receiver = Receiver()
    async with running(receiver) as (sandbox, http):
        speaker = await start(http, "async-generate-speaker", {"asset_id": asset_id})
        audio = await start(http, "async-generate-audio", {"asset_id": asset_id, "speaker": True})
        multi = await start(http, "async-generate-multi-speaker", {"asset_id": asset_id})
        turns = (await http.post("/transcriptions/sync-generate-speaker", json={"asset_id": asset_id})).json()
        whisper = (
            await http.post("/transcriptions/sync-generate-audio", json={"asset_id": asset_id, "speaker": True})
        ).json()
        for task_id in (speaker, audio, multi):
            assert await settle(sandbox, task_id) == [(1, 200, None)]
    by_task = {body["task_id"]: body for body in receiver.bodies}
    assert set(by_task) == {speaker, audio, multi}
    assert inner(by_task[speaker], "Task completed successfully")["data"] == turns["data"]["items"]
    segments = inner(by_task[audio], "ASR transcription completed successfully")["data"]
    assert segments == [
        {"start_time": i["start_time"], "end_time": i["end_time"], "text": i["text"], "speaker": i["speaker"]}
        for i in whisper["data"]["items"]
    ]
    result = MultiSpeakerCallbackResult.model_validate(inner(by_task[multi], "Multimodal ASR completed successfully"))
    first = result.audio_transcription[0]
    if item.recording in LABELLED_WORDS:
        assert first.text == segments[0]["text"].strip()
        assert (first.start_time, first.end_time) == (segments[0]["start_time"], segments[0]["end_time"])
        assert first.speaker is not None
        assert not first.speaker.startswith("[MAVI")
    else:
        [only] = result.audio_transcription
        assert only.text.startswith("[MAVI sandbox] Only ")
        assert (only.start_time, only.end_time, only.speaker) == (0.0, item.duration, "MAVI Sandbox")


async def test_an_uploads_callbacks_carry_the_sandbox_text_over_its_real_duration() -> None:
    receiver = Receiver()
    async with running(receiver, upload_processing_seconds=0) as (sandbox, http):
        asset_id = await upload(http, "standup.wav")
        ids = [
            await start(http, "async-generate-audio", {"asset_id": asset_id}),
            await start(http, "async-generate-speaker", {"asset_id": asset_id}),
            await start(http, "async-generate-multi-speaker", {"asset_id": asset_id}),
        ]
        for task_id in ids:
            await settle(sandbox, task_id)
    text = (
        "[MAVI sandbox] No speech recognition ran: this is the built-in simulator. It received 'standup.wav' (2.0 s)."
    )
    audio, speaker, multi = (next(b for b in receiver.bodies if b["task_id"] == t)["data"]["data"] for t in ids)
    assert audio["data"] == [{"start_time": 0.0, "end_time": 2.0, "text": " " + text, "speaker": None}]
    assert speaker["data"] == [{"start": 0.0, "end": 2.0, "speaker": "SPEAKER_00"}]
    assert multi["audio_transcription"] == [
        {"start_time": 0.0, "end_time": 2.0, "speaker": "MAVI Sandbox", "text": text}
    ]


async def test_each_task_gets_its_own_id_and_its_own_delivery() -> None:
    receiver = Receiver()
    async with running(receiver) as (sandbox, http):
        ids = [await start(http, "async-generate-speaker", {"asset_id": "re_700000000000000021"}) for _ in range(3)]
        for task_id in ids:
            assert await settle(sandbox, task_id) == [(1, 200, None)]
    assert len(set(ids)) == 3
    assert sorted(body["task_id"] for body in receiver.bodies) == sorted(ids)
    assert sandbox.processed == ["async-generate-speaker"] * 3


async def test_the_callback_comes_only_after_the_configured_delay() -> None:
    receiver = Receiver()
    async with running(receiver, callback_delay=0.3) as (sandbox, http):
        started = anyio.current_time()
        task_id = await start(http, "async-generate-speaker", {"asset_id": AMI_EN2002B})
        assert receiver.bodies == []
        await settle(sandbox, task_id)
        waited = anyio.current_time() - started
    assert waited >= 0.3
    assert [b["task_id"] for b in receiver.bodies] == [task_id]


# --- retries and bookkeeping ---------------------------------------------------------------------


async def test_a_failing_receiver_is_retried_until_it_answers_2xx_and_every_attempt_is_recorded() -> None:
    receiver = Receiver(statuses=[500, 503])
    async with running(receiver) as (sandbox, http):
        task_id = await start(http, "async-generate-speaker", {"asset_id": AMI_EN2002B})
        assert await settle(sandbox, task_id) == [(1, 500, None), (2, 503, None), (3, 200, None)]
        records = (await http.get("/_sandbox/deliveries")).json()
    assert [b["task_id"] for b in receiver.bodies] == [task_id] * 3  # the receiver sees the same task thrice
    assert [(r["task_id"], r["url"], r["attempt"], r["status"], r["error"]) for r in records] == [
        (task_id, HOOK, 1, 500, None),
        (task_id, HOOK, 2, 503, None),
        (task_id, HOOK, 3, 200, None),
    ]
    assert set(records[0]) == {"task_id", "url", "attempt", "status", "error", "at"}
    assert records[0]["at"] <= records[2]["at"]


async def test_a_receiver_that_never_accepts_is_given_up_after_the_configured_attempts() -> None:
    receiver = Receiver(statuses=[500] * 10)
    async with running(receiver, callback_attempts=4) as (sandbox, http):
        task_id = await start(http, "async-generate-audio", {"asset_id": "re_700000000000000005"})
        assert await settle(sandbox, task_id) == [(n, 500, None) for n in (1, 2, 3, 4)]
    assert len(receiver.bodies) == 4


async def test_retries_back_off_doubling_from_the_configured_backoff() -> None:
    receiver = Receiver(statuses=[500, 500])
    async with running(receiver, callback_backoff=0.1) as (sandbox, http):
        task_id = await start(http, "async-generate-speaker", {"asset_id": AMI_EN2002B})
        await settle(sandbox, task_id)
    at = [d.at for d in sandbox.deliveries]
    assert at[1] - at[0] >= 0.09
    assert at[2] - at[1] >= 0.19


async def test_an_unreachable_receiver_is_recorded_as_connection_errors_and_given_up() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(refuse)) as deliveries:
        settings = config(webhook_client=deliveries, callback_attempts=2, callback_backoff=0.001)
        async with serve(settings) as (sandbox, http):
            task_id = await start(http, "async-generate-speaker", {"asset_id": "re_700000000000000023"})
            assert await settle(sandbox, task_id) == [(1, None, "ConnectError"), (2, None, "ConnectError")]


async def test_the_webhook_set_in_the_console_receives_later_tasks_and_a_task_keeps_the_url_it_started_with() -> None:
    receiver = Receiver()
    async with running(receiver, webhook_url=None, callback_delay=0.2) as (sandbox, http):
        refused = await http.post("/transcriptions/async-generate-speaker", json={"asset_id": "re_700000000000000024"})
        assert_error(refused, 400, NO_WEBHOOK)
        await http.put("/_sandbox/webhook", json={"url": "http://receiver.invalid/hook/first"})
        first = await start(http, "async-generate-speaker", {"asset_id": "re_700000000000000024"})
        await http.put("/_sandbox/webhook", json={"url": "http://receiver.invalid/hook/second"})
        second = await start(http, "async-generate-speaker", {"asset_id": "re_700000000000000024"})
        await settle(sandbox, first)
        await settle(sandbox, second)
    by_task = {body["task_id"]: path for body, path in zip(receiver.bodies, receiver.paths, strict=True)}
    assert by_task == {first: "/hook/first", second: "/hook/second"}


async def test_an_async_call_refused_for_its_body_schedules_nothing() -> None:
    receiver = Receiver()
    async with running(receiver) as (sandbox, http):
        refused = await http.post("/transcriptions/async-generate-audio", json={"asset_id": AMI_EN2002B, "model": "x"})
        assert_error(refused, 400, LIMIT)
    assert (sandbox.deliveries, sandbox.processed, receiver.bodies) == ([], [], [])


async def test_leaving_running_cancels_deliveries_not_yet_made() -> None:
    receiver = Receiver()
    async with running(receiver, callback_delay=60) as (sandbox, http):
        task_id = await start(http, "async-generate-speaker", {"asset_id": "re_700000000000000025"})
    assert await settle(sandbox, task_id) == []
    assert receiver.bodies == []
