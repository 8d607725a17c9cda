"""The spool: raw answers of paid calls kept as files when the store cannot take them, moved in when it can.

A paid answer must never be lost to a store fault (disk full for the database, a write lock held by another
process past the busy timeout). The job that got it writes it here instead -- `<data dir>/spool/`, one file per
answer -- and fails its task with a reason that says the answer is kept; recovery (at start and periodically)
moves each file into the store with the caller's `save` and removes it once saved.

File format: one JSON header line `{"endpoint": ..., "task_id": ..., "received_at": ..., "meta": {...}}` then the raw
body bytes
exactly as received. Each file is written to a temporary name, flushed to disk (fsync), then renamed into place,
so a file with a final name is always complete; a temporary file left by a crash is removed by `pending`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import anyio.to_thread

logger = logging.getLogger(__name__)

SPOOL = "spool"
"""The folder of the data dir that holds spooled answers."""
SUFFIX = ".answer"
_PARTIAL = ".partial-"


@dataclass(frozen=True)
class Spooled:
    """One spooled answer: where it is, which endpoint and task it belongs to, when it came, its raw body, and
    what the caller kept with it to finish the task later (`meta`, JSON values)."""

    path: Path
    endpoint: str
    task_id: str | None
    received_at: datetime
    body: bytes
    meta: dict[str, Any] = field(default_factory=dict[str, Any])


def spool(
    directory: Path, *, endpoint: str, task_id: str | None, body: bytes, meta: Mapping[str, Any] | None = None
) -> Path:
    """Keep `body` (bytes as MAVI sent them) in `directory`, durably, with `meta` (JSON values: what is needed to
    finish its task later); returns the file.

    Raises:
        OSError: the file cannot be written either (e.g. the disk is full); nothing is left behind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    received_at = datetime.now(UTC)
    name = f"{received_at.strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}{SUFFIX}"
    header = json.dumps(
        {"endpoint": endpoint, "task_id": task_id, "received_at": received_at.isoformat(), "meta": dict(meta or {})}
    )
    partial = directory / f"{_PARTIAL}{name}"
    try:
        with partial.open("wb") as out:
            out.write(header.encode() + b"\n")
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        final = directory / name
        partial.replace(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _sync_dir(directory)
    return final


def pending(directory: Path) -> list[Spooled]:
    """The spooled answers in `directory`, oldest first. Leftover partial files (a crash mid-write) are removed;
    a file that cannot be read is logged and skipped (left in place for a person to look at)."""
    if not directory.is_dir():
        return []
    found: list[Spooled] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(_PARTIAL):
            path.unlink(missing_ok=True)
            continue
        if path.suffix != SUFFIX:
            continue
        try:
            found.append(_read(path))
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("Cannot read the spooled answer %s (%s); left in place", path, exc)
    return found


def drain(directory: Path, save: Callable[[Spooled], None]) -> int:
    """Move every spooled answer into the store: `save(item)`, then remove its file. Returns how many moved.

    Stops at the first `save` that raises (the store still cannot take it) and keeps that file and the later
    ones for the next attempt; the exception propagates.
    """
    moved = 0
    for item in pending(directory):
        save(item)
        item.path.unlink(missing_ok=True)
        moved += 1
    if moved:
        _sync_dir(directory)
    return moved


async def drain_async(
    directory: Path, save: Callable[[Spooled], Awaitable[None]], *, skip: Callable[[Spooled], bool] | None = None
) -> int:
    """`drain` for an async `save` (the store's async face): the folder is read and files are removed in a worker
    thread. Same contract: stops at the first `save` that raises, keeping that file and the later ones. Items for
    which `skip(item)` is true are left in place for a later pass."""
    moved = 0
    for item in await anyio.to_thread.run_sync(pending, directory):
        if skip is not None and skip(item):
            continue
        await save(item)
        await anyio.to_thread.run_sync(partial(item.path.unlink, missing_ok=True))
        moved += 1
    if moved:
        await anyio.to_thread.run_sync(_sync_dir, directory)
    return moved


def _read(path: Path) -> Spooled:
    data = path.read_bytes()
    header, sep, body = data.partition(b"\n")
    if not sep:
        raise ValueError("no header line")
    meta = json.loads(header)
    task_id = meta.get("task_id")
    extra: object = meta.get("meta") or {}
    if not isinstance(extra, dict):
        raise ValueError("meta is not an object")
    return Spooled(
        path=path,
        endpoint=str(meta["endpoint"]),
        task_id=str(task_id) if task_id is not None else None,
        received_at=datetime.fromisoformat(str(meta["received_at"])),
        body=body,
        meta=dict(cast(dict[str, Any], extra)),
    )


def _sync_dir(directory: Path) -> None:
    """Make a rename or removal in `directory` durable (POSIX: fsync the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["SPOOL", "Spooled", "drain", "drain_async", "pending", "spool"]
