"""Recovery of webhook deliveries a receiver committed but did not apply (killed between the two).

The receiver commits a delivery's raw body (status `received`) before it answers 200, then applies it to its
task. A receiver killed in between leaves the row `received` and its task `pending`; MAVI never resends. Every
receiver (`mavi-mcp webhook`, and the runtime of every server) applies such rows at start and then every
`RECOVER_EVERY` seconds, through the same path as a live delivery (`mavi_mcp.webhook.reapply`, idempotent).
The rows are found by the store (`StoreAPI.received_deliveries`): on SQLite through a read-only connection to the
file (`received_deliveries` below), on PostgreSQL by a query on the database every replica shares.

Rows younger than `MIN_AGE` seconds are left to the receiver that may still be applying them in another process.

Each server's pass also moves the paid answers jobs spooled (`<data dir>/spool/`, `mavi_mcp.spool`: written
ahead of every commit, kept when the store could not take them or the process was killed before its commit; an
answer a live process wrote in the last `IN_FLIGHT` seconds is left to it) into the store: normalized again with
the shape they were read with (`shapes.normalize_body`) and stored with their task completed, in one transaction
(`Store.finish_spooled`).
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import anyio

from mavi_mcp.errors import ResultError, StoreUnavailableError
from mavi_mcp.normalize import Context
from mavi_mcp.processes import process_alive
from mavi_mcp.shapes import SHAPES, normalize_body
from mavi_mcp.spool import Spooled, drain_async
from mavi_mcp.store_api import StoreAPI
from mavi_mcp.transcript import Transcript
from mavi_mcp.webhook import reapply

logger = logging.getLogger(__name__)

MIN_AGE = 5.0
"""SECONDS: a `received` row younger than this may still be being applied by a live receiver."""
IN_FLIGHT = 60.0
"""SECONDS a live process's write-ahead answer is left to it: longer than a commit can wait for the write lock
(the store's busy timeout, 30 s)."""
RECOVER_EVERY = 15.0
"""SECONDS between two recovery passes of a running receiver."""


def received_deliveries(path: Path, *, min_age: float = MIN_AGE) -> list[tuple[int, bytes]]:
    """(id, raw body) of the deliveries left `received` for at least `min_age` SECONDS, oldest first.

    Read on a separate read-only connection (WAL: it never blocks the store's writers).
    Raises sqlite3.Error when the store cannot be read.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=min_age)
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        sql = "SELECT id, received_at, body FROM deliveries WHERE status = 'received' ORDER BY id"
        rows = db.execute(sql).fetchall()
    finally:
        db.close()
    return [(int(row[0]), bytes(row[2])) for row in rows if datetime.fromisoformat(row[1]) <= cutoff]


async def recover_received(store: StoreAPI, *, sandbox: bool = False, min_age: float = MIN_AGE) -> int:
    """Apply every delivery left `received` (see the module docstring); returns how many were applied or settled.

    A store fault is logged and ends the pass (the next pass tries again); it is never raised.
    """
    done = 0
    try:
        rows = await store.received_deliveries(min_age)
        for delivery, body in rows:
            result = await reapply(store, delivery, body, sandbox=sandbox)
            logger.info("Recovered webhook delivery %d for task %s: %s", delivery, result.task_id or "?", result.status)
            done += 1
    except (sqlite3.Error, OSError, StoreUnavailableError) as exc:
        logger.warning("Recovery of received webhook deliveries stopped: %s", exc)
    return done


async def drain_spool(store: StoreAPI, directory: Path) -> int:
    """Move every answer spooled in `directory` into the store and complete its task (see the module docstring);
    returns how many were moved. A store that still cannot take one is logged and ends the pass (that answer and
    the later ones stay for the next pass); nothing is raised."""
    try:
        moved = await drain_async(directory, lambda item: _save_spooled(store, item), skip=_in_flight)
    except Exception as exc:  # any store fault: the next pass tries again
        logger.warning("Spooled answers stay in %s for now: the store still cannot take them (%s)", directory, exc)
        return 0
    if moved:
        logger.info("Moved %d spooled answer(s) from %s into the store", moved, directory)
    return moved


def _in_flight(item: Spooled) -> bool:
    """A spooled answer written ahead by a live process in the last `IN_FLIGHT` seconds: that job is still
    committing it (and removes it once committed)."""
    writer = item.meta.get("pid")
    young = datetime.now(UTC) - item.received_at < timedelta(seconds=IN_FLIGHT)
    return young and isinstance(writer, int) and process_alive(writer)


async def _save_spooled(store: StoreAPI, item: Spooled) -> None:
    meta = item.meta
    shape = meta.get("shape")
    error = meta.get("error")
    result = meta.get("result")
    transcript: Transcript | None = None
    if isinstance(shape, str) and shape in SHAPES:
        try:
            transcript = normalize_body(shape, item.body, _context(meta.get("context")))
        except ResultError as exc:  # it was read once; kept raw with the task failed if it cannot be now
            error = f"{exc} The raw answer was kept."
    record = await store.finish_spooled(
        item.task_id,
        item.endpoint,
        transcript=transcript,
        raw=None if isinstance(result, dict) else item.body,
        result=cast(dict[str, Any], result) if isinstance(result, dict) else None,
        error=str(error) if error is not None and transcript is None else None,
    )
    logger.info("Spooled answer %s: task %s %s", item.path.name, item.task_id, record.status if record else "unknown")


def _context(value: object) -> Context:
    if not isinstance(value, dict):
        return Context()
    given = cast(dict[str, Any], value)
    created = given.get("created_at")
    return Context(
        asset_id=given.get("asset_id"),
        audio_url=given.get("audio_url"),
        task_id=given.get("task_id"),
        sandbox=bool(given.get("sandbox")),
        transcript_id=given.get("transcript_id"),
        created_at=datetime.fromisoformat(created) if isinstance(created, str) else None,
        model=given.get("model"),
    )


async def keep_recovering(
    store: StoreAPI, *, sandbox: bool = False, every: float = RECOVER_EVERY, spool_dir: Path | None = None
) -> None:
    """Run `recover_received` (and `drain_spool` on `spool_dir`, when given) now and then every `every` SECONDS
    until cancelled."""
    while True:
        if spool_dir is not None:
            await drain_spool(store, spool_dir)
        await recover_received(store, sandbox=sandbox)
        await anyio.sleep(every)


__all__ = [
    "IN_FLIGHT",
    "MIN_AGE",
    "RECOVER_EVERY",
    "drain_spool",
    "keep_recovering",
    "received_deliveries",
    "recover_received",
]
