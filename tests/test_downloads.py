"""upload_media with a URL: http(s) only, size cap, redirects, names, errors; temp files never left behind."""

from __future__ import annotations

import io
import json
import logging
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client

from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.helpers import error, ok, store_rows

pytestmark = pytest.mark.anyio


def _wav(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


WAV = _wav(2.0)


SIGNED = "X-Amz-Signature=s3cr3t-signature"
PASSWORD = "hunter2-password"


REQUESTED: list[httpx2.URL] = []
"""Every URL media_site was asked for, in order (tests clear it first)."""


def media_site(request: httpx2.Request) -> httpx2.Response:
    """media.test serves files; unreachable.test refuses connections; nowhere.test has no DNS entry."""
    REQUESTED.append(request.url)
    if request.url.host == "unreachable.test":
        raise httpx2.ConnectError("All connection attempts failed", request=request)
    if request.url.host == "nowhere.test":
        raise httpx2.ConnectError("[Errno -2] Name or service not known", request=request)
    if request.url.host == "slow.test":
        raise httpx2.ReadTimeout(f"timed out reading {request.url}", request=request)
    path = request.url.path
    if path == "/talk.wav":
        return httpx2.Response(200, content=WAV, headers={"content-type": "audio/wav"})
    if path == "/stream":
        return httpx2.Response(
            200,
            content=WAV,
            headers={"content-type": "audio/x-wav", "content-disposition": 'attachment; filename="call.wav"'},
        )
    if path == "/noext":
        return httpx2.Response(200, content=b"ID3" + b"\x00" * 2000, headers={"content-type": "audio/mpeg"})
    if path == "/moved":
        return httpx2.Response(302, headers={"location": "https://media.test/talk.wav"})
    if path == "/to-file":
        return httpx2.Response(302, headers={"location": "file:///etc/passwd"})
    if path == "/loop":
        return httpx2.Response(302, headers={"location": "https://media.test/loop"})
    if path == "/page":
        return httpx2.Response(200, content=b"<html></html>", headers={"content-type": "text/html"})
    if path == "/big.mp3":
        return httpx2.Response(200, content=b"\x00" * 50_000, headers={"content-type": "audio/mpeg"})
    if path == "/empty.mp3":
        return httpx2.Response(200, content=b"", headers={"content-type": "audio/mpeg"})
    return httpx2.Response(404, content=b"not found")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(sandbox=True, data_dir=tmp_path, rate_limit=0, max_upload_bytes=40_000)
    holder = RuntimeHolder(settings, download_transport=httpx2.MockTransport(media_site))
    async with Client(create_server(settings, holder=holder)) as connected:
        yield connected


async def test_a_media_url_is_downloaded_then_uploaded_and_nothing_is_left_on_disk(
    client: Client, tmp_path: Path
) -> None:
    result = ok(await client.call_tool("upload_media", {"path": "https://media.test/talk.wav"}))
    assert result["status"] == "completed"
    assert result["filename"] == "talk.wav"
    assert result["size_bytes"] == len(WAV)
    assert result["asset_id"].startswith("re_")
    page = ok(await client.call_tool("transcribe_whisper", {"asset_id": result["asset_id"], "mode": "sync"}))
    assert page["duration"] == pytest.approx(2.0)
    assert list((tmp_path / "sandbox" / "downloads").iterdir()) == []


async def test_names_come_from_the_url_the_disposition_header_or_the_content_type(client: Client) -> None:
    assert ok(await client.call_tool("upload_media", {"path": "https://media.test/stream"}))["filename"] == "call.wav"
    assert ok(await client.call_tool("upload_media", {"path": "https://media.test/noext"}))["filename"] == "noext.mp3"
    assert ok(await client.call_tool("upload_media", {"path": "https://media.test/moved"}))["filename"] == "talk.wav"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://media.test/a.mp3", "only local paths and http(s) URLs"),
        ("https://media.test/missing.mp3", "HTTP 404"),
        ("https://media.test/to-file", "only http(s) is followed"),
        ("https://media.test/loop", "redirected too many times"),
        ("https://media.test/page", "does not look like an audio or video file"),
        ("https://media.test/big.mp3", "upload limit"),
        ("https://media.test/empty.mp3", "empty body"),
    ],
)
async def test_a_bad_media_url_gets_an_actionable_error(client: Client, url: str, expected: str) -> None:
    assert expected in error(await client.call_tool("upload_media", {"path": url}))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://unreachable.test/talk.wav", "Could not connect to the host of https://unreachable.test/talk.wav"),
        ("https://nowhere.test/talk.wav", "Name or service not known"),
        ("https://slow.test/talk.wav", "ReadTimeout"),
        ("http://[::1", "'http://[::1' is not a valid URL"),
        ("http://[::1]:port/a.wav", "is not a valid URL"),
        ("http://", "has no host name"),
        ("https:///talk.wav", "has no host name"),
        ("http://media.test:abc/talk.wav", "is not a valid URL (Invalid port"),
        ("http://999.1.1.1/talk.wav", "is not a valid URL"),
        ("http://\u2603.test/talk.wav", "is not a valid URL"),
    ],
)
async def test_an_unreachable_or_malformed_media_url_says_what_went_wrong_and_what_to_do(
    client: Client, url: str, expected: str
) -> None:
    message = error(await client.call_tool("upload_media", {"path": url}))
    assert expected in message
    assert "internal error" not in message
    assert "local path" in message


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{PASSWORD}@unreachable.test/talk.wav?{SIGNED}",
        f"https://user:{PASSWORD}@nowhere.test/talk.wav?{SIGNED}#t=10",
        f"https://user:{PASSWORD}@slow.test/talk.wav?{SIGNED}",
        f"https://user:{PASSWORD}@media.test/missing.mp3?{SIGNED}",
        f"https://user:{PASSWORD}@media.test/page?{SIGNED}",
        f"https://user:{PASSWORD}@media.test:abc/talk.wav?{SIGNED}",
        f"https://user:{PASSWORD}@[::1/talk.wav?{SIGNED}",
    ],
)
async def test_a_failed_media_url_is_shown_without_its_credentials_or_query(client: Client, url: str) -> None:
    message = error(await client.call_tool("upload_media", {"path": url}))
    assert PASSWORD not in message
    assert "s3cr3t" not in message
    assert "…@" in message
    assert "talk.wav?…" in message or "missing.mp3?…" in message or "page?…" in message
    stored = str((await client.call_tool("list_tasks", {})).structured_content)  # failed download jobs, if any
    assert PASSWORD not in stored
    assert "s3cr3t" not in stored


async def test_a_signed_media_url_is_downloaded_in_full_but_returned_stored_and_logged_without_its_secrets(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for library in ("httpx2", "httpcore"):  # as `cli.configure_logging` sets them: requests are never logged
        caplog.set_level(logging.WARNING, logger=library)
    url = f"https://user:{PASSWORD}@media.test/talk.wav?{SIGNED}&X-Amz-Credential=AKIA%2Fs3cr3t-credential"
    REQUESTED.clear()
    uploaded = await client.call_tool("upload_media", {"path": url})
    result = ok(uploaded)
    assert result["source"] == "https://…@media.test/talk.wav?…"
    assert [(u.host, u.path, u.query.decode()) for u in REQUESTED] == [
        ("media.test", "/talk.wav", f"{SIGNED}&X-Amz-Credential=AKIA%2Fs3cr3t-credential")
    ]  # the download itself used the whole URL
    assert REQUESTED[0].userinfo == f"user:{PASSWORD}".encode()
    answers = [uploaded]
    answers.append(await client.call_tool("get_task", {"task_id": result["task_id"]}))
    answers.append(await client.call_tool("list_tasks", {}))
    resource = await client.read_resource(f"mavi://tasks/{result['task_id']}")
    seen = [c.text for a in answers for c in a.content if c.type == "text"]
    seen += [json.dumps(a.structured_content) for a in answers]
    seen += [getattr(c, "text", "") for c in resource.contents]
    seen += [text for _, text in store_rows(tmp_path / "sandbox" / "mavi-mcp.sqlite3")]
    seen.append(caplog.text)
    assert not [text for text in seen if PASSWORD in text or "s3cr3t" in text]
