"""Pacing shared across processes (mavi_mcp/pacing.py): slots booked in the data dir, the key only as a hash.

The unit tests book slots from two `SqlitePacing` objects on one file (each has its own SQLite connection, as two
processes would); the end-to-end test runs two stdio servers on one key and data dir against the sandbox over HTTP
with its 1 request/second limit on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mavi_mcp.client import Pacer
from mavi_mcp.pacing import MAX_AHEAD, PACING_FILE, PacingUnavailable, SqlitePacing, wait_turn
from tests.conftest import API_KEY, SandboxServer, server_env, stdio_params

pytestmark = pytest.mark.anyio

DIGEST = hashlib.sha256(b"sk-mavi-secret").hexdigest()
AMI_ES2004A = "re_700000000000000012"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_two_processes_on_one_file_book_slots_an_interval_apart_in_the_order_they_ask(tmp_path: Path) -> None:
    clock = Clock()
    first = SqlitePacing(tmp_path / PACING_FILE, clock=clock)
    second = SqlitePacing(tmp_path / PACING_FILE, clock=clock)
    waits = [await first.reserve(DIGEST, 1.1), await second.reserve(DIGEST, 1.1), await first.reserve(DIGEST, 1.1)]
    assert waits == pytest.approx([0.0, 1.1, 2.2])
    clock.now += 10  # long after the last slot: no wait
    assert await second.reserve(DIGEST, 1.1) == 0.0
    assert await first.reserve("another-key-digest", 1.1) == 0.0  # each key has its own pace
    await first.aclose()
    await second.aclose()


async def test_a_request_that_left_late_pushes_back_the_next_one_whatever_its_booking(tmp_path: Path) -> None:
    clock = Clock()
    first = SqlitePacing(tmp_path / PACING_FILE, clock=clock)
    second = SqlitePacing(tmp_path / PACING_FILE, clock=clock)
    assert await first.reserve(DIGEST, 1.1) == 0.0
    assert await second.reserve(DIGEST, 1.1) == pytest.approx(1.1)
    await first.sent(DIGEST, clock.now + 0.3)  # the first request opened a connection: it left 0.3 s late
    clock.now += 1.1  # the second one's slot has come
    assert await second.fence(DIGEST, 1.1) == pytest.approx(0.3)
    await second.sent(DIGEST, clock.now + 0.3)
    await first.sent(DIGEST, clock.now - 5)  # an older send time never moves the fence back
    assert await first.reserve(DIGEST, 1.1) == pytest.approx(1.4)  # after the later of booking and actual send
    await first.aclose()
    await second.aclose()


async def test_waiting_for_a_turn_sleeps_until_the_slot_then_until_the_fence(tmp_path: Path) -> None:
    clock = Clock()
    pacing = SqlitePacing(tmp_path / PACING_FILE, clock=clock)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        if not slept:  # meanwhile the request of the first booking left 0.25 s late
            await pacing.sent(DIGEST, clock.now + 0.25)
        slept.append(seconds)
        clock.now += seconds

    assert await wait_turn(pacing, DIGEST, 1.0, sleep=sleep)
    assert slept == []
    assert await wait_turn(pacing, DIGEST, 1.0, sleep=sleep)
    assert slept == pytest.approx([1.0, 0.25])
    await pacing.aclose()


async def test_concurrent_bookings_from_many_tasks_never_share_a_slot(tmp_path: Path) -> None:
    clock = Clock()
    pacers = [SqlitePacing(tmp_path / PACING_FILE, clock=clock) for _ in range(4)]
    waits: list[float] = []

    async def book(pacing: SqlitePacing) -> None:
        for _ in range(5):
            waits.append(await pacing.reserve(DIGEST, 1.0))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for pacing in pacers:
                group.start_soon(book, pacing)
    assert sorted(waits) == pytest.approx([float(i) for i in range(20)])
    for pacing in pacers:
        await pacing.aclose()


async def test_the_file_holds_the_key_only_as_its_sha256_digest(tmp_path: Path) -> None:
    pacer = Pacer(1.0, SqlitePacing(tmp_path / PACING_FILE))
    await pacer.acquire("sk-mavi-secret")
    assert pacer.shared is not None
    await pacer.shared.aclose()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert b"sk-mavi-secret" not in stored
    assert DIGEST.encode() in stored


async def test_a_slot_far_ahead_is_taken_as_a_clock_gone_back_and_the_key_starts_afresh(tmp_path: Path) -> None:
    clock = Clock()
    pacing = SqlitePacing(tmp_path / PACING_FILE, clock=clock)
    assert await pacing.reserve(DIGEST, 1.0) == 0.0
    clock.now -= MAX_AHEAD + 5  # the wall clock was set back
    assert await pacing.reserve(DIGEST, 1.0) == 0.0
    assert await pacing.reserve(DIGEST, 1.0) == pytest.approx(1.0)
    await pacing.aclose()


async def test_a_pacing_file_that_is_not_a_database_is_reported_and_the_process_paces_on_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / PACING_FILE
    path.write_bytes(b"this is not a database, just some text that fills the header" * 20)
    pacing = SqlitePacing(path)
    with pytest.raises(PacingUnavailable, match="not a database"):
        await pacing.reserve(DIGEST, 1.0)
    pacer = Pacer(20.0, pacing)  # 20 per second: 0.055 s apart on its own
    with anyio.fail_after(5):
        started = anyio.current_time()
        for _ in range(3):
            await pacer.acquire("sk-mavi-secret")
        took = anyio.current_time() - started
    assert took >= 2 * 1.1 / 20 * 0.9
    assert "Shared pacing unavailable" in caplog.text
    assert str(path) in caplog.text
    assert "sk-mavi-secret" not in caplog.text


@pytest.mark.e2e
async def test_two_stdio_servers_on_one_key_and_data_dir_are_never_refused_by_the_rate_limit(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    env = server_env(tmp_path, sandbox_server.url, MAVI_MCP_MAX_ATTEMPTS="1")
    answers: list[dict[str, Any]] = []

    async def agent() -> None:
        async with Client(stdio_params(env)) as client:
            for _ in range(10):
                result = await client.call_tool(
                    "identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync", "refresh": True}
                )
                assert not result.is_error, result.content
                assert result.structured_content is not None
                answers.append(result.structured_content)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            group.start_soon(agent)
            group.start_soon(agent)
    with sandbox_server.admin() as admin:
        record = admin.get("/_sandbox/processed").json()
    assert record["processed"] == ["sync-generate-speaker"] * 20
    assert record["requests"] == 20  # no request was refused (a refusal is a request that was not processed)
    assert len({answer["transcript_id"] for answer in answers}) == 20
    assert (tmp_path / "data" / PACING_FILE).exists()
    assert API_KEY.encode() not in (tmp_path / "data" / PACING_FILE).read_bytes()
