"""Start-up faults of the data dir and the store, told in one clear message instead of a traceback.

`preflight(settings)` runs before anything is served (`mavi-mcp`, `mavi-mcp webhook`, `--check`): it creates the
data dir, reads the store's schema version without writing, then opens and closes the store the way the server
will. Every way that can fail becomes a `StartupError` naming the file and what to do:

| fault | seen as |
| --- | --- |
| permission denied, read-only disk | `PermissionError`, `OSError(EROFS)`, SQLite "unable to open", "readonly" |
| a file where a folder should be | `NotADirectoryError`, `FileExistsError` |
| a store file that is not a database | SQLite "file is not a database", "database disk image is malformed" |
| disk full | `OSError(ENOSPC)`, SQLite "database or disk is full" |
| a schema newer than this code | `PRAGMA user_version` > `SCHEMA_VERSION` (read before the store writes it) |
| a store locked by another process past the busy timeout | SQLite "database is locked" |

The command line prints `mavi-mcp: <message>` on stderr and exits with status 2 (`exit_on_startup_error`).
`explain` turns an exception raised later while opening (e.g. inside the runtime's task group) into the same
message; `find_startup_error` digs it out of an exception group.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from collections.abc import Callable, Generator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from mavi_mcp.settings import Settings
from mavi_mcp.store import DB_NAME, SCHEMA_VERSION, Store

ELSEWHERE = "or point MAVI_MCP_DATA_DIR (--data-dir) at another folder"


class StartupError(Exception):
    """The data dir or the store cannot be used; the message names the file and what to do."""


def preflight(settings: Settings, *, open_store: Callable[[Path], Store] = Store.in_dir) -> Path:
    """Check that the store of `settings` can be opened and written; returns its path.

    Raises:
        StartupError: with the file and the remedy, for each fault in the module docstring.
    """
    data_dir = settings.store_dir
    path = data_dir / DB_NAME
    with explained(path):
        from mavi_mcp.secrecy import make_private

        make_private(data_dir, [DB_NAME])  # the dir 0700 and the store 0600 from the start
        check_schema(path)
        open_store(data_dir).close()
    return path


def check_schema(path: Path) -> None:
    """Refuse a store written by a newer mavi-mcp (its `user_version` above `SCHEMA_VERSION`), reading only.

    A missing file is fine (the store creates it). Raises StartupError, or sqlite3.Error for an unreadable file.
    """
    if not path.exists():
        return
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()
    if version > SCHEMA_VERSION:
        raise StartupError(
            f"the store {path} was written by a newer mavi-mcp (store schema {version}; this version reads up to "
            f"{SCHEMA_VERSION}). Upgrade mavi-mcp (e.g. `pip install -U mavi-mcp` or `uvx mavi-mcp@latest`), "
            f"{ELSEWHERE}. The file was left untouched."
        )


@contextmanager
def explained(path: Path) -> Generator[None]:
    """Turn the faults of opening the store at `path` into a `StartupError` (others pass through)."""
    try:
        yield
    except StartupError:
        raise
    except (OSError, sqlite3.Error) as exc:
        error = explain(exc, path)
        if error is None:
            raise
        raise error from None


def explain(exc: BaseException, path: Path) -> StartupError | None:
    """The `StartupError` for an exception raised while opening the store at `path`, or None if not a known fault."""
    data_dir = path.parent
    text = str(exc).lower()
    if isinstance(exc, StartupError):
        return exc
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "disk is full" in text:
        return StartupError(
            f"the disk holding the data dir {data_dir} is full, so the store {path} cannot be written. Free some "
            f"space there and start again, {ELSEWHERE} on another disk."
        )
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return StartupError(
            f"the data dir {data_dir} cannot be created: a file is in the way ({exc.strerror}: {exc.filename}). "
            f"Move that file aside, {ELSEWHERE}."
        )
    if isinstance(exc, PermissionError) or (isinstance(exc, OSError) and exc.errno == errno.EROFS):
        return StartupError(
            f"the data dir {data_dir} is not writable ({exc.strerror}), so the store {path} cannot be opened. Give "
            f"the user running mavi-mcp write access to it, {ELSEWHERE}."
        )
    if not isinstance(exc, sqlite3.Error):
        return None
    if "not a database" in text or "malformed" in text:
        return StartupError(
            f"the store {path} is not a readable SQLite database (SQLite says: {exc}). Move the file aside (keep it "
            f"if it holds transcripts you need) and start again to create a new store, {ELSEWHERE}."
        )
    if "readonly" in text or "read-only" in text or "unable to open" in text or "access permission" in text:
        return StartupError(
            f"the store {path} cannot be written (SQLite says: {exc}). Check that the data dir {data_dir} and the "
            f"files in it are writable by the user running mavi-mcp and not on a read-only disk, {ELSEWHERE}."
        )
    if "locked" in text or "busy" in text:
        return StartupError(
            f"the store {path} is locked by another process for longer than 30 s (SQLite says: {exc}). Stop the "
            f"process holding it (another mavi-mcp or a database tool) and start again, {ELSEWHERE}."
        )
    return None


def find_startup_error(exc: BaseException, path: Path) -> StartupError | None:
    """The first known start-up fault in `exc` or, for an exception group, in any exception it holds."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        for inner in group.exceptions:
            found = find_startup_error(inner, path)
            if found is not None:
                return found
        return None
    if isinstance(exc, OSError | sqlite3.Error | StartupError):
        return explain(exc, path)
    return None


@contextmanager
def exit_on_startup_error(settings: Settings) -> Generator[None]:
    """Around the command line: a start-up fault (alone or in an exception group) prints `mavi-mcp: <message>` on
    stderr and exits with status 2; anything else propagates unchanged."""
    path = settings.store_dir / DB_NAME
    try:
        yield
    except (OSError, sqlite3.Error, StartupError, BaseExceptionGroup) as exc:
        found = find_startup_error(exc, path)
        if found is None:
            raise
        print(f"mavi-mcp: {found}", file=sys.stderr)
        raise SystemExit(2) from None


__all__ = [
    "StartupError",
    "check_schema",
    "exit_on_startup_error",
    "explain",
    "explained",
    "find_startup_error",
    "preflight",
]
