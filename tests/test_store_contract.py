"""One store contract, run against both backends: SQLite (today's `Store` through `AsyncStore`) and PostgreSQL.

Each test gets a fresh store of each backend (`backend` fixture): a new SQLite file, or a new database on the
session's PostgreSQL cluster (skipped, with the reason, when PostgreSQL is not installed). A second store on
the same file/database stands for a second process or replica. Transcripts are the bundled real recordings,
normalized.
"""

from __future__ import annotations

import functools
import inspect
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from mavi_mcp.store import AsyncStore, Delivery, DeliveryStats, ReceiverRecord, Store
from mavi_mcp.transcript import Transcript, utcnow
from tests.data import SPEAKER_TURNS, WHISPER, WHISPER_CALLBACK, names, raw
from tests.services import PostgresCluster

try:  # after the pipeline refactor (issue 10) one registry of shapes normalizes whole bodies
    from mavi_mcp.shapes import normalize_body  # type: ignore[import-not-found]
except ImportError:
    from mavi_mcp.normalize import normalize_body

pytestmark = pytest.mark.anyio


@functools.cache
def recordings() -> tuple[Transcript, ...]:
    """Three real transcripts: pyannote speaker turns, a Whisper sync result, a Whisper callback."""
    picks = [(SPEAKER_TURNS, names(SPEAKER_TURNS)[0]), (WHISPER, names(WHISPER)[0])]
    picks.append((WHISPER_CALLBACK, names(WHISPER_CALLBACK)[0]))
    return tuple(normalize_body(folder, raw(folder, name)) for folder, name in picks)


def fresh(transcript: Transcript, **update: Any) -> Transcript:
    """A copy of a recording with a new id (and any other field changed)."""
    from mavi_mcp.transcript import new_transcript_id

    return transcript.model_copy(update={"id": new_transcript_id(), **update})


class SqliteFace:
    """The SQLite store's async face: `AsyncStore`'s own coroutine where it has one (every method once the
    pipeline refactor is in), else `AsyncStore.run(store.sync.X, ...)` with the dict rows of that older `Store`
    turned into the typed records."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if inspect.iscoroutinefunction(getattr(AsyncStore, name, None)):
            return getattr(self._store, name)
        method = getattr(self._store.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return typed(name, await self._store.run(method, *args, **kwargs))

        return call


def typed(name: str, value: Any) -> Any:
    """A pre-refactor `Store` answer (dict rows, ISO 8601 times) as the typed record the interface returns."""

    def when(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    if name == "deliveries" and value and isinstance(value[0], dict):
        return [Delivery(**{**d, "received_at": when(d["received_at"]), "body": bytes(d["body"])}) for d in value]
    if name == "delivery_stats" and isinstance(value, dict):
        return DeliveryStats(**{**value, "last_received_at": when(value["last_received_at"])})
    if name == "live_receivers" and value and isinstance(value[0], dict):
        return [
            ReceiverRecord(**{**r, "started_at": when(r["started_at"]), "last_seen": when(r["last_seen"])})
            for r in value
        ]
    return value


class Backend:
    name: str

    def open(self) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    def abandon(self, task_id: str) -> None:
        """Make a running job look abandoned by its owner (SQLite: its process is gone; PostgreSQL: lease over)."""
        raise NotImplementedError

    def raw_results(self) -> list[tuple[str, str | None, str | None, bytes]]:
        """Every kept raw body as (endpoint, task_id, transcript_id, body), oldest first (the store has no reader)."""
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Any]:
        store = Store(self.path)
        try:
            yield SqliteFace(AsyncStore(store))
        finally:
            store.close()

    def abandon(self, task_id: str) -> None:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        with sqlite3.connect(self.path) as db:
            db.execute("UPDATE tasks SET owner_pid = ? WHERE task_id = ?", (gone.pid, task_id))

    def raw_results(self) -> list[tuple[str, str | None, str | None, bytes]]:
        with sqlite3.connect(self.path) as db:
            rows = db.execute("SELECT endpoint, task_id, transcript_id, body FROM raw_results ORDER BY id").fetchall()
        return [(e, t, tr, bytes(b)) for e, t, tr, b in rows]


class PgBackend(Backend):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Any]:
        from mavi_mcp.store_pg import PgStore

        async with PgStore.open(self.url, max_size=4) as store:
            yield store

    def abandon(self, task_id: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE task_id = %s", (task_id,)
            )

    def raw_results(self) -> list[tuple[str, str | None, str | None, bytes]]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            rows = conn.execute("SELECT endpoint, task_id, transcript_id, body FROM raw_results ORDER BY id").fetchall()
        return [(e, t, tr, bytes(b)) for e, t, tr, b in rows]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "store.sqlite3")
    return PgBackend(request.getfixturevalue("pg_url"))


# --- transcripts ----------------------------------------------------------------------------------------------


async def test_a_saved_transcript_reads_back_equal_from_another_process(backend: Backend) -> None:
    async with backend.open() as writer, backend.open() as reader:
        for transcript in recordings():
            await writer.save_transcript(transcript, raw=b'{"as": "received"}')
        for transcript in recordings():
            assert await reader.get_transcript(transcript.id) == transcript
        assert await reader.get_transcript("tr_0000000000000000") is None


async def test_every_paid_body_is_kept_as_received_with_what_it_became(backend: Backend) -> None:
    transcript = fresh(recordings()[0], source=recordings()[0].source.model_copy(update={"task_id": "job_1"}))
    async with backend.open() as store:
        await store.save_transcript(transcript, raw=b'{"data": "as received"}')
        await store.save_transcript(fresh(recordings()[1]))  # no raw body given: none kept
        await store.save_raw_result("sync-generate-audio", b"\x00unreadable", task_id="job_2")
    assert backend.raw_results() == [
        (transcript.source.endpoint, "job_1", transcript.id, b'{"data": "as received"}'),
        ("sync-generate-audio", "job_2", None, b"\x00unreadable"),
    ]


async def test_transcripts_are_listed_newest_first_up_to_the_limit(backend: Backend) -> None:
    start = utcnow()
    saved = [fresh(t, created_at=start + timedelta(seconds=i)) for i, t in enumerate(recordings())]
    async with backend.open() as store:
        for transcript in saved:
            await store.save_transcript(transcript)
        listed = await store.list_transcripts(limit=2)
    assert [s.id for s in listed] == [saved[2].id, saved[1].id]
    newest = listed[0]
    assert newest.created_at == saved[2].created_at
    assert (newest.provider, newest.endpoint, newest.kind) == (
        saved[2].source.provider,
        saved[2].source.endpoint,
        saved[2].kind,
    )
    assert newest.duration == pytest.approx(saved[2].duration)


async def test_speaker_renames_are_upserted_and_an_empty_name_removes_one(backend: Backend) -> None:
    async with backend.open() as store:
        assert await store.set_speaker_names("tr_a", {"SPEAKER_00": "Ana", "SPEAKER_01": "Bo"}) == {
            "SPEAKER_00": "Ana",
            "SPEAKER_01": "Bo",
        }
        assert await store.set_speaker_names("tr_a", {"SPEAKER_00": " Ana Lee ", "SPEAKER_01": "  "}) == {
            "SPEAKER_00": "Ana Lee"
        }
        await store.set_speaker_names("tr_b", {"SPEAKER_00": "Other"})
        assert await store.speaker_names("tr_a") == {"SPEAKER_00": "Ana Lee"}
        assert await store.speaker_names("tr_none") == {}


async def test_two_renames_at_once_are_checked_and_written_one_after_the_other(backend: Backend) -> None:
    """`rename_speakers` checks the names in effect and writes them in one transaction: of two stores (two
    processes) giving two speakers one name at the same moment, exactly one is refused, every time."""

    def unique(after: dict[str, str]) -> None:
        if len(set(after.values())) < len(after):
            raise ValueError(f"a name twice: {sorted(after.items())}")

    async with backend.open() as first, backend.open() as second:
        for attempt in range(20):
            name = f"Ana {attempt}"
            refused: list[str] = []

            async def rename(store: Any, label: str, name: str = name, refused: list[str] = refused) -> None:
                try:
                    await store.rename_speakers("tr_a", {label: name}, unique)
                except ValueError:
                    refused.append(label)

            async with anyio.create_task_group() as tg:
                tg.start_soon(rename, first, "SPEAKER_00")
                tg.start_soon(rename, second, "SPEAKER_01")
            assert len(refused) == 1
            names = await first.speaker_names("tr_a")
            assert len(set(names.values())) == len(names)
            assert name in names.values()


# --- tasks ----------------------------------------------------------------------------------------------------


async def test_creating_a_task_twice_keeps_the_first_record(backend: Backend) -> None:
    async with backend.open() as store:
        first = await store.create_task(
            "job_1", mode="sync", endpoint="sync-generate-audio", tool="transcribe", asset_id="re_1", params={"a": 1}
        )
        again = await store.create_task(
            "job_1", mode="sync", endpoint="other", tool="other", asset_id="re_2", params={"b": 2}
        )
    assert again == first
    assert (first.status, first.tool, first.asset_id, first.params, first.origin) == (
        "pending",
        "transcribe",
        "re_1",
        {"a": 1},
        "local",
    )
    assert first.created_at.utcoffset() == timedelta(0)
    assert first.completed_at is None


async def test_a_callback_that_comes_before_create_task_is_joined_by_it(backend: Backend) -> None:
    given = recordings()[2]
    transcript = given.model_copy(update={"source": given.source.model_copy(update={"asset_id": None})})
    async with backend.open() as receiver, backend.open() as server:
        assert await receiver.complete_from_callback("t" * 32, WHISPER_CALLBACK, transcript, None)
        early = await server.get_task("t" * 32)
        assert early is not None
        assert (early.origin, early.status, early.tool) == ("webhook", "completed", None)
        before = await server.get_transcript(transcript.id)  # read (and cached) before the join
        assert before is not None
        assert before.source.asset_id is None
        joined = await server.create_task(
            "t" * 32, mode="async", endpoint=WHISPER_CALLBACK, tool="transcribe", asset_id="re_9", params={"x": "y"}
        )
        after = await server.get_transcript(transcript.id)
        elsewhere = await receiver.get_transcript(transcript.id)
    assert after is not None
    assert after.source.asset_id == "re_9"  # the transcript gets the task's asset too
    assert elsewhere is not None
    assert elsewhere.source.asset_id == "re_9"
    assert [s.text for s in after.segments] == [s.text for s in transcript.segments]
    assert (joined.origin, joined.status, joined.transcript_id) == ("local", "completed", transcript.id)
    assert (joined.tool, joined.asset_id, joined.params, joined.endpoint) == (
        "transcribe",
        "re_9",
        {"x": "y"},
        WHISPER_CALLBACK,
    )


async def test_a_callback_is_applied_once_and_a_repeat_is_refused(backend: Backend) -> None:
    first, second = fresh(recordings()[2]), fresh(recordings()[2])
    async with backend.open() as store:
        await store.create_task("a" * 32, mode="async", endpoint=WHISPER_CALLBACK, tool="transcribe", asset_id=None)
        assert await store.complete_from_callback("a" * 32, WHISPER_CALLBACK, first, None) is True
        assert await store.complete_from_callback("a" * 32, WHISPER_CALLBACK, second, None) is False
        assert await store.complete_from_callback("b" * 32, WHISPER_CALLBACK, None, "MAVI said: failed") is True
        task = await store.get_task("a" * 32)
        failed = await store.get_task("b" * 32)
        assert await store.get_transcript(second.id) is None
    assert task is not None
    assert (task.status, task.transcript_id) == ("completed", first.id)
    assert failed is not None
    assert (failed.status, failed.error, failed.transcript_id) == ("failed", "MAVI said: failed", None)


async def test_two_replicas_receiving_the_same_callbacks_at_once_apply_each_exactly_once(backend: Backend) -> None:
    task_ids = [f"{i:032x}" for i in range(12)]
    outcomes: dict[str, list[tuple[bool, str]]] = {t: [] for t in task_ids}
    async with backend.open() as one, backend.open() as two:
        for task_id in task_ids[::2]:  # half known beforehand, half first seen in their callback
            await one.create_task(task_id, mode="async", endpoint=WHISPER_CALLBACK, tool="transcribe", asset_id=None)

        async def deliver(store: Any, task_id: str) -> None:
            transcript = fresh(recordings()[2])
            applied = await store.complete_from_callback(task_id, WHISPER_CALLBACK, transcript, None)
            outcomes[task_id].append((applied, transcript.id))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for task_id in task_ids:
                    tg.start_soon(deliver, one, task_id)
                    tg.start_soon(deliver, two, task_id)
        for task_id in task_ids:
            applied = [tid for ok, tid in outcomes[task_id] if ok]
            refused = [tid for ok, tid in outcomes[task_id] if not ok]
            assert len(applied) == 1, (task_id, outcomes[task_id])
            task = await two.get_task(task_id)
            assert task is not None
            assert (task.status, task.transcript_id) == ("completed", applied[0])
            assert await one.get_transcript(refused[0]) is None


async def test_finishing_a_task_records_its_outcome_and_listing_filters_by_status(backend: Backend) -> None:
    async with backend.open() as store:
        for name in ("job_a", "job_b", "job_c"):
            await store.create_task(name, mode="sync", endpoint="upload", tool="upload_media", asset_id=None)
        await store.set_task_asset("job_a", "re_pending")
        running = await store.get_task("job_a")
        await store.finish_task("job_b", "completed", transcript_id="tr_b", result={"asset_id": "re_b"})
        await store.finish_task("job_c", "failed", error="refused", asset_id="re_c", result={})
        done = await store.get_task("job_b")
        failed = await store.get_task("job_c")
        newest_first = await store.list_tasks()
        only_failed = await store.list_tasks(status="failed")
        pending = await store.list_tasks(status="pending", limit=5)
    assert running is not None
    assert (running.status, running.asset_id) == ("pending", "re_pending")
    assert done is not None
    assert (done.status, done.transcript_id, done.result, done.error) == (
        "completed",
        "tr_b",
        {"asset_id": "re_b"},
        None,
    )
    assert done.completed_at is not None
    assert done.completed_at >= done.created_at
    assert failed is not None
    assert (failed.status, failed.error, failed.asset_id, failed.result) == ("failed", "refused", "re_c", None)
    assert [t.task_id for t in newest_first] == ["job_c", "job_b", "job_a"]
    assert [t.task_id for t in only_failed] == ["job_c"]
    assert [t.task_id for t in pending] == ["job_a"]


async def test_a_spooled_answer_completes_its_task_once_and_one_without_a_task_is_kept_raw(
    backend: Backend,
) -> None:
    transcript, other = fresh(recordings()[1]), fresh(recordings()[1])
    async with backend.open() as store:
        await store.create_task("job_s", mode="sync", endpoint=WHISPER, tool="transcribe", asset_id="re_1")
        await store.finish_task("job_s", "failed", error="the store was full; the answer is kept")
        done = await store.finish_spooled("job_s", WHISPER, transcript=transcript, raw=b'{"first": 1}')
        again = await store.finish_spooled("job_s", WHISPER, transcript=other, raw=b'{"second": 2}')
        orphan = await store.finish_spooled(None, WHISPER, raw=b'{"orphan": 3}')
        assert await store.get_transcript(other.id) is None
    assert done is not None
    assert (done.status, done.transcript_id, done.error) == ("completed", transcript.id, None)
    assert again == done
    assert orphan is None
    assert backend.raw_results() == [
        (transcript.source.endpoint, "job_s", transcript.id, b'{"first": 1}'),
        (WHISPER, None, None, b'{"orphan": 3}'),
    ]


async def test_a_job_ends_with_its_transcript_raw_body_and_task_in_one_call(backend: Backend) -> None:
    if isinstance(backend, SqliteBackend) and not hasattr(Store, "finish_job"):
        pytest.skip("this SQLite store predates finish_job (issue 10's pipeline refactor adds it)")
    transcript = fresh(recordings()[1])
    async with backend.open() as store, backend.open() as other:
        await store.create_task("job_ok", mode="sync", endpoint=WHISPER, tool="transcribe", asset_id="re_1")
        await store.create_task("job_bad", mode="sync", endpoint=WHISPER, tool="transcribe", asset_id=None)
        done = await store.finish_job("job_ok", transcript=transcript, raw=b'{"raw": true}')
        failed = await store.finish_job(
            "job_bad", raw=b"<html>", error="MAVI answered with a page that is not JSON.", asset_id="re_2"
        )
        assert await other.get_transcript(transcript.id) == transcript
        assert await other.get_task("job_ok") == done
    assert (done.status, done.transcript_id, done.error, done.asset_id) == ("completed", transcript.id, None, "re_1")
    assert done.completed_at is not None
    assert (failed.status, failed.transcript_id, failed.error, failed.asset_id) == (
        "failed",
        None,
        "MAVI answered with a page that is not JSON.",
        "re_2",
    )
    assert backend.raw_results() == [
        (transcript.source.endpoint, "job_ok", transcript.id, b'{"raw": true}'),
        (WHISPER, "job_bad", None, b"<html>"),  # no transcript: the task's endpoint
    ]


async def test_only_jobs_abandoned_by_their_owner_are_failed_as_stale(backend: Backend) -> None:
    async with backend.open() as store:
        await store.create_task("job_dead", mode="sync", endpoint="e", tool="t", asset_id=None)
        await store.create_task("job_alive", mode="sync", endpoint="e", tool="t", asset_id=None)
        await store.create_task("f" * 32, mode="async", endpoint="e", tool="t", asset_id=None)
        backend.abandon("job_dead")
        backend.abandon("f" * 32)
        assert await store.fail_stale_jobs("the server stopped; may have been billed") == 1
        dead, alive, remote = [await store.get_task(t) for t in ("job_dead", "job_alive", "f" * 32)]
        assert await store.fail_stale_jobs("again") == 0
    assert dead is not None
    assert (dead.status, dead.error) == ("failed", "the server stopped; may have been billed")
    assert alive is not None
    assert alive.status == "pending"
    assert remote is not None
    assert remote.status == "pending"


# --- webhook deliveries and receivers -------------------------------------------------------------------------


async def test_deliveries_are_stored_as_received_and_counted_by_status(backend: Backend) -> None:
    async with backend.open() as store:
        assert await store.delivery_stats() == DeliveryStats(total=0, by_status={}, last_received_at=None)
        first = await store.record_delivery(b'{"a": 1}', task_id="t1", status="received")
        second = await store.record_delivery(b"\x00not json\xff", task_id=None, status="malformed", note="bad JSON")
        third = await store.record_delivery(b'{"a": 2}', task_id="t1", status="received")
        await store.mark_delivery(first, "applied", "completed t1")
        for_t1 = await store.deliveries("t1")
        everything = await store.deliveries(limit=2)
        stats = await store.delivery_stats()
    assert first < second < third
    assert [(d.id, d.task_id, d.status, d.note, d.body) for d in for_t1] == [
        (third, "t1", "received", None, b'{"a": 2}'),
        (first, "t1", "applied", "completed t1", b'{"a": 1}'),
    ]
    assert [d.id for d in everything] == [third, second]
    assert everything[1].body == b"\x00not json\xff"
    assert (stats.total, stats.by_status) == (3, {"applied": 1, "malformed": 1, "received": 1})
    assert stats.verified
    assert stats.last_received_at == for_t1[0].received_at
    assert for_t1[0].received_at >= for_t1[1].received_at
    assert for_t1[0].received_at.utcoffset() == timedelta(0)


async def test_a_receiver_is_live_after_its_heartbeat_until_forgotten(backend: Backend) -> None:
    async with backend.open() as store, backend.open() as other:
        assert await other.live_receivers() == []
        await store.heartbeat("rcv-1", "http://127.0.0.1:9/webhooks/mavi/s")
        await store.heartbeat("rcv-1", "https://public.example/webhooks/mavi/s")
        live = await other.live_receivers()
        assert [(r.receiver_id, r.url) for r in live] == [("rcv-1", "https://public.example/webhooks/mavi/s")]
        assert live[0].last_seen >= live[0].started_at
        assert await other.live_receivers(within_seconds=-1) == []
        await store.forget_receiver("rcv-1")
        assert await other.live_receivers() == []


# --- durability -----------------------------------------------------------------------------------------------

CHILD = """
import os, signal, sys, anyio
backend, where = sys.argv[1], sys.argv[2]

async def main():
    if backend == "sqlite":
        from mavi_mcp.store import Store
        store = Store(__import__("pathlib").Path(where))
        delivery = store.record_delivery(b'{"acknowledged": true}', task_id="t-ack", status="received")
    else:
        from mavi_mcp.store_pg import PgStore
        async with PgStore.open(where) as store:
            delivery = await store.record_delivery(b'{"acknowledged": true}', task_id="t-ack", status="received")
    print(delivery, flush=True)  # the receiver would answer 2xx now
    os.kill(os.getpid(), signal.SIGKILL)

anyio.run(main)
"""


@pytest.mark.e2e
async def test_a_delivery_recorded_before_a_crash_survives_it(backend: Backend, request: pytest.FixtureRequest) -> None:
    where = str(backend.path) if isinstance(backend, SqliteBackend) else cast(PgBackend, backend).url
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), backend.name, where],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    delivery_id = int(child.stdout.strip())
    if isinstance(backend, PgBackend):
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        cluster.stop("immediate")  # the database server crashes too: no checkpoint, WAL replay on start
        cluster.start()
    async with backend.open() as store:
        stored = await store.deliveries("t-ack")
    assert [(d.id, d.body) for d in stored] == [(delivery_id, b'{"acknowledged": true}')]


# --- search ---------------------------------------------------------------------------------------------------

PHRASE = '"membership fee income"'


@functools.cache
def calls() -> tuple[Transcript, Transcript]:
    """Costco's Q1 call as AssemblyAI gives it, and Monro's call as the multi-speaker model's webhook gives it."""
    from mavi_mcp.normalize import Context
    from tests import data

    costco = normalize_body(data.ASSEMBLYAI, data.raw(data.ASSEMBLYAI, "4474506"), Context(transcript_id="tr_costco"))
    body = data.raw(data.MULTI_SPEAKER_CALLBACK, "4320211")
    monro = normalize_body(data.MULTI_SPEAKER_CALLBACK, body, Context(transcript_id="tr_monro"))
    return costco, monro


async def hits(store: Any, query: str, **filters: Any) -> list[dict[str, Any]]:
    from mavi_mcp.render.search import SearchRequest

    page = await store.search(SearchRequest(query, **filters), max_tokens=20000)
    return page.hits


async def test_a_job_result_and_a_webhook_result_are_searchable_as_soon_as_they_are_stored(backend: Backend) -> None:
    costco, monro = calls()
    async with backend.open() as store, backend.open() as other:
        assert await hits(store, PHRASE) == []
        await store.create_task("job-1", mode="sync", endpoint=costco.source.endpoint, tool="t", asset_id=None)
        await store.finish_job("job-1", transcript=costco)
        found = await hits(other, PHRASE)
        assert {h["transcript_id"] for h in found} == {"tr_costco"}
        assert all("membership fee income" in h["text"].lower() for h in found)

        assert await hits(other, "quarter", transcript_id="tr_monro") == []
        assert await store.complete_from_callback("task-2", "async-generate-multi-speaker", monro, None)
        found = await hits(other, "quarter", transcript_id="tr_monro")
        assert found
        assert {h["transcript_id"] for h in found} == {"tr_monro"}


async def test_a_rename_is_searchable_and_a_removed_one_is_not(backend: Backend) -> None:
    costco, _ = calls()
    async with backend.open() as store:
        await store.save_transcript(costco)
        await store.save_transcript(costco)  # saved again: indexed once
        found = await hits(store, PHRASE)
        assert len(found) == len({(h["start"], h["text"]) for h in found})
        (label,) = {h["speaker"] for h in found}
        await store.set_speaker_names("tr_costco", {label: "Zoe Quartermaine"})
        renamed = await hits(store, "Quartermaine")
        assert renamed
        assert {(h["speaker"], h["name"]) for h in renamed} == {(label, "Zoe Quartermaine")}
        assert {(h["speaker"], h["name"]) for h in await hits(store, "zoe", speakers=("zoe quartermaine",))} == {
            (label, "Zoe Quartermaine")
        }
        await store.set_speaker_names("tr_costco", {label: ""})
        assert await hits(store, "Quartermaine") == []
        assert {h["transcript_id"] for h in await hits(store, PHRASE)} == {"tr_costco"}


async def test_search_pages_follow_the_cursor_without_repeating_a_hit(backend: Backend) -> None:
    from mavi_mcp.render.search import SearchRequest

    costco, monro = calls()
    async with backend.open() as store:
        await store.save_transcript(costco)
        await store.save_transcript(monro)
        request = SearchRequest("the")
        seen: list[tuple[str, float, str]] = []
        cursor = None
        for _ in range(50):
            page = await store.search(request, max_tokens=1000, cursor=cursor)
            seen.extend((h["transcript_id"], h["start"], h["text"]) for h in page.hits)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert cursor is None
        assert len(seen) == len(set(seen)) > 40
        assert {t for t, _, _ in seen} == {"tr_costco", "tr_monro"}


async def test_a_query_no_passage_fully_matches_shows_passages_that_match_some_words(backend: Backend) -> None:
    from mavi_mcp.render.search import SearchRequest
    from mavi_mcp.search.service import RELAXED_NOTE

    costco, _ = calls()
    async with backend.open() as store:
        await store.save_transcript(costco)
        page = await store.search(SearchRequest("membership xylophonist"), max_tokens=20000)
    assert page.hits
    assert RELAXED_NOTE in page.text
    assert all("membership" in h["text"].lower() for h in page.hits)


QUERIES = (
    PHRASE,
    "membership",
    "fees",
    "quarter OR margin",
    "warehouse -gasoline",
    "renew*",
    '"e commerce"',
)


async def test_both_backends_find_the_same_passages_for_the_same_queries(tmp_path: Path, pg_url: str) -> None:
    """Same passages (transcript, speaker, start and end), and the first five of each share all but one (BM25 and
    `ts_rank` order differently); the excerpts shown may centre on other matched words."""
    costco, monro = calls()
    results: dict[str, list[list[tuple[str, str, float, float]]]] = {}
    for backend in (SqliteBackend(tmp_path / "store.sqlite3"), PgBackend(pg_url)):
        async with backend.open() as store:
            await store.save_transcript(costco)
            await store.save_transcript(monro)
            results[backend.name] = [
                [(h["transcript_id"], h["speaker"], h["start"], h["end"]) for h in await hits(store, q)]
                for q in QUERIES
            ]
    for query, lite, pg in zip(QUERIES, results["sqlite"], results["postgresql"], strict=True):
        assert lite, query
        assert set(pg) == set(lite), query
        assert len(set(lite[:5]) & set(pg[:5])) >= min(len(lite), 5) - 1, query


# --- the cost ledger ------------------------------------------------------------------------------------------


async def test_identical_paid_requests_claimed_at_once_on_two_replicas_make_one_charge(backend: Backend) -> None:
    from mavi_mcp import billing

    claims: list[Any] = []
    async with backend.open() as one, backend.open() as two:

        async def claim(store: Any, task_id: str) -> None:
            claims.append(
                await store.in_transaction(
                    lambda db: billing.claim_request(
                        db,
                        task_id=task_id,
                        tool="transcribe_whisper",
                        key="same-request",
                        estimated_usd=0.25,
                        refresh=False,
                    )
                )
            )

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(6):
                    tg.start_soon(claim, one if n % 2 else two, f"job_{n}")
        assert sorted(c.new for c in claims) == [False] * 5 + [True]
        (new,) = [c.entry for c in claims if c.new]
        assert {c.entry.task_id for c in claims} == {new.task_id}
        spent = await two.in_transaction(billing.spend_now)
        assert spent.today_usd == pytest.approx(0.25)  # pending: counted at its estimate


async def test_a_finished_job_settles_its_charge_from_the_kept_body_and_a_failed_one_costs_nothing(
    backend: Backend,
) -> None:
    from mavi_mcp import billing, ledger

    transcript = fresh(recordings()[1])  # a Whisper sync result
    async with backend.open() as store:
        for task_id in ("job_ok", "job_bad"):
            await store.create_task(task_id, mode="sync", endpoint=transcript.source.endpoint, tool="t", asset_id=None)
            await store.in_transaction(
                lambda db, t=task_id: ledger.open_charge(
                    db, task_id=t, tool="transcribe_whisper", request_key=f"k-{t}", estimated_usd=1.0
                )
            )
        await store.finish_job("job_ok", transcript=transcript, raw=raw(WHISPER, names(WHISPER)[0]))
        await store.finish_job("job_bad", error="MAVI refused it")
        entries = await store.in_transaction(lambda db: billing.entries_of(db, ["job_ok", "job_bad", "job_none"]))
        spent = await store.in_transaction(billing.spend_now)
    assert set(entries) == {"job_ok", "job_bad"}
    ok = entries["job_ok"]
    assert (ok.status, ok.transcript_id) == ("billed", transcript.id)
    assert ok.billed_seconds is not None
    assert ok.billed_seconds > 0
    assert ok.cost_usd is not None
    assert ok.cost_usd > 0
    assert (entries["job_bad"].status, entries["job_bad"].cost_usd) == ("failed", None)
    assert spent.today_usd == pytest.approx(ok.cost_usd)


async def test_an_uploaded_file_is_found_by_its_fingerprint_until_forgotten(backend: Backend) -> None:
    from mavi_mcp import ledger
    from mavi_mcp.duration import MediaDuration

    async with backend.open() as store:
        for asset in ("re_1", "re_2"):
            await store.in_transaction(
                lambda db, a=asset: ledger.remember_media(
                    db, asset_id=a, sha256="ab" * 32, size_bytes=10, duration=MediaDuration(12.5, None)
                )
            )
        await store.in_transaction(  # the same asset again replaces its row
            lambda db: ledger.remember_media(
                db, asset_id="re_2", sha256="ab" * 32, size_bytes=11, duration=MediaDuration(13.0, None)
            )
        )
        found = await store.in_transaction(lambda db: ledger.find_media(db, "ab" * 32))
        assert [(m.asset_id, m.size_bytes, m.duration_seconds) for m in found] == [
            ("re_2", 11, 13.0),
            ("re_1", 10, 12.5),
        ]
        await store.in_transaction(lambda db: ledger.forget_media(db, "re_2"))
        assert [m.asset_id for m in await store.in_transaction(lambda db: ledger.find_media(db, "ab" * 32))] == ["re_1"]
        assert await store.in_transaction(lambda db: ledger.media_duration(db, "re_1")) == 12.5


async def test_a_failing_ledger_transaction_leaves_nothing_behind(backend: Backend) -> None:
    from mavi_mcp import ledger

    def claim_then_fail(db: Any) -> None:
        ledger.open_charge(db, task_id="job_x", tool="transcribe_whisper", request_key="k", estimated_usd=1.0)
        raise RuntimeError("a bug after the write")

    async with backend.open() as store:
        with pytest.raises(RuntimeError, match="a bug after the write"):
            await store.in_transaction(claim_then_fail)
        assert await store.in_transaction(lambda db: ledger.entry(db, "job_x")) is None


# --- recovery ------------------------------------------------------------------------------------------------


async def test_only_deliveries_left_received_long_enough_are_listed_for_recovery(backend: Backend) -> None:
    async with backend.open() as store:
        left = await store.record_delivery(b'{"task_id": "t1"}', task_id="t1", status="received")
        applied = await store.record_delivery(b'{"task_id": "t2"}', task_id="t2", status="received")
        await store.mark_delivery(applied, "applied")
        assert await store.received_deliveries(3600) == []  # younger than an hour: a live receiver may apply it
        found = await store.received_deliveries(0)
    assert found == [(left, b'{"task_id": "t1"}')]


async def test_a_delivery_committed_but_never_applied_is_applied_once_by_recovery(backend: Backend) -> None:
    import json

    from mavi_mcp.recovery import recover_received

    payload = json.loads(raw(WHISPER_CALLBACK, names(WHISPER_CALLBACK)[0]))
    payload["task_id"] = "task_recovered"
    body = json.dumps(payload).encode()
    async with backend.open() as receiver, backend.open() as other:
        await receiver.create_task(
            "task_recovered", mode="async", endpoint="async-generate-audio", tool="t", asset_id=None
        )
        await receiver.record_delivery(body, task_id="task_recovered", status="received")  # then it was killed
        assert await recover_received(other, min_age=3600) == 0  # too young: a live receiver may be applying it
        assert await recover_received(other, min_age=0) == 1
        task = await receiver.get_task("task_recovered")
        assert task is not None
        assert task.status == "completed"
        assert task.transcript_id is not None
        assert await receiver.get_transcript(task.transcript_id) is not None
        assert [d.status for d in await receiver.deliveries("task_recovered")] == ["applied"]
        assert await recover_received(other, min_age=0) == 0


async def test_a_transcript_that_cannot_be_indexed_is_still_stored(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from mavi_mcp.search import pg_index, sqlite_index

    def broken(*_: object) -> int:
        raise RuntimeError("index bug")

    monkeypatch.setattr(sqlite_index, "index_transcript", broken)
    monkeypatch.setattr(pg_index, "index_transcript", broken)
    costco, _ = calls()
    async with backend.open() as store, backend.open() as reader:
        with caplog.at_level(logging.ERROR):
            await store.save_transcript(costco, raw=b"{}")
        assert "tr_costco was stored but could not be indexed" in caplog.text
        stored = await reader.get_transcript("tr_costco")
        assert stored is not None
        assert stored.word_count == costco.word_count
        assert await hits(reader, PHRASE) == []
