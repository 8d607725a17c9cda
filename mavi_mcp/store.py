"""The durable store: one SQLite file in the data directory, shared by every mavi-mcp process of a user.

Tables:

| table | holds |
| --- | --- |
| `transcripts` | every normalized `Transcript` (JSON), by id |
| `speaker_names` | `rename_speakers` mappings, applied at render time |
| `raw_results` | the raw body of every paid result, as received, so a result is never lost to a parser bug |
| `tasks` | every transcription job (sync or async): status, timing, transcript id or error |
| `deliveries` | every webhook body received, parsed or not |
| `search_*` | the full-text index (`search.sqlite_index`), updated with `transcripts` and `speaker_names` |

SQLite runs in WAL mode with `synchronous=FULL`, so a commit that returned is on disk: the webhook receiver
acknowledges only after its commit. Several processes (stdio servers, a `mavi-mcp webhook` service) may open
the same file; `busy_timeout` makes them wait for each other instead of failing.

The `Store` methods are synchronous and fast; async code calls them through `AsyncStore`, which runs them in
a worker thread so the event loop never blocks on the disk. Calls made while another is running are run together
in one thread hop and, when one of them writes, in ONE transaction (group commit, `Store.run_batch`): each call
in its own savepoint, so a call that fails undoes only its own writes, and none returns before the commit.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

import anyio.to_thread

from mavi_mcp.ledger import LEDGER_SCHEMA
from mavi_mcp.migrations import enable_wal
from mavi_mcp.processes import process_alive
from mavi_mcp.render.search import DEFAULT_TOKENS, SearchPage, SearchRequest
from mavi_mcp.search import sqlite_index as si
from mavi_mcp.search.service import search_page
from mavi_mcp.transcript import Transcript, utcnow

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

DB_NAME = "mavi-mcp.sqlite3"

TaskStatus = Literal["pending", "completed", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transcripts (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    asset_id TEXT,
    task_id TEXT,
    kind TEXT NOT NULL,
    duration REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transcripts_created ON transcripts(created_at);
CREATE TABLE IF NOT EXISTS speaker_names (
    transcript_id TEXT NOT NULL,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (transcript_id, label)
);
CREATE TABLE IF NOT EXISTS raw_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    task_id TEXT,
    transcript_id TEXT,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    tool TEXT,
    asset_id TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT,
    transcript_id TEXT,
    error TEXT,
    result TEXT,
    origin TEXT NOT NULL DEFAULT 'local',
    owner_pid INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks(created_at);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT,
    received_at TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_task ON deliveries(task_id);
CREATE TABLE IF NOT EXISTS receivers (
    receiver_id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    url TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class TaskRecord:
    """A row of `tasks`. Times are timezone-aware UTC; `params` never holds a key."""

    task_id: str
    mode: str
    endpoint: str
    tool: str | None
    asset_id: str | None
    params: dict[str, Any]
    status: TaskStatus
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    transcript_id: str | None
    error: str | None
    result: dict[str, Any] | None
    origin: str


@dataclass(frozen=True)
class TranscriptSummary:
    """A row of `transcripts` without its body, for listings."""

    id: str
    created_at: datetime
    provider: str
    endpoint: str
    asset_id: str | None
    kind: str
    duration: float


@dataclass(frozen=True)
class Delivery:
    """A row of `deliveries`: a webhook body as received, and what became of it.

    `status`: received -> applied | failed_result | malformed | duplicate | error (see `mavi_mcp.webhook`).
    """

    id: int
    task_id: str | None
    received_at: datetime
    status: str
    note: str | None
    body: bytes


@dataclass(frozen=True)
class DeliveryStats:
    """How many webhook deliveries were received, by status, and when the last one came (None: never)."""

    total: int
    by_status: dict[str, int]
    last_received_at: datetime | None

    @property
    def verified(self) -> bool:
        """A MAVI callback has reached this store before (applied, duplicate or a reported failure)."""
        return any(n for status, n in self.by_status.items() if status in ("applied", "duplicate", "failed_result"))


@dataclass(frozen=True)
class ReceiverRecord:
    """A live webhook receiver sharing this store: its process, the URL it announced, when it was last seen."""

    receiver_id: str
    pid: int
    url: str
    started_at: datetime
    last_seen: datetime


def _index_stored_transcripts(db: sqlite3.Connection) -> None:
    """Schema 2: index every transcript stored before the search index existed (with its renames), as
    `sqlite_index.backfill` does, except that a transcript that cannot be read or indexed is logged and left
    out (`_index`), so that the store still opens."""
    done = si.indexed(db)
    for (transcript_id,) in db.execute("SELECT id FROM transcripts ORDER BY created_at").fetchall():
        if transcript_id in done:
            continue
        row = db.execute("SELECT body FROM transcripts WHERE id = ?", (transcript_id,)).fetchone()
        try:
            transcript = Transcript.model_validate_json(row[0])
        except ValueError:
            logger.exception("Stored transcript %s could not be read to index it for search", transcript_id)
            continue
        _index(db, transcript)


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    lambda db: None,  # 1: the tables of `_SCHEMA` (created, if missing, on every open)
    _index_stored_transcripts,  # 2: the search index
)
"""Schema version N is reached by running step N on a store at version N - 1 (`PRAGMA user_version`), in the
opening transaction. Add a step at the end; never change one that shipped."""

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the store's schema up to `SCHEMA_VERSION` inside the caller's transaction; returns the version found.

    Tables are created if missing first (`_SCHEMA`, the cost ledger's, the search index's), then every step above
    the stored `user_version` runs in order. A store written by a newer version keeps its (higher) version.
    """
    # executescript() would commit on its own; run the statements inside this transaction instead
    for statement in filter(None, (s.strip() for s in (_SCHEMA + LEDGER_SCHEMA).split(";"))):
        db.execute(statement)
    si.create_schema(db)
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    for step in MIGRATIONS[found:]:
        step(db)
    if found < SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return found


class StoreCall:
    """One `Store` method call queued by `AsyncStore`: run by `Store.run_batch` in the store's thread; its result
    or exception is read by the coroutine that queued it once `done`. `write`: the call may write (a pure read
    needs no transaction of a batch)."""

    __slots__ = ("done", "error", "fn", "lead", "result", "wake", "write")

    def __init__(self, fn: Callable[[], Any], *, write: bool) -> None:
        self.fn = fn
        self.write = write
        self.wake: anyio.Event | None = None  # set when done, or when made the leader of the next batch (`lead`)
        self.lead = False
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # handed to the coroutine that queued the call, raised there
            self.error = exc
        self.done = True

    def fail(self, exc: BaseException) -> None:
        self.result = None
        self.error = exc

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Store:
    """Synchronous access to the SQLite store at `path` (created with its parents if missing)."""

    def __init__(self, path: Path, *, cache_size: int = 8) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        enable_wal(self._db, timeout=30)  # replicas opening a new file at once race for the switch
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._batch = False  # inside `run_batch`'s transaction: `_tx` opens a savepoint instead
        self._savepoints = 0
        with self._tx() as db:
            migrate(db)
        self._cache: OrderedDict[str, Transcript] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def in_dir(cls, data_dir: Path) -> Store:
        return cls(data_dir / DB_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Generator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed (durably, synchronous=FULL) when the block exits. Inside
        `run_batch`, a savepoint of the batch's transaction instead (committed with the batch)."""
        with self._lock:
            if self._batch:
                self._savepoints += 1
                name = f"call_{self._savepoints}"
                self._db.execute(f"SAVEPOINT {name}")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute(f"ROLLBACK TO {name}")
                    self._db.execute(f"RELEASE {name}")
                    raise
                self._db.execute(f"RELEASE {name}")
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def run_batch(self, calls: Sequence[StoreCall]) -> None:
        """Run `calls` one after the other, each outcome kept in its `StoreCall` (never raises). When more than one
        call is given and one of them writes, all run in ONE IMMEDIATE transaction, each of its own transactions a
        savepoint of it: a call that raises undoes only its own writes; if the commit fails, every call fails with
        that error (nothing of the batch was stored). One commit (one fsync) for the batch instead of one each."""
        with self._lock:
            if len(calls) < 2 or not any(call.write for call in calls):
                for call in calls:
                    call.run()
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error:  # the lock cannot be had: each call meets the fault on its own
                for call in calls:
                    call.run()
                return
            self._batch = True
            try:
                for call in calls:
                    call.run()
            finally:
                self._batch = False
            try:
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._cache.clear()  # it may hold transcripts of the batch, which were not stored
                for call in calls:
                    call.fail(exc)

    def in_transaction(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """`fn(db)` inside one IMMEDIATE transaction: how the ledger's functions (`mavi_mcp.ledger`, issue 15)
        read and write the store atomically (a claim of a paid request is read-then-write)."""
        with self._tx() as db:
            return fn(db)

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- transcripts ------------------------------------------------------------------------------

    def save_transcript(self, transcript: Transcript, *, raw: bytes | None = None) -> None:
        """Store `transcript` (and the raw provider body it came from, when given) in one transaction."""
        now = utcnow().isoformat()
        with self._tx() as db:
            _insert_transcript(db, transcript)
            _index(db, transcript)
            if raw is not None:
                db.execute(
                    "INSERT INTO raw_results (received_at, endpoint, task_id, transcript_id, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (now, transcript.source.endpoint, transcript.source.task_id, transcript.id, raw),
                )
        self._remember(transcript)

    def save_raw_result(self, endpoint: str, raw: bytes, *, task_id: str | None = None) -> None:
        """Keep a paid body that could not be normalized, so it is not lost."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO raw_results (received_at, endpoint, task_id, transcript_id, body)"
                " VALUES (?, ?, ?, NULL, ?)",
                (utcnow().isoformat(), endpoint, task_id, raw),
            )

    def get_transcript(self, transcript_id: str) -> Transcript | None:
        """The stored transcript, or None. Transcripts never change once stored, so they are cached."""
        with self._lock:
            cached = self._cache.get(transcript_id)
            if cached is not None:
                self._cache.move_to_end(transcript_id)
                return cached
        rows = self._query("SELECT body FROM transcripts WHERE id = ?", (transcript_id,))
        if not rows:
            return None
        transcript = Transcript.model_validate_json(rows[0]["body"])
        self._remember(transcript)
        return transcript

    def list_transcripts(self, limit: int = 20) -> list[TranscriptSummary]:
        rows = self._query(
            "SELECT id, created_at, provider, endpoint, asset_id, kind, duration FROM transcripts"
            " ORDER BY created_at DESC LIMIT ?",
            (limit,),
        )
        return [
            TranscriptSummary(
                id=r["id"],
                created_at=datetime.fromisoformat(r["created_at"]),
                provider=r["provider"],
                endpoint=r["endpoint"],
                asset_id=r["asset_id"],
                kind=r["kind"],
                duration=r["duration"],
            )
            for r in rows
        ]

    def _forget(self, transcript_id: str) -> None:
        with self._lock:
            self._cache.pop(transcript_id, None)

    def _remember(self, transcript: Transcript) -> None:
        with self._lock:
            self._cache[transcript.id] = transcript
            self._cache.move_to_end(transcript.id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    # --- speaker names ----------------------------------------------------------------------------

    def speaker_names(self, transcript_id: str) -> dict[str, str]:
        """Label -> name set by `rename_speakers` for this transcript."""
        rows = self._query("SELECT label, name FROM speaker_names WHERE transcript_id = ?", (transcript_id,))
        return {r["label"]: r["name"] for r in rows}

    def set_speaker_names(self, transcript_id: str, mapping: Mapping[str, str]) -> dict[str, str]:
        """Upsert label -> name (an empty name removes the rename); returns the names now in effect."""
        with self._tx() as db:
            _write_names(db, transcript_id, mapping)
        return self.speaker_names(transcript_id)

    def rename_speakers(
        self, transcript_id: str, mapping: Mapping[str, str], check: Callable[[dict[str, str]], None]
    ) -> dict[str, str]:
        """`set_speaker_names` with its conflict check in the SAME transaction: `check(after)` is called with the
        label -> name map that would be in effect (stored names read inside the transaction, then `mapping`
        applied; empty names dropped) and raises to refuse (nothing is written; e.g. `InputError` listing the
        conflicts). Two concurrent renames are serialized by the write lock, so neither can give a name the other
        just took. Returns the names now in effect.
        """
        with self._tx() as db:
            current = _names(db, transcript_id)
            after = {label: name.strip() for label, name in {**current, **mapping}.items() if name.strip()}
            check(after)
            _write_names(db, transcript_id, mapping)
            return _names(db, transcript_id)

    # --- search -----------------------------------------------------------------------------------

    def search(
        self, request: SearchRequest, *, max_tokens: int = DEFAULT_TOKENS, cursor: str | None = None
    ) -> SearchPage:
        """The page of ranked hits for `request` that `cursor` points at (None: the best), within `max_tokens`
        estimated tokens (`search.service.search_page`; times in SECONDS).

        Raises:
            InputError: an unusable query, or a cursor of another search.
        """
        with self._lock:
            return search_page(self._db, request, max_tokens=max_tokens, cursor=cursor)

    # --- tasks ------------------------------------------------------------------------------------

    def create_task(
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
        """Record a new pending task (idempotent: an existing row is kept and returned)."""
        now = utcnow().isoformat()
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO tasks (task_id, mode, endpoint, tool, asset_id, params, status, created_at,"
                " updated_at, origin, owner_pid) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                (
                    task_id,
                    mode,
                    endpoint,
                    tool,
                    asset_id,
                    json.dumps(dict(params or {})),
                    now,
                    now,
                    origin,
                    os.getpid(),
                ),
            )
            # a callback may have arrived first (the POST's answer can lose that race): join the local facts
            db.execute(
                "UPDATE tasks SET mode = ?, endpoint = ?, tool = ?, asset_id = ?, params = ?, origin = 'local'"
                " WHERE task_id = ? AND origin = 'webhook'",
                (mode, endpoint, tool, asset_id, json.dumps(dict(params or {})), task_id),
            )
            joined = _fill_transcript_asset(db, task_id, asset_id)
            row = db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if joined is not None:
            self._forget(joined)
        return _task(row)

    def finish_task(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        transcript_id: str | None = None,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
        asset_id: str | None = None,
    ) -> None:
        """Mark a task completed (with its transcript or result) or failed (with the reason).

        `asset_id`, when given, is recorded on the task (an upload that failed after MAVI created the asset).
        """
        with self._tx() as db:
            _end_task(db, task_id, status, transcript_id, error, result, asset_id, utcnow().isoformat())

    def finish_job(
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
        (with `error`). Returns the task as it now is (`transcript` is cached, so the answer needs no reload)."""
        now = utcnow().isoformat()
        with self._tx() as db:
            _finish_job(db, task_id, transcript, raw, result, error, asset_id, now)
            row = db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if transcript is not None:
            self._remember(transcript)
        return _task(row)

    def finish_spooled(
        self,
        task_id: str | None,
        endpoint: str,
        *,
        transcript: Transcript | None = None,
        raw: bytes | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> TaskRecord | None:
        """Move an answer kept in the spool (`mavi_mcp.spool`) into the store, in ONE transaction, once.

        When its task exists and has not completed, this is `finish_job` (transcript and raw body stored, the task
        completed, or failed with `error`). A task already completed is left as it is (the answer was stored after
        all); without a task (none recorded, or `task_id` None) the raw body is kept in raw_results. Returns the
        task as it now is, or None when there is none.
        """
        now = utcnow().isoformat()
        with self._tx() as db:
            row = db.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None or task_id is None:
                if raw is not None:
                    db.execute(
                        "INSERT INTO raw_results (received_at, endpoint, task_id, transcript_id, body)"
                        " VALUES (?, ?, ?, NULL, ?)",
                        (now, endpoint, task_id, raw),
                    )
                return None
            if row["status"] != "completed":
                _finish_job(db, task_id, transcript, raw, result, error, None, now)
            final = db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if transcript is not None and final["transcript_id"] == transcript.id:
            self._remember(transcript)
        return _task(final)

    def set_task_asset(self, task_id: str, asset_id: str) -> None:
        """Record the asset a still-running task works on as soon as it is known (an upload whose POST returned
        while MAVI still processes the file), so a pending task shows it."""
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET asset_id = ?, updated_at = ? WHERE task_id = ?",
                (asset_id, utcnow().isoformat(), task_id),
            )

    def fail_stale_jobs(self, reason: str) -> int:
        """Mark local (mode "sync") jobs whose owning process is gone as failed; returns the count.

        Several servers may share this store, so a pending job is stale only when the process that runs it
        no longer exists (checked with signal 0 on its pid).
        """
        rows = self._query("SELECT task_id, owner_pid FROM tasks WHERE status = 'pending' AND mode = 'sync'")
        stale = [r["task_id"] for r in rows if not process_alive(r["owner_pid"])]
        now = utcnow().isoformat()
        with self._tx() as db:
            for task_id in stale:
                db.execute(
                    "UPDATE tasks SET status = 'failed', error = ?, updated_at = ?, completed_at = ?"
                    " WHERE task_id = ? AND status = 'pending'",
                    (reason, now, now, task_id),
                )
        return len(stale)

    # --- webhook deliveries -----------------------------------------------------------------------

    def record_delivery(self, body: bytes, *, task_id: str | None, status: str, note: str | None = None) -> int:
        """Durably store a webhook body as received (committed with synchronous=FULL); returns its row id."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO deliveries (task_id, received_at, status, note, body) VALUES (?, ?, ?, ?, ?)",
                (task_id, utcnow().isoformat(), status, note, body),
            )
            row_id = cursor.lastrowid
        assert row_id is not None
        return row_id

    def mark_delivery(self, delivery_id: int, status: str, note: str | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE deliveries SET status = ?, note = ? WHERE id = ?", (status, note, delivery_id))

    def deliveries(self, task_id: str | None = None, limit: int = 100) -> list[Delivery]:
        """Stored deliveries (newest first), body included, for inspection and tests."""
        if task_id is None:
            rows = self._query("SELECT * FROM deliveries ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._query("SELECT * FROM deliveries WHERE task_id = ? ORDER BY id DESC LIMIT ?", (task_id, limit))
        return [
            Delivery(
                id=r["id"],
                task_id=r["task_id"],
                received_at=datetime.fromisoformat(r["received_at"]),
                status=r["status"],
                note=r["note"],
                body=bytes(r["body"]),
            )
            for r in rows
        ]

    def delivery_stats(self) -> DeliveryStats:
        """How many deliveries were received (by status) and when the last one came."""
        rows = self._query("SELECT status, COUNT(*) AS n, MAX(received_at) AS last FROM deliveries GROUP BY status")
        by_status: dict[str, int] = {r["status"]: r["n"] for r in rows}
        last = max((r["last"] for r in rows), default=None)
        return DeliveryStats(
            total=sum(by_status.values()),
            by_status=by_status,
            last_received_at=datetime.fromisoformat(last) if last else None,
        )

    def complete_from_callback(
        self, task_id: str, endpoint: str, transcript: Transcript | None, error: str | None
    ) -> bool:
        """Complete (or fail) a task from its callback, once: returns False when it was already settled.

        A task this server never recorded is created (origin "webhook"), so the result is kept and a later
        `create_task` for the same id joins it.
        """
        now = utcnow().isoformat()
        with self._tx() as db:
            row = db.execute("SELECT status, origin FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is not None and row["status"] != "pending":
                return False
            early = row is None or row["origin"] == "webhook"  # `create_task` will still add the task's asset
            if row is None:
                db.execute(
                    "INSERT INTO tasks (task_id, mode, endpoint, tool, asset_id, params, status, created_at,"
                    " updated_at, origin) VALUES (?, 'async', ?, NULL, NULL, '{}', 'pending', ?, ?, 'webhook')",
                    (task_id, endpoint, now, now),
                )
            if transcript is not None:
                _insert_transcript(db, transcript, task_id=task_id)
                _index(db, transcript)
            db.execute(
                "UPDATE tasks SET status = ?, transcript_id = ?, error = ?, updated_at = ?, completed_at = ?"
                " WHERE task_id = ?",
                (
                    "completed" if transcript is not None else "failed",
                    transcript.id if transcript is not None else None,
                    error,
                    now,
                    now,
                    task_id,
                ),
            )
        if transcript is not None and not early:  # an early one changes when its task joins: read it then
            self._remember(transcript)
        return True

    # --- receivers --------------------------------------------------------------------------------

    def heartbeat(self, receiver_id: str, url: str) -> None:
        """Record that a webhook receiver is alive (called every few seconds by each receiver)."""
        now = utcnow().isoformat()
        with self._tx() as db:
            db.execute(
                "INSERT INTO receivers (receiver_id, pid, url, started_at, last_seen) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(receiver_id) DO UPDATE SET last_seen = excluded.last_seen, url = excluded.url",
                (receiver_id, os.getpid(), url, now, now),
            )

    def forget_receiver(self, receiver_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM receivers WHERE receiver_id = ?", (receiver_id,))

    def live_receivers(self, within_seconds: float = 30.0) -> list[ReceiverRecord]:
        """Receivers seen in the last `within_seconds` whose process still exists."""
        rows = self._query("SELECT * FROM receivers")
        now = utcnow()
        alive: list[ReceiverRecord] = []
        for row in rows:
            seen = datetime.fromisoformat(row["last_seen"])
            if (now - seen).total_seconds() <= within_seconds and process_alive(row["pid"]):
                alive.append(
                    ReceiverRecord(
                        receiver_id=row["receiver_id"],
                        pid=row["pid"],
                        url=row["url"],
                        started_at=datetime.fromisoformat(row["started_at"]),
                        last_seen=seen,
                    )
                )
        return alive

    def get_task(self, task_id: str) -> TaskRecord | None:
        rows = self._query("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
        return _task(rows[0]) if rows else None

    def list_tasks(self, status: TaskStatus | None = None, limit: int = 20) -> list[TaskRecord]:
        if status is None:
            rows = self._query("SELECT * FROM tasks ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,))
        else:
            rows = self._query(
                "SELECT * FROM tasks WHERE status = ? ORDER BY created_at DESC, rowid DESC LIMIT ?", (status, limit)
            )
        return [_task(r) for r in rows]


def _write_names(db: sqlite3.Connection, transcript_id: str, mapping: Mapping[str, str]) -> None:
    """Upsert label -> name (an empty name removes the rename) and reindex the names, in the caller's transaction."""
    for label, name in mapping.items():
        if name.strip():
            db.execute(
                "INSERT INTO speaker_names (transcript_id, label, name) VALUES (?, ?, ?)"
                " ON CONFLICT(transcript_id, label) DO UPDATE SET name = excluded.name",
                (transcript_id, label, name.strip()),
            )
        else:
            db.execute("DELETE FROM speaker_names WHERE transcript_id = ? AND label = ?", (transcript_id, label))
    si.reindex_names(db, transcript_id, _names(db, transcript_id))


def _names(db: sqlite3.Connection, transcript_id: str) -> dict[str, str]:
    rows = db.execute("SELECT label, name FROM speaker_names WHERE transcript_id = ?", (transcript_id,))
    return {label: name for label, name in rows}


def _index(db: sqlite3.Connection, transcript: Transcript) -> None:
    """Index a transcript just inserted, in the same transaction, with the renames already stored for its id.

    A failure to index is logged and undone (a savepoint), never allowed to undo the save: a paid result must
    not be lost to a bug in the index. Such a transcript is readable but not found by search.
    """
    db.execute("SAVEPOINT search_index")
    try:
        si.index_transcript(db, transcript, _names(db, transcript.id))
    except Exception:
        db.execute("ROLLBACK TO search_index")
        logger.exception("Transcript %s was stored but could not be indexed for search", transcript.id)
    db.execute("RELEASE search_index")


def _finish_job(
    db: sqlite3.Connection,
    task_id: str,
    transcript: Transcript | None,
    raw: bytes | None,
    result: Mapping[str, Any] | None,
    error: str | None,
    asset_id: str | None,
    now: str,
) -> None:
    """The writes of `Store.finish_job`, in the caller's transaction."""
    status: TaskStatus = "failed" if error is not None else "completed"
    endpoint = transcript.source.endpoint if transcript is not None else None
    if transcript is not None:
        _insert_transcript(db, transcript, task_id=task_id)
        _index(db, transcript)
    if raw is not None:
        db.execute(
            "INSERT INTO raw_results (received_at, endpoint, task_id, transcript_id, body)"
            " VALUES (?, COALESCE(?, (SELECT endpoint FROM tasks WHERE task_id = ?), 'job'), ?, ?, ?)",
            (now, endpoint, task_id, task_id, transcript.id if transcript is not None else None, raw),
        )
    transcript_id = transcript.id if transcript is not None else None
    _end_task(db, task_id, status, transcript_id, error, result, asset_id, now)


def _fill_transcript_asset(db: sqlite3.Connection, task_id: str, asset_id: str | None) -> str | None:
    """A transcript stored from an early callback (before its task row was written) gets the task's asset, column
    and JSON body (`source.asset_id`), in the caller's transaction; returns its id when one was filled."""
    if asset_id is None:
        return None
    row = db.execute(
        "SELECT tr.id FROM tasks t JOIN transcripts tr ON tr.id = t.transcript_id"
        " WHERE t.task_id = ? AND tr.asset_id IS NULL",
        (task_id,),
    ).fetchone()
    if row is None:
        return None
    db.execute(
        "UPDATE transcripts SET asset_id = ?, body = json_set(body, '$.source.asset_id', ?) WHERE id = ?",
        (asset_id, asset_id, row[0]),
    )
    return str(row[0])


def _end_task(
    db: sqlite3.Connection,
    task_id: str,
    status: TaskStatus,
    transcript_id: str | None,
    error: str | None,
    result: Mapping[str, Any] | None,
    asset_id: str | None,
    now: str,
) -> None:
    """Mark a task completed or failed (inside the caller's transaction); `asset_id`, when given, is recorded."""
    db.execute(
        "UPDATE tasks SET status = ?, transcript_id = ?, error = ?, result = ?, updated_at = ?,"
        " completed_at = ?, asset_id = COALESCE(?, asset_id) WHERE task_id = ?",
        (status, transcript_id, error, json.dumps(dict(result)) if result else None, now, now, asset_id, task_id),
    )


def _insert_transcript(db: sqlite3.Connection, transcript: Transcript, *, task_id: str | None = None) -> None:
    db.execute(
        "INSERT OR REPLACE INTO transcripts (id, created_at, provider, endpoint, asset_id, task_id, kind, duration,"
        " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            transcript.id,
            transcript.created_at.isoformat(),
            transcript.source.provider,
            transcript.source.endpoint,
            transcript.source.asset_id,
            task_id or transcript.source.task_id,
            transcript.kind,
            transcript.duration,
            transcript.model_dump_json(exclude_none=True),
        ),
    )


def _task(row: sqlite3.Row) -> TaskRecord:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    created = when(row["created_at"])
    updated = when(row["updated_at"])
    assert created is not None
    assert updated is not None
    return TaskRecord(
        task_id=row["task_id"],
        mode=row["mode"],
        endpoint=row["endpoint"],
        tool=row["tool"],
        asset_id=row["asset_id"],
        params=json.loads(row["params"] or "{}"),
        status=row["status"],
        created_at=created,
        updated_at=updated,
        completed_at=when(row["completed_at"]),
        transcript_id=row["transcript_id"],
        error=row["error"],
        result=json.loads(row["result"]) if row["result"] else None,
        origin=row["origin"],
    )


class AsyncStore:
    """The store as async code sees it: every operation of `Store`, awaitable, with the same names, arguments and
    typed results. Each call runs in a worker thread (one batch at a time, like the SQLite connection), so the event
    loop never blocks on the disk. Calls made while a batch runs are queued and run together as the next batch
    (`Store.run_batch`: one thread hop, one commit), led by the first of them; each caller is woken once. This is
    the one face tools, jobs and the webhook receiver use."""

    def __init__(self, store: Store) -> None:
        self.sync = store
        self.path = store.path
        self._queue: list[StoreCall] = []
        self._busy = False  # a batch runs, or its leader is about to start it

    async def _submit(self, call: StoreCall) -> Any:
        """Queue `call`. With no batch running, run the queue as one batch (this call leads it); else wait to be
        woken: done by the running batch's leader, or made the leader of the next batch (the first one queued).
        A call cancelled before its batch started never runs."""
        self._queue.append(call)
        if self._busy:
            call.wake = anyio.Event()
            try:
                await call.wake.wait()
            except BaseException:
                if call in self._queue:
                    self._queue.remove(call)
                    if call.lead:  # made the leader, but cancelled before it led: the next one leads
                        self._pass_on()
                raise
            if call.done:
                return call.outcome()
        else:
            self._busy = True
        batch, self._queue = self._queue, []
        try:
            await anyio.to_thread.run_sync(self.sync.run_batch, batch)
        finally:
            for done in batch:
                if done.wake is not None:
                    done.wake.set()
            self._pass_on()
        return call.outcome()

    def _pass_on(self) -> None:
        """Wake the first queued call to lead the next batch, or mark the store idle."""
        if self._queue:
            first = self._queue[0]
            first.lead = True
            assert first.wake is not None  # queued while a batch ran
            first.wake.set()
        else:
            self._busy = False

    async def _run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`fn(*args, **kwargs)` in the store's thread, in a batch (see the class); `fn` may write."""
        return await self._submit(StoreCall(lambda: fn(*args, **kwargs), write=True))

    async def _read(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`_run` for a method that only reads (a batch of reads alone needs no transaction)."""
        return await self._submit(StoreCall(lambda: fn(*args, **kwargs), write=False))

    def close(self) -> None:
        self.sync.close()

    @property
    def display_url(self) -> str:
        """The store's file, for `--check` and logs (`StoreAPI.display_url`)."""
        return str(self.path)

    async def received_deliveries(self, min_age: float) -> list[tuple[int, bytes]]:
        """(id, body) of deliveries left `received` for at least `min_age` SECONDS, oldest first: read on a
        separate read-only connection (`recovery.received_deliveries`; WAL: it never waits for the writers)."""
        from mavi_mcp.recovery import received_deliveries

        return await anyio.to_thread.run_sync(lambda: received_deliveries(self.path, min_age=min_age))

    async def in_transaction(self, fn: Callable[[sqlite3.Connection], R], *, exclusive: bool | str = True) -> R:
        """`Store.in_transaction`; every SQLite write transaction is exclusive (IMMEDIATE), so `exclusive` changes
        nothing here (see `StoreAPI.in_transaction`)."""
        del exclusive
        return await self._run(self.sync.in_transaction, fn)

    # transcripts
    async def save_transcript(self, transcript: Transcript, *, raw: bytes | None = None) -> None:
        await self._run(self.sync.save_transcript, transcript, raw=raw)

    async def save_raw_result(self, endpoint: str, raw: bytes, *, task_id: str | None = None) -> None:
        await self._run(self.sync.save_raw_result, endpoint, raw, task_id=task_id)

    async def get_transcript(self, transcript_id: str) -> Transcript | None:
        return await self._read(self.sync.get_transcript, transcript_id)

    async def list_transcripts(self, limit: int = 20) -> list[TranscriptSummary]:
        return await self._read(self.sync.list_transcripts, limit)

    async def speaker_names(self, transcript_id: str) -> dict[str, str]:
        return await self._read(self.sync.speaker_names, transcript_id)

    async def set_speaker_names(self, transcript_id: str, mapping: Mapping[str, str]) -> dict[str, str]:
        return await self._run(self.sync.set_speaker_names, transcript_id, mapping)

    async def rename_speakers(
        self, transcript_id: str, mapping: Mapping[str, str], check: Callable[[dict[str, str]], None]
    ) -> dict[str, str]:
        return await self._run(self.sync.rename_speakers, transcript_id, mapping, check)

    async def search(
        self, request: SearchRequest, *, max_tokens: int = DEFAULT_TOKENS, cursor: str | None = None
    ) -> SearchPage:
        return await self._run(self.sync.search, request, max_tokens=max_tokens, cursor=cursor)

    # tasks
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
        return await self._run(
            self.sync.create_task,
            task_id,
            mode=mode,
            endpoint=endpoint,
            tool=tool,
            asset_id=asset_id,
            params=params,
            origin=origin,
        )

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
        await self._run(
            self.sync.finish_task,
            task_id,
            status,
            transcript_id=transcript_id,
            error=error,
            result=result,
            asset_id=asset_id,
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
        return await self._run(
            self.sync.finish_job,
            task_id,
            transcript=transcript,
            raw=raw,
            result=result,
            error=error,
            asset_id=asset_id,
        )

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
        return await self._run(
            self.sync.finish_spooled, task_id, endpoint, transcript=transcript, raw=raw, result=result, error=error
        )

    async def set_task_asset(self, task_id: str, asset_id: str) -> None:
        await self._run(self.sync.set_task_asset, task_id, asset_id)

    async def fail_stale_jobs(self, reason: str) -> int:
        return await self._run(self.sync.fail_stale_jobs, reason)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return await self._read(self.sync.get_task, task_id)

    async def list_tasks(self, status: TaskStatus | None = None, limit: int = 20) -> list[TaskRecord]:
        return await self._read(self.sync.list_tasks, status, limit)

    # webhook deliveries and receivers
    async def record_delivery(self, body: bytes, *, task_id: str | None, status: str, note: str | None = None) -> int:
        return await self._run(self.sync.record_delivery, body, task_id=task_id, status=status, note=note)

    async def mark_delivery(self, delivery_id: int, status: str, note: str | None = None) -> None:
        await self._run(self.sync.mark_delivery, delivery_id, status, note)

    async def deliveries(self, task_id: str | None = None, limit: int = 100) -> list[Delivery]:
        return await self._read(self.sync.deliveries, task_id, limit)

    async def delivery_stats(self) -> DeliveryStats:
        return await self._read(self.sync.delivery_stats)

    async def complete_from_callback(
        self, task_id: str, endpoint: str, transcript: Transcript | None, error: str | None
    ) -> bool:
        return await self._run(self.sync.complete_from_callback, task_id, endpoint, transcript, error)

    async def heartbeat(self, receiver_id: str, url: str) -> None:
        await self._run(self.sync.heartbeat, receiver_id, url)

    async def forget_receiver(self, receiver_id: str) -> None:
        await self._run(self.sync.forget_receiver, receiver_id)

    async def live_receivers(self, within_seconds: float = 30.0) -> list[ReceiverRecord]:
        return await self._read(self.sync.live_receivers, within_seconds)
