"""upload_media as a job: an upload that MAVI is still processing when the wait ends shows its asset id.

The server runs in memory against the sandbox app (`httpx2.ASGITransport`) whose clock is frozen, so an uploaded
file stays WAITING until the test moves the clock: no race between the wait and MAVI's processing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.sandbox import create_app
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.conftest import write_wav
from tests.helpers import FakeClock, config, ok, text_of

pytestmark = pytest.mark.anyio

KEY = "sk-mavi-uploads-test-0123456789"


@dataclass
class Rig:
    client: Client
    clock: FakeClock
    media: Path


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = FakeClock()
    sandbox = create_app(config(upload_processing_seconds=60.0, clock=clock, api_key=KEY))
    media = tmp_path / "media"
    media.mkdir()
    settings = Settings(
        api_key=SecretStr(KEY),
        base_url="http://sandbox.test",
        data_dir=tmp_path / "data",
        allowed_dirs=[media],
        rate_limit=0,
    )
    async with sandbox.running():
        holder = RuntimeHolder(settings, transport=httpx2.ASGITransport(app=sandbox.app))
        async with Client(create_server(settings, holder=holder)) as client:
            yield Rig(client, clock, media)


async def test_an_upload_still_processing_when_the_wait_ends_shows_its_asset_id_until_it_is_ready(rig: Rig) -> None:
    wav = write_wav(rig.media / "call.wav", seconds=1.0)
    with anyio.fail_after(30):
        pending = await rig.client.call_tool("upload_media", {"path": str(wav), "wait_seconds": 3})
    handle = ok(pending)
    assert handle["status"] == "pending", handle
    asset_id = handle["asset_id"]
    assert re.fullmatch(r"re_\d{18}", asset_id), handle
    assert f"MAVI has stored the file as asset_id {asset_id}" in text_of(pending)
    assert "do not upload it again" in text_of(pending)
    task_id = handle["task_id"]

    asked = await rig.client.call_tool("get_task", {"task_id": task_id})
    assert (ok(asked)["status"], ok(asked)["asset_id"], ok(asked)["endpoint"]) == ("pending", asset_id, "upload")
    assert f"asset_id {asset_id}" in text_of(asked)
    assert "transcript's first page" not in text_of(asked)  # not the transcription tools' handle text
    listed = ok(await rig.client.call_tool("list_tasks", {}))["tasks"]
    assert [(t["task_id"], t["status"], t["asset_id"]) for t in listed] == [(task_id, "pending", asset_id)]
    assert f"asset {asset_id}" in text_of(await rig.client.call_tool("list_tasks", {}))

    rig.clock.now += 120  # MAVI finishes processing
    with anyio.fail_after(30):
        done = ok(await rig.client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 15}))
    assert (done["status"], done["asset_id"]) == ("completed", asset_id)
    listed = ok(await rig.client.call_tool("list_tasks", {}))["tasks"]
    assert [(t["status"], t["asset_id"]) for t in listed] == [("completed", asset_id)]
