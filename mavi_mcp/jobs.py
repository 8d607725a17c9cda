"""Jobs: paid work that belongs to the server, not to the MCP request that asked for it.

A tool starts a job (recorded as a pending task in the store), then waits for it up to a bound while sending
progress notifications. If the client gives up first (a 60 s tool time limit, a cancellation), the job goes on
in the server's task group and its result is stored; `get_task` finds it later. Async MAVI tasks (results by
webhook) are waited for the same way: their task row is completed by the webhook receiver, possibly in another
process, so waiting polls the store as well as listening for in-process completions.

On shutdown, running jobs get a grace period to finish; those still running are marked failed with a message
that says the request may have been billed. At start-up, local jobs left pending by a previous process are
marked failed the same way (nothing will ever complete them); MAVI async tasks stay pending, because their
callback may still arrive.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup

from mavi_mcp.errors import MaviError, ResultError, UnconfirmedUploadError
from mavi_mcp.store import TaskRecord
from mavi_mcp.store_api import StoreAPI
from mavi_mcp.transcript import Transcript

logger = logging.getLogger(__name__)

INTERRUPTED = (
    "The server stopped before MAVI answered. The request may still have been processed and billed by MAVI; "
    "its result could not be received. Start the transcription again if you need it."
)


@dataclass(frozen=True)
class Outcome:
    """What a job produced: a transcript (with the raw body it came from) or an asset (upload)."""

    transcript: Transcript | None = None
    raw: bytes | None = None
    result: dict[str, Any] | None = None


Work = Callable[[str], Awaitable[Outcome]]
"""A job's work: called with its own task id (known before anything is sent or normalized)."""
Tick = Callable[[float], Awaitable[None]]


def new_job_id() -> str:
    """Id of a local job: `job_` and 16 hex digits (MAVI's own task ids are 32 hex digits)."""
    return f"job_{secrets.token_hex(8)}"


class Jobs:
    """Starts jobs in `task_group`, records them in `store`, and waits for tasks with a bound."""

    def __init__(self, store: StoreAPI, task_group: TaskGroup, *, grace_seconds: float = 10.0) -> None:
        self.store = store
        self._tg = task_group
        self._done: dict[str, anyio.Event] = {}
        self._running: set[str] = set()
        self._idle: anyio.Event | None = None
        self.grace_seconds = grace_seconds

    async def recover(self) -> int:
        """Mark local jobs that a previous process left pending as failed; returns how many."""
        return await self.store.fail_stale_jobs(INTERRUPTED)

    async def start(
        self,
        work: Work,
        *,
        tool: str,
        endpoint: str,
        asset_id: str | None,
        params: dict[str, Any],
        task_id: str | None = None,
    ) -> str:
        """Record a pending job and run `work(task_id)` in the server's task group; returns the job's task id
        (`task_id` when given: a paid request claims its ledger row under it before it starts)."""
        task_id = task_id or new_job_id()
        await self.store.create_task(
            task_id,
            mode="sync",
            endpoint=endpoint,
            tool=tool,
            asset_id=asset_id,
            params=params,
        )
        self._running.add(task_id)
        self._tg.start_soon(self._run, task_id, work, name=f"job {task_id}")
        return task_id

    async def _run(self, task_id: str, work: Work) -> None:
        """Run `work` and end its task in one store transaction; never raises into the task group (a failure of
        the store itself is logged, and the job stays as the store last saw it)."""
        try:
            await self._settle(task_id, work)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception:
            logger.exception("Job %s could not be recorded as finished", task_id)
        finally:
            self._running.discard(task_id)
            self.notify(task_id)
            if not self._running and self._idle is not None:
                self._idle.set()

    async def _settle(self, task_id: str, work: Work) -> None:
        try:
            outcome = await work(task_id)
        except MaviError as exc:
            raw = exc.raw if isinstance(exc, ResultError | UnconfirmedUploadError) else None
            asset_id = exc.asset_id if isinstance(exc, UnconfirmedUploadError) else None
            await self.store.finish_job(
                task_id,
                raw=raw,
                error=str(exc),
                asset_id=asset_id,
                result={"asset_id": asset_id} if asset_id else None,
            )
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.store.finish_job(task_id, error=INTERRUPTED)
            raise
        except Exception:
            logger.exception("Job %s crashed", task_id)
            await self.store.finish_job(
                task_id,
                error="mavi-mcp hit an internal error (details are in the server's log). Try again; "
                "if it repeats, report it with the log.",
            )
        else:
            await self.store.finish_job(task_id, transcript=outcome.transcript, raw=outcome.raw, result=outcome.result)

    def notify(self, task_id: str) -> None:
        """Wake up whoever waits for `task_id` in this process (the job ended or a callback arrived)."""
        event = self._done.pop(task_id, None)
        if event is not None:
            event.set()

    async def wait(self, task_id: str, bound: float, *, on_tick: Tick | None = None, tick: float = 5.0) -> TaskRecord:
        """The task's record once it is no longer pending, or as it is after `bound` seconds.

        Calls `on_tick(elapsed_seconds)` about every `tick` seconds while waiting (progress notifications).
        Polls the store every second so completions written by another process are seen too.
        """
        started = time.monotonic()
        next_tick = tick
        while True:
            record = await self.store.get_task(task_id)
            if record is None or record.status != "pending":
                assert record is not None, f"unknown task {task_id}"
                return record
            elapsed = time.monotonic() - started
            remaining = bound - elapsed
            if remaining <= 0:
                return record
            if on_tick is not None and elapsed >= next_tick:
                next_tick += tick
                await on_tick(elapsed)
            event = self._done.setdefault(task_id, anyio.Event())
            with anyio.move_on_after(min(1.0, remaining, max(next_tick - elapsed, 0.05))):
                await event.wait()

    async def drain(self) -> None:
        """Give running jobs up to `grace_seconds` to finish (called on shutdown before cancelling them)."""
        if not self._running:
            return
        logger.info("Waiting up to %.0fs for %d running job(s) to finish", self.grace_seconds, len(self._running))
        self._idle = anyio.Event()
        with anyio.move_on_after(self.grace_seconds):
            await self._idle.wait()
