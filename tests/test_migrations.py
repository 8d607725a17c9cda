"""The migration runner on SQLite (PostgreSQL's is exercised by tests/test_store_pg.py): steps applied once, in
order, each with its `schema_version` row; a failing step leaves nothing behind; a newer database is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mavi_mcp.errors import ConfigurationError
from mavi_mcp.migrations import Migration, check_sequence, migrate_sqlite, statements

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
