"""The webhook receiver on real callback bodies: authentication, limits, persistence, idempotency, joins."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr

from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.settings import Settings
from mavi_mcp.store import AsyncStore, Store
from mavi_mcp.webhook import Receiver, bind, ingest, load_or_create_secret, receiver_app, webhook_path
from tests.conftest import free_port

DATA = Path(__file__).resolve().parent.parent / "mavi_mcp" / "sandbox" / "data"
MULTI = DATA / "async-generate-multi-speaker-callback" / "4320211.json"
WHISPER = DATA / "async-generate-audio-callback" / "4474506.json"
SECRET = "s3cret-path-token-0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "store.sqlite3")
    yield s
    s.close()


def _client(store: Store, *, max_bytes: int = 1_000_000, settled: list[str] | None = None) -> httpx2.AsyncClient:
    receiver = Receiver(
        AsyncStore(store),
        secret=SECRET,
        max_bytes=max_bytes,
        on_settled=settled.append if settled is not None else None,
    )
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=receiver_app(receiver)), base_url="http://hook")


def _body(path: Path, task_id: str) -> bytes:
    payload = json.loads(path.read_bytes())
    payload["task_id"] = task_id
    return json.dumps(payload).encode()


@pytest.mark.anyio
async def test_a_wrong_secret_gets_404_and_nothing_is_stored(store: Store) -> None:
    async with _client(store) as client:
        response = await client.post(webhook_path("not-the-secret"), content=_body(MULTI, "t1"))
    assert response.status_code == 404
    assert store.deliveries() == []
    assert store.get_task("t1") is None


@pytest.mark.anyio
async def test_a_callback_for_a_recorded_task_completes_it_with_named_speakers_and_faces(store: Store) -> None:
    store.create_task("t-multi", mode="async", endpoint="async-generate-multi-speaker", tool="x", asset_id="re_3")
    settled: list[str] = []
    async with _client(store, settled=settled) as client:
        response = await client.post(
            webhook_path(SECRET), content=_body(MULTI, "t-multi"), headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    assert response.json()["status"] == "applied"
    assert settled == ["t-multi"]
    task = store.get_task("t-multi")
    assert task is not None
    assert task.status == "completed"
    assert task.transcript_id is not None
    transcript = store.get_transcript(task.transcript_id)
    assert transcript is not None
    names = {s.label for s in transcript.speakers}
    assert {"Brett Ponton", "Maureen Mulholland", "Speaker 1"} <= names
    assert len(names) == 10
    assert all(s.name == s.label for s in transcript.speakers)
    raw = json.loads(MULTI.read_bytes())["data"]["data"]["audio_transcription"]
    assert len(transcript.segments) == len(raw)
    assert transcript.segments[0].text == raw[0]["text"]
    assert transcript.source.asset_id == "re_3"
    assert transcript.source.task_id == "t-multi"
    assert transcript.extras.usage
    assert transcript.extras.usage[0]["model"] == "gemini-2.5-pro"


@pytest.mark.anyio
async def test_a_duplicate_delivery_changes_nothing(store: Store) -> None:
    store.create_task("t-dup", mode="async", endpoint="async-generate-audio", tool="x", asset_id=None)
    async with _client(store) as client:
        first = await client.post(webhook_path(SECRET), content=_body(WHISPER, "t-dup"))
        before = store.get_task("t-dup")
        second = await client.post(webhook_path(SECRET), content=_body(WHISPER, "t-dup"))
    after = store.get_task("t-dup")
    assert first.json()["status"] == "applied"
    assert second.json()["status"] == "duplicate"
    assert before == after
    assert len(store.list_transcripts()) == 1
    assert [d.status for d in store.deliveries("t-dup")] == ["duplicate", "applied"]


@pytest.mark.anyio
async def test_a_callback_that_arrives_before_its_task_is_recorded_is_joined_later(store: Store) -> None:
    async with _client(store) as client:
        response = await client.post(webhook_path(SECRET), content=_body(WHISPER, "t-early"))
    assert response.json()["status"] == "applied"
    early = store.get_task("t-early")
    assert early is not None
    assert early.origin == "webhook"
    assert early.status == "completed"
    assert early.endpoint == "async-generate-audio"
    joined = store.create_task(
        "t-early", mode="async", endpoint="async-generate-audio", tool="transcribe_whisper", asset_id="re_2"
    )
    assert joined.status == "completed"
    assert joined.tool == "transcribe_whisper"
    assert joined.asset_id == "re_2"
    assert joined.origin == "local"
    assert joined.transcript_id == early.transcript_id


@pytest.mark.anyio
async def test_a_callback_for_a_task_this_server_never_started_is_kept(store: Store) -> None:
    async with _client(store) as client:
        response = await client.post(webhook_path(SECRET), content=_body(MULTI, "started-elsewhere"))
    assert response.status_code == 200
    task = store.get_task("started-elsewhere")
    assert task is not None
    assert task.status == "completed"
    assert task.endpoint == "async-generate-multi-speaker"


@pytest.mark.anyio
async def test_a_body_that_is_not_json_is_kept_and_acknowledged(store: Store) -> None:
    async with _client(store) as client:
        response = await client.post(
            webhook_path(SECRET), content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    assert response.json()["status"] == "malformed"
    (delivery,) = store.deliveries()
    assert delivery.body == b"{not json"
    assert delivery.status == "malformed"


@pytest.mark.anyio
async def test_a_malformed_callback_is_kept_and_fails_its_task_with_the_reason(store: Store) -> None:
    store.create_task("t-bad", mode="async", endpoint="async-generate-audio", tool="x", asset_id=None)
    body = json.dumps({"code": "0000", "message": "SUCCESS", "task_id": "t-bad", "data": {"data": {"data": "nope"}}})
    async with _client(store) as client:
        response = await client.post(webhook_path(SECRET), content=body.encode())
    assert response.json()["status"] == "malformed"
    task = store.get_task("t-bad")
    assert task is not None
    assert task.status == "failed"
    assert task.error is not None
    assert "could not be read" in task.error
    assert "delivery" in task.error
    assert store.deliveries("t-bad")[0].body == body.encode()


@pytest.mark.anyio
async def test_a_callback_reporting_failure_fails_the_task_with_mavis_message(store: Store) -> None:
    store.create_task("t-fail", mode="async", endpoint="async-generate-audio", tool="x", asset_id=None)
    body = {
        "code": "0000",
        "message": "FAILED",
        "task_id": "t-fail",
        "data": {"data": None, "msg": "ASR failed: no audio", "success": False},
    }
    async with _client(store) as client:
        response = await client.post(webhook_path(SECRET), json=body)
    assert response.json()["status"] == "failed_result"
    task = store.get_task("t-fail")
    assert task is not None
    assert task.status == "failed"
    assert task.error is not None
    assert "ASR failed: no audio" in task.error


@pytest.mark.anyio
async def test_an_oversize_body_gets_413_and_nothing_is_stored(store: Store) -> None:
    async with _client(store, max_bytes=1000) as client:
        response = await client.post(webhook_path(SECRET), content=_body(WHISPER, "t-big"))
    assert response.status_code == 413
    assert store.deliveries() == []


@pytest.mark.anyio
async def test_only_post_with_json_is_accepted(store: Store) -> None:
    async with _client(store) as client:
        get = await client.get(webhook_path(SECRET))
        form = await client.post(webhook_path(SECRET), content=b"a=b", headers={"content-type": "text/plain"})
    assert get.status_code == 405
    assert form.status_code == 415
    assert store.deliveries() == []


@pytest.mark.anyio
async def test_an_acknowledged_delivery_is_still_there_after_reopening_the_store(tmp_path: Path) -> None:
    path = tmp_path / "durable.sqlite3"
    first = Store(path)
    result = await ingest(AsyncStore(first), _body(WHISPER, "t-durable"))
    first.close()
    assert result.status == "applied"
    reopened = Store(path)
    task = reopened.get_task("t-durable")
    reopened.close()
    assert task is not None
    assert task.status == "completed"


def test_the_secret_is_generated_once_kept_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_or_create_secret(settings, tmp_path)
    second = load_or_create_secret(settings, tmp_path)
    assert first == second
    assert len(first) >= 40
    assert (tmp_path / "webhook-secret").stat().st_mode & 0o777 == 0o600
    configured = Settings(data_dir=tmp_path, webhook_secret=SecretStr("from-settings-0123456789abcdef-xyz"))
    assert load_or_create_secret(configured, tmp_path) == "from-settings-0123456789abcdef-xyz"


@pytest.mark.anyio
async def test_connections_accepted_on_a_bound_socket_have_nagle_off() -> None:
    """`bind()` serves the sandbox and the receivers: without TCP_NODELAY every answer after the first on a kept-alive
    connection would wait for the peer's delayed ACK (~40 ms)."""
    accepted: asyncio.Queue[int] = asyncio.Queue()

    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        await accepted.put(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    listening = bind("127.0.0.1", 0)
    server = await asyncio.start_server(on_connect, sock=listening)
    async with server:
        _, writer = await asyncio.open_connection(*listening.getsockname())
        assert await asyncio.wait_for(accepted.get(), 10) != 0
        writer.close()


@pytest.mark.anyio
async def test_the_embedded_receiver_closes_its_port_when_the_runtime_closes(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(data_dir=tmp_path, webhook_port=port, _env_file=None)  # pyright: ignore[reportCallIssue]
    async with RuntimeHolder(settings).open() as runtime:
        assert runtime.receiver_here == f"embedded on 127.0.0.1:{port}"
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # listening
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
