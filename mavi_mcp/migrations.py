"""Versioned schema migrations, one numbered list per backend, applied in order and recorded in the database.

A backend declares its schema as a tuple of `Migration(version, description, statements)` numbered 1, 2, 3, ...
with no gap. Opening a store applies the steps the database has not seen yet, each in the same transaction as
the row that records it in `schema_version`, so a step is either fully applied and recorded or not at all:

| table | holds |
| --- | --- |
| `schema_version` | one row per applied step: `version`, `description`, `applied_at` (UTC, ISO 8601 text) |

Several processes may open one database at once (replicas on PostgreSQL, stdio servers on one SQLite file):
the runner holds the database's write lock for the whole check-and-apply (`BEGIN IMMEDIATE` on SQLite, a
transaction-scoped advisory lock on PostgreSQL), so each step runs exactly once. A database whose version is
newer than the code knows (an older mavi-mcp opened after an upgrade) is refused with `ConfigurationError`
instead of being written to with the wrong schema.

Steps are append-only: a released step is never edited; a change is a new step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from mavi_mcp.errors import ConfigurationError
from mavi_mcp.transcript import utcnow

if TYPE_CHECKING:
    from psycopg import AsyncConnection

VERSION_TABLE: Final = "schema_version"

_CREATE_VERSION_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
)

PG_MIGRATION_LOCK = 0x6D6176696D6967
"""Advisory lock key held (per transaction) while PostgreSQL migrations run: 'mavimig' as a 64-bit int."""


def enable_wal(db: sqlite3.Connection, *, timeout: float) -> None:
    """Put the SQLite file `db` is open on in WAL mode (kept in the file: later connections find it set).

    Several connections opening a new file at once race for the switch: SQLite refuses it with "database is locked"
    at once, without waiting its busy timeout (the switch needs the file to itself), or leaves the old mode. The
    switch is retried every 2-10 ms for up to `timeout` SECONDS (tenacity).

    Raises:
        sqlite3.OperationalError: still locked after `timeout`, or any other fault of the file.
    """
    for attempt in Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)),
        stop=stop_after_delay(timeout),
        wait=wait_random(0.002, 0.01),
        reraise=True,
    ):
        with attempt:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"database is locked (journal mode still {mode}, not wal)")


@dataclass(frozen=True)
class Migration:
    """One schema step: its number (1, 2, ...), what it does in words, and the SQL statements it runs."""

    version: int
    description: str
    statements: tuple[str, ...]


def statements(script: str) -> tuple[str, ...]:
    """Split a `;`-separated SQL script into statements (no `;` inside string literals or bodies, please)."""
    return tuple(s.strip() for s in script.split(";") if s.strip())


def check_sequence(migrations: Sequence[Migration]) -> int:
    """The latest version of `migrations`; raises ValueError unless they are numbered 1..n in order."""
    for index, migration in enumerate(migrations, start=1):
        if migration.version != index:
            raise ValueError(f"migration {index} is numbered {migration.version}: steps must be 1, 2, 3, ...")
    return len(migrations)


def _to_apply(current: int, migrations: Sequence[Migration], where: str) -> Sequence[Migration]:
    latest = check_sequence(migrations)
    if current > latest:
        raise ConfigurationError(
            f"The {where} has schema version {current}, newer than this mavi-mcp knows ({latest}): it was written "
            "by a newer mavi-mcp. Upgrade mavi-mcp (every replica on one database must run the same version)."
        )
    return migrations[current:]


def migrate_sqlite(db: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Apply the steps `db` has not seen, in one `BEGIN IMMEDIATE` transaction; returns the version now.

    `db` must be in autocommit mode (`isolation_level=None`), as the SQLite store opens it.

    Raises:
        ConfigurationError: the database is newer than `migrations`.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_CREATE_VERSION_TABLE)
        row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        current = int(row[0]) if row else 0
        steps = _to_apply(current, migrations, "SQLite store")
        for step in steps:
            for statement in step.statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (step.version, step.description, utcnow().isoformat()),
            )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return steps[-1].version if steps else current


async def migrate_postgres(conn: AsyncConnection[Any], migrations: Sequence[Migration]) -> int:
    """Apply the steps the database has not seen, in one transaction under an advisory lock; returns the version.

    Replicas starting together wait for each other on the lock; the first applies the steps, the others find
    them recorded. `conn` must not be inside a transaction.

    Raises:
        ConfigurationError: the database is newer than `migrations`.
    """
    from psycopg.rows import tuple_row

    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
        await conn.execute(_CREATE_VERSION_TABLE)
        cursor = conn.cursor(row_factory=tuple_row)  # whatever row factory `conn` has
        await cursor.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        steps = _to_apply(current, migrations, "PostgreSQL database")
        for step in steps:
            for statement in step.statements:
                await conn.execute(statement.encode())
            await conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (%s, %s, %s)",
                (step.version, step.description, utcnow().isoformat()),
            )
    return steps[-1].version if steps else current
