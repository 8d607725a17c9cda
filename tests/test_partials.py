"""Partial downloads (mavi_mcp/partials.py, upload_media with a URL): never left in `<data dir>/downloads/`.

Each failure path is driven through the real tool (in-memory MCP client, sandbox mode, a download transport that
misbehaves): a dropped connection, the download timeout, the size cap, cancellation at shutdown. Files left by a
process that was killed are removed when the next server starts; files of a live process are kept.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client

from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.helpers import error, ok

pytestmark = pytest.mark.anyio

CHUNK = b"RIFF" + b"\x00" * 8_000
STALLED = anyio.Event()


async def _drops() -> AsyncIterator[bytes]:
    yield CHUNK
    raise httpx2.ReadError("peer closed connection without sending complete message body")


async def _stalls() -> AsyncIterator[bytes]:
    yield CHUNK
    await anyio.sleep(60)
    yield CHUNK


async def _endless() -> AsyncIterator[bytes]:
    while True:
        yield CHUNK


def media_site(request: httpx2.Request) -> httpx2.Response:
    """/drop.wav breaks after one chunk; /stall.wav stops sending after one; /huge.wav never ends (no length)."""
    streams = {"/drop.wav": _drops, "/stall.wav": _stalls, "/huge.wav": _endless}
    return httpx2.Response(200, headers={"content-type": "audio/wav"}, content=streams[request.url.path]())


def partials(data_dir: Path) -> list[str]:
    folder = data_dir / "sandbox" / "downloads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def settings(data_dir: Path, **changes: object) -> Settings:
    values: dict[str, object] = {"sandbox": True, "data_dir": data_dir, "rate_limit": 0, "max_upload_bytes": 40_000}
    return Settings(**{**values, **changes})  # pyright: ignore[reportArgumentType]


async def upload(data_dir: Path, url: str, **changes: object) -> str:
    config = settings(data_dir, **changes)
    holder = RuntimeHolder(config, download_transport=httpx2.MockTransport(media_site))
    with anyio.fail_after(30):
        async with Client(create_server(config, holder=holder)) as client:
            return error(await client.call_tool("upload_media", {"path": url, "wait_seconds": 20}))


async def test_a_dropped_connection_mid_download_leaves_no_partial_file(tmp_path: Path) -> None:
    message = await upload(tmp_path, "https://media.test/drop.wav")
    assert "ReadError" in message
    assert partials(tmp_path) == []


async def test_a_download_past_its_time_limit_leaves_no_partial_file(tmp_path: Path) -> None:
    message = await upload(tmp_path, "https://media.test/stall.wav", download_timeout=0.5)
    assert "took longer than" in message
    assert partials(tmp_path) == []


async def test_a_download_past_the_size_cap_without_a_length_leaves_no_partial_file(tmp_path: Path) -> None:
    message = await upload(tmp_path, "https://media.test/huge.wav")
    assert "is larger than the" in message
    assert partials(tmp_path) == []


async def test_a_download_cancelled_at_shutdown_leaves_no_partial_file(tmp_path: Path) -> None:
    config = settings(tmp_path)
    holder = RuntimeHolder(config, download_transport=httpx2.MockTransport(media_site))
    with anyio.fail_after(30):
        async with Client(create_server(config, holder=holder)) as client:
            assert holder.current is not None
            holder.current.jobs.grace_seconds = 0.1  # do not wait for the stalled download at shutdown
            started = ok(
                await client.call_tool("upload_media", {"path": "https://media.test/stall.wav", "wait_seconds": 0})
            )
            assert started["status"] == "pending"
            while not partials(tmp_path):  # the download has begun writing its file
                await anyio.sleep(0.02)
            assert partials(tmp_path)[0].startswith("download-")
    assert partials(tmp_path) == []


async def test_partial_files_of_stopped_processes_are_removed_at_start_and_those_of_live_ones_kept(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "sandbox" / "downloads"
    folder.mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for name in (
            "download-999999999-abc.wav",
            "download-old_style.mp3",
            f"download-{live.pid}-busy.wav",
            "notes.txt",
        ):
            (folder / name).write_bytes(CHUNK)
        config = settings(tmp_path)
        with anyio.fail_after(30):
            async with Client(create_server(config, holder=RuntimeHolder(config))) as client:
                assert (await client.list_tools()).tools
                assert partials(tmp_path) == sorted([f"download-{live.pid}-busy.wav", "notes.txt"])
    finally:
        live.kill()
        live.wait()
