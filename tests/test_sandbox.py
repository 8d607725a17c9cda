"""The sandbox's HTTP surface: auth, rate limit, envelopes, the vendor's error texts, uploads, the console, the
real client against it, and `python -m mavi_mcp.sandbox` as a real process.

Most tests drive the ASGI app in process through `httpx2.ASGITransport` inside `async with sandbox.running():`;
time moves through an injected clock (`SandboxConfig.clock`), never by sleeping. The helpers here (`serve`,
`FakeClock`, `wav_bytes`, `assert_error`) are shared by the other `test_sandbox_*` files.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mavi_mcp.client import MaviClient
from mavi_mcp.endpoints import ASYNC_AUDIO, ASYNC_SPEAKER
from mavi_mcp.errors import AmbiguousLimitError, AuthenticationError, NotFoundError, RequestRejectedError
from mavi_mcp.sandbox import ASSETS, SandboxConfig, create_app
from mavi_mcp.sandbox.app import Sandbox
from mavi_mcp.shapes import ASSEMBLYAI, ELEVENLABS, SPEAKER_TURNS, WHISPER, WHISPER_SPEAKER
from tests.conftest import start_sandbox
from tests.helpers import (
    AMI_EN2002B,
    HOOK,
    KEY,
    LIMIT,
    NO_WEBHOOK,
    SK_TELECOM,
    FakeClock,
    assert_error,
    config,
    serve,
    upload,
    wav_bytes,
)

pytestmark = pytest.mark.anyio

NO_ASSET_ID = "asset_id cannot be null or empty"
COSTCO = "re_700000000000000002"
UNKNOWN = "re_123456789012345678"
TRANSCRIPTIONS = (
    "/transcriptions/sync-generate-speaker",
    "/transcriptions/sync-generate-audio",
    "/transcriptions/async-generate-audio",
    "/transcriptions/async-generate-speaker",
    "/transcriptions/async-generate-multi-speaker",
)
ASYNC = tuple(p for p in TRANSCRIPTIONS if "async" in p)


# --- auth ----------------------------------------------------------------------------------------


async def test_a_request_without_a_key_or_with_a_blank_one_is_refused_with_401_unauthorized() -> None:
    async with serve(key=None) as (sandbox, http):
        assert_error(await http.get(f"/{SK_TELECOM}/metadata"), 401, "Unauthorized")
        assert_error(await http.get(f"/{SK_TELECOM}/metadata", headers={"Authorization": "   "}), 401, "Unauthorized")
        assert_error(await http.post("/upload", files={"file": ("a.wav", wav_bytes(1))}), 401, "Unauthorized")
    assert (sandbox.requests, sandbox.processed, sandbox.uploads) == (3, [], {})


async def test_a_bearer_prefixed_key_is_refused_because_mavi_keys_are_sent_bare() -> None:
    async with serve(key=f"Bearer {KEY}") as (_, http):
        assert_error(await http.get(f"/{SK_TELECOM}/metadata"), 401, "Unauthorized")
        assert_error(
            await http.get(f"/{SK_TELECOM}/metadata", headers={"Authorization": f"bearer {KEY}"}), 401, "Unauthorized"
        )
        assert (await http.get(f"/{SK_TELECOM}/metadata", headers={"Authorization": KEY})).status_code == 200


async def test_with_a_configured_key_only_that_key_is_accepted() -> None:
    async with serve(config(api_key="sk-the-only-one"), key="sk-another") as (_, http):
        assert_error(await http.get(f"/{SK_TELECOM}/metadata"), 401, "Unauthorized")
        body = {"asset_id": AMI_EN2002B}
        assert_error(await http.post("/transcriptions/sync-generate-speaker", json=body), 401, "Unauthorized")
        accepted = await http.get(f"/{SK_TELECOM}/metadata", headers={"Authorization": "sk-the-only-one"})
    assert accepted.json()["data"]["resource"][0]["asset_id"] == SK_TELECOM


async def test_without_a_configured_key_any_non_empty_key_of_any_prefix_is_accepted() -> None:
    async with serve() as (_, http):
        for key in ("sk-mavi-abc", "sk-mai-abc", "anything"):
            answer = await http.get(f"/{SK_TELECOM}/metadata", headers={"Authorization": key})
            assert answer.json()["data"]["total"] == 1


async def test_the_console_routes_need_no_key() -> None:
    async with serve(key=None) as (_, http):
        assets = (await http.get("/_sandbox/assets")).json()
        assert (await http.get("/_sandbox/deliveries")).json() == []
        assert (await http.get("/_sandbox/webhook")).json() == {"url": HOOK}
        assert (await http.get("/_sandbox/faults")).json() == {}
        assert (await http.get("/_sandbox/processed")).json() == {"processed": [], "requests": 0}
    assert len(assets) == len(ASSETS)


# --- rate limit ----------------------------------------------------------------------------------


async def test_two_quick_requests_of_one_key_get_the_ambiguous_400_on_the_second_whatever_the_endpoint() -> None:
    async with serve(config(rate_limit=True)) as (sandbox, http):
        first = await http.get(f"/{SK_TELECOM}/metadata")
        second = await http.post("/transcriptions/sync-generate-speaker", json={"asset_id": AMI_EN2002B})
    assert first.status_code == 200
    assert_error(second, 400, LIMIT)
    assert sandbox.processed == ["metadata"]


async def test_the_window_is_one_second_after_the_last_accepted_request_of_each_key() -> None:
    clock = FakeClock()
    async with serve(config(rate_limit=True, clock=clock)) as (_, http):
        path = f"/{SK_TELECOM}/metadata"
        assert (await http.get(path)).status_code == 200
        clock.now += 0.6
        assert_error(await http.get(path), 400, LIMIT)
        assert (await http.get(path, headers={"Authorization": "sk-other-account"})).status_code == 200
        clock.now += 0.5  # 1.1 s after the accepted request: the refused one did not move the window
        assert (await http.get(path)).status_code == 200
        clock.now += 0.99
        assert_error(await http.get(path), 400, LIMIT)
        clock.now += 0.01
        assert (await http.get(path)).status_code == 200


async def test_requests_refused_for_their_content_still_count_against_the_rate_limit() -> None:
    clock = FakeClock()
    async with serve(config(rate_limit=True, clock=clock)) as (_, http):
        assert_error(await http.post("/transcriptions/sync-generate-speaker", json={}), 400, NO_ASSET_ID)
        assert_error(await http.get(f"/{SK_TELECOM}/metadata"), 400, LIMIT)


async def test_a_refused_key_does_not_use_up_the_window_of_the_right_one() -> None:
    clock = FakeClock()
    async with serve(config(rate_limit=True, clock=clock, api_key=KEY)) as (_, http):
        assert_error(
            await http.get(f"/{SK_TELECOM}/metadata", headers={"Authorization": "sk-wrong"}), 401, "Unauthorized"
        )
        assert (await http.get(f"/{SK_TELECOM}/metadata")).status_code == 200


async def test_with_the_rate_limit_off_quick_requests_are_all_answered() -> None:
    async with serve() as (sandbox, http):
        answers = [await http.get(f"/{SK_TELECOM}/metadata") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert sandbox.processed == ["metadata"] * 5


# --- the vendor's error texts --------------------------------------------------------------------


@pytest.mark.parametrize("path", TRANSCRIPTIONS)
@pytest.mark.parametrize("body", [{}, {"asset_id": None}, {"asset_id": ""}, {"asset_id": "   "}])
async def test_a_missing_or_empty_asset_id_gets_the_documented_text(path: str, body: dict[str, Any]) -> None:
    async with serve() as (sandbox, http):
        assert_error(await http.post(path, json=body), 400, NO_ASSET_ID)
    assert sandbox.processed == []


@pytest.mark.parametrize("path", [*TRANSCRIPTIONS, "/transcriptions/speech-to-text"])
async def test_an_unknown_asset_id_gets_request_has_exceeded_the_limit(path: str) -> None:
    async with serve() as (sandbox, http):
        assert_error(await http.post(path, json={"asset_id": UNKNOWN, "provider": "assemblyai"}), 400, LIMIT)
    assert (sandbox.processed, sandbox.deliveries) == ([], [])


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/transcriptions/sync-generate-audio", {"model": "whisper-2"}),
        ("/transcriptions/async-generate-audio", {"model": "gpt-4o-transcribe"}),
        ("/transcriptions/sync-generate-audio", {"speaker": "true"}),
        ("/transcriptions/sync-generate-audio", {"asset_id": 1234}),
        ("/transcriptions/sync-generate-speaker", {"asset_id": [SK_TELECOM]}),
        ("/transcriptions/speech-to-text", {"provider": "deepgram"}),
        ("/transcriptions/speech-to-text", {"provider": None}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "asset_id": 7}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "speaker_labels": 1}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "speakers_expected": 0}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "speakers_expected": 2.5}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "audio_start_from": -5}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "audio_start_from": 9000, "audio_end_at": 100}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "speech_threshold": 1.5}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "speech_threshold": True}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "summary_type": "essay"}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "word_boost": "wildfire"}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "word_boost": ["ok", 3]}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "custom_spelling": ["from", "to"]}),
        ("/transcriptions/speech-to-text", {"provider": "assemblyai", "language_code": 12}),
        ("/transcriptions/speech-to-text", {"provider": "elevenlabs", "diarize": "yes"}),
        ("/transcriptions/speech-to-text", {"provider": "elevenlabs", "timestamps_granularity": "character"}),
        ("/transcriptions/speech-to-text", {"provider": "elevenlabs", "model_id": "scribe_v9"}),
        ("/transcriptions/speech-to-text", {"provider": "elevenlabs", "num_speakers": 40}),
        ("/transcriptions/speech-to-text", {"provider": "elevenlabs", "num_speakers": 0}),
        ("/transcriptions/speech-to-text", {"provider": "elevenlabs", "file_format": "mp3"}),
        ("/transcriptions/speech-to-text", {"provider": "elevenlabs", "tag_audio_events": "no"}),
    ],
)
async def test_undocumented_validation_failures_get_the_ambiguous_text(path: str, body: dict[str, Any]) -> None:
    async with serve() as (sandbox, http):
        assert_error(await http.post(path, json={"asset_id": SK_TELECOM, **body}), 400, LIMIT)
    assert (sandbox.processed, sandbox.deliveries) == ([], [])


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "assemblyai"},
        {"provider": "elevenlabs", "asset_id": "", "url": None, "source_url": "  "},
        {"url": "https://assembly.ai/wildfires.mp3"},
        {"provider": "assemblyai", "url": "ftp://example.com/a.mp3"},
        {"provider": "assemblyai", "url": "wildfires.mp3"},
        {"provider": "elevenlabs", "source_url": "s3://bucket/a.mp3"},
    ],
)
async def test_speech_to_text_without_a_usable_audio_source_or_provider_gets_the_ambiguous_text(
    body: dict[str, Any],
) -> None:
    async with serve() as (_, http):
        assert_error(await http.post("/transcriptions/speech-to-text", json=body), 400, LIMIT)


async def test_json_null_options_count_as_absent() -> None:
    async with serve() as (_, http):
        whisper = await http.post(
            "/transcriptions/sync-generate-audio", json={"asset_id": COSTCO, "model": None, "speaker": None}
        )
        stt = await http.post(
            "/transcriptions/speech-to-text",
            json={"provider": "assemblyai", "asset_id": COSTCO, "speaker_labels": None, "word_boost": None},
        )
    assert whisper.json()["data"]["items"][0]["text"].startswith(" Good day and thank you")
    assert "speaker" not in whisper.json()["data"]["items"][0]
    assert stt.json()["data"]["utterances"] is None


async def test_metadata_and_delete_of_an_unknown_asset_say_asset_not_found() -> None:
    async with serve() as (sandbox, http):
        assert_error(await http.get(f"/{UNKNOWN}/metadata"), 400, "Asset not found")
        assert_error(await http.delete(f"/{UNKNOWN}"), 400, "Asset not found")
    assert sandbox.processed == []


@pytest.mark.parametrize("path", ASYNC)
@pytest.mark.parametrize("body", [{"asset_id": SK_TELECOM}, {}, {"asset_id": UNKNOWN, "model": "x"}])
async def test_an_async_call_without_a_webhook_gets_the_documented_text_before_its_body_is_read(
    path: str, body: dict[str, Any]
) -> None:
    async with serve(config(webhook_url=None)) as (sandbox, http):
        assert_error(await http.post(path, json=body), 400, NO_WEBHOOK)
        assert_error(
            await http.post(path, content=b"{not json", headers={"Content-Type": "application/json"}), 400, NO_WEBHOOK
        )
    assert (sandbox.processed, sandbox.deliveries) == ([], [])


async def test_a_non_json_content_type_gets_415_and_a_body_that_is_not_a_json_object_the_ambiguous_400() -> None:
    path = "/transcriptions/sync-generate-speaker"
    async with serve() as (sandbox, http):
        as_text = await http.post(
            path, content=f'{{"asset_id": "{AMI_EN2002B}"}}', headers={"Content-Type": "text/plain"}
        )
        as_form = await http.post(path, data={"asset_id": AMI_EN2002B})
        broken = await http.post(path, content=b"{not json", headers={"Content-Type": "application/json"})
        a_list = await http.post(path, json=[AMI_EN2002B])
        charset = await http.post(
            path,
            content=json.dumps({"asset_id": AMI_EN2002B}),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
    assert_error(as_text, 415, "Unsupported Media Type")
    assert_error(as_form, 415, "Unsupported Media Type")
    assert_error(broken, 400, LIMIT)
    assert_error(a_list, 400, LIMIT)
    assert len(charset.json()["data"]["items"]) == 490
    assert sandbox.processed == ["sync-generate-speaker"]


async def test_unknown_routes_and_methods_get_the_error_envelope_with_the_reason_phrase() -> None:
    async with serve() as (sandbox, http):
        wrong_method = await http.get("/transcriptions/sync-generate-speaker")
        unknown = await http.post("/v1/chat/completions", json={})
        prefixed = await http.put("/serve/api/v2/transcriptions/speech-to-text", json={})
    assert_error(wrong_method, 405, "Method Not Allowed")
    assert wrong_method.headers["allow"] == "POST"
    assert_error(unknown, 404, "Not Found")
    assert_error(prefixed, 405, "Method Not Allowed")
    assert sandbox.requests == 0


# --- envelopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/transcriptions/sync-generate-speaker", {"asset_id": AMI_EN2002B}, "0000"),
        ("/transcriptions/sync-generate-audio", {"asset_id": SK_TELECOM}, 200),
        ("/transcriptions/speech-to-text", {"asset_id": SK_TELECOM, "provider": "elevenlabs"}, 200),
        ("/transcriptions/async-generate-speaker", {"asset_id": AMI_EN2002B}, "0000"),
        ("/transcriptions/async-generate-audio", {"asset_id": AMI_EN2002B}, "0000"),
        ("/transcriptions/async-generate-multi-speaker", {"asset_id": AMI_EN2002B}, "0000"),
    ],
)
async def test_success_envelopes_carry_each_vendor_pages_code_in_compact_json(
    path: str, body: dict[str, Any], code: int | str
) -> None:
    async with serve(config(callback_delay=60)) as (_, http):
        response = await http.post(path, json=body)
    assert response.headers["content-type"] == "application/json"
    envelope = response.json()
    assert (envelope["code"], envelope["msg"], envelope["success"], envelope["failed"]) == (
        code,
        "success",
        True,
        False,
    )
    assert b'": ' not in response.content[:300]
    assert b"\n" not in response.content


async def test_routes_are_also_served_under_the_vendor_prefix() -> None:
    async with serve() as (_, http):
        direct = await http.post("/transcriptions/sync-generate-speaker", json={"asset_id": AMI_EN2002B})
        prefixed = await http.post("/serve/api/v2/transcriptions/sync-generate-speaker", json={"asset_id": AMI_EN2002B})
        metadata = await http.get(f"/serve/api/v2/{AMI_EN2002B}/metadata")
    assert prefixed.content == direct.content
    assert metadata.json()["data"]["resource"][0]["original_filename"] == "ami-EN2002b.wav"


# --- assets and uploads --------------------------------------------------------------------------


async def test_every_preloaded_asset_has_a_success_metadata_record_with_string_sizes_and_times() -> None:
    async with serve() as (_, http):
        records = [(await http.get(f"/{a.asset_id}/metadata")).json()["data"] for a in ASSETS]
    for asset, data in zip(ASSETS, records, strict=True):
        [resource] = data["resource"]
        assert data["total"] == 1
        assert resource["asset_id"] == asset.asset_id
        assert resource["original_filename"] == asset.filename
        assert resource["extension"] == asset.filename.rsplit(".", 1)[1]
        assert resource["upload_status"] == "SUCCESS"
        assert all(
            isinstance(resource[k], str) and resource[k].isdigit() for k in ("file_size", "create_time", "modify_time")
        )


async def test_an_upload_gets_a_fresh_re_id_whose_status_goes_waiting_uploading_success() -> None:
    clock = FakeClock()
    async with serve(config(upload_processing_seconds=3.0, clock=clock)) as (sandbox, http):
        ids = [await upload(http, "Meeting.WAV", wav_bytes(12.0)) for _ in range(3)]
        seen: list[dict[str, Any]] = []
        for step in (0.0, 0.99, 0.02, 1.98, 0.01, 100.0):
            clock.now += step
            data = (await http.get(f"/{ids[0]}/metadata")).json()["data"]
            assert data["total"] == 1
            seen.append(data["resource"][0])
    assert len(set(ids)) == 3
    assert all(i.startswith("re_") and len(i) == 21 and i[3:].isdigit() for i in ids)
    assert [r["upload_status"] for r in seen] == ["WAITING", "WAITING", "UPLOADING", "UPLOADING", "SUCCESS", "SUCCESS"]
    first = seen[0]
    assert (first["original_filename"], first["extension"], first["file_size"]) == (
        "Meeting.WAV",
        "wav",
        str(len(wav_bytes(12.0))),
    )
    created = round(1_700_000_000.0 * 1000)
    assert {r["create_time"] for r in seen} == {str(created)}
    assert [int(r["modify_time"]) - created for r in seen] == [0, 0, 1000, 1000, 3000, 3000]
    assert sandbox.processed == ["upload"] * 3 + ["metadata"] * 6


async def test_an_uploaded_wav_is_answered_in_each_shape_with_a_sandbox_text_over_its_real_duration() -> None:
    async with serve(config(upload_processing_seconds=0)) as (_, http):
        asset_id = await upload(http, "meeting.wav", wav_bytes(12.0))
        body = {"asset_id": asset_id}
        speakers = (await http.post("/transcriptions/sync-generate-speaker", json=body)).json()
        whisper = (await http.post("/transcriptions/sync-generate-audio", json=body)).json()
        labelled = (await http.post("/transcriptions/sync-generate-audio", json={**body, "speaker": True})).json()
        aai = (await http.post("/transcriptions/speech-to-text", json={**body, "provider": "assemblyai"})).json()
        aai_labels = await http.post(
            "/transcriptions/speech-to-text", json={**body, "provider": "assemblyai", "speaker_labels": True}
        )
        eleven = (await http.post("/transcriptions/speech-to-text", json={**body, "provider": "elevenlabs"})).json()
    text = (
        "[MAVI sandbox] No speech recognition ran: this is the built-in simulator. It received 'meeting.wav' (12.0 s)."
    )
    assert speakers["data"] == {"model": "pyannote", "items": [{"start": 0.0, "end": 12.0, "speaker": "SPEAKER_00"}]}
    assert whisper["data"] == {
        "model": "whisper-1",
        "items": [{"text": " " + text, "start_time": 0.0, "end_time": 12.0}],
    }
    assert labelled["data"]["items"][0]["speaker"] == "SPEAKER_00"
    assert (aai["data"]["text"], aai["data"]["utterances"], aai["data"]["audio_duration"]) == (text, None, 12)
    assert all("speaker" not in w for w in aai["data"]["words"])
    assert aai["data"]["words"][-1]["end"] == 12_000
    transcript = aai_labels.json()["data"]
    assert [u["speaker"] for u in transcript["utterances"]] == ["A"]
    assert {w["speaker"] for w in transcript["words"]} == {"A"}
    assert eleven["data"]["text"] == text
    assert all("speaker_id" not in w for w in eleven["data"]["words"])


async def test_a_non_wav_upload_gets_a_duration_estimated_from_its_size_at_128_kbit_per_second() -> None:
    async with serve(config(upload_processing_seconds=0)) as (_, http):
        asset_id = await upload(http, "talk.mp3", b"\xff" * 48_000)
        broken_wav = await upload(http, "broken.wav", b"RIFF" + b"\x00" * 31_996)
        mp3 = (await http.post("/transcriptions/sync-generate-audio", json={"asset_id": asset_id})).json()
        wav = (await http.post("/transcriptions/sync-generate-audio", json={"asset_id": broken_wav})).json()
    assert mp3["data"]["items"][0]["end_time"] == 3.0
    assert "'talk.mp3' (3.0 s)" in mp3["data"]["items"][0]["text"]
    assert wav["data"]["items"][0]["end_time"] == 2.0


async def test_an_empty_upload_ends_failed_and_cannot_be_transcribed() -> None:
    clock = FakeClock()
    async with serve(config(upload_processing_seconds=1.0, clock=clock)) as (_, http):
        asset_id = await upload(http, "empty.wav", b"")
        waiting = (await http.get(f"/{asset_id}/metadata")).json()["data"]["resource"][0]
        clock.now += 1.0
        failed = (await http.get(f"/{asset_id}/metadata")).json()["data"]["resource"][0]
        refused = await http.post("/transcriptions/sync-generate-speaker", json={"asset_id": asset_id})
    assert (waiting["upload_status"], waiting["file_size"]) == ("WAITING", "0")
    assert failed["upload_status"] == "FAILED"
    assert_error(refused, 400, LIMIT)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"files": {"audio": ("a.wav", b"RIFF")}},
        {"data": {"file": "not a file"}},
        {"json": {"file": "a.wav"}},
        {"content": b"raw bytes", "headers": {"Content-Type": "audio/wav"}},
        {"files": [("file", ("a.wav", b"1")), ("file", ("b.wav", b"2"))]},
    ],
)
async def test_an_upload_without_exactly_one_file_in_field_file_gets_the_ambiguous_text(kwargs: dict[str, Any]) -> None:
    async with serve() as (sandbox, http):
        assert_error(await http.post("/upload", **kwargs), 400, LIMIT)
    assert (sandbox.uploads, sandbox.processed) == ({}, [])


async def test_an_upload_still_processing_cannot_be_transcribed_yet() -> None:
    clock = FakeClock()
    async with serve(config(upload_processing_seconds=1.0, clock=clock)) as (_, http):
        asset_id = await upload(http)
        early = await http.post("/transcriptions/sync-generate-audio", json={"asset_id": asset_id})
        clock.now += 0.999
        still = await http.post("/transcriptions/async-generate-speaker", json={"asset_id": asset_id})
        clock.now += 0.001
        ready = await http.post("/transcriptions/sync-generate-audio", json={"asset_id": asset_id})
    assert_error(early, 400, LIMIT)
    assert_error(still, 400, LIMIT)
    assert ready.json()["data"]["items"][0]["end_time"] == 2.0


async def test_uploads_belong_to_the_key_that_made_them() -> None:
    other = {"Authorization": "sk-someone-else"}
    async with serve(config(upload_processing_seconds=0)) as (sandbox, http):
        asset_id = await upload(http)
        body = {"asset_id": asset_id}
        assert_error(await http.get(f"/{asset_id}/metadata", headers=other), 400, "Asset not found")
        assert_error(await http.post("/transcriptions/sync-generate-speaker", json=body, headers=other), 400, LIMIT)
        stt = {**body, "provider": "elevenlabs"}
        assert_error(await http.post("/transcriptions/speech-to-text", json=stt, headers=other), 400, LIMIT)
        assert_error(await http.delete(f"/{asset_id}", headers=other), 400, "Asset not found")
        mine = await http.get(f"/{asset_id}/metadata")
        assert (await http.get(f"/{SK_TELECOM}/metadata", headers=other)).status_code == 200
    assert mine.json()["data"]["resource"][0]["upload_status"] == "SUCCESS"
    assert KEY not in repr(sandbox.uploads)


async def test_a_deleted_upload_is_gone_and_a_deleted_preloaded_asset_only_for_the_key_that_deleted_it() -> None:
    other = {"Authorization": "sk-someone-else"}
    async with serve(config(upload_processing_seconds=0)) as (sandbox, http):
        asset_id = await upload(http)
        deleted = await http.delete(f"/{asset_id}")
        assert deleted.json() == {"code": 200, "msg": "success", "data": None, "success": True, "failed": False}
        assert_error(await http.get(f"/{asset_id}/metadata"), 400, "Asset not found")
        assert_error(await http.post("/transcriptions/sync-generate-audio", json={"asset_id": asset_id}), 400, LIMIT)
        assert_error(await http.delete(f"/{asset_id}"), 400, "Asset not found")
        assert (await http.delete(f"/{SK_TELECOM}")).status_code == 200
        assert_error(await http.get(f"/{SK_TELECOM}/metadata"), 400, "Asset not found")
        assert_error(
            await http.post("/transcriptions/sync-generate-speaker", json={"asset_id": SK_TELECOM}), 400, LIMIT
        )
        still = await http.post("/transcriptions/sync-generate-speaker", json={"asset_id": SK_TELECOM}, headers=other)
    assert len(still.json()["data"]["items"]) == 267
    assert sandbox.uploads == {}


# --- the console ---------------------------------------------------------------------------------


async def test_the_console_webhook_setting_can_be_read_changed_and_cleared() -> None:
    async with serve(config(webhook_url=None)) as (sandbox, http):
        assert (await http.get("/_sandbox/webhook")).json() == {"url": None}
        put = await http.put("/_sandbox/webhook", json={"url": "https://hooks.example/mavi/s3cret"})
        assert put.json() == {"url": "https://hooks.example/mavi/s3cret"}
        assert sandbox.config.webhook_url == "https://hooks.example/mavi/s3cret"
        refused = await http.put("/_sandbox/webhook", content=b"[1]")
        assert refused.status_code == 400
        assert "url" in refused.json()["error"]
        assert (await http.get("/_sandbox/webhook")).json() == {"url": "https://hooks.example/mavi/s3cret"}
        assert (await http.put("/_sandbox/webhook", json={"url": None})).json() == {"url": None}
        assert (await http.put("/_sandbox/webhook", json={"url": "  "})).json() == {"url": None}


async def test_the_console_catalog_lists_every_preloaded_asset_with_its_source_and_license() -> None:
    async with serve() as (_, http):
        listed = (await http.get("/_sandbox/assets")).json()
    assert [a["asset_id"] for a in listed] == [a.asset_id for a in ASSETS]
    assert set(listed[0]) == {"asset_id", "filename", "description", "duration", "source", "license"}
    monro = listed[2]
    assert (monro["asset_id"], monro["license"]) == ("re_700000000000000003", "CC BY-SA 4.0")
    assert "Monro" in monro["description"]


async def test_the_processed_record_lists_processed_requests_in_order_and_counts_every_request() -> None:
    async with serve(config(callback_delay=60)) as (sandbox, http):
        await http.get(f"/{SK_TELECOM}/metadata")
        await http.post("/transcriptions/sync-generate-speaker", json={})  # refused: not processed
        await http.post("/transcriptions/sync-generate-audio", json={"asset_id": COSTCO})
        await http.post("/transcriptions/async-generate-multi-speaker", json={"asset_id": COSTCO})
        await http.get(f"/{SK_TELECOM}/metadata", headers={"Authorization": ""})  # 401: not processed
        record = (await http.get("/_sandbox/processed")).json()
    assert record == {
        "processed": ["metadata", "sync-generate-audio", "async-generate-multi-speaker"],
        "requests": 5,
    }
    assert sandbox.processed == record["processed"]


async def test_running_is_not_reentrant_but_can_be_entered_again_once_left() -> None:
    sandbox = create_app(config(callback_delay=60))
    async with sandbox.running():
        with pytest.raises(RuntimeError, match="already running"):
            async with sandbox.running():
                pass  # pragma: no cover
    async with sandbox.running():
        transport = httpx2.ASGITransport(app=sandbox.app)
        async with httpx2.AsyncClient(base_url="http://s", transport=transport, headers={"Authorization": KEY}) as http:
            answer = await http.post("/transcriptions/async-generate-speaker", json={"asset_id": AMI_EN2002B})
    assert len(answer.json()["data"]["task_id"]) == 32


async def test_an_async_call_outside_running_fails_loudly_instead_of_never_calling_back() -> None:
    sandbox = create_app(config())
    transport = httpx2.ASGITransport(app=sandbox.app)
    async with httpx2.AsyncClient(base_url="http://s", transport=transport, headers={"Authorization": KEY}) as http:
        with pytest.raises(RuntimeError, match=r"sandbox\.running\(\)"):
            await http.post("/transcriptions/async-generate-speaker", json={"asset_id": AMI_EN2002B})


# --- the real client against the sandbox ---------------------------------------------------------


@asynccontextmanager
async def client_on(settings: SandboxConfig, *, rate_limit: float = 0) -> AsyncGenerator[tuple[Sandbox, MaviClient]]:
    """The project's `MaviClient` on an in-process sandbox; retries wait no real time."""

    async def no_wait(_: float) -> None:
        await anyio.lowlevel.checkpoint()

    async with serve(settings, key=None) as (sandbox, http):
        yield sandbox, MaviClient(http, SecretStr(KEY), rate_limit=rate_limit, sleep=no_wait)


async def test_the_real_client_uploads_sees_the_upload_finish_and_transcribes_it_in_every_shape(tmp_path: Path) -> None:
    audio = tmp_path / "standup.wav"
    audio.write_bytes(wav_bytes(4.0))
    clock = FakeClock()
    async with client_on(config(upload_processing_seconds=3.0, clock=clock)) as (_, client):
        asset_id = await client.upload(audio)
        statuses = [(await client.metadata(asset_id)).upload_status]
        for _ in range(2):
            clock.now += 1.5
            statuses.append((await client.metadata(asset_id)).upload_status)
        speakers = await client.transcribe(SPEAKER_TURNS, {"asset_id": asset_id})
        whisper = await client.transcribe(WHISPER_SPEAKER, {"asset_id": asset_id})
        aai = await client.transcribe(ASSEMBLYAI, {"asset_id": asset_id, "speaker_labels": True})
        eleven = await client.transcribe(ELEVENLABS, {"asset_id": asset_id, "diarize": True})
    assert statuses == ["WAITING", "UPLOADING", "SUCCESS"]
    assert [(t.start, t.end, t.speaker) for t in speakers.data.items] == [(0.0, 4.0, "SPEAKER_00")]
    assert whisper.data.items[0].speaker == "SPEAKER_00"
    assert "It received 'standup.wav' (4.0 s)." in whisper.data.items[0].text
    assert aai.data.text is not None
    assert aai.data.text.startswith("[MAVI sandbox]")
    assert {w.speaker_id for w in eleven.data.words} == {"speaker_0"}


async def test_the_real_client_parses_preloaded_results_with_real_words_and_speakers() -> None:
    async with client_on(config()) as (_, client):
        turns = await client.transcribe(SPEAKER_TURNS, {"asset_id": "re_700000000000000012"})
        whisper = await client.transcribe(WHISPER_SPEAKER, {"asset_id": COSTCO})
        aai = await client.transcribe(ASSEMBLYAI, {"asset_id": "re_700000000000000004"})
        eleven = await client.transcribe(ELEVENLABS, {"asset_id": "re_700000000000000006", "diarize": True})
        resource = await client.metadata("re_700000000000000021")
    assert (turns.data.model, len(turns.data.items), turns.data.items[0].speaker) == ("pyannote", 260, "SPEAKER_03")
    assert whisper.data.items[0].text.startswith(" Good day and thank you for standing by")
    assert aai.data.words is not None
    assert [w.text for w in aai.data.words[:3]] == ["Smoke", "from", "hundreds"]
    assert eleven.data.text == "Hello from the Versal AI SDK"
    assert (resource.original_filename, resource.upload_status) == ("voxconverse-bidnq.wav", "SUCCESS")


async def test_the_real_client_maps_the_sandboxs_errors_to_its_error_tree() -> None:
    async with client_on(config(webhook_url=None)) as (_, client):
        with pytest.raises(AmbiguousLimitError) as unknown:
            await client.transcribe(SPEAKER_TURNS, {"asset_id": UNKNOWN})
        with pytest.raises(NotFoundError):
            await client.metadata(UNKNOWN)
        with pytest.raises(RequestRejectedError) as no_webhook:
            await client.start_task(ASYNC_SPEAKER, {"asset_id": SK_TELECOM})
        with pytest.raises(RequestRejectedError) as empty:
            await client.transcribe(WHISPER, {"asset_id": ""})
        with pytest.raises(AuthenticationError) as bearer:
            await client.transcribe(SPEAKER_TURNS, {"asset_id": SK_TELECOM}, api_key=f"Bearer {KEY}")
    assert unknown.value.api_message == LIMIT
    assert no_webhook.value.api_message == NO_WEBHOOK
    assert (empty.value.status, empty.value.api_message) == (400, NO_ASSET_ID)
    assert (bearer.value.status, bearer.value.api_message) == (401, "Unauthorized")


async def test_the_real_clients_pacing_keeps_it_under_the_sandbox_rate_limit() -> None:
    async with client_on(config(rate_limit=True), rate_limit=1.0) as (sandbox, client):
        with anyio.fail_after(5):
            first = await client.metadata(SK_TELECOM)
            second = await client.transcribe(SPEAKER_TURNS, {"asset_id": AMI_EN2002B})
    assert first.asset_id == SK_TELECOM
    assert len(second.data.items) == 490
    assert sandbox.processed == ["metadata", "sync-generate-speaker"]


async def test_the_real_client_starts_an_async_task_whose_callback_reaches_the_webhook() -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/hook/s3cret", hook, methods=["POST"])])
    deliveries = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=receiver))
    async with deliveries, client_on(config(webhook_client=deliveries, callback_delay=0.01)) as (sandbox, client):
        task_id = await client.start_task(ASYNC_AUDIO, {"asset_id": SK_TELECOM, "model": "whisper-1", "speaker": True})
        with anyio.fail_after(5):
            attempts = await sandbox.settled(task_id)
    assert [(a.attempt, a.status) for a in attempts] == [(1, 204)]
    assert [body["task_id"] for body in received] == [task_id]
    assert received[0]["data"]["data"]["data"][1]["text"].startswith(" Good afternoon. I am Joong-suk Oh")


# --- a real process ------------------------------------------------------------------------------


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]], threading.Event]]:
    """A stdlib HTTP server on a free loopback port that keeps the JSON bodies POSTed to it."""
    bodies: list[dict[str, Any]] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            arrived.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook/s3cret", bodies, arrived
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.e2e
def test_the_module_serves_on_a_free_port_with_its_flags_and_delivers_callbacks_over_http() -> None:
    with webhook_receiver() as (hook, bodies, arrived):
        server = start_sandbox(
            "--api-key", "sk-process-test", "--webhook-url", hook, "--callback-delay", "0.05",
            "--no-rate-limit", "--fault", "metadata:status:status=503,count=1",
        )  # fmt: skip
        try:
            assert server.url.startswith("http://127.0.0.1:")
            assert not server.url.endswith(":0")
            with httpx2.Client(base_url=server.url, headers={"Authorization": "sk-process-test"}, timeout=10) as http:
                turns = http.post("/serve/api/v2/transcriptions/sync-generate-speaker", json={"asset_id": AMI_EN2002B})
                refused = http.get(f"/{AMI_EN2002B}/metadata", headers={"Authorization": "sk-wrong"})
                faulted = http.get(f"/{AMI_EN2002B}/metadata")
                recovered = http.get(f"/{AMI_EN2002B}/metadata")
                task = http.post("/transcriptions/async-generate-speaker", json={"asset_id": AMI_EN2002B})
                assert arrived.wait(timeout=10)
                processed = http.get("/_sandbox/processed").json()
        finally:
            server.process.stop()
    assert turns.json()["data"]["items"][0] == {"start": 4.48, "end": 4.6, "speaker": "SPEAKER_01"}
    assert_error(refused, 401, "Unauthorized")
    assert_error(faulted, 503, "Service Unavailable")
    assert recovered.json()["data"]["resource"][0]["upload_status"] == "SUCCESS"
    assert bodies[0]["task_id"] == task.json()["data"]["task_id"]
    assert bodies[0]["data"]["data"]["data"][0] == {"start": 4.48, "end": 4.6, "speaker": "SPEAKER_01"}
    assert processed == {
        "processed": ["sync-generate-speaker", "metadata", "async-generate-speaker"],
        "requests": 5,
    }
    assert "sk-process-test" not in "\n".join(server.process.seen)
