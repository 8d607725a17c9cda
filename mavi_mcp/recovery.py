"""Recovery of webhook deliveries a receiver committed but did not apply (killed between the two).

The receiver commits a delivery's raw body (status `received`) before it answers 200, then applies it to its
task. A receiver killed in between leaves the row `received` and its task `pending`; MAVI never resends. Every
receiver (`mavi-mcp webhook`, and the runtime of every server) applies such rows at start and then every
`RECOVER_EVERY` seconds, through the same path as a live delivery (`mavi_mcp.webhook.reapply`, idempotent).
The rows are found by the store (`StoreAPI.received_deliveries`): on SQLite through a read-only connection to the
file (`received_deliveries` below), on PostgreSQL by a query on the database every replica shares.

Rows younger than `MIN_AGE` seconds are left to the receiver that may still be applying them in another process.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from mavi_mcp.errors import StoreUnavailableError
from mavi_mcp.store_api import StoreAPI
from mavi_mcp.webhook import reapply

logger = logging.getLogger(__name__)

MIN_AGE = 5.0
"""SECONDS: a `received` row younger than this may still be being applied by a live receiver."""
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


async def keep_recovering(store: StoreAPI, *, sandbox: bool = False, every: float = RECOVER_EVERY) -> None:
    """Run `recover_received` now and then every `every` SECONDS until cancelled."""
    while True:
        await recover_received(store, sandbox=sandbox)
        await anyio.sleep(every)


__all__ = ["MIN_AGE", "RECOVER_EVERY", "keep_recovering", "received_deliveries", "recover_received"]
