"""Pacing shared by every mavi-mcp process of one machine: MAVI allows 1 request/second per account.

Claude Desktop and Claude Code each start their own stdio server; on one key they must share one pace, or MAVI
answers 400 "Request has exceeded the limit." (README of the MAVI API, "Rate limits"). Each process books its
send slots in a small SQLite file in the data dir (`pacing.sqlite3`, separate from the store so a long write on
the store never delays a request): under SQLite's write lock (`BEGIN IMMEDIATE`), a process reads the last slot
booked for the key, books the next one at least `interval` seconds later, commits, and only then sleeps until its
slot -- the lock is held for a read and a write, never for the wait. A process killed at any moment leaves
either its booking or nothing (SQLite rolls back), and the OS releases its lock.

MAVI counts a request when it arrives, not when it was booked: a request that had to open a connection first
(TCP, TLS) leaves later than its slot. So each process also records when a request's headers actually left
(`sent`, from the HTTP client's trace events), and a process whose slot has come waits until `interval` SECONDS
after the last request any process actually sent (`fence`). Bookings follow the later of the two.

The key is kept only as its SHA-256 hex digest. The disk work runs in a worker thread: the event loop never
blocks on the file.

`SharedPacing` is the seam: a PostgreSQL-backed implementation (processes on several machines, one database)
books a slot with one statement under the row lock, on the database's clock, and returns the wait, e.g.

    INSERT INTO mavi_pacing(key, slot) VALUES ($1, extract(epoch FROM clock_timestamp()))
    ON CONFLICT (key) DO UPDATE SET slot = greatest(excluded.slot, mavi_pacing.slot + $2)
    RETURNING slot - extract(epoch FROM clock_timestamp())

(or `pg_advisory_xact_lock(hashtext($1))` + read/write of the last send time in one transaction).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread

from mavi_mcp.migrations import enable_wal

logger = logging.getLogger(__name__)

PACING_FILE = "pacing.sqlite3"
MAX_FENCES = 5
"""How many times a process re-checks the last actual send before it goes anyway (each wait is bounded)."""
MAX_AHEAD = 600.0
"""SECONDS: a booked slot further ahead than this is taken as a clock that went back, and the key starts afresh."""


class PacingUnavailable(Exception):
    """The shared pacing state cannot be read or written (file not a database, disk full, lock held too long)."""


class SharedPacing(Protocol):
    """Send slots per key, booked across processes."""

    async def reserve(self, key_digest: str, interval: float) -> float:
        """Book the next send slot for `key_digest`, at least `interval` SECONDS after the last slot any process
        booked for it. Returns the SECONDS to wait before sending (>= 0). Raises `PacingUnavailable`."""
        ...

    async def sent(self, key_digest: str, at: float) -> None:
        """Record that a request on `key_digest` left at wall-clock epoch SECONDS `at`. Raises `PacingUnavailable`."""
        ...

    async def fence(self, key_digest: str, interval: float) -> float:
        """SECONDS still to wait so that this request leaves `interval` after the last one recorded by `sent`
        (>= 0). Raises `PacingUnavailable`."""
        ...

    async def aclose(self) -> None:
        """Release the connection; bookings already made stay valid."""
        ...


class SqlitePacing:
    """`SharedPacing` in a SQLite file shared by the processes of one machine (one data dir).

    Args:
        path: the file (created with its directory when missing), normally `<data dir>/pacing.sqlite3`.
        busy_timeout: SECONDS to wait for another process's booking before `PacingUnavailable`.
        clock: wall-clock epoch SECONDS (the same clock in every process; injectable for tests).
    """

    def __init__(self, path: Path, *, busy_timeout: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.clock = clock
        self._db: sqlite3.Connection | None = None
        self._lock = anyio.Lock()  # one booking at a time per process: one connection, used by one thread at once

    @classmethod
    def in_dir(cls, data_dir: Path) -> SqlitePacing:
        return cls(data_dir / PACING_FILE)

    async def reserve(self, key_digest: str, interval: float) -> float:
        return await self._run(self._reserve, key_digest, interval)

    async def sent(self, key_digest: str, at: float) -> None:
        await self._run(self._sent, key_digest, at)

    async def fence(self, key_digest: str, interval: float) -> float:
        return await self._run(self._fence, key_digest, interval)

    async def _run(self, fn: Callable[[str, float], float], key_digest: str, value: float) -> float:
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(fn, key_digest, value)
            except (sqlite3.Error, OSError) as exc:
                self._drop()
                raise PacingUnavailable(f"{self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            try:
                enable_wal(db, timeout=self.busy_timeout)  # processes opening a new file at once race for it
                db.execute("PRAGMA synchronous=NORMAL")  # a booking lost to a power cut costs nothing
                db.execute(
                    "CREATE TABLE IF NOT EXISTS slots (key TEXT PRIMARY KEY, slot REAL NOT NULL, sent REAL NOT NULL)"
                )
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _reserve(self, key_digest: str, interval: float) -> float:
        with self._write() as db:
            row = db.execute("SELECT max(slot, sent) FROM slots WHERE key = ?", (key_digest,)).fetchone()
            now = self.clock()  # read under the lock: waiting for it took time
            last = float(row[0]) if row is not None else None
            slot = now if last is None or last > now + MAX_AHEAD else max(now, last + interval)
            db.execute(
                "INSERT INTO slots (key, slot, sent) VALUES (?, ?, 0) "
                "ON CONFLICT (key) DO UPDATE SET slot = excluded.slot",
                (key_digest, slot),
            )
        return slot - now

    def _sent(self, key_digest: str, at: float) -> float:
        with self._write() as db:
            db.execute(
                "INSERT INTO slots (key, slot, sent) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET sent = max(sent, excluded.sent)",
                (key_digest, at, at),
            )
        return 0.0

    def _fence(self, key_digest: str, interval: float) -> float:
        row = self._connect().execute("SELECT sent FROM slots WHERE key = ?", (key_digest,)).fetchone()
        now = self.clock()
        if row is None or float(row[0]) > now + MAX_AHEAD:
            return 0.0
        return max(0.0, float(row[0]) + interval - now)

    @contextmanager
    def _write(self) -> Generator[sqlite3.Connection]:
        """One write transaction under SQLite's write lock (waits `busy_timeout` for another process)."""
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _drop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def aclose(self) -> None:
        # no await: closing must not yield to other tasks at shutdown (a booking still running in its thread
        # then fails with a sqlite3 error, reported as PacingUnavailable, and that request paces on its own)
        self._drop()


async def wait_turn(
    pacing: SharedPacing,
    key_digest: str,
    interval: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> bool:
    """Wait for this process's turn to send on `key_digest` (`interval` SECONDS apart across processes).

    Returns False, after a warning in the log, when the shared state is unavailable: the caller then paces on
    its own (a paid call is never refused because of pacing).
    """
    try:
        delay = await pacing.reserve(key_digest, interval)
        for _ in range(MAX_FENCES):
            if delay > 0:
                await sleep(delay)
            delay = await pacing.fence(key_digest, interval)
            if delay <= 0:
                break
    except PacingUnavailable as exc:
        logger.warning("Shared pacing unavailable (%s); pacing this process on its own", exc)
        return False
    return True


def sent_tracer(
    pacing: SharedPacing, key_digest: str, *, clock: Callable[[], float] = time.time
) -> Callable[[str, dict[str, object]], Awaitable[None]]:
    """An httpx `trace` extension callback that records (`SharedPacing.sent`) when the request headers left.

    Pass it as `extensions={"trace": sent_tracer(...)}`; transports without trace events (ASGI, mocks) never call
    it, and pacing then follows the bookings alone. A failure to record is logged, never raised into the request.
    """

    async def trace(event: str, info: dict[str, object]) -> None:
        if event.endswith("send_request_headers.complete"):
            at = clock()
            try:
                await pacing.sent(key_digest, at)
            except PacingUnavailable as exc:
                logger.warning("Shared pacing unavailable (%s); this request's send time is not shared", exc)

    return trace


__all__ = [
    "MAX_AHEAD",
    "PACING_FILE",
    "PacingUnavailable",
    "SharedPacing",
    "SqlitePacing",
    "sent_tracer",
    "wait_turn",
]
