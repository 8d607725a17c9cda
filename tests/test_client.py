"""The MAVI client through `httpx2.MockTransport` only: requests, envelopes, errors, retries, pacing, secrets, leaks.

Nothing in the client is patched: every test builds a real `MaviClient` on an `httpx2.AsyncClient` whose transport
is a scripted MAVI, with a recording fake `sleep` (so retry waits are asserted, not waited) and zero jitter.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from mavi_mcp import __version__
from mavi_mcp.client import (
    MaviClient,
    RetryPolicy,
    may_have_been_processed,
    parse_retry_after,
    task_id_in_raw,
)
from mavi_mcp.endpoints import ASYNC_AUDIO, ASYNC_MULTI_SPEAKER, ASYNC_SPEAKER
from mavi_mcp.errors import (
    LIMIT_MESSAGE,
    AmbiguousLimitError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    OutOfCreditsError,
    RateLimitedError,
    RequestRejectedError,
    ResultError,
    ServerError,
    ServiceUnavailableError,
)
from mavi_mcp.shapes import ASSEMBLYAI, ELEVENLABS, SPEAKER_TURNS, WHISPER, WHISPER_SPEAKER
from tests import data

KEY = "sk-mavi-testkey123456"
BASE = "https://api.test/serve/api/v2"
ASSET = "re_660727003963174912"
TASK = "ec2449885ba84c4f943a80ff0633158e"
TIMEOUT = 10  # seconds; every test's bound

Answer = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]


# --- a scripted MAVI ----------------------------------------------------------------------------------


class TrackedBody(httpx2.AsyncByteStream):
    """A response body that records whether the client closed it."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class FakeMavi:
    """Answers the n-th request with `script[n]` (the last entry repeats): a response, an exception, or a function.

    Records every request, the monotonic time it arrived, and every response body it handed out.
    """

    script: list[Answer]
    requests: list[httpx2.Request] = field(default_factory=list[httpx2.Request])
    arrivals: list[float] = field(default_factory=list[float])
    bodies: list[TrackedBody] = field(default_factory=list[TrackedBody])

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.arrivals.append(time.monotonic())
        self.requests.append(request)
        answer = self.script[min(len(self.requests) - 1, len(self.script) - 1)]
        if isinstance(answer, Exception):
            raise answer
        response = answer(request) if callable(answer) else answer
        body = TrackedBody(response.content)
        self.bodies.append(body)
        return httpx2.Response(response.status_code, headers=response.headers, stream=body)

    @property
    def count(self) -> int:
        return len(self.requests)

    def json_bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def envelope(payload: Any = None, *, code: Any = 200, msg: str = "success", **extra: Any) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": payload, "failed": False, "success": True, **extra}


def ok(payload: Any = None, **kwargs: Any) -> httpx2.Response:
    return httpx2.Response(200, json=envelope(payload, **kwargs))


def fail(status: int, msg: str, *, headers: dict[str, str] | None = None, code: Any = None) -> httpx2.Response:
    body = {"code": status if code is None else code, "msg": msg, "data": None}
    return httpx2.Response(status, json=body, headers=headers)


@dataclass
class Harness:
    client: MaviClient
    mavi: FakeMavi
    sleeps: list[float]


@asynccontextmanager
async def harness(
    *script: Answer,
    rate_limit: float = 0.0,
    policy: RetryPolicy | None = None,
    api_key: SecretStr | None = SecretStr(KEY),  # noqa: B008 - immutable in practice
    jitter: float = 0.0,
) -> AsyncIterator[Harness]:
    mavi = FakeMavi(list(script))
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with httpx2.AsyncClient(base_url=BASE, transport=httpx2.MockTransport(mavi)) as http:
        client = MaviClient(http, api_key, rate_limit=rate_limit, policy=policy, sleep=sleep, jitter=lambda: jitter)
        yield Harness(client, mavi, sleeps)


@pytest.fixture
def media_file(tmp_path: Path) -> Path:
    path = tmp_path / "talk.mp3"
    path.write_bytes(b"ID3" + bytes(range(256)) * 4)
    return path


# --- every endpoint, as data --------------------------------------------------------------------------

Call = Callable[[MaviClient, Path], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    call: Call
    answer: Any  # the `data` of a successful envelope
    method: str
    path: str
    billed: bool


SPEAKER_DATA = {"model": "pyannote", "items": [{"start": 0.03, "end": 0.13, "speaker": "SPEAKER_01"}]}
WHISPER_DATA = {"model": "whisper-1", "items": [{"text": " Hello", "start_time": 0.0, "end_time": 2.98}]}
ASSEMBLYAI_DATA = {"id": "9a27d0d5", "status": "completed", "words": [{"text": "Hi", "start": 0, "end": 520}]}
ELEVENLABS_DATA = {"language_code": "eng", "text": "Hi", "words": [{"text": "Hi", "start": 0.1, "end": 0.4}]}
METADATA_DATA = {
    "total": 1,
    "resource": [
        {
            "asset_id": ASSET,
            "original_filename": "talk.mp3",
            "extension": "mp3",
            "file_size": "1027",
            "upload_status": "SUCCESS",
            "create_time": "1732150000000",
            "modify_time": "1732150001000",
        }
    ],
}

ENDPOINTS = [
    Endpoint("upload", lambda c, f: c.upload(f), {"asset_id": ASSET}, "POST", "/upload", False),
    Endpoint("metadata", lambda c, f: c.metadata(ASSET), METADATA_DATA, "GET", f"/{ASSET}/metadata", False),
    Endpoint(
        "sync-generate-speaker",
        lambda c, f: c.transcribe(SPEAKER_TURNS, {"asset_id": ASSET}),
        SPEAKER_DATA,
        "POST",
        "/transcriptions/sync-generate-speaker",
        True,
    ),
    Endpoint(
        "sync-generate-audio",
        lambda c, f: c.transcribe(WHISPER_SPEAKER, {"asset_id": ASSET}),
        WHISPER_DATA,
        "POST",
        "/transcriptions/sync-generate-audio",
        True,
    ),
    Endpoint(
        "speech-to-text-assemblyai",
        lambda c, f: c.transcribe(ASSEMBLYAI, {"asset_id": ASSET}),
        ASSEMBLYAI_DATA,
        "POST",
        "/transcriptions/speech-to-text",
        True,
    ),
    Endpoint(
        "speech-to-text-elevenlabs",
        lambda c, f: c.transcribe(ELEVENLABS, {"asset_id": ASSET}),
        ELEVENLABS_DATA,
        "POST",
        "/transcriptions/speech-to-text",
        True,
    ),
    Endpoint(
        "start_task:async-generate-audio",
        lambda c, f: c.start_task(ASYNC_AUDIO, {"asset_id": ASSET, "model": "whisper-1", "speaker": False}),
        {"task_id": TASK},
        "POST",
        "/transcriptions/async-generate-audio",
        True,
    ),
    Endpoint(
        "start_task:async-generate-speaker",
        lambda c, f: c.start_task(ASYNC_SPEAKER, {"asset_id": ASSET}),
        {"task_id": TASK},
        "POST",
        "/transcriptions/async-generate-speaker",
        True,
    ),
    Endpoint(
        "start_task:async-generate-multi-speaker",
        lambda c, f: c.start_task(ASYNC_MULTI_SPEAKER, {"asset_id": ASSET}),
        {"task_id": TASK},
        "POST",
        "/transcriptions/async-generate-multi-speaker",
        True,
    ),
]
BILLED = [e for e in ENDPOINTS if e.billed]


def _ids(endpoints: list[Endpoint]) -> list[str]:
    return [e.name for e in endpoints]


# --- requests -----------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
async def test_every_request_sends_the_key_as_is_without_bearer_and_a_user_agent(
    endpoint: Endpoint, media_file: Path
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok(endpoint.answer)) as h:
            await endpoint.call(h.client, media_file)
    (request,) = h.mavi.requests
    assert request.headers["Authorization"] == KEY
    assert request.headers["User-Agent"] == f"mavi-mcp/{__version__}"
    assert request.headers["Accept"] == "application/json"
    assert request.method == endpoint.method
    assert request.url == httpx2.URL(BASE + endpoint.path)


@pytest.mark.anyio
async def test_sync_speaker_request_and_reply_on_a_real_recording() -> None:
    body = data.raw(data.SPEAKER_TURNS, "ES2004a")
    answer = httpx2.Response(200, content=body, headers={"x-request-id": "req-42"})
    with anyio.fail_after(TIMEOUT):
        async with harness(answer) as h:
            reply = await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert h.mavi.json_bodies() == [{"asset_id": ASSET}]
    assert h.mavi.requests[0].headers["Content-Type"] == "application/json"
    assert len(reply.data.items) == 260
    assert reply.data.items[0].speaker == "SPEAKER_03"
    assert reply.raw == body  # kept byte for byte: a paid result is never re-encoded
    assert reply.request_id == "req-42"


@pytest.mark.anyio
async def test_whisper_request_body_names_model_and_speaker() -> None:
    body = data.raw(data.WHISPER_SPEAKER, "4474506")
    with anyio.fail_after(TIMEOUT):
        async with harness(httpx2.Response(200, content=body)) as h:
            reply = await h.client.transcribe(WHISPER_SPEAKER, {"asset_id": ASSET})
            await h.client.transcribe(WHISPER, {"asset_id": ASSET})
    assert h.mavi.json_bodies() == [
        {"asset_id": ASSET, "model": "whisper-1", "speaker": True},
        {"asset_id": ASSET, "model": "whisper-1", "speaker": False},
    ]
    assert len(reply.data.items) == 596


@pytest.mark.anyio
async def test_speech_to_text_bodies_carry_the_options_and_force_the_provider() -> None:
    assemblyai = data.raw(data.ASSEMBLYAI, "wildfires")
    elevenlabs = data.raw(data.ELEVENLABS, "vercel_ai_issue-22052-diarized")
    with anyio.fail_after(TIMEOUT):
        async with harness(httpx2.Response(200, content=assemblyai), httpx2.Response(200, content=elevenlabs)) as h:
            first = await h.client.transcribe(ASSEMBLYAI, {"asset_id": ASSET, "speaker_labels": False})
            second = await h.client.transcribe(
                ELEVENLABS, {"url": "https://a.test/x.mp3", "diarize": True, "provider": "assemblyai"}
            )
    assert h.mavi.json_bodies() == [
        {"asset_id": ASSET, "speaker_labels": False, "provider": "assemblyai"},
        {"url": "https://a.test/x.mp3", "diarize": True, "provider": "elevenlabs"},
    ]
    assert first.data.confidence == 0.9786635
    assert second.data.language_code == "eng"


@pytest.mark.anyio
async def test_async_tasks_answer_their_task_id() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok({"task_id": TASK}, code="0000")) as h:
            task = await h.client.start_task(ASYNC_MULTI_SPEAKER, {"asset_id": ASSET})
    assert task == TASK
    assert h.mavi.json_bodies() == [{"asset_id": ASSET}]


@pytest.mark.anyio
async def test_upload_sends_one_multipart_field_file_with_the_filename(media_file: Path) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok({"asset_id": ASSET})) as h:
            asset = await h.client.upload(media_file)
            renamed = await h.client.upload(media_file, filename="Board meeting.m4a")
    assert asset == renamed == ASSET
    first, second = h.mavi.requests
    assert first.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    content = first.content
    assert content.count(b"Content-Disposition: form-data;") == 1
    assert b'Content-Disposition: form-data; name="file"; filename="talk.mp3"' in content
    assert b"Content-Type: audio/mpeg" in content
    assert media_file.read_bytes() in content
    assert b'name="file"; filename="Board meeting.m4a"' in second.content
    assert b"Content-Type: audio/mp4" in second.content


@pytest.mark.anyio
async def test_metadata_returns_the_assets_record() -> None:
    other = {**METADATA_DATA["resource"][0], "asset_id": "re_other", "upload_status": "FAILED"}
    answer = {"total": 2, "resource": [other, METADATA_DATA["resource"][0]]}
    with anyio.fail_after(TIMEOUT):
        async with harness(ok(answer)) as h:
            record = await h.client.metadata(ASSET)
    assert record.asset_id == ASSET
    assert record.upload_status == "SUCCESS"
    assert record.file_size == "1027"
    assert h.mavi.requests[0].content == b""


@pytest.mark.anyio
async def test_metadata_without_any_resource_is_not_found() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok({"total": 0, "resource": []})) as h:
            with pytest.raises(NotFoundError) as caught:
                await h.client.metadata(ASSET)
    assert ASSET in str(caught.value)


@pytest.mark.anyio
async def test_metadata_listing_only_other_assets_is_not_found_rather_than_another_assets_record() -> None:
    other = {**METADATA_DATA["resource"][0], "asset_id": "re_other"}
    with anyio.fail_after(TIMEOUT):
        async with harness(ok({"total": 1, "resource": [other]})) as h:
            with pytest.raises(NotFoundError):
                await h.client.metadata(ASSET)


@pytest.mark.anyio
async def test_a_base_url_that_is_not_http_is_a_configuration_error_not_a_dropped_connection() -> None:
    async with httpx2.AsyncClient(base_url="ftp://mavi.test/api") as http:
        client = MaviClient(http, SecretStr(KEY), rate_limit=0)
        with anyio.fail_after(TIMEOUT), pytest.raises(ConfigurationError, match="MAVI_BASE_URL"):
            await client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})


# --- envelopes ----------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("code", [200, "200", "0000"])
async def test_every_documented_success_code_succeeds(code: Any) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok({"task_id": TASK}, code=code)) as h:
            assert await h.client.start_task(ASYNC_AUDIO, {"asset_id": ASSET}) == TASK


@pytest.mark.anyio
async def test_success_flag_without_a_code_succeeds() -> None:
    answer = httpx2.Response(200, json={"message": "SUCCESS", "data": {"task_id": TASK}, "success": True})
    with anyio.fail_after(TIMEOUT):
        async with harness(answer) as h:
            assert await h.client.start_task(ASYNC_AUDIO, {"asset_id": ASSET}) == TASK


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "expected", "status", "message"),
    [
        (envelope(None, code=200, msg="Quota exhausted", success=False), RequestRejectedError, 400, "Quota exhausted"),
        (envelope(None, code="0000", msg="Task failed", failed=True), RequestRejectedError, 400, "Task failed"),
        (envelope(None, code=401, msg="Unauthorized", success=False), AuthenticationError, 401, "Unauthorized"),
        ({"code": 402, "message": "No credits", "data": None}, OutOfCreditsError, 402, "No credits"),
        ({"code": "9999", "msg": "Unknown failure", "data": None}, RequestRejectedError, 400, "Unknown failure"),
        ({"code": 400, "msg": LIMIT_MESSAGE, "data": None}, AmbiguousLimitError, 400, LIMIT_MESSAGE),
        ({"code": 500, "msg": "Internal error", "data": None}, ServerError, 500, "Internal error"),
        ({"data": {"task_id": TASK}}, RequestRejectedError, 400, None),
    ],
    ids=["success-false", "failed-true", "code-401", "message-key", "unknown-code", "limit", "code-500", "no-code"],
)
async def test_failure_reported_inside_an_http_200_raises_the_matching_error(
    body: dict[str, Any], expected: type[APIError], status: int, message: str | None
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(httpx2.Response(200, json=body), policy=RetryPolicy(max_attempts=1)) as h:
            with pytest.raises(APIError) as caught:
                await h.client.start_task(ASYNC_AUDIO, {"asset_id": ASSET})
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.api_message == message
    assert caught.value.endpoint == "async-generate-audio"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Welcome to nginx!</body></html>",
        b"",
        b'["not", "an", "object"]',
        b'"just a string"',
        json.dumps(envelope({"wrong": "shape"})).encode(),
        json.dumps(envelope(None)).encode(),
        json.dumps(envelope({"items": [{"start": "soon", "end": 1, "speaker": "A"}]})).encode(),
        json.dumps({"code": 200, "msg": 12345, "data": SPEAKER_DATA}).encode(),
        json.dumps({"code": {"value": 200}, "msg": "success", "data": SPEAKER_DATA}).encode(),
        json.dumps({"code": 200, "success": "maybe", "data": SPEAKER_DATA}).encode(),
    ],
    ids=[
        "html",
        "empty",
        "json-list",
        "json-string",
        "data-wrong-shape",
        "data-null",
        "bad-item",
        "msg-not-text",
        "code-object",
        "success-not-bool",
    ],
)
async def test_unreadable_2xx_body_raises_result_error_keeping_the_raw_body(body: bytes) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(httpx2.Response(200, content=body)) as h:
            with pytest.raises(ResultError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert caught.value.raw == body  # pyright: ignore[reportAttributeAccessIssue]
    assert "sync-generate-speaker" in str(caught.value)
    assert "raw answer was kept" in str(caught.value)
    assert h.mavi.count == 1  # a paid answer that arrived is never asked for again


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, RequestRejectedError),
        (401, AuthenticationError),
        (402, OutOfCreditsError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, RequestRejectedError),
        (415, RequestRejectedError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServiceUnavailableError),
    ],
)
async def test_each_http_status_raises_its_error_with_status_code_message_and_request_id(
    status: int, expected: type[APIError]
) -> None:
    answer = fail(status, f"refused with {status}", headers={"X-Request-Id": f"req-{status}"}, code=str(status))
    with anyio.fail_after(TIMEOUT):
        async with harness(answer, policy=RetryPolicy(max_attempts=1)) as h:
            with pytest.raises(APIError) as caught:
                await h.client.transcribe(WHISPER, {"asset_id": ASSET})
    error = caught.value
    assert type(error) is expected
    assert (error.status, error.code, error.api_message) == (status, str(status), f"refused with {status}")
    assert error.request_id == f"req-{status}"
    assert error.endpoint == "sync-generate-audio"
    text = str(error)
    assert f"HTTP {status}" in text
    assert f"refused with {status}" in text
    assert f"request id req-{status}" in text


@pytest.mark.anyio
async def test_the_shared_limit_text_is_ambiguous_and_lists_the_likely_causes() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(400, LIMIT_MESSAGE)) as h:
            with pytest.raises(AmbiguousLimitError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    text = str(caught.value)
    for cause in ("rate limit", "unknown or deleted asset_id", "not processed yet", "unsupported model"):
        assert cause in text
    # rejected before any processing, so it is tried once more (it may be the rate limit), then reported
    assert h.mavi.count == 2
    assert h.sleeps == [1.0]


@pytest.mark.anyio
async def test_asset_not_found_on_400_is_not_found() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(400, "Asset not found")) as h:
            with pytest.raises(NotFoundError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": "re_404"})
    assert caught.value.status == 400
    assert caught.value.api_message == "Asset not found"
    assert h.mavi.count == 1


@pytest.mark.anyio
async def test_error_body_that_is_not_json_is_shown_as_text() -> None:
    answer = httpx2.Response(502, text="<html>502 Bad Gateway</html>", headers={"request-id": "edge-9"})
    with anyio.fail_after(TIMEOUT):
        async with harness(answer) as h:
            with pytest.raises(ServerError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert caught.value.api_message == "<html>502 Bad Gateway</html>"
    assert caught.value.request_id == "edge-9"


@pytest.mark.anyio
async def test_connection_refused_raises_api_connection_error_after_bounded_retries() -> None:
    refused = httpx2.ConnectError("[Errno 111] Connection refused")
    with anyio.fail_after(TIMEOUT):
        async with harness(refused) as h:
            with pytest.raises(APIConnectionError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert caught.value.status is None
    assert "Could not connect to the MAVI API" in str(caught.value)
    assert "Connection refused" in str(caught.value)
    assert h.mavi.count == 4
    assert h.sleeps == [1.0, 2.0, 4.0]


@pytest.mark.anyio
async def test_read_timeout_raises_api_timeout_error() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(httpx2.ReadTimeout("timed out")) as h:
            with pytest.raises(APITimeoutError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert caught.value.status is None
    assert caught.value.endpoint == "sync-generate-speaker"
    assert "may still be processed" in str(caught.value)


# --- retries ------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
async def test_a_request_that_never_connected_is_retried_for_every_endpoint(
    endpoint: Endpoint, media_file: Path
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(httpx2.ConnectError("refused"), httpx2.ConnectTimeout("slow"), ok(endpoint.answer)) as h:
            result = await endpoint.call(h.client, media_file)
    assert result is not None
    assert h.mavi.count == 3
    assert h.sleeps == [1.0, 2.0]


@pytest.mark.anyio
async def test_each_retry_is_logged_with_what_failed_in_words(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mavi_mcp.client")
    with anyio.fail_after(TIMEOUT):
        async with harness(httpx2.ConnectError("refused"), fail(503, "down"), ok(SPEAKER_DATA)) as h:
            await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries == [
        "MAVI sync-generate-speaker attempt 1 failed (connection failed before sending); retrying in 1.0s",
        "MAVI sync-generate-speaker attempt 2 failed (ServiceUnavailableError, HTTP 503); retrying in 2.0s",
    ]


@pytest.mark.anyio
async def test_rate_limited_call_is_retried_after_retry_after_seconds() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(429, "Too Many Requests", headers={"Retry-After": "3"}), ok(SPEAKER_DATA)) as h:
            reply = await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert reply.data.items[0].speaker == "SPEAKER_01"
    assert h.mavi.count == 2
    assert h.sleeps == [3.0]


@pytest.mark.anyio
async def test_rate_limited_call_is_retried_after_a_retry_after_http_date() -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(429, "Too Many Requests", headers={"Retry-After": when}), ok(SPEAKER_DATA)) as h:
            await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert h.mavi.count == 2
    (slept,) = h.sleeps
    assert 3.5 < slept <= 5.0  # the date has whole seconds, and a little time passed


@pytest.mark.anyio
async def test_rate_limited_call_without_retry_after_backs_off_exponentially() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(429, "slow down"), fail(429, "slow down"), ok({"task_id": TASK})) as h:
            await h.client.start_task(ASYNC_SPEAKER, {"asset_id": ASSET})
    assert h.sleeps == [1.0, 2.0]


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
async def test_service_unavailable_is_retried_even_for_billed_calls(endpoint: Endpoint, media_file: Path) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(503, "Service Unavailable", headers={"Retry-After": "2"}), ok(endpoint.answer)) as h:
            await endpoint.call(h.client, media_file)
    assert h.mavi.count == 2
    assert h.sleeps == [2.0]


@pytest.mark.anyio
async def test_retry_after_longer_than_max_wait_is_not_retried() -> None:
    policy = RetryPolicy(max_wait=30.0)
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(429, "Too Many Requests", headers={"Retry-After": "120"}), policy=policy) as h:
            with pytest.raises(RateLimitedError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert caught.value.retry_after == 120.0
    assert h.mavi.count == 1
    assert h.sleeps == []
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(503, "maintenance", headers={"Retry-After": "3600"})) as h:
            with pytest.raises(ServerError):
                await h.client.metadata(ASSET)
    assert h.mavi.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("attempts", [1, 2, 4, 6])
async def test_attempts_are_bounded_by_the_policy(attempts: int) -> None:
    policy = RetryPolicy(max_attempts=attempts, max_wait=100.0)
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(503, "down"), policy=policy) as h:
            with pytest.raises(ServerError):
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert h.mavi.count == attempts
    assert h.sleeps == [2.0**n for n in range(attempts - 1)]


@pytest.mark.anyio
async def test_backoff_grows_exponentially_with_jitter_and_is_capped_at_max_wait() -> None:
    policy = RetryPolicy(max_attempts=6, max_wait=5.0, initial_wait=1.0)
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(503, "down"), policy=policy, jitter=0.5) as h:
            with pytest.raises(ServerError):
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert h.sleeps == [1.5, 2.5, 4.5, 5.0, 5.0]


@pytest.mark.anyio
async def test_retry_after_is_capped_at_max_wait_in_the_wait_itself() -> None:
    assert RetryPolicy(max_wait=30.0).wait(RateLimitedError("x", retry_after=45.0), 1, 0.0) == 30.0
    assert RetryPolicy().wait(RateLimitedError("x", retry_after=0.0), 3, 0.9) == 0.0


DROPPED: list[tuple[str, Answer, type[APIError]]] = [
    ("500", fail(500, "Internal Server Error"), ServerError),
    ("502", fail(502, "Bad Gateway"), ServerError),
    ("504", fail(504, "Gateway Timeout"), ServerError),
    ("read-timeout", httpx2.ReadTimeout("timed out"), APITimeoutError),
    ("write-timeout", httpx2.WriteTimeout("timed out"), APITimeoutError),
    ("dropped", httpx2.RemoteProtocolError("Server disconnected without sending a response."), APIConnectionError),
    ("reset", httpx2.ReadError("[Errno 104] Connection reset by peer"), APIConnectionError),
]


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", BILLED, ids=_ids(BILLED))
@pytest.mark.parametrize(("failure", "answer", "expected"), DROPPED, ids=[d[0] for d in DROPPED])
async def test_billed_call_that_may_have_been_processed_is_never_resent(
    endpoint: Endpoint, failure: str, answer: Answer, expected: type[APIError], media_file: Path
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(answer, ok(endpoint.answer)) as h:
            with pytest.raises(expected) as caught:
                await endpoint.call(h.client, media_file)
    assert h.mavi.count == 1, f"{endpoint.name} was resent after {failure}"
    assert h.sleeps == []
    assert caught.value.endpoint is not None


NOT_PROCESSED: list[tuple[str, Answer]] = [
    ("connect", httpx2.ConnectError("All connection attempts failed")),
    ("connect-timeout", httpx2.ConnectTimeout("timed out")),
    ("503", fail(503, "Service Unavailable")),
    ("429", fail(429, "Too Many Requests")),
    ("ambiguous-400", fail(400, LIMIT_MESSAGE)),
    ("402", fail(402, "Payment Required")),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "answer", "processed"),
    [(d[0], d[1], True) for d in DROPPED] + [(n[0], n[1], False) for n in NOT_PROCESSED],
    ids=[d[0] for d in DROPPED] + [n[0] for n in NOT_PROCESSED],
)
async def test_an_async_start_may_have_been_processed_exactly_when_the_failure_does_not_prove_otherwise(
    failure: str, answer: Answer, processed: bool
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(answer, policy=RetryPolicy(max_attempts=1)) as h:
            with pytest.raises(APIError) as caught:
                await h.client.start_task(ASYNC_AUDIO, {"asset_id": ASSET})
    assert may_have_been_processed(caught.value) is processed, failure


@pytest.mark.anyio
@pytest.mark.parametrize(("failure", "answer", "expected"), DROPPED, ids=[d[0] for d in DROPPED])
async def test_free_idempotent_metadata_is_retried_after_the_same_failures(
    failure: str, answer: Answer, expected: type[APIError]
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(answer, answer, ok(METADATA_DATA)) as h:
            record = await h.client.metadata(ASSET)
    assert record.asset_id == ASSET
    assert h.mavi.count == 3, failure
    assert h.sleeps == [1.0, 2.0]
    with anyio.fail_after(TIMEOUT):
        async with harness(answer) as h:
            with pytest.raises(expected):
                await h.client.metadata(ASSET)
    assert h.mavi.count == 4  # bounded, then the last failure is reported


@pytest.mark.anyio
async def test_upload_is_not_resent_after_a_server_error_so_no_duplicate_asset_is_made(media_file: Path) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(500, "oops"), ok({"asset_id": ASSET})) as h:
            with pytest.raises(ServerError):
                await h.client.upload(media_file)
    assert h.mavi.count == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f'{{"code":"0000","msg":"success","data":{{"task_id":"{TASK}"}},"succ'.encode(), TASK),
        (f'{{"code":"0000","data": {{ "task_id" : "{TASK.upper()}"'.encode(), TASK),
        (f'{{"data":{{"task_id":"{TASK}","again":{{"task_id":"{TASK}"'.encode(), TASK),
        (f'{{"code":"0000","msg":"success","data":{{"task_id":"{TASK[:20]}'.encode(), None),
        (f'{{"code":"0000","msg":"success","data":{{"task_id":"{TASK}'.encode(), None),  # maybe more digits
        (f'{{"data":{{"task_id":"{TASK}0"}}'.encode(), None),
        (f'{{"data":{{"task_id":"{TASK}","other":{{"task_id":"{TASK[::-1]}"'.encode(), None),
        (b'{"code":"0000","msg":"success","da', None),
        (b"", None),
    ],
    ids=[
        "cut-after-id",
        "spaces-upper",
        "same-twice",
        "cut-inside",
        "no-closing-quote",
        "33-digits",
        "two-ids",
        "no-id",
        "empty",
    ],
)
def test_a_task_id_is_read_from_a_raw_answer_only_when_it_is_complete_and_unambiguous(
    raw: bytes, expected: str | None
) -> None:
    assert task_id_in_raw(raw) == expected


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 415])
async def test_client_errors_are_not_retried(status: int) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(status, "no")) as h:
            with pytest.raises(APIError):
                await h.client.metadata(ASSET)
    assert h.mavi.count == 1
    assert h.sleeps == []


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    future = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    seconds = parse_retry_after(future)
    assert seconds is not None
    assert 88 < seconds <= 90


# --- pacing -------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_calls_with_the_same_key_are_spaced_one_second_apart() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok(SPEAKER_DATA), rate_limit=1.0) as h, anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(lambda: h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET}))
    assert h.mavi.count == 3
    gaps = [b - a for a, b in zip(h.mavi.arrivals, h.mavi.arrivals[1:], strict=False)]
    assert all(gap >= 1.0 for gap in gaps), gaps


@pytest.mark.anyio
async def test_different_keys_are_not_paced_against_each_other() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok(SPEAKER_DATA), rate_limit=1.0) as h, anyio.create_task_group() as group:
            for key in ("sk-mavi-first-account-0001", "sk-mavi-second-account-002", KEY):
                group.start_soon(lambda k: h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET}, api_key=k), key)
    assert sorted(r.headers["Authorization"] for r in h.mavi.requests) == sorted(
        ["sk-mavi-first-account-0001", "sk-mavi-second-account-002", KEY]
    )
    assert max(h.mavi.arrivals) - min(h.mavi.arrivals) < 0.5


@pytest.mark.anyio
async def test_rate_limit_zero_disables_pacing() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok(SPEAKER_DATA), rate_limit=0.0) as h, anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(lambda: h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET}))
    assert h.mavi.count == 3
    assert max(h.mavi.arrivals) - min(h.mavi.arrivals) < 0.5


@pytest.mark.anyio
async def test_a_retry_takes_a_pacing_slot_too() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(429, "slow down", headers={"Retry-After": "0"}), ok(SPEAKER_DATA), rate_limit=1.0) as h:
            await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert h.sleeps == [0.0]
    assert h.mavi.arrivals[1] - h.mavi.arrivals[0] >= 1.0


# --- secrets ------------------------------------------------------------------------------------------

CUSTOM_KEY = "mavi-live-0123456789abcdef"  # not shaped like sk-...: only knowing the key can redact it


@pytest.mark.anyio
@pytest.mark.parametrize("key", [KEY, CUSTOM_KEY])
@pytest.mark.parametrize(
    "echo",
    [
        lambda k: fail(401, f"Invalid API key: {k}"),
        lambda k: httpx2.Response(403, json={"code": 403, "message": f"key {k} is disabled"}),
        lambda k: httpx2.Response(401, json={"code": 401, "msg": {"error": f"bad key {k}"}}),
        lambda k: httpx2.Response(200, json={"code": 401, "msg": f"Unauthorized ({k})", "success": False}),
        lambda k: httpx2.Response(500, text=f"panic: key={k}"),
    ],
    ids=["json-msg", "json-message", "json-object", "inside-200", "text"],
)
async def test_the_api_key_never_appears_in_an_error_even_when_the_api_echoes_it(
    key: str, echo: Callable[[str], httpx2.Response]
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(echo(key), api_key=SecretStr(key)) as h:
            with pytest.raises(APIError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    error = caught.value
    assert h.mavi.requests[0].headers["Authorization"] == key  # the key was sent...
    assert key not in str(error)  # ...and is nowhere in what the agent sees
    assert key not in repr(error)
    assert key not in (error.api_message or "")
    assert "[redacted]" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize("key", [KEY, CUSTOM_KEY])
async def test_the_api_key_never_appears_in_a_connection_error(key: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(httpx2.ConnectError(f"proxy refused Authorization: {key}"), api_key=SecretStr(key)) as h:
            with pytest.raises(APIConnectionError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert key not in str(caught.value)
    assert "[redacted]" in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [200, 401, 502])
async def test_no_part_of_the_key_survives_where_a_long_message_is_shortened(status: int) -> None:
    padding = "x" * 190  # the key straddles the cut: 200 characters of a text body, 500 of a msg
    answers = {
        200: httpx2.Response(200, json={"code": 401, "msg": padding * 2 + "y" * 110 + CUSTOM_KEY}),
        401: httpx2.Response(401, json={"code": 401, "msg": padding * 2 + "y" * 110 + CUSTOM_KEY}),
        502: httpx2.Response(502, text=padding + CUSTOM_KEY),
    }
    with anyio.fail_after(TIMEOUT):
        async with harness(answers[status], api_key=SecretStr(CUSTOM_KEY)) as h:
            with pytest.raises(APIError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert CUSTOM_KEY[:10] not in str(caught.value)


@pytest.mark.anyio
async def test_a_per_call_key_is_redacted_from_errors_too() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(fail(401, f"unknown key {CUSTOM_KEY}")) as h:
            with pytest.raises(AuthenticationError) as caught:
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET}, api_key=CUSTOM_KEY)
    assert h.mavi.requests[0].headers["Authorization"] == CUSTOM_KEY
    assert CUSTOM_KEY not in str(caught.value)


# --- no leaks -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_every_response_is_closed_whether_it_succeeded_failed_or_was_retried() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(
            fail(503, "down"),
            fail(429, "slow", headers={"Retry-After": "1"}),
            ok(SPEAKER_DATA),
            fail(401, "Unauthorized"),
            httpx2.Response(200, text="not json"),
        ) as h:
            await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
            with pytest.raises(AuthenticationError):
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
            with pytest.raises(ResultError):
                await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET})
    assert len(h.mavi.bodies) == 5
    assert [body.closed for body in h.mavi.bodies] == [True] * 5


def _open_handles(path: Path) -> int:
    """How many file descriptors of this process point at `path` (Linux /proc)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if os.readlink(fd) == str(path):
                count += 1
        except OSError:  # the descriptor listing the directory itself is gone by now
            continue
    return count


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")


@pytest.fixture
def handles_during_attempts(media_file: Path) -> Iterator[list[int]]:
    seen: list[int] = []
    yield seen
    assert _open_handles(media_file) == 0, "the upload left its file open"


@needs_proc
@pytest.mark.anyio
async def test_upload_file_is_closed_after_every_attempt_including_failed_and_retried_ones(
    media_file: Path, handles_during_attempts: list[int]
) -> None:
    def counting(answer: Answer) -> Callable[[httpx2.Request], httpx2.Response]:
        def respond(request: httpx2.Request) -> httpx2.Response:
            handles_during_attempts.append(_open_handles(media_file))
            if isinstance(answer, Exception):
                raise answer
            assert isinstance(answer, httpx2.Response)
            return answer

        return respond

    with anyio.fail_after(TIMEOUT):
        async with harness(
            counting(httpx2.ConnectError("refused")),
            counting(fail(503, "down")),
            counting(fail(429, "slow")),
            counting(ok({"asset_id": ASSET})),
        ) as h:
            assert await h.client.upload(media_file) == ASSET
            assert _open_handles(media_file) == 0
    # each attempt reopened the file, and the previous attempts' handles were already closed
    assert handles_during_attempts == [1, 1, 1, 1]
    assert all(media_file.read_bytes() in r.content for r in h.mavi.requests)


@needs_proc
@pytest.mark.anyio
async def test_upload_file_is_closed_when_every_attempt_fails(
    media_file: Path, handles_during_attempts: list[int]
) -> None:
    def dropped(request: httpx2.Request) -> httpx2.Response:
        handles_during_attempts.append(_open_handles(media_file))
        raise httpx2.ReadError("connection reset")

    with anyio.fail_after(TIMEOUT):
        async with harness(dropped) as h:
            with pytest.raises(APIConnectionError):
                await h.client.upload(media_file)
            assert _open_handles(media_file) == 0
    assert handles_during_attempts == [1]


# --- no key -------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
async def test_missing_key_says_how_to_set_it_and_sends_nothing(endpoint: Endpoint, media_file: Path) -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok(endpoint.answer), api_key=None) as h:
            assert h.client.has_key is False
            with pytest.raises(ConfigurationError) as caught:
                await endpoint.call(h.client, media_file)
    message = str(caught.value)
    assert "MAVI_API_KEY" in message
    assert "export MAVI_API_KEY=" in message
    assert "--sandbox" in message
    assert h.mavi.count == 0


@pytest.mark.anyio
async def test_a_per_call_key_works_without_a_configured_key() -> None:
    with anyio.fail_after(TIMEOUT):
        async with harness(ok(SPEAKER_DATA), api_key=None) as h:
            await h.client.transcribe(SPEAKER_TURNS, {"asset_id": ASSET}, api_key=KEY)
    assert h.mavi.requests[0].headers["Authorization"] == KEY
