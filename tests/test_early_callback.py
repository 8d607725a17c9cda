"""A callback that arrives before its task's row is written (MAVI can answer the start request after it has
already called the webhook): once `create_task` joins the two, the task and its transcript keep every fact of
the task -- its tool, parameters and asset (mavi_mcp/store.py, `Store.create_task`)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest

from mavi_mcp.store import AsyncStore, Store
from mavi_mcp.webhook import Receiver, receiver_app, webhook_path

DATA = Path(__file__).resolve().parent.parent / "mavi_mcp/sandbox/data"
WHISPER = DATA / "async-generate-audio-callback" / "4474506.json"
TASK = "664add874ed6520ea9ecbef1f47c2b54"  # the task id in that real callback
ASSET = "re_700000000000000001"
SECRET = "s3cret-path-token-0123456789abcdef"


@pytest.mark.anyio
async def test_a_transcript_stored_from_an_early_callback_gets_its_tasks_asset_once_the_task_is_recorded(
    tmp_path: Path,
) -> None:
    store = Store.in_dir(tmp_path)
    try:
        receiver = Receiver(AsyncStore(store), secret=SECRET, max_bytes=1_000_000)
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=receiver_app(receiver)), base_url="http://hook"
        ) as hook:
            response = await hook.post(webhook_path(SECRET), content=WHISPER.read_bytes())
        assert response.status_code == 200
        early = store.get_task(TASK)
        assert early is not None
        assert (early.status, early.origin, early.asset_id) == ("completed", "webhook", None)
        assert early.transcript_id is not None
        before = store.get_transcript(early.transcript_id)  # read (and cached) before the join
        assert before is not None
        assert before.source.asset_id is None

        params = {"speaker": True, "model": "whisper-1", "page": {"format": "srt"}}
        joined = store.create_task(
            TASK, mode="async", endpoint="async-generate-audio", tool="transcribe_whisper", asset_id=ASSET,
            params=params,
        )  # fmt: skip
        assert (joined.status, joined.tool, joined.asset_id, joined.params) == (
            "completed",
            "transcribe_whisper",
            ASSET,
            params,
        )
        assert joined.transcript_id == early.transcript_id
        transcript = store.get_transcript(early.transcript_id)
        assert transcript is not None
        assert transcript.source.asset_id == ASSET
        assert transcript.source.task_id == TASK
        assert transcript.segments[0].text.startswith("Good day and thank you for standing by")
        (listed,) = store.list_transcripts()
        assert listed.asset_id == ASSET
    finally:
        store.close()
    reopened = Store.in_dir(tmp_path)  # the stored body, not only the cache
    try:
        transcript = reopened.get_transcript(early.transcript_id)
        assert transcript is not None
        assert transcript.source.asset_id == ASSET
        assert json.loads(transcript.model_dump_json())["source"]["asset_id"] == ASSET
    finally:
        reopened.close()


def test_a_task_recorded_first_is_left_as_it_was(tmp_path: Path) -> None:
    store = Store.in_dir(tmp_path)
    try:
        first = store.create_task(TASK, mode="async", endpoint="async-generate-audio", tool="transcribe_whisper",
                                  asset_id=ASSET, params={"speaker": False})  # fmt: skip
        again = store.create_task(TASK, mode="async", endpoint="async-generate-audio", tool="other",
                                  asset_id="re_other", params={})  # fmt: skip
        assert again == first
    finally:
        store.close()
