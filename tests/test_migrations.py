"""The migration runner on SQLite (PostgreSQL's is exercised by tests/test_store_pg.py): steps applied once, in
order, each with its `schema_version` row; a failing step leaves nothing behind; a newer database is refused."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mavi_mcp.errors import ConfigurationError
from mavi_mcp.migrations import Migration, check_sequence, enable_wal, migrate_sqlite, statements
from mavi_mcp.pacing import PACING_FILE, SqlitePacing
from mavi_mcp.store import Store

STEPS = (
    Migration(1, "notes", statements("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")),
    Migration(
        2,
        "notes get an author, indexed",
        statements("ALTER TABLE notes ADD COLUMN author TEXT; CREATE INDEX notes_author ON notes(author)"),
    ),
)


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def versions(db: sqlite3.Connection) -> list[tuple[int, str]]:
    return db.execute("SELECT version, description FROM schema_version ORDER BY version").fetchall()


def test_a_new_database_gets_every_step_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.sqlite3")
    assert migrate_sqlite(db, STEPS) == 2
    db.execute("INSERT INTO notes (text, author) VALUES ('kept', 'ana')")
    assert migrate_sqlite(db, STEPS) == 2
    assert versions(db) == [(1, "notes"), (2, "notes get an author, indexed")]
    assert db.execute("SELECT text, author FROM notes").fetchall() == [("kept", "ana")]


def test_an_older_database_gets_only_the_steps_it_lacks(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.sqlite3")
    assert migrate_sqlite(db, STEPS[:1]) == 1
    db.execute("INSERT INTO notes (text) VALUES ('from version 1')")
    assert migrate_sqlite(db, STEPS) == 2
    assert db.execute("SELECT text, author FROM notes").fetchall() == [("from version 1", None)]
    assert [v for v, _ in versions(db)] == [1, 2]


def test_a_failing_step_is_rolled_back_with_everything_before_it_in_that_run(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.sqlite3")
    broken = (*STEPS, Migration(3, "broken", statements("CREATE TABLE t3 (x); ALTER TABLE missing ADD COLUMN y")))
    migrate_sqlite(db, STEPS[:1])
    with pytest.raises(sqlite3.OperationalError, match="no such table: missing"):
        migrate_sqlite(db, broken)
    assert [v for v, _ in versions(db)] == [1]
    assert db.execute("SELECT name FROM sqlite_master WHERE name IN ('t3', 'notes_author')").fetchall() == []


def test_a_database_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.sqlite3")
    migrate_sqlite(db, STEPS)
    with pytest.raises(ConfigurationError, match=r"schema version 2, newer than this mavi-mcp knows \(1\)"):
        migrate_sqlite(db, STEPS[:1])
    assert [v for v, _ in versions(db)] == [1, 2]


def test_steps_must_be_numbered_from_one_without_gaps() -> None:
    assert check_sequence(STEPS) == 2
    with pytest.raises(ValueError, match="migration 2 is numbered 3"):
        check_sequence((STEPS[0], Migration(3, "gap", ())))


def test_a_script_splits_into_its_statements() -> None:
    assert statements("CREATE TABLE a (x);\n\n  CREATE INDEX i ON a(x) ;  ") == (
        "CREATE TABLE a (x)",
        "CREATE INDEX i ON a(x)",
    )


def test_a_store_file_made_before_migrations_adopts_them_and_keeps_its_rows(tmp_path: Path) -> None:
    # How the SQLite store moves onto the runner: its CREATE ... IF NOT EXISTS script becomes step 1, which an
    # existing file (PRAGMA user_version = 1, no schema_version table) runs harmlessly and records.
    from mavi_mcp import store as sqlite_store

    path = tmp_path / "mavi-mcp.sqlite3"
    old = sqlite_store.Store(path)
    old.record_delivery(b"{}", task_id="t1", status="received")
    old.close()
    steps = (
        Migration(1, "schema of the first release", statements(sqlite_store._SCHEMA)),  # pyright: ignore[reportPrivateUsage]
        Migration(2, "deliveries get a replica column", ("ALTER TABLE deliveries ADD COLUMN replica TEXT",)),
    )
    db = connect(path)
    assert migrate_sqlite(db, steps) == 2
    assert db.execute("SELECT task_id, status, replica FROM deliveries").fetchall() == [("t1", "received", None)]
    assert [v for v, _ in versions(db)] == [1, 2]


def opened_together(tmp_path: Path, files: int, per_file: int, open_one: Callable[[Path], None]) -> list[BaseException]:
    """`open_one(path)` from `per_file` threads started together on each of `files` new files; what they raised."""
    failures: list[BaseException] = []
    for n in range(files):
        path = tmp_path / f"{n}" / "db.sqlite3"
        path.parent.mkdir(parents=True)
        barrier = threading.Barrier(per_file)

        def run(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait()
                open_one(path)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run) for _ in range(per_file)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return failures


def test_connections_opening_a_new_file_together_all_switch_it_to_wal(tmp_path: Path) -> None:
    """SQLite refuses the switch to WAL at once ("database is locked", without its busy wait) to a connection that
    races another for a new file: about 1 in 40 did before `enable_wal` retried it (60 files x 4 connections here)."""

    def open_one(path: Path) -> None:
        db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        try:
            enable_wal(db, timeout=5)
            db.execute("CREATE TABLE IF NOT EXISTS t (x)")
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()

    assert opened_together(tmp_path, 60, 4, open_one) == []


def test_stores_and_pacing_files_opened_together_by_several_processes_all_open(tmp_path: Path) -> None:
    """What replicas on one data dir do at start: each opens the store and books a pacing slot."""

    def open_store(path: Path) -> None:
        Store(path).close()

    def book_a_slot(path: Path) -> None:
        pacing = SqlitePacing(path.with_name(PACING_FILE))
        try:
            pacing._reserve("digest", 1.0)  # pyright: ignore[reportPrivateUsage]  # the sync step, in this thread
        finally:
            pacing._drop()  # pyright: ignore[reportPrivateUsage]

    assert opened_together(tmp_path / "stores", 10, 3, open_store) == []
    assert opened_together(tmp_path / "pacing", 40, 4, book_a_slot) == []
