"""upload_media with a local file: opened once, off the event loop, checked on the descriptor, and that
descriptor is what every attempt sends. The sandbox answers the first upload with 503 (a retried fault); the
file is swapped while that first attempt is in flight."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mavi_mcp.sandbox.faults import Fault
from tests.conftest import in_process_server, write_wav
from tests.helpers import error, ok

pytestmark = pytest.mark.anyio
KEY = "sk-mavi-localfile-test-0123456789"
SECRET = "localfile-webhook-secret-0123456789abcdef"


class UploadSpy:
    """An ASGI layer before the sandbox: keeps each upload body and runs `on_first` when the first one arrives."""

    def __init__(self, on_first: Callable[[], None]) -> None:
        self.bodies: list[bytes] = []
        self.on_first = on_first

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def spy(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not str(scope["path"]).endswith("/upload"):
                await app(scope, receive, send)
                return
            chunks: list[bytes] = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            self.bodies.append(body)
            if len(self.bodies) == 1:
                self.on_first()
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)

        return spy


async def upload_with_swap(tmp_path: Path, swap: Callable[[Path], None]) -> tuple[dict[str, object], UploadSpy, bytes]:
    media = tmp_path / "media"
    media.mkdir()
    wav = write_wav(media / "talk.wav", seconds=0.5)
    original = wav.read_bytes()
    spy = UploadSpy(lambda: swap(wav))
    async with in_process_server(
        tmp_path / "data",
        [media],
        api_key=KEY,
        webhook_secret=SECRET,
        wrap=spy.wrap,
        faults={"upload": [Fault(kind="status", status=503, count=1)]},
        upload_processing_seconds=0.0,
    ) as (server, _):
        from mcp import Client

        async with Client(server) as client:
            with anyio.fail_after(60):
                result = ok(await client.call_tool("upload_media", {"path": str(wav)}))
    return result, spy, original


async def test_a_symlink_swapped_in_between_attempts_does_not_send_the_file_it_points_to(tmp_path: Path) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    secret = outside / "secret.wav"
    secret.write_bytes(b"RIFF" + b"TOP-SECRET-OUTSIDE-THE-ALLOWED-DIRS" * 100)

    def swap(path: Path) -> None:
        path.unlink()
        path.symlink_to(secret)

    result, spy, original = await upload_with_swap(tmp_path, swap)
    assert len(spy.bodies) == 2  # the 503, then the retry
    for body in spy.bodies:
        assert original in body
        assert b"TOP-SECRET" not in body
    assert result["size_bytes"] == len(original)


async def test_a_file_that_grows_between_attempts_is_sent_only_up_to_its_checked_size(tmp_path: Path) -> None:
    def grow(path: Path) -> None:
        with path.open("ab") as handle:  # the same inode, 2 MB longer
            handle.write(b"\x01" * 2_000_000)

    result, spy, original = await upload_with_swap(tmp_path, grow)
    assert len(spy.bodies) == 2
    for body in spy.bodies:
        assert original in body
        assert len(body) < len(original) + 1000  # multipart framing only
    assert result["size_bytes"] == len(original)


async def test_a_file_replaced_by_a_bigger_one_between_attempts_still_sends_the_one_checked(tmp_path: Path) -> None:
    def replace(path: Path) -> None:
        bigger = path.with_name("bigger.wav")
        bigger.write_bytes(b"RIFF" + b"\x02" * 3_000_000)
        os.replace(bigger, path)

    result, spy, original = await upload_with_swap(tmp_path, replace)
    assert all(original in body and b"\x02" * 1000 not in body for body in spy.bodies)
    assert result["size_bytes"] == len(original)


async def test_a_fifo_is_refused_at_once_and_the_server_keeps_answering(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    fifo = media / "stream.wav"
    os.mkfifo(fifo)
    link = media / "link.wav"
    link.symlink_to(fifo)
    async with in_process_server(tmp_path / "data", [media], api_key=KEY, webhook_secret=SECRET) as (server, _):
        from mcp import Client

        answers: dict[str, str] = {}
        listed: dict[str, object] = {}
        async with Client(server) as client:
            with anyio.fail_after(10):  # the old open() blocked here for ever (and the whole server with it)
                async with anyio.create_task_group() as tg:

                    async def upload(name: str, path: Path) -> None:
                        answers[name] = error(await client.call_tool("upload_media", {"path": str(path)}))

                    tg.start_soon(upload, "fifo", fifo)
                    tg.start_soon(upload, "link", link)
                    listed = ok(await client.call_tool("list_tasks", {}))
    assert "not a regular file" in answers["fifo"]
    assert "not a regular file" in answers["link"]
    assert "tasks" in listed
