"""What only the PostgreSQL store has: connection errors without secrets, durable sessions, TLS parameters,
migrations under concurrent start-up, job leases across replicas, and the account's pacing kept in the database.

The behaviour both backends share is in `test_store_contract.py`. Every test runs on a fresh database of the
session's PostgreSQL cluster (skipped, with the reason, when PostgreSQL is not installed).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import httpx2
import psycopg
import pytest

from mavi_mcp.billing import spend_now
from mavi_mcp.client import Pacer
from mavi_mcp.errors import ConfigurationError, StoreUnavailableError
from mavi_mcp.pacing import PacingUnavailable
from mavi_mcp.store_pg import MIGRATIONS, PgStore, keep_leases
from mavi_mcp.webhook import Receiver, receiver_app
from tests.services import PostgresCluster, free_port, self_signed_certificate

pytestmark = pytest.mark.anyio

WHISPER_CALLBACK_ENDPOINT = "async-generate-audio-callback"
REASON = "The replica running this job stopped. The request may have been billed by MAVI."


async def test_a_refused_login_says_why_without_the_password(
    postgres: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = postgres.url().replace(postgres.password, "Wrong-Secret-93f1")
    with pytest.raises(ConfigurationError) as info:
        async with PgStore.open(url, connect_timeout=10):
            pass
    text = str(info.value)
    assert "password authentication failed" in text
    assert f"postgresql://mavi:***@127.0.0.1:{postgres.port}/postgres" in text
    assert "Wrong-Secret-93f1" not in text
    assert "Wrong-Secret-93f1" not in caplog.text


async def test_an_unreachable_server_is_named_with_its_masked_url() -> None:
    port = free_port()
    with pytest.raises(ConfigurationError) as info:
        async with PgStore.open(f"postgresql://mavi:s3cret-pw@127.0.0.1:{port}/mavi", connect_timeout=5):
            pass
    text = str(info.value)
    assert f"postgresql://mavi:***@127.0.0.1:{port}/mavi" in text
    assert "Connection refused" in text
    assert "s3cret-pw" not in text


async def test_a_url_that_is_not_postgresql_is_refused_before_connecting() -> None:
    with pytest.raises(ConfigurationError, match=r"must be a postgresql:// URL") as info:
        async with PgStore.open("mysql://root:hunter2-long@db/mavi"):
            pass
    assert "hunter2-long" not in str(info.value)


async def test_every_connection_commits_durably_in_utc_whatever_the_database_defaults(
    postgres: PostgresCluster, pg_url: str
) -> None:
    name = pg_url.rsplit("/", 1)[1]
    postgres.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    postgres.execute(f"ALTER DATABASE {name} SET TimeZone = 'America/Chicago'")
    async with PgStore.open(pg_url, min_size=2) as store:
        for _ in range(2):
            async with store.pool.connection() as conn:
                durable = await (await conn.execute("SHOW synchronous_commit")).fetchone()
                zone = await (await conn.execute("SHOW TimeZone")).fetchone()
                assert durable == {"synchronous_commit": "on"}
                assert zone == {"TimeZone": "UTC"}
        task = await store.create_task("job_tz", mode="sync", endpoint="e", tool="t", asset_id=None)
    assert task.created_at.utcoffset() is not None
    assert task.created_at.utcoffset().total_seconds() == 0  # pyright: ignore[reportOptionalMemberAccess]


async def test_tls_parameters_in_the_url_reach_libpq(postgres: PostgresCluster, pg_url: str, tmp_path: Path) -> None:
    if postgres.tls_cert is None:
        pytest.skip("no openssl command to make the test server's certificate")
    verified = f"{pg_url}?sslmode=verify-full&sslrootcert={postgres.tls_cert}&application_name=mavi-replica-1"
    async with PgStore.open(verified) as store, store.pool.connection() as conn:
        row = await (await conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).fetchone()
        app = await (await conn.execute("SHOW application_name")).fetchone()
    assert row == {"ssl": True}
    assert app == {"application_name": "mavi-replica-1"}

    stranger = self_signed_certificate(tmp_path / "other", "127.0.0.1")
    assert stranger is not None
    with pytest.raises(ConfigurationError, match=r"certificate verify failed") as info:
        async with PgStore.open(f"{pg_url}?sslmode=verify-full&sslrootcert={stranger}", connect_timeout=10):
            pass
    assert postgres.password not in str(info.value)
    assert "sslmode=verify-full" in str(info.value)

    async with PgStore.open(pg_url + "?sslmode=disable") as store, store.pool.connection() as conn:
        row = await (await conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).fetchone()
    assert row == {"ssl": False}


@pytest.mark.e2e
async def test_a_database_that_goes_away_gives_an_actionable_error_a_503_to_webhooks_and_recovers_when_back(
    postgres: PostgresCluster, pg_url: str
) -> None:
    async with PgStore.open(pg_url, min_size=1, max_size=2, connect_timeout=3) as store:
        await store.create_task("job_kept", mode="sync", endpoint="e", tool="t", asset_id=None)
        postgres.stop("fast")
        try:
            with pytest.raises(StoreUnavailableError) as info:
                await store.get_task("job_kept")
            with pytest.raises(PacingUnavailable):  # the client then paces on its own (`pacing.wait_turn`)
                await store.shared_pacing().reserve("ab" * 32, 1.1)
            receiver = Receiver(store, secret="s" * 32, max_bytes=1 << 20)
            async with httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=receiver_app(receiver)), base_url="http://receiver.test"
            ) as http:
                answer = await http.post(receiver.path, content=b'{"task_id": "t1"}')
            assert answer.status_code == 503  # not acknowledged: the sender may deliver it again
            assert answer.headers["retry-after"] == "30"
            assert postgres.password not in answer.text
        finally:
            postgres.start()
        text = str(info.value)
        assert f"postgresql://mavi:***@127.0.0.1:{postgres.port}/" in text
        assert "Try again in a minute" in text
        assert postgres.password not in text
        task = None
        with anyio.fail_after(30):
            while task is None:  # connections broken by the restart are dropped as they fail, then replaced
                try:
                    task = await store.get_task("job_kept")
                except StoreUnavailableError:
                    await anyio.sleep(0.1)
        assert task.status == "pending"


@pytest.mark.e2e
async def test_a_replicas_background_loops_outlive_a_database_restart_and_resume(
    postgres: PostgresCluster, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from mavi_mcp.recovery import keep_recovering
    from mavi_mcp.webhook import heartbeat

    def warned(text: str) -> bool:
        return any(text in r.getMessage() for r in caplog.records)

    async with PgStore.open(pg_url, min_size=1, max_size=4, connect_timeout=3) as store:
        with caplog.at_level(logging.WARNING), anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(keep_leases, store, "gone", every=0.05))
                tg.start_soon(
                    functools.partial(heartbeat, store, "receiver-1", "http://r/webhooks/mavi/<s>", every=0.05)
                )
                tg.start_soon(functools.partial(keep_recovering, store, every=0.05))
                postgres.stop("fast")
                try:
                    while not (
                        warned("Could not renew job leases")
                        and warned("Receiver heartbeat not recorded")
                        and warned("Recovery of received webhook deliveries stopped")
                    ):
                        await anyio.sleep(0.05)
                finally:
                    postgres.start()
                while True:  # the pool replaces the connections the restart broke, slower on a loaded machine
                    try:
                        await store.forget_receiver("receiver-1")
                        break
                    except StoreUnavailableError:
                        await anyio.sleep(0.1)
                while not await _quietly(store.live_receivers()):  # the heartbeat beats again
                    await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
    assert postgres.password not in caplog.text


async def _quietly(call: Any) -> Any:
    """`call`'s result, or None while the pool replaces the connections the restart broke."""
    try:
        return await call
    except StoreUnavailableError:
        return None


# --- migrations -----------------------------------------------------------------------------------------------


async def test_replicas_starting_together_apply_each_migration_exactly_once(pg_url: str) -> None:
    opened: list[str] = []

    async def replica(n: int) -> None:
        async with PgStore.open(pg_url, owner=f"replica-{n}", max_size=1) as store:
            opened.append(store.owner)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for n in range(5):
                tg.start_soon(replica, n)
    assert sorted(opened) == [f"replica-{n}" for n in range(5)]
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, description FROM schema_version ORDER BY version").fetchall()
    assert rows == [(m.version, m.description) for m in MIGRATIONS]


async def test_a_database_written_by_a_newer_mavi_mcp_is_refused(pg_url: str) -> None:
    async with PgStore.open(pg_url):
        pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'from the future', '2030-01-01')")
    known = rf"\({len(MIGRATIONS)}\)"
    with pytest.raises(ConfigurationError, match=r"schema version 99, newer than this mavi-mcp knows " + known):
        async with PgStore.open(pg_url):
            pass


# --- leases ---------------------------------------------------------------------------------------------------


async def test_a_replica_that_stops_renewing_loses_its_jobs_once_the_lease_runs_out(pg_url: str) -> None:
    async with (
        PgStore.open(pg_url, owner="replica-dead", lease_seconds=3.0) as dead,
        PgStore.open(pg_url, owner="replica-live") as live,
    ):
        await dead.create_task("job_1", mode="sync", endpoint="e", tool="t", asset_id=None)
        await dead.create_task("a" * 32, mode="async", endpoint="e", tool="t", asset_id=None)
        owner, until = await live.lease_of("job_1")
        assert owner == "replica-dead"
        assert until is not None
        assert await live.lease_of("a" * 32) == ("replica-dead", None)  # async tasks have no lease
        assert await live.expire_leases(REASON) == []  # well within the lease
        expired: list[str] = []
        with anyio.fail_after(15):
            while not expired:
                await anyio.sleep(0.2)
                expired = await live.expire_leases(REASON)
        task = await live.get_task("job_1")
        remote = await live.get_task("a" * 32)
    assert expired == ["job_1"]
    assert task is not None
    assert (task.status, task.error) == ("failed", REASON)
    assert remote is not None
    assert remote.status == "pending"


async def test_a_replica_that_keeps_renewing_keeps_its_jobs_past_the_first_lease(pg_url: str) -> None:
    async with (
        PgStore.open(pg_url, owner="replica-a", lease_seconds=2.0) as owner,
        PgStore.open(pg_url, owner="replica-b") as other,
    ):
        await owner.create_task("job_kept", mode="sync", endpoint="e", tool="t", asset_id=None)
        await owner.create_task("job_done", mode="sync", endpoint="e", tool="t", asset_id=None)
        await owner.finish_task("job_done", "completed", transcript_id="tr_x")
        _, first_until = await owner.lease_of("job_kept")
        assert await owner.renew_leases() == 1  # only the pending job
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(keep_leases, owner, REASON, every=0.2))
            await anyio.sleep(3.0)  # one and a half leases
            assert await other.expire_leases(REASON) == []
            tg.cancel_scope.cancel()
        task = await other.get_task("job_kept")
        _, later_until = await owner.lease_of("job_kept")
    assert task is not None
    assert task.status == "pending"
    assert first_until is not None
    assert later_until is not None
    assert later_until > first_until


async def test_fail_stale_jobs_at_start_up_fails_only_expired_leases(pg_url: str) -> None:
    async with PgStore.open(pg_url, owner="old", lease_seconds=0.0) as old:
        await old.create_task("job_old", mode="sync", endpoint="e", tool="t", asset_id=None)
    async with PgStore.open(pg_url, owner="new") as new:
        await new.create_task("job_new", mode="sync", endpoint="e", tool="t", asset_id=None)
        assert await new.fail_stale_jobs(REASON) == 1
        old_task, new_task = await new.get_task("job_old"), await new.get_task("job_new")
    assert old_task is not None
    assert (old_task.status, old_task.error) == ("failed", REASON)
    assert new_task is not None
    assert new_task.status == "pending"


# --- notifications --------------------------------------------------------------------------------------------


async def test_every_replica_hears_at_once_when_any_replica_settles_a_task(pg_url: str) -> None:
    heard: list[str] = []
    everything = anyio.Event()
    expected = {"a" * 32, "job_finished", "job_ended", "job_expired"}

    def on_settled(task_id: str) -> None:
        heard.append(task_id)
        if expected <= set(heard):
            everything.set()

    async with (
        PgStore.open(pg_url, owner="listener") as listener,
        PgStore.open(pg_url, owner="writer", lease_seconds=0.0) as writer,
        anyio.create_task_group() as tg,
    ):
        await tg.start(listener.watch_settled, on_settled)
        for job in ("job_finished", "job_ended", "job_expired", "job_pending"):
            await writer.create_task(job, mode="sync", endpoint="e", tool="t", asset_id=None)
        await writer.complete_from_callback("a" * 32, WHISPER_CALLBACK_ENDPOINT, None, "failed at MAVI")
        assert not await writer.complete_from_callback("a" * 32, WHISPER_CALLBACK_ENDPOINT, None, "again")
        await writer.finish_task("job_finished", "completed", transcript_id="tr_1")
        await writer.finish_job("job_ended", error="refused")
        await writer.renew_leases()  # lease 0 s: job_pending and job_expired ran out at once
        await writer.finish_task("job_pending", "completed")
        assert await writer.expire_leases(REASON) == ["job_expired"]
        with anyio.fail_after(10):
            await everything.wait()
        tg.cancel_scope.cancel()
    assert sorted(heard) == sorted([*expected, "job_pending"])  # once each: a refused repeat notifies nothing


# --- pacing ---------------------------------------------------------------------------------------------------


async def test_replicas_on_one_database_start_requests_of_one_key_no_faster_than_the_rate(pg_url: str) -> None:
    rate = 10.0
    spacing = 1.1 / rate
    returned: list[float] = []
    other_key: list[float] = []
    async with PgStore.open(pg_url) as one, PgStore.open(pg_url) as two:
        pacers = [Pacer(rate, one.shared_pacing()), Pacer(rate, two.shared_pacing())]  # as the runtime does
        await pacers[0].acquire("sk-warm-up")  # connections open before the clock starts

        async def call(pacer: Pacer, key: str, into: list[float]) -> None:
            await pacer.acquire(key)
            into.append(time.monotonic())

        start = time.monotonic()
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(8):
                    tg.start_soon(call, pacers[n % 2], "sk-account-key", returned)
                tg.start_soon(call, pacers[1], "sk-another-key", other_key)
    returned.sort()
    for k, at in enumerate(returned):
        assert at - start >= k * spacing - 0.005, (k, [round(t - start, 3) for t in returned])
    assert returned[-1] - start < 7 * spacing + 2.0  # paced, not stalled
    assert other_key[0] - start < 7 * spacing  # another key does not wait behind this one


async def test_a_rate_of_zero_does_not_pace(pg_url: str) -> None:
    async with PgStore.open(pg_url) as store:
        pacer = Pacer(0, store.shared_pacing())
        start = time.monotonic()
        for _ in range(20):
            await pacer.acquire("sk-key")
        assert time.monotonic() - start < 1.0
        async with store.pool.connection() as conn:
            rows = await (await conn.execute("SELECT count(*) AS n FROM pacing")).fetchone()
    assert rows == {"n": 0}


async def _burst_against_the_sandbox(pacings: list[Any] | None, calls_each: int) -> list[str]:
    """Two clients (two replicas) of one account send `calls_each` requests each, at once, to one sandbox with
    MAVI's 1 request/second limit; returns the errors (no retries: a rejection shows)."""
    from pydantic import SecretStr

    from mavi_mcp.client import MaviClient, RetryPolicy
    from mavi_mcp.errors import MaviError, NotFoundError
    from mavi_mcp.sandbox import SandboxConfig, create_app

    sandbox = create_app(SandboxConfig(rate_limit=True))
    errors: list[str] = []
    async with sandbox.running():
        transport = httpx2.ASGITransport(app=sandbox.app)
        http_clients = [httpx2.AsyncClient(base_url="http://mavi.test", transport=transport) for _ in range(2)]
        key = SecretStr("sk-one-account-0123456789")
        shared = pacings or [None, None]  # with the database's pacing: what the runtime does on PostgreSQL
        clients = [
            MaviClient(h, key, policy=RetryPolicy(max_attempts=1), shared_pacing=p)
            for h, p in zip(http_clients, shared, strict=True)
        ]

        async def call(client: MaviClient) -> None:
            try:
                await client.metadata("re_700000000000000001")
            except NotFoundError:
                pass
            except MaviError as exc:
                errors.append(type(exc).__name__)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(calls_each):
                    for client in clients:
                        tg.start_soon(call, client)
        for h in http_clients:
            await h.aclose()
    assert sandbox.requests == 2 * calls_each
    return errors


async def test_two_replicas_pacing_through_the_database_are_never_rate_limited_by_mavi(pg_url: str) -> None:
    async with PgStore.open(pg_url) as one, PgStore.open(pg_url) as two:
        assert await _burst_against_the_sandbox([one.shared_pacing(), two.shared_pacing()], calls_each=3) == []


async def test_two_replicas_pacing_each_on_its_own_are_rate_limited_by_mavi() -> None:
    # the control for the test above: the same burst with each client's in-process pacer
    errors = await _burst_against_the_sandbox(None, calls_each=2)
    assert "AmbiguousLimitError" in errors


async def test_ledger_reads_on_one_replica_do_not_wait_for_another_replicas_exclusive_transaction(pg_url: str) -> None:
    """Replicas read the ledger (reuse checks, a paid answer's cost line, list_tasks) without the ledger's lock;
    only claims and other read-then-writes exclude each other."""
    held = anyio.Event()
    release = threading.Event()
    claimed = anyio.Event()
    spent = None
    waited = False

    def hold(tx: Any) -> int:  # an exclusive transaction that stays open until released (runs in a worker thread)
        anyio.from_thread.run_sync(held.set)
        release.wait(20)
        return int(tx.execute("SELECT 1").fetchone()[0])

    async def claim_like(store: PgStore) -> None:  # an exclusive one waits until the first ends
        await store.in_transaction(lambda tx: tx.execute("SELECT 1").fetchone())
        claimed.set()

    async with (
        PgStore.open(pg_url, owner="replica-a") as a,
        PgStore.open(pg_url, owner="replica-b") as b,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(lambda: a.in_transaction(hold))
        with anyio.fail_after(10):
            await held.wait()
        with anyio.fail_after(5):
            spent = await b.in_transaction(spend_now, exclusive=False)
        tg.start_soon(claim_like, b)
        await anyio.sleep(0.5)
        waited = not claimed.is_set()
        release.set()
        with anyio.fail_after(10):
            await claimed.wait()
    assert spent is not None
    assert spent.today_usd == 0
    assert waited


async def test_claims_of_different_request_keys_do_not_wait_for_each_other_but_identical_ones_do(pg_url: str) -> None:
    held = anyio.Event()
    release = threading.Event()
    done: list[str] = []
    waiting: list[str] = []

    def hold(tx: Any) -> None:  # a claim of key "k1" that stays open until released (runs in a worker thread)
        anyio.from_thread.run_sync(held.set)
        release.wait(20)
        tx.execute("SELECT 1")

    async def claim(store: PgStore, key: str) -> None:
        await store.in_transaction(lambda tx: tx.execute("SELECT 1").fetchone(), exclusive=f"claim:{key}")
        done.append(key)

    async with (
        PgStore.open(pg_url, owner="replica-a") as a,
        PgStore.open(pg_url, owner="replica-b") as b,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(lambda: a.in_transaction(hold, exclusive="claim:k1"))
        with anyio.fail_after(10):
            await held.wait()
        with anyio.fail_after(5):
            await claim(b, "k2")  # another request key: not blocked
        tg.start_soon(claim, b, "k1")
        await anyio.sleep(0.5)
        waiting.extend(done)
        release.set()
    assert waiting == ["k2"]  # the identical request waited for the first claim
    assert done == ["k2", "k1"]
