"""The store on PostgreSQL: the same tables and methods as the SQLite store, shared by any number of replicas.

Selected by `MAVI_MCP_DATABASE_URL=postgresql://...` (see `mavi_mcp.database_url`). `PgStore` has every method
of the store's async face (`mavi_mcp.store_api.StoreAPI`, which `mavi_mcp.store.AsyncStore` also has) with the
same names, arguments, typed results and semantics (psycopg 3, a `psycopg_pool.AsyncConnectionPool`). A
database that is down or drops a connection raises `StoreUnavailableError` (nothing was changed by that call).

What changes with several processes on several machines:

- **Durability.** Every connection runs with `synchronous_commit=on` (whatever the server's default), so a
  method that returned has its rows in the write-ahead log on disk: the webhook receiver may answer 2xx.
- **Exactly once.** `complete_from_callback` runs `INSERT ... ON CONFLICT DO NOTHING` then
  `UPDATE ... WHERE status = 'pending'` in one transaction: the UPDATE holds the row lock, and a concurrent
  one re-checks the condition on the committed row, so of two replicas that receive the same callback one
  applies it and the other gets False. `create_task` is one `INSERT ... ON CONFLICT` that joins an early
  callback.
- **Round trips.** Multi-statement writes go in pipeline mode (one round trip for the whole transaction where
  no answer is needed in between): on a busy host each round trip to the server costs a context switch.
- **Leases instead of pids.** A local job (mode "sync") belongs to the replica (`owner`) that runs it, until
  `lease_expires_at`. The owner renews its leases (`renew_leases`, every `lease_seconds / 3` by
  `keep_leases`); `fail_stale_jobs` (= `expire_leases`) marks jobs whose lease ran out as failed, on any
  replica. Lease times use the database's clock, so replicas' clocks need not agree.
- **Receivers** are live when seen within the window (database clock); a receiver on this host whose
  process is gone is not live.
- **Notifications.** Every write that settles a task sends `NOTIFY mavi_task_settled, '<task id>'` in its
  transaction; `watch_settled` calls back on every replica, so a waiter hears of a callback that another
  replica received at once instead of at its next poll.
- **Pacing.** `PgPacing` (the client's `pacing.SharedPacing`) keeps the account's request slots in the database
  (`pacing` table), so N replicas together send at most `rate` requests per second per API key.
- **Search.** The full-text index (`mavi_mcp.search.pg_index`) is written in the transaction that stores a
  transcript or a rename; `search` gives the SQLite store's pages (`search.service.search_page_pg`).
- **The ledger.** `in_transaction(fn)` runs the ledger's synchronous functions (`mavi_mcp.ledger`,
  `mavi_mcp.billing`) on one transaction (`PgTx`) under an advisory lock, as exclusive as SQLite's
  `BEGIN IMMEDIATE`.
- **Recovery.** `received_deliveries` lists deliveries a stopped receiver committed but never applied, for
  any replica to apply (`mavi_mcp.recovery`).

Times are timezone-aware UTC (`TIME ZONE 'UTC'` on every connection); records are the SQLite store's types.

Schema: `MIGRATIONS` below, applied by `mavi_mcp.migrations.migrate_postgres` when a store opens.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import anyio
import anyio.from_thread
import anyio.to_thread
import psycopg
from anyio.abc import TaskStatus as AnyioTaskStatus
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mavi_mcp.database_url import check_database_url, mask_database_url
from mavi_mcp.errors import ConfigurationError, StoreUnavailableError
from mavi_mcp.ledger import SqlTx
from mavi_mcp.migrations import PG_MIGRATION_LOCK, Migration, migrate_postgres, statements
from mavi_mcp.pacing import PacingUnavailable
from mavi_mcp.processes import process_alive
from mavi_mcp.render.search import DEFAULT_TOKENS, SearchPage, SearchRequest
from mavi_mcp.search import pg_index
from mavi_mcp.search.service import search_page_pg
from mavi_mcp.store import Delivery, DeliveryStats, ReceiverRecord, TaskRecord, TaskStatus, TranscriptSummary
from mavi_mcp.transcript import Transcript

logger = logging.getLogger(__name__)

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]
R = TypeVar("R")

LEDGER_LOCK: Final = 0x6D6176696C6564
"""Advisory lock key held (per transaction) by every `in_transaction`: 'mavilled' as an int. It makes the ledger's
read-then-write (a claim) as exclusive across replicas as SQLite's `BEGIN IMMEDIATE` is across processes."""

SETTLED: Final = "mavi_task_settled"
"""NOTIFY channel: the payload is the id of a task that just stopped being pending (committed with the change)."""

DEFAULT_LEASE_SECONDS: Final = 30.0
"""How long a replica may go without renewing before its running jobs count as abandoned (seconds)."""

MIGRATIONS: Final = (
    Migration(
        1,
        "transcripts, speaker names, raw results, tasks with leases, deliveries, receivers, pacing",
        statements(
            """
CREATE TABLE transcripts (
    id TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    asset_id TEXT,
    task_id TEXT,
    kind TEXT NOT NULL,
    duration DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX transcripts_created ON transcripts (created_at DESC);
CREATE TABLE speaker_names (
    transcript_id TEXT NOT NULL,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (transcript_id, label)
);
CREATE TABLE raw_results (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    endpoint TEXT NOT NULL,
    task_id TEXT,
    transcript_id TEXT,
    body BYTEA NOT NULL
);
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    mode TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    tool TEXT,
    asset_id TEXT,
    params JSONB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,
    transcript_id TEXT,
    error TEXT,
    result JSONB,
    origin TEXT NOT NULL DEFAULT 'local',
    owner TEXT,
    owner_pid INTEGER,
    lease_expires_at TIMESTAMPTZ
);
CREATE INDEX tasks_created ON tasks (created_at DESC, seq DESC);
CREATE INDEX tasks_status_created ON tasks (status, created_at DESC, seq DESC);
CREATE INDEX tasks_leases ON tasks (owner, lease_expires_at) WHERE status = 'pending' AND mode = 'sync';
CREATE TABLE deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status TEXT NOT NULL,
    note TEXT,
    body BYTEA NOT NULL
);
CREATE INDEX deliveries_task ON deliveries (task_id);
CREATE TABLE receivers (
    receiver_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    url TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE pacing (
    key_hash TEXT PRIMARY KEY,
    next_at TIMESTAMPTZ NOT NULL
)
"""
        ),
    ),
    Migration(
        2,
        "lz4 compression for transcript, raw result and delivery bodies (PostgreSQL 14+ built with lz4)",
        (
            # pglz, the default, makes saving a 1 MB body about 4x slower; a server without lz4 keeps pglz
            """DO $$ BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        BEGIN
            EXECUTE 'ALTER TABLE transcripts ALTER COLUMN body SET COMPRESSION lz4';
            EXECUTE 'ALTER TABLE raw_results ALTER COLUMN body SET COMPRESSION lz4';
            EXECUTE 'ALTER TABLE deliveries ALTER COLUMN body SET COMPRESSION lz4';
        EXCEPTION WHEN feature_not_supported THEN
            RAISE NOTICE 'lz4 is not available on this server: bodies stay pglz-compressed';
        END;
    END IF;
END $$""",
        ),
    ),
    Migration(
        3,
        "the cost ledger and uploaded files (mavi_mcp.ledger's tables, ISO 8601 text times as on SQLite),"
        " received deliveries by id, the last actual send per key for pacing",
        statements(
            """
CREATE TABLE ledger (
    task_id TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    request_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'billed', 'failed')),
    estimated_usd DOUBLE PRECISION,
    billed_seconds DOUBLE PRECISION,
    billed_from TEXT,
    cost_usd DOUBLE PRECISION,
    transcript_id TEXT,
    created_at TEXT NOT NULL,
    settled_at TEXT
);
CREATE INDEX ledger_request ON ledger (request_key, created_at);
CREATE INDEX ledger_created ON ledger (created_at);
CREATE INDEX ledger_pending ON ledger (task_id) WHERE status = 'pending';
CREATE TABLE media_files (
    asset_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    duration_seconds DOUBLE PRECISION,
    duration_problem TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX media_files_sha256 ON media_files (sha256, created_at);
CREATE INDEX deliveries_received ON deliveries (id) WHERE status = 'received';
ALTER TABLE pacing ADD COLUMN sent_at TIMESTAMPTZ
"""
        ),
    ),
    Migration(4, "the full-text search index (mavi_mcp.search.pg_index)", pg_index.SCHEMA),
    Migration(
        5,
        "the month's spend read from one index (ledger.spend_since, on every paid call)",
        statements(
            "CREATE INDEX ledger_spend ON ledger (created_at, status, billed_from) INCLUDE (cost_usd, estimated_usd);"
            " DROP INDEX ledger_created"  # same leading column: the spend index serves what it served
        ),
    ),
)
"""The PostgreSQL schema, step by step (append a step to change it; never edit a released one)."""


def replica_id() -> str:
    """This process's owner name for leases: `<host>-<pid>-<8 hex>` (unique even when a pid is reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


async def _configure(conn: AsyncConnection[DictRow]) -> None:
    # durable commits whatever the server's default, and UTC times in every row read
    await conn.execute("SET synchronous_commit TO on; SET TIME ZONE 'UTC'")


@asynccontextmanager
async def open_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, connect_timeout: float = 30.0
) -> AsyncGenerator[Pool]:
    """An open pool of autocommit connections (dict rows, UTC, `synchronous_commit=on`) to `url`.

    The first connection is made here, so a wrong URL fails now with a clear message.

    Raises:
        ConfigurationError: `url` is not a postgresql:// URL, or the server cannot be reached or refuses the
            login (the message names the masked URL and libpq's reason; it never contains the password).
    """
    url = check_database_url(url)
    await _probe(url, connect_timeout)
    pool: Pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=connect_timeout,
        connection_class=AsyncConnection[DictRow],
        kwargs={"autocommit": True, "row_factory": dict_row},
        configure=_configure,
        name="mavi-mcp",
    )
    await pool.open(wait=True, timeout=connect_timeout)
    try:
        yield pool
    finally:
        await pool.close()


async def _probe(url: str, connect_timeout: float) -> None:
    try:
        conn = await AsyncConnection.connect(url, connect_timeout=max(1, round(connect_timeout)), autocommit=True)
    except psycopg.Error as exc:
        reason = _scrub(str(exc).strip(), url)
        raise ConfigurationError(
            f"Could not connect to PostgreSQL at {mask_database_url(url)}: {reason}. Check MAVI_MCP_DATABASE_URL "
            "(host, port, user, password, database, sslmode) and that the server accepts connections from here."
        ) from None
    await conn.close()


@asynccontextmanager
async def connection(pool: Pool, url: str) -> AsyncGenerator[AsyncConnection[DictRow]]:
    """A connection from `pool` for one call; a lost or unreachable database becomes `StoreUnavailableError`.

    Raises:
        StoreUnavailableError: the server is down or restarting, the network dropped the connection, or no
            connection came free within the pool's timeout. The message names `url` with its password masked.
    """
    try:
        async with pool.connection() as conn:
            yield conn
    except (psycopg.OperationalError, PoolTimeout) as exc:
        reason = _scrub(str(exc).strip(), url) or type(exc).__name__
        raise StoreUnavailableError(
            f"The mavi-mcp database ({mask_database_url(url)}) cannot be reached right now: {reason}. Nothing was "
            "changed; stored transcripts and tasks are kept. Try again in a minute; if it persists, the server's "
            "operator must check the database."
        ) from exc


def _scrub(text: str, url: str) -> str:
    """`text` with the URL's password removed, in case a driver message ever echoed it."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in filter(None, (password, unquote(password or ""))):
        text = text.replace(secret, "***")
    return " ".join(text.split())


class PgStore:
    """The store on a PostgreSQL database; open with `PgStore.open(url)` (an async context manager).

    `owner` names this replica in job leases (default `replica_id()`); `lease_seconds` is how long a renewal
    keeps this replica's jobs (default 30 s).
    """

    def __init__(
        self,
        pool: Pool,
        *,
        url: str,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        cache_size: int = 8,
    ) -> None:
        self.pool = pool
        self._url = url
        self.display_url = mask_database_url(url)
        """The URL with its password masked, for `--check` and logs."""
        self.owner = owner or replica_id()
        self.lease_seconds = lease_seconds
        self._host = socket.gethostname()
        self._cache: OrderedDict[str, Transcript] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 30.0,
        cache_size: int = 8,
    ) -> AsyncGenerator[PgStore]:
        """Connect, bring the schema up to date (`MIGRATIONS`), and yield the store; the pool closes on exit.

        Raises:
            ConfigurationError: see `open_pool`; or the database's schema is newer than this mavi-mcp.
        """
        async with open_pool(url, min_size=min_size, max_size=max_size, connect_timeout=connect_timeout) as pool:
            async with pool.connection() as conn:
                await migrate_postgres(conn, MIGRATIONS)
                await _backfill_index(conn)
            yield cls(pool, url=url, owner=owner, lease_seconds=lease_seconds, cache_size=cache_size)

    async def _exec(self, sql: bytes | str, params: Mapping[str, Any] | tuple[Any, ...] = ()) -> None:
        async with connection(self.pool, self._url) as conn:
            await conn.execute(cast(Any, sql), params)

    async def _one(self, sql: bytes | str, params: Mapping[str, Any] | tuple[Any, ...] = ()) -> DictRow | None:
        async with connection(self.pool, self._url) as conn:
            cursor = await conn.execute(cast(Any, sql), params)
            return await cursor.fetchone()

    async def _all(self, sql: bytes | str, params: Mapping[str, Any] | tuple[Any, ...] = ()) -> list[DictRow]:
        async with connection(self.pool, self._url) as conn:
            cursor = await conn.execute(cast(Any, sql), params)
            return await cursor.fetchall()

    # --- transcripts ------------------------------------------------------------------------------

    async def save_transcript(self, transcript: Transcript, *, raw: bytes | None = None) -> None:
        """Store `transcript` (and the raw provider body it came from, when given) in one transaction."""
        async with connection(self.pool, self._url) as conn, conn.pipeline(), conn.transaction():  # one round trip
            await _insert_transcript(conn, transcript)
            await _index(conn, transcript)
            if raw is not None:
                await conn.execute(
                    "INSERT INTO raw_results (endpoint, task_id, transcript_id, body) VALUES (%s, %s, %s, %s)",
                    (transcript.source.endpoint, transcript.source.task_id, transcript.id, raw),
                )
        self._remember(transcript)

    async def save_raw_result(self, endpoint: str, raw: bytes, *, task_id: str | None = None) -> None:
        """Keep a paid body that could not be normalized, so it is not lost."""
        await self._exec(
            "INSERT INTO raw_results (endpoint, task_id, transcript_id, body) VALUES (%s, %s, NULL, %s)",
            (endpoint, task_id, raw),
        )

    async def get_transcript(self, transcript_id: str) -> Transcript | None:
        """The stored transcript, or None. Transcripts never change once stored, so they are cached."""
        cached = self._cache.get(transcript_id)
        if cached is not None:
            self._cache.move_to_end(transcript_id)
            return cached
        row = await self._one("SELECT body FROM transcripts WHERE id = %s", (transcript_id,))
        if row is None:
            return None
        transcript = Transcript.model_validate_json(row["body"])
        self._remember(transcript)
        return transcript

    async def list_transcripts(self, limit: int = 20) -> list[TranscriptSummary]:
        """The newest `limit` transcripts (without bodies), newest first."""
        rows = await self._all(
            "SELECT id, created_at, provider, endpoint, asset_id, kind, duration FROM transcripts"
            " ORDER BY created_at DESC LIMIT %s",
            (limit,),
        )
        return [
            TranscriptSummary(
                id=r["id"],
                created_at=r["created_at"],
                provider=r["provider"],
                endpoint=r["endpoint"],
                asset_id=r["asset_id"],
                kind=r["kind"],
                duration=r["duration"],
            )
            for r in rows
        ]

    def _remember(self, transcript: Transcript) -> None:
        self._cache[transcript.id] = transcript
        self._cache.move_to_end(transcript.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # --- speaker names ----------------------------------------------------------------------------

    async def speaker_names(self, transcript_id: str) -> dict[str, str]:
        """Label -> name set by `rename_speakers` for this transcript."""
        rows = await self._all("SELECT label, name FROM speaker_names WHERE transcript_id = %s", (transcript_id,))
        return {r["label"]: r["name"] for r in rows}

    async def set_speaker_names(self, transcript_id: str, mapping: Mapping[str, str]) -> dict[str, str]:
        """Upsert label -> name (an empty name removes the rename); returns the names now in effect."""
        async with connection(self.pool, self._url) as conn, conn.transaction():
            for label, name in mapping.items():
                if name.strip():
                    await conn.execute(
                        "INSERT INTO speaker_names (transcript_id, label, name) VALUES (%s, %s, %s)"
                        " ON CONFLICT (transcript_id, label) DO UPDATE SET name = EXCLUDED.name",
                        (transcript_id, label, name.strip()),
                    )
                else:
                    await conn.execute(
                        "DELETE FROM speaker_names WHERE transcript_id = %s AND label = %s", (transcript_id, label)
                    )
            cursor = await conn.execute(
                "SELECT label, name FROM speaker_names WHERE transcript_id = %s", (transcript_id,)
            )
            names = {r["label"]: r["name"] for r in await cursor.fetchall()}
            await pg_index.reindex_names(conn, transcript_id, names)  # renames searchable with the same commit
            return names

    # --- search -----------------------------------------------------------------------------------

    async def search(
        self, request: SearchRequest, *, max_tokens: int = DEFAULT_TOKENS, cursor: str | None = None
    ) -> SearchPage:
        """One page of passages matching `request`, best first, rendered within `max_tokens` estimated tokens
        (`search.service.search_page_pg`; times in SECONDS): the SQLite store's page for the same data.

        Raises:
            InputError: an unusable query, or a cursor of another search.
        """
        async with connection(self.pool, self._url) as conn:
            return await search_page_pg(conn, request, max_tokens=max_tokens, cursor=cursor)

    # --- the cost ledger ----------------------------------------------------------------------------

    async def in_transaction(self, fn: Callable[[SqlTx], R], *, exclusive: bool | str = True) -> R:
        """`fn(tx)` inside one transaction: how the ledger's functions (`mavi_mcp.ledger`, `mavi_mcp.billing`)
        read and write the store atomically, as on SQLite. `exclusive=True` makes it exclusive with every other
        exclusive one on the database (one transaction-scoped advisory lock); a string, only with those given the
        same string (a lock on its hash: two claims of one request key); False takes no lock (reads, one-row
        writes, and settling ended tasks, which every replica computes the same way), so replicas do not queue
        behind one another. `fn` is synchronous; it runs in a worker thread and each of its
        statements is sent on this transaction's connection (`PgTx`). An exception from `fn` rolls back.
        """
        async with connection(self.pool, self._url) as conn, conn.transaction():
            if exclusive is True:
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK,))
            elif exclusive:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("ledger:" + exclusive,))
            return await anyio.to_thread.run_sync(fn, PgTx(conn))

    async def rename_speakers(
        self, transcript_id: str, mapping: Mapping[str, str], check: Callable[[dict[str, str]], None]
    ) -> dict[str, str]:
        """`set_speaker_names` with its conflict check in the same transaction (see `Store.rename_speakers`): a
        transaction-scoped advisory lock on the transcript id serializes concurrent renames of one transcript."""
        async with connection(self.pool, self._url) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("rename:" + transcript_id,))
            cursor = await conn.execute(
                "SELECT label, name FROM speaker_names WHERE transcript_id = %s", (transcript_id,)
            )
            current: dict[str, str] = {r["label"]: r["name"] for r in await cursor.fetchall()}
            after = {label: name.strip() for label, name in {**current, **mapping}.items() if name.strip()}
            check(after)
            for label, name in mapping.items():
                if name.strip():
                    await conn.execute(
                        "INSERT INTO speaker_names (transcript_id, label, name) VALUES (%s, %s, %s)"
                        " ON CONFLICT (transcript_id, label) DO UPDATE SET name = EXCLUDED.name",
                        (transcript_id, label, name.strip()),
                    )
                else:
                    await conn.execute(
                        "DELETE FROM speaker_names WHERE transcript_id = %s AND label = %s", (transcript_id, label)
                    )
            cursor = await conn.execute(
                "SELECT label, name FROM speaker_names WHERE transcript_id = %s", (transcript_id,)
            )
            return {r["label"]: r["name"] for r in await cursor.fetchall()}

    # --- tasks ------------------------------------------------------------------------------------

    async def create_task(
        self,
        task_id: str,
        *,
        mode: str,
        endpoint: str,
        tool: str | None,
        asset_id: str | None,
        params: Mapping[str, Any] | None = None,
        origin: str = "local",
    ) -> TaskRecord:
        """Record a new pending task (idempotent: an existing row is kept and returned).

        A task first recorded by its callback (origin "webhook": the POST's answer lost the race) takes the
        local facts (mode, endpoint, tool, asset, params) and becomes origin "local", keeping its status; the
        transcript that callback stored gets the asset too (column and `source.asset_id`), in the same transaction.
        A "sync" job gets this replica as owner and a lease of `lease_seconds`.
        """
        values = {
            "task_id": task_id,
            "mode": mode,
            "endpoint": endpoint,
            "tool": tool,
            "asset_id": asset_id,
            "params": Jsonb(dict(params or {})),
            "origin": origin,
            "owner": self.owner,
            "pid": os.getpid(),
            "lease": self.lease_seconds,
        }
        async with connection(self.pool, self._url) as conn, conn.transaction():
            cursor = await conn.execute(
                "INSERT INTO tasks (task_id, mode, endpoint, tool, asset_id, params, status, origin, owner,"
                " owner_pid, lease_expires_at) VALUES (%(task_id)s, %(mode)s, %(endpoint)s, %(tool)s,"
                " %(asset_id)s, %(params)s, 'pending', %(origin)s, %(owner)s, %(pid)s,"
                " CASE WHEN %(mode)s = 'sync' THEN now() + make_interval(secs => %(lease)s) END)"
                " ON CONFLICT (task_id) DO UPDATE SET mode = EXCLUDED.mode, endpoint = EXCLUDED.endpoint,"
                " tool = EXCLUDED.tool, asset_id = EXCLUDED.asset_id, params = EXCLUDED.params, origin = 'local'"
                " WHERE tasks.origin = 'webhook'"
                " RETURNING *",
                values,
            )
            row = await cursor.fetchone()
            if row is None:  # it existed and was not a callback's: kept as it is
                cursor = await conn.execute("SELECT * FROM tasks WHERE task_id = %s", (task_id,))
                row = await cursor.fetchone()
            elif asset_id is not None and row["transcript_id"] is not None:  # an early callback's transcript
                cursor = await conn.execute(
                    "UPDATE transcripts SET asset_id = %s,"
                    " body = jsonb_set(body::jsonb, '{source,asset_id}', to_jsonb(%s::text))::text"
                    " WHERE id = %s AND asset_id IS NULL RETURNING id",
                    (asset_id, asset_id, row["transcript_id"]),
                )
                if await cursor.fetchone() is not None:
                    self._cache.pop(row["transcript_id"], None)
        assert row is not None
        return _task(row)

    async def finish_task(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        transcript_id: str | None = None,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
        asset_id: str | None = None,
    ) -> None:
        """Mark a task completed (with its transcript or result) or failed (with the reason); ends its lease.

        `asset_id`, when given, is recorded on the task (an upload that failed after MAVI created the asset).
        """
        await self._one(
            "WITH done AS (UPDATE tasks SET status = %s, transcript_id = %s, error = %s, result = %s,"
            " updated_at = now(), completed_at = now(), asset_id = COALESCE(%s, asset_id), lease_expires_at = NULL"
            " WHERE task_id = %s RETURNING task_id) SELECT count(pg_notify(%s, task_id)) AS n FROM done",
            (status, transcript_id, error, Jsonb(dict(result)) if result else None, asset_id, task_id, SETTLED),
        )

    async def finish_job(
        self,
        task_id: str,
        *,
        transcript: Transcript | None = None,
        raw: bytes | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        asset_id: str | None = None,
    ) -> TaskRecord:
        """End a local job in ONE transaction: its transcript and the raw body it came from (or the raw body of a
        result that could not be read), and the task marked completed (with `transcript` or `result`) or failed
        (with `error`); its lease ends. Returns the task as it now is.

        Raises:
            LookupError: there is no task `task_id` (nothing is written).
        """
        status: TaskStatus = "failed" if error is not None else "completed"
        transcript_id = transcript.id if transcript is not None else None
        async with connection(self.pool, self._url) as conn, conn.pipeline(), conn.transaction():  # one round trip
            if transcript is not None:
                await _insert_transcript(conn, transcript, task_id=task_id)
                await _index(conn, transcript)
            if raw is not None:
                await conn.execute(
                    "INSERT INTO raw_results (endpoint, task_id, transcript_id, body) VALUES (COALESCE(%s,"
                    " (SELECT endpoint FROM tasks WHERE task_id = %s), 'job'), %s, %s, %s)",
                    (
                        transcript.source.endpoint if transcript is not None else None,
                        task_id,
                        task_id,
                        transcript_id,
                        raw,
                    ),
                )
            cursor = await conn.execute(
                "UPDATE tasks SET status = %s, transcript_id = %s, error = %s, result = %s, updated_at = now(),"
                " completed_at = now(), asset_id = COALESCE(%s, asset_id), lease_expires_at = NULL"
                " WHERE task_id = %s RETURNING *",
                (status, transcript_id, error, Jsonb(dict(result)) if result else None, asset_id, task_id),
            )
            row = await cursor.fetchone()
            if row is None:
                raise LookupError(f"no task {task_id!r} to finish")
            await conn.execute("SELECT pg_notify(%s, %s)", (SETTLED, task_id))
        if transcript is not None:
            self._remember(transcript)
        return _task(row)

    async def finish_spooled(
        self,
        task_id: str | None,
        endpoint: str,
        *,
        transcript: Transcript | None = None,
        raw: bytes | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> TaskRecord | None:
        """Move an answer kept in the spool into the store (see `Store.finish_spooled`): `finish_job` when its task
        exists and has not completed, else the raw body kept in raw_results (no task) or nothing (completed).
        Not one transaction here: a repeat after a crash in between stores the same transcript again (same id)."""
        record = await self.get_task(task_id) if task_id is not None else None
        if record is None:
            if raw is not None:
                await self.save_raw_result(endpoint, raw, task_id=task_id)
            return None
        if record.status == "completed":
            return record
        return await self.finish_job(record.task_id, transcript=transcript, raw=raw, result=result, error=error)

    async def set_task_asset(self, task_id: str, asset_id: str) -> None:
        """Record the asset a still-running task works on as soon as it is known."""
        await self._exec(
            "UPDATE tasks SET asset_id = %s, updated_at = now() WHERE task_id = %s",
            (asset_id, task_id),
        )

    async def fail_stale_jobs(self, reason: str) -> int:
        """Mark local (mode "sync") jobs whose lease ran out as failed with `reason`; returns the count.

        The PostgreSQL form of "whose owning process is gone": the owner stopped renewing (see `expire_leases`).
        """
        return len(await self.expire_leases(reason))

    # --- leases -----------------------------------------------------------------------------------

    async def renew_leases(self) -> int:
        """Extend the lease of every pending job this replica owns to now + `lease_seconds`; returns the count."""
        row = await self._one(
            "WITH renewed AS (UPDATE tasks SET lease_expires_at = now() + make_interval(secs => %s)"
            " WHERE owner = %s AND status = 'pending' AND mode = 'sync' RETURNING 1)"
            " SELECT count(*) AS n FROM renewed",
            (self.lease_seconds, self.owner),
        )
        return int(row["n"]) if row else 0

    async def expire_leases(self, reason: str) -> list[str]:
        """Fail every pending "sync" job whose lease has run out (any owner), with `reason`; returns their ids.

        Async MAVI tasks have no lease: their callback may still come to any replica.
        """
        rows = await self._all(
            "WITH expired AS (UPDATE tasks SET status = 'failed', error = %s, updated_at = now(),"
            " completed_at = now(), lease_expires_at = NULL WHERE status = 'pending' AND mode = 'sync'"
            " AND (lease_expires_at IS NULL OR lease_expires_at < now()) RETURNING task_id)"
            " SELECT task_id, pg_notify(%s, task_id) FROM expired ORDER BY task_id",
            (reason, SETTLED),
        )
        return [r["task_id"] for r in rows]

    async def lease_of(self, task_id: str) -> tuple[str | None, datetime | None]:
        """(owner, lease end in UTC) of a task, for inspection and tests; (None, None) when it has no lease."""
        row = await self._one("SELECT owner, lease_expires_at FROM tasks WHERE task_id = %s", (task_id,))
        if row is None:
            return None, None
        return row["owner"], row["lease_expires_at"]

    # --- webhook deliveries -----------------------------------------------------------------------

    async def record_delivery(self, body: bytes, *, task_id: str | None, status: str, note: str | None = None) -> int:
        """Durably store a webhook body as received (committed, `synchronous_commit=on`); returns its row id."""
        row = await self._one(
            "INSERT INTO deliveries (task_id, status, note, body) VALUES (%s, %s, %s, %s) RETURNING id",
            (task_id, status, note, body),
        )
        assert row is not None
        return int(row["id"])

    async def received_deliveries(self, min_age: float) -> list[tuple[int, bytes]]:
        """(id, raw body) of the deliveries left `received` for at least `min_age` SECONDS (database clock),
        oldest first: committed by a receiver that stopped before applying them (`mavi_mcp.recovery`)."""
        rows = await self._all(
            "SELECT id, body FROM deliveries WHERE status = 'received'"
            " AND received_at <= now() - make_interval(secs => %s) ORDER BY id",
            (min_age,),
        )
        return [(int(r["id"]), bytes(r["body"])) for r in rows]

    async def mark_delivery(self, delivery_id: int, status: str, note: str | None = None) -> None:
        """Set a stored delivery's status and note (after it was parsed and applied, or not)."""
        await self._exec("UPDATE deliveries SET status = %s, note = %s WHERE id = %s", (status, note, delivery_id))

    async def deliveries(self, task_id: str | None = None, limit: int = 100) -> list[Delivery]:
        """Stored deliveries (newest first), body included, for inspection and tests."""
        columns = "SELECT id, task_id, received_at, status, note, body FROM deliveries"
        if task_id is None:
            rows = await self._all(columns + " ORDER BY id DESC LIMIT %s", (limit,))
        else:
            rows = await self._all(columns + " WHERE task_id = %s ORDER BY id DESC LIMIT %s", (task_id, limit))
        return [
            Delivery(
                id=int(r["id"]),
                task_id=r["task_id"],
                received_at=r["received_at"],
                status=r["status"],
                note=r["note"],
                body=bytes(r["body"]),
            )
            for r in rows
        ]

    async def delivery_stats(self) -> DeliveryStats:
        """How many deliveries were received (by status) and when the last one came."""
        rows = await self._all("SELECT status, COUNT(*) AS n, MAX(received_at) AS last FROM deliveries GROUP BY status")
        by_status: dict[str, int] = {r["status"]: int(r["n"]) for r in rows}
        return DeliveryStats(
            total=sum(by_status.values()),
            by_status=by_status,
            last_received_at=max((r["last"] for r in rows), default=None),
        )

    async def complete_from_callback(
        self, task_id: str, endpoint: str, transcript: Transcript | None, error: str | None
    ) -> bool:
        """Complete (or fail) a task from its callback, once: returns False when it was already settled.

        A task this deployment never recorded is created (origin "webhook"), so the result is kept and a later
        `create_task` for the same id joins it. Concurrent callers (replicas receiving the same callback) queue
        on the task's row lock; exactly one returns True. The transcript is committed with the task's new state.
        """
        # one round trip to decide (pipeline): the conditional UPDATE takes the row lock; a concurrent caller
        # waits on it, then re-checks `status = 'pending'` against the committed row and updates nothing
        async with connection(self.pool, self._url) as conn, conn.pipeline(), conn.transaction():
            await conn.execute(
                "INSERT INTO tasks (task_id, mode, endpoint, status, origin) VALUES (%s, 'async', %s, 'pending',"
                " 'webhook') ON CONFLICT (task_id) DO NOTHING",
                (task_id, endpoint),
            )
            cursor = await conn.execute(
                "UPDATE tasks SET status = %s, transcript_id = %s, error = %s, updated_at = now(),"
                " completed_at = now(), lease_expires_at = NULL WHERE task_id = %s AND status = 'pending'"
                " RETURNING origin",
                (
                    "completed" if transcript is not None else "failed",
                    transcript.id if transcript is not None else None,
                    error,
                    task_id,
                ),
            )
            updated = await cursor.fetchone()
            if updated is None:
                return False
            if transcript is not None:
                await _insert_transcript(conn, transcript, task_id=task_id)
                await _index(conn, transcript)
            await conn.execute("SELECT pg_notify(%s, %s)", (SETTLED, task_id))
        if transcript is not None and updated["origin"] != "webhook":  # an early one changes when its task joins
            self._remember(transcript)
        return True

    # --- receivers --------------------------------------------------------------------------------

    async def heartbeat(self, receiver_id: str, url: str) -> None:
        """Record that a webhook receiver is alive (called every few seconds by each receiver)."""
        await self._exec(
            "INSERT INTO receivers (receiver_id, host, pid, url) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (receiver_id) DO UPDATE SET last_seen = now(), url = EXCLUDED.url",
            (receiver_id, self._host, os.getpid(), url),
        )

    async def forget_receiver(self, receiver_id: str) -> None:
        """Remove a receiver (it stopped cleanly)."""
        await self._exec("DELETE FROM receivers WHERE receiver_id = %s", (receiver_id,))

    async def live_receivers(self, within_seconds: float = 30.0) -> list[ReceiverRecord]:
        """Receivers seen in the last `within_seconds` (database clock); on this host, only if the pid exists."""
        rows = await self._all(
            "SELECT receiver_id, host, pid, url, started_at, last_seen FROM receivers"
            " WHERE last_seen >= now() - make_interval(secs => %s) ORDER BY receiver_id",
            (within_seconds,),
        )
        return [
            ReceiverRecord(
                receiver_id=r["receiver_id"],
                pid=r["pid"],
                url=r["url"],
                started_at=r["started_at"],
                last_seen=r["last_seen"],
            )
            for r in rows
            if r["host"] != self._host or process_alive(r["pid"])
        ]

    async def get_task(self, task_id: str) -> TaskRecord | None:
        """The task's record, or None."""
        row = await self._one("SELECT * FROM tasks WHERE task_id = %s", (task_id,))
        return _task(row) if row is not None else None

    async def list_tasks(self, status: TaskStatus | None = None, limit: int = 20) -> list[TaskRecord]:
        """The newest `limit` tasks (of one status, when given), newest first."""
        if status is None:
            rows = await self._all("SELECT * FROM tasks ORDER BY created_at DESC, seq DESC LIMIT %s", (limit,))
        else:
            rows = await self._all(
                "SELECT * FROM tasks WHERE status = %s ORDER BY created_at DESC, seq DESC LIMIT %s", (status, limit)
            )
        return [_task(r) for r in rows]

    async def watch_settled(
        self,
        on_settled: Callable[[str], None],
        *,
        retry_seconds: float = 1.0,
        task_status: AnyioTaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Forever: call `on_settled(task_id)` when any replica settles a task (completed or failed), at once.

        Listens on the `SETTLED` channel over its own connection (LISTEN holds a session, so not a pooled one);
        every write that settles a task notifies in the same transaction, so a notification means the change is
        committed. A waiter woken here re-reads the task (`Jobs.wait`); its polling stays as the fallback for a
        notification lost while this connection was down (reconnects every `retry_seconds`). Cancel to stop.
        With `task_group.start(...)`, returns once the first LISTEN is in place.
        """
        started = False
        while True:
            try:
                conn = await AsyncConnection.connect(self._url, autocommit=True)
            except psycopg.Error as exc:
                reason = _scrub(str(exc), self._url)
                logger.warning("Cannot listen for settled tasks (retrying in %.0fs): %s", retry_seconds, reason)
                await anyio.sleep(retry_seconds)
                continue
            try:
                await conn.execute(f"LISTEN {SETTLED}")
                if not started:
                    started = True
                    task_status.started()
                async for notify in conn.notifies():
                    on_settled(notify.payload)
            except psycopg.Error as exc:
                reason = _scrub(str(exc), self._url)
                logger.warning("Lost the settled-task listener (reconnecting in %.0fs): %s", retry_seconds, reason)
                await anyio.sleep(retry_seconds)
            finally:
                with anyio.CancelScope(shield=True):
                    await conn.close()

    def scrub(self, text: str) -> str:
        """`text` (a driver's message) with this store's database password removed, for logs."""
        return _scrub(text, self._url)

    def shared_pacing(self) -> PgPacing:
        """The client's `pacing.SharedPacing` on this store's database (`MaviClient(shared_pacing=...)`)."""
        return PgPacing(self.pool, url=self._url)

    async def close(self) -> None:
        """Close the pool (also done when the `open()` block exits)."""
        await self.pool.close()


async def keep_leases(store: PgStore, reason: str, *, every: float | None = None) -> None:
    """Forever: renew this replica's leases, then fail jobs whose lease ran out; every `every` seconds.

    `every` defaults to a third of `store.lease_seconds`, so two renewals may fail (a slow database, a long
    pause) before a lease runs out. Run it in the runtime's task group; cancelling it stops it. A database
    error is logged and retried at the next round (the jobs themselves fail on their own if it persists).
    """
    period = every if every is not None else store.lease_seconds / 3
    while True:
        try:
            await store.renew_leases()
            expired = await store.expire_leases(reason)
            if expired:
                logger.info("Marked %d job(s) of a stopped replica as failed: %s", len(expired), ", ".join(expired))
        except (psycopg.Error, StoreUnavailableError) as exc:  # the database is down or restarting
            logger.warning("Could not renew job leases (will retry in %.0fs): %s", period, store.scrub(str(exc)))
        await anyio.sleep(period)


class PgRows:
    """A statement's answer as the ledger reads it (`ledger.SqlCursor`): tuple rows, fetched already."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest, self._next = self._rows[self._next :], len(self._rows)
        return rest

    def __iter__(self) -> Any:
        return iter(self.fetchall())


class PgTx:
    """One PostgreSQL transaction with the face of a `sqlite3.Connection` (`ledger.SqlTx`), for the ledger's
    synchronous functions run by `PgStore.in_transaction` in a worker thread: `execute` sends the statement on
    the transaction's connection through the event loop and returns its rows. `?` placeholders become `%s`
    (the ledger's SQL holds no other `?` and no `%`)."""

    def __init__(self, conn: AsyncConnection[DictRow]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> PgRows:
        return anyio.from_thread.run(self._execute, sql, parameters)

    async def _execute(self, sql: str, parameters: Sequence[Any]) -> PgRows:
        cursor = self._conn.cursor(row_factory=tuple_row)
        await cursor.execute(cast(Any, sql.replace("?", "%s")), tuple(parameters))
        rows = await cursor.fetchall() if cursor.description is not None else []
        return PgRows(rows, cursor.rowcount)


async def _index(conn: AsyncConnection[DictRow], transcript: Transcript) -> None:
    """Index a transcript just inserted, in the same transaction, with the renames already stored for its id.

    A failure to index is logged and undone (a savepoint), never allowed to undo the save: a paid result must
    not be lost to a bug in the index. Such a transcript is readable but not found by search. A lost
    connection is not such a failure: it propagates (`StoreUnavailableError`), and nothing is saved.
    """
    try:
        async with conn.transaction():  # SAVEPOINT
            cursor = await conn.execute(
                "SELECT label, name FROM speaker_names WHERE transcript_id = %s", (transcript.id,)
            )
            names = {r["label"]: r["name"] for r in await cursor.fetchall()}
            await pg_index.index_transcript(conn, transcript, names)
    except psycopg.OperationalError:
        raise
    except Exception:
        logger.exception("Transcript %s was stored but could not be indexed for search", transcript.id)


async def _backfill_index(conn: AsyncConnection[DictRow]) -> int:
    """Index every stored transcript the search index lacks (stored before migration 4); returns how many.

    Under the migration lock, so replicas starting together index each transcript once. A body that cannot be
    read is logged and skipped (it stays readable as stored, not searchable).
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
        cursor = await conn.execute(
            "SELECT t.id, t.body FROM transcripts t WHERE NOT EXISTS"
            " (SELECT 1 FROM search_docs d WHERE d.transcript_id = t.id) ORDER BY t.created_at"
        )
        rows = await cursor.fetchall()
        done = 0
        for row in rows:
            try:
                transcript = Transcript.model_validate_json(row["body"])
            except ValueError:
                logger.exception("Stored transcript %s could not be read to index it for search", row["id"])
                continue
            await _index(conn, transcript)
            done += 1
    if done:
        logger.info("Indexed %d stored transcript(s) for search", done)
    return done


class PgPacing:
    """`mavi_mcp.pacing.SharedPacing` in the database: send slots per API key shared by every replica.

    `reserve` books the key's next slot in one statement on the database's clock (the `pacing` row lock orders
    concurrent bookings; the database is held for one round trip, never for the wait). `sent` records when a
    request actually left, as the database's clock sees it on arrival (a little later than the send: the pace
    errs slow, never fast); `fence` is the wait until `interval` after that. A database error raises
    `PacingUnavailable`: the client then paces the request on its own (`pacing.wait_turn`).
    """

    def __init__(self, pool: Pool, *, url: str = "") -> None:
        self.pool = pool
        self._url = url

    async def _wait(self, sql: str, params: Mapping[str, Any]) -> float:
        try:
            async with connection(self.pool, self._url) as conn:
                cursor = await conn.execute(cast(Any, sql), params)
                row = await cursor.fetchone()
        except (StoreUnavailableError, psycopg.Error) as exc:
            raise PacingUnavailable(_scrub(str(exc), self._url)) from exc
        return max(0.0, float(row["wait"])) if row is not None and row["wait"] is not None else 0.0

    async def reserve(self, key_digest: str, interval: float) -> float:
        return await self._wait(
            "INSERT INTO pacing AS p (key_hash, next_at) VALUES (%(k)s, clock_timestamp()"
            " + make_interval(secs => %(s)s)) ON CONFLICT (key_hash) DO UPDATE SET next_at ="
            " GREATEST(p.next_at, clock_timestamp()) + make_interval(secs => %(s)s)"
            " RETURNING EXTRACT(EPOCH FROM p.next_at - clock_timestamp())::float8 - %(s)s AS wait",
            {"k": key_digest, "s": interval},
        )

    async def sent(self, key_digest: str, at: float) -> None:
        await self._wait(
            "UPDATE pacing SET sent_at = GREATEST(sent_at, clock_timestamp()) WHERE key_hash = %(k)s"
            " RETURNING 0.0::float8 AS wait",
            {"k": key_digest},
        )

    async def fence(self, key_digest: str, interval: float) -> float:
        return await self._wait(
            "SELECT EXTRACT(EPOCH FROM sent_at + make_interval(secs => %(s)s) - clock_timestamp())::float8 AS wait"
            " FROM pacing WHERE key_hash = %(k)s",
            {"k": key_digest, "s": interval},
        )

    async def aclose(self) -> None:
        """Nothing to release: the pool belongs to the store."""


async def _insert_transcript(
    conn: AsyncConnection[DictRow], transcript: Transcript, *, task_id: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO transcripts (id, created_at, provider, endpoint, asset_id, task_id, kind, duration, body)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
        " created_at = EXCLUDED.created_at, provider = EXCLUDED.provider, endpoint = EXCLUDED.endpoint,"
        " asset_id = EXCLUDED.asset_id, task_id = EXCLUDED.task_id, kind = EXCLUDED.kind,"
        " duration = EXCLUDED.duration, body = EXCLUDED.body",
        (
            transcript.id,
            transcript.created_at,
            transcript.source.provider,
            transcript.source.endpoint,
            transcript.source.asset_id,
            task_id or transcript.source.task_id,
            transcript.kind,
            transcript.duration,
            transcript.model_dump_json(exclude_none=True),
        ),
    )


def _task(row: DictRow) -> TaskRecord:
    return TaskRecord(
        task_id=row["task_id"],
        mode=row["mode"],
        endpoint=row["endpoint"],
        tool=row["tool"],
        asset_id=row["asset_id"],
        params=dict(row["params"] or {}),
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        completed_at=row["completed_at"],
        transcript_id=row["transcript_id"],
        error=row["error"],
        result=dict(row["result"]) if row["result"] else None,
        origin=row["origin"],
    )


if TYPE_CHECKING:
    from mavi_mcp.store_api import StoreAPI

    _CONFORMS: type[StoreAPI] = PgStore  # pyright checks here that `PgStore` has the whole store interface
