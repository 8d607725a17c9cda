"""What was paid, per task, and which files were uploaded as which asset: plain functions over the store's
connection (`SqlTx`), so the store calls them inside its own transactions.

Both backends run them: SQLite hands its `sqlite3.Connection`, PostgreSQL a `store_pg.PgTx` (the same calls on
one transaction of the database). The SQL is therefore written in what both dialects share, with `?`
placeholders; the PostgreSQL tables (store_pg's migrations) have the same columns and the same ISO 8601 text
times.

Tables (created by `create_ledger`, or by adding `LEDGER_SCHEMA` to the store's schema):

| table | holds |
| --- | --- |
| `ledger` | a row per paid request sent or about to be: tool, `request_key`, status, estimate, billed s, cost $ |
| `media_files` | a row per uploaded file: SHA-256, size, the asset id MAVI gave it, its duration read locally |

A row goes `pending` (claimed, before the request is sent) -> `billed` (`settle_charge`) or `failed`
(`fail_charge`: MAVI refused or the job failed; not counted as spent). Spend counts a pending row at its
estimate, so calls started together cannot overrun the daily budget. Times are ISO 8601 UTC with microseconds.

Concurrency: `claim` reads then writes; run it inside one store transaction (`in_transaction`: SQLite's
`BEGIN IMMEDIATE`, PostgreSQL's transaction under the ledger's advisory lock), so two identical calls made at the
same time, from one process, several, or several replicas, get one new row and one reuse.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from mavi_mcp.cost import Billed, format_usd
from mavi_mcp.duration import MediaDuration

LedgerStatus = Literal["pending", "billed", "failed"]


class SqlCursor(Protocol):
    """What the ledger reads from a statement: rows as tuples, and how many rows an UPDATE changed."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class SqlTx(Protocol):
    """One open store transaction: `sqlite3.Connection` (SQLite) or `store_pg.PgTx` (PostgreSQL).

    `sql` uses `?` placeholders and only what SQLite and PostgreSQL both understand.
    """

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> SqlCursor: ...


LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    task_id TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    request_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'billed', 'failed')),
    estimated_usd REAL,
    billed_seconds REAL,
    billed_from TEXT,
    cost_usd REAL,
    transcript_id TEXT,
    created_at TEXT NOT NULL,
    settled_at TEXT
);
CREATE INDEX IF NOT EXISTS ledger_request ON ledger(request_key, created_at);
CREATE INDEX IF NOT EXISTS ledger_pending ON ledger(task_id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS ledger_spend ON ledger(created_at, status, billed_from, cost_usd, estimated_usd);
DROP INDEX IF EXISTS ledger_created; -- replaced by ledger_spend (same leading column), in stores made before it
CREATE TABLE IF NOT EXISTS media_files (
    asset_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    duration_seconds REAL,
    duration_problem TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS media_files_sha256 ON media_files(sha256, created_at);
"""


@dataclass(frozen=True)
class LedgerEntry:
    """One paid request. Money in US dollars, durations in seconds."""

    task_id: str
    tool: str
    request_key: str
    status: LedgerStatus
    estimated_usd: float | None
    billed_seconds: float | None
    billed_from: str | None
    cost_usd: float | None
    transcript_id: str | None
    created_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True)
class Claim:
    """The outcome of `claim`: the entry to use and whether it is new (send the request) or a reuse (don't)."""

    entry: LedgerEntry
    new: bool


@dataclass(frozen=True)
class MediaFile:
    """An uploaded file: its SHA-256, size (bytes), MAVI asset id and duration (s) read before upload."""

    asset_id: str
    sha256: str
    size_bytes: int
    duration_seconds: float | None
    duration_problem: str | None
    created_at: datetime


def create_ledger(db: sqlite3.Connection) -> None:
    """Create the tables and indexes if missing (idempotent). `executescript` commits first: call it at open."""
    db.executescript(LEDGER_SCHEMA)


def _now(now: datetime | None) -> str:
    return _stamp(now or datetime.now(UTC))


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_COLUMNS = (
    "task_id, tool, request_key, status, estimated_usd, billed_seconds, billed_from, cost_usd, transcript_id,"
    " created_at, settled_at"
)


def _entry(row: tuple[object, ...]) -> LedgerEntry:
    task_id, tool, key, status, estimated, seconds, source, cost, transcript_id, created, settled = row
    return LedgerEntry(
        task_id=str(task_id),
        tool=str(tool),
        request_key=str(key),
        status=status,  # pyright: ignore[reportArgumentType]
        estimated_usd=estimated,  # pyright: ignore[reportArgumentType]
        billed_seconds=seconds,  # pyright: ignore[reportArgumentType]
        billed_from=source,  # pyright: ignore[reportArgumentType]
        cost_usd=cost,  # pyright: ignore[reportArgumentType]
        transcript_id=transcript_id,  # pyright: ignore[reportArgumentType]
        created_at=datetime.fromisoformat(str(created)),
        settled_at=datetime.fromisoformat(str(settled)) if settled is not None else None,
    )


def find_reusable(db: SqlTx, request_key: str) -> LedgerEntry | None:
    """The newest pending or billed entry with this `request_key` (its result is, or will be, in the store),
    or None. Failed entries are never reused."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM ledger WHERE request_key = ? AND status != 'failed'"  # noqa: S608 - constant columns
        " ORDER BY created_at DESC LIMIT 1",
        (request_key,),
    ).fetchone()
    return _entry(row) if row is not None else None


def claim(
    db: SqlTx,
    *,
    task_id: str,
    tool: str,
    request_key: str,
    estimated_usd: float | None,
    now: datetime | None = None,
) -> Claim:
    """Reuse the entry of an identical request, or record this one as `pending` before it is sent.

    Call inside one `BEGIN IMMEDIATE` transaction, so a concurrent identical call sees this row. To pay again on
    purpose (`refresh=true`), call `open_charge` instead.
    """
    existing = find_reusable(db, request_key)
    if existing is not None:
        return Claim(existing, new=False)
    return Claim(
        open_charge(db, task_id=task_id, tool=tool, request_key=request_key, estimated_usd=estimated_usd, now=now),
        new=True,
    )


def open_charge(
    db: SqlTx,
    *,
    task_id: str,
    tool: str,
    request_key: str,
    estimated_usd: float | None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Record a request about to be sent, `pending`, at its estimate (counted in `spend_since` until settled).

    Raises:
        sqlite3.IntegrityError or psycopg.errors.UniqueViolation: `task_id` is already in the ledger.
    """
    created = _now(now)
    db.execute(
        "INSERT INTO ledger (task_id, tool, request_key, status, estimated_usd, created_at)"
        " VALUES (?, ?, ?, 'pending', ?, ?)",
        (task_id, tool, request_key, estimated_usd, created),
    )
    return LedgerEntry(
        task_id,
        tool,
        request_key,
        "pending",
        estimated_usd,
        None,
        None,
        None,
        None,
        datetime.fromisoformat(created),
        None,
    )


def settle_charge(
    db: SqlTx,
    task_id: str,
    *,
    billed: Billed | None,
    cost_usd: float | None,
    transcript_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record what a finished request was billed: `billed` seconds (and where that number came from) and
    `cost_usd` (`billed.cost(tool).usd`). None when unknown: spend then counts the estimate."""
    db.execute(
        "UPDATE ledger SET status = 'billed', billed_seconds = ?, billed_from = ?, cost_usd = ?,"
        " transcript_id = COALESCE(?, transcript_id), settled_at = ? WHERE task_id = ?",
        (
            billed.seconds if billed else None,
            billed.source if billed else None,
            cost_usd,
            transcript_id,
            _now(now),
            task_id,
        ),
    )


MAYBE_BILLED = "maybe"
"""`billed_from` of a failed request that may still have been processed and billed (a timeout or a 5xx after
sending, a server stopped mid-call): never reused, but counted in spend at its estimate."""


def fail_charge(db: SqlTx, task_id: str, *, maybe_billed: bool = False, now: datetime | None = None) -> None:
    """Mark a request as failed (MAVI refused it, or the job failed): never reused, not counted as spent; with
    `maybe_billed` (it may have been processed), counted at its estimate."""
    db.execute(
        "UPDATE ledger SET status = 'failed', cost_usd = NULL, billed_from = ?, settled_at = ? WHERE task_id = ?",
        (MAYBE_BILLED if maybe_billed else None, _now(now), task_id),
    )


SPEND_QUERY = (
    "SELECT COALESCE(SUM(COALESCE(cost_usd, estimated_usd, 0)), 0) FROM ledger"
    " WHERE (status != 'failed' OR billed_from = ?) AND created_at >= ?"
)
"""`spend_since`'s sum (parameters: `MAYBE_BILLED`, the start as ISO 8601 UTC text)."""


def spend_since(db: SqlTx, since: datetime) -> float:
    """US dollars spent on requests made at or after `since` (timezone-aware): billed costs, pending requests at
    their estimate, failed ones not at all unless they may have been billed (`MAYBE_BILLED`: at their estimate).
    With `confirm.start_of_day()` / `start_of_month()`.

    Read from the `ledger_spend` index alone (it holds every column the sum needs), not row by row from the table:
    every paid call sums the month so far (3.1 ms -> 1.5 ms with 20,000 rows in the month,
    `benchmarks/ledger_bench.py`).
    """
    row = db.execute(SPEND_QUERY, (MAYBE_BILLED, _stamp(since))).fetchone()
    return round(float(row[0]), 6)


def entry(db: SqlTx, task_id: str) -> LedgerEntry | None:
    """One task's ledger entry (for `get_task` / `list_tasks`: cost per task), or None for a free or unknown task."""
    row = db.execute(f"SELECT {_COLUMNS} FROM ledger WHERE task_id = ?", (task_id,)).fetchone()  # noqa: S608
    return _entry(row) if row is not None else None


def reuse_note(reused: LedgerEntry) -> str:
    """What a free, reused answer says: 'Reused the result of task t1 (2026-11-30 12:00 UTC): nothing billed now;
    pass refresh=true to transcribe again and pay again.'"""
    when = reused.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Reused the result of task {reused.task_id} ({when}): nothing billed now; pass refresh=true to transcribe "
        "again and pay again."
    )


def entries(db: SqlTx, task_ids: list[str]) -> dict[str, LedgerEntry]:
    """The ledger entries of several tasks at once (for `list_tasks`: cost per task), by task id; free or unknown
    tasks are absent."""
    if not task_ids:
        return {}
    marks = ", ".join("?" * len(task_ids))
    rows = db.execute(f"SELECT {_COLUMNS} FROM ledger WHERE task_id IN ({marks})", task_ids).fetchall()  # noqa: S608
    return {found.task_id: found for found in map(_entry, rows)}


@dataclass(frozen=True)
class Spend:
    """US dollars spent today and this month (UTC), pending requests at their estimate."""

    today_usd: float
    month_usd: float

    @property
    def text(self) -> str:
        """'Spent today $1.25, this month $8.16 (MAVI prices; pending calls at their estimate).'"""
        return (
            f"Spent today {format_usd(self.today_usd)}, this month {format_usd(self.month_usd)} "
            "(MAVI prices; pending calls at their estimate)."
        )


def spend(db: SqlTx, now: datetime | None = None) -> Spend:
    """Today's and this month's spend (UTC days), for a free tool's answer or a resource."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return Spend(spend_since(db, day), spend_since(db, day.replace(day=1)))


# --- uploaded files ------------------------------------------------------------------------------------------------


def remember_media(
    db: SqlTx,
    *,
    asset_id: str,
    sha256: str,
    size_bytes: int,
    duration: MediaDuration,
    now: datetime | None = None,
) -> None:
    """Keep an uploaded file's fingerprint and duration with the asset id MAVI gave it (replaces a previous row
    for the same asset)."""
    db.execute(
        "INSERT INTO media_files (asset_id, sha256, size_bytes, duration_seconds, duration_problem, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (asset_id) DO UPDATE SET sha256 = excluded.sha256,"
        " size_bytes = excluded.size_bytes, duration_seconds = excluded.duration_seconds,"
        " duration_problem = excluded.duration_problem, created_at = excluded.created_at",
        (asset_id, sha256, size_bytes, duration.seconds, duration.problem, _now(now)),
    )


def find_media(db: SqlTx, sha256: str) -> list[MediaFile]:
    """Assets already made from a file with this SHA-256, newest first. Check that MAVI still has one (the free
    metadata call) before reusing it; `forget_media` the ones it no longer has."""
    rows = db.execute(
        "SELECT asset_id, sha256, size_bytes, duration_seconds, duration_problem, created_at FROM media_files"
        " WHERE sha256 = ? ORDER BY created_at DESC",
        (sha256,),
    ).fetchall()
    return [
        MediaFile(str(a), str(s), int(n), d, p, datetime.fromisoformat(str(c)))  # pyright: ignore[reportArgumentType]
        for a, s, n, d, p, c in rows
    ]


def media_duration(db: SqlTx, asset_id: str) -> float | None:
    """The duration (s) read before `asset_id` was uploaded, or None (unknown asset, or unreadable file)."""
    row = db.execute("SELECT duration_seconds FROM media_files WHERE asset_id = ?", (asset_id,)).fetchone()
    return float(row[0]) if row is not None and row[0] is not None else None


def forget_media(db: SqlTx, asset_id: str) -> None:
    """Drop an asset MAVI no longer has (deleted, expired), so it is not offered for reuse again."""
    db.execute("DELETE FROM media_files WHERE asset_id = ?", (asset_id,))


def rename_charge(db: SqlTx, old_task_id: str, new_task_id: str) -> None:
    """Move a claimed row to the task id MAVI gave the request (an async start is claimed under a provisional id
    before MAVI names the task)."""
    db.execute("UPDATE ledger SET task_id = ? WHERE task_id = ?", (new_task_id, old_task_id))
