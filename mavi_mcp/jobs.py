"""Jobs: paid work that belongs to the server, not to the MCP request that asked for it.

A tool starts a job (recorded as a pending task in the store), then waits for it up to a bound while sending
progress notifications. If the client gives up first (a 60 s tool time limit, a cancellation), the job goes on
in the server's task group and its result is stored; `get_task` finds it later. Async MAVI tasks (results by
webhook) are waited for the same way: their task row is completed by the webhook receiver, possibly in another
process, so waiting polls the store as well as listening for in-process completions.

A store fault when a job ends (the disk is full, another process holds the write lock past the busy timeout of
30 s) never ends the process and never loses a paid answer: the raw answer is written ahead to `<data dir>/spool/`
(`mavi_mcp.spool`, removed once the store has committed it; a process killed in between leaves it for recovery),
and on a fault the task is failed with a reason that says what was billed and that the answer is kept;
recovery (`mavi_mcp.recovery.drain_spool`, at start and periodically) moves it into the store and completes the
task. If even that update fails, the fault is logged and the task stays pending until recovery completes it.

On shutdown, running jobs get a grace period to finish; those still running are marked failed with a message
that says the request may have been billed. At start-up, local jobs left pending by a previous process are
marked failed the same way (nothing will ever complete them); MAVI async tasks stay pending, because their
callback may still arrive.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from mavi_mcp import spool
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
    """What a job produced: a transcript (with the raw body it came from) or an asset (upload).

    `shape`: the registry name (`mavi_mcp.shapes.SHAPES`) the raw body is normalized with, so that a spooled
    answer can be normalized again when it is moved into the store."""

    transcript: Transcript | None = None
    raw: bytes | None = None
    result: dict[str, Any] | None = None
    shape: str | None = None


Work = Callable[[str], Awaitable[Outcome]]
"""A job's work: called with its own task id (known before anything is sent or normalized)."""
Tick = Callable[[float], Awaitable[None]]


def new_job_id() -> str:
    """Id of a local job: `job_` and 16 hex digits (MAVI's own task ids are 32 hex digits)."""
    return f"job_{secrets.token_hex(8)}"


class Jobs:
    """Starts jobs in `task_group`, records them in `store`, and waits for tasks with a bound."""

    def __init__(
        self,
        store: StoreAPI,
        task_group: TaskGroup,
        *,
        grace_seconds: float = 10.0,
        spool_dir: Path | None = None,
    ) -> None:
        """`spool_dir`: where paid answers go when the store cannot take them (`<data dir>/spool/`); None keeps
        nothing (tests and benchmarks that do not need it)."""
        self.store = store
        self.spool_dir = spool_dir
        self._endpoints: dict[str, tuple[str, str]] = {}
        self._tg = task_group
        self._done: dict[str, anyio.Event] = {}
        self._running: set[str] = set()
        self._waiters: Counter[str] = Counter()  # task id -> callers in `wait` for it now
        self._ended: OrderedDict[str, TaskRecord] = OrderedDict()
        self._fresh: OrderedDict[str, Transcript] = OrderedDict()
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
        self._endpoints[task_id] = (tool, endpoint)
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
            self._endpoints.pop(task_id, None)
            self.notify(task_id)
            if not self._running and self._idle is not None:
                self._idle.set()

    async def _settle(self, task_id: str, work: Work) -> None:
        try:
            outcome = await work(task_id)
        except MaviError as exc:
            raw = exc.raw if isinstance(exc, ResultError | UnconfirmedUploadError) else None
            asset_id = exc.asset_id if isinstance(exc, UnconfirmedUploadError) else None
            await self._finish(
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
            await self._finish(
                task_id, transcript=outcome.transcript, raw=outcome.raw, result=outcome.result, shape=outcome.shape
            )

    async def _finish(
        self,
        task_id: str,
        *,
        transcript: Transcript | None = None,
        raw: bytes | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        asset_id: str | None = None,
        shape: str | None = None,
    ) -> None:
        """`store.finish_job`, with a paid answer's raw body written ahead to the spool (removed once committed),
        so that neither a store fault nor a kill between MAVI's answer and the commit loses it; when the store
        cannot take it, the task is failed with why and where the answer is (`STORE_FAULT`). Raises only what
        that failed-task update raises."""
        tool, endpoint = self._endpoints.get(task_id, ("the transcription", "MAVI"))
        meta: dict[str, Any] = {"tool": tool, "pid": os.getpid()}
        if transcript is not None and shape is not None:
            meta["shape"] = shape
            meta["context"] = _context_of(transcript)
        if error is not None:
            meta["error"] = error
        if raw is None and result is not None:
            meta["result"] = dict(result)
        body = raw if raw is not None else json.dumps(dict(result)).encode() if result is not None else None
        kept: Path | None = None
        spool_fault: OSError | None = None
        if raw is not None:  # a paid answer: written ahead
            try:
                kept = await self._spool(task_id, endpoint, raw, meta)
            except OSError as exc:
                spool_fault = exc
                logger.warning("The answer of job %s could not be written ahead to the spool: %s", task_id, exc)
        try:
            ended = await self.store.finish_job(
                task_id, transcript=transcript, raw=raw, result=result, error=error, asset_id=asset_id
            )
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            fault = _fault(exc)
            logger.error("The store could not record the end of job %s: %s", task_id, fault)
        else:
            if self._waiters[task_id]:  # someone waits: hand them the task and transcript, no reload from the store
                _keep(self._ended, task_id, ended, KEPT_ENDS)
                if transcript is not None:
                    _keep(self._fresh, transcript.id, transcript, KEPT_TRANSCRIPTS)
            if kept is not None:
                await anyio.to_thread.run_sync(partial(kept.unlink, missing_ok=True))
            return
        if body is not None and spool_fault is None:
            ahead = kept
            try:  # kept for recovery, without the writer's pid: no longer in flight, recovery may take it at once
                kept = await self._spool(task_id, endpoint, body, {**meta, "pid": None})
            except OSError as exc:
                if kept is None:
                    spool_fault = exc
            else:
                if ahead is not None:
                    await anyio.to_thread.run_sync(partial(ahead.unlink, missing_ok=True))
        if kept is not None:
            logger.warning("The answer of job %s is kept in %s until the store can take it", task_id, kept)
            reason = STORE_FAULT.format(endpoint=endpoint, tool=tool, fault=fault, path=kept)
        elif body is None:
            reason = error if error is not None else STORE_FAULT_NOTHING_KEPT.format(fault=fault)
        else:
            logger.error("The answer of job %s could not be spooled either: %s", task_id, spool_fault)
            extra = f"; the spool: {spool_fault}" if spool_fault is not None else ""
            reason = STORE_FAULT_LOST.format(endpoint=endpoint, fault=fault + extra)
        with anyio.CancelScope(shield=True):
            await self.store.finish_task(task_id, "failed", error=reason)

    async def _spool(self, task_id: str, endpoint: str, body: bytes, meta: dict[str, Any]) -> Path:
        """Keep `body` in the spool (`spool.spool`, fsynced). Raises OSError; so does a job without a spool."""
        directory = self.spool_dir
        if directory is None:
            raise OSError("this server keeps no spool")
        return await anyio.to_thread.run_sync(
            lambda: spool.spool(directory, endpoint=endpoint, task_id=task_id, body=body, meta=meta)
        )

    def notify(self, task_id: str) -> None:
        """Wake up whoever waits for `task_id` in this process (the job ended or a callback arrived)."""
        event = self._done.pop(task_id, None)
        if event is not None:
            event.set()

    def take_transcript(self, transcript_id: str) -> Transcript | None:
        """The transcript a job of this process has just stored, for the first one who waited for that job to
        answer with (then forgotten: later readers use the store), else None."""
        return self._fresh.pop(transcript_id, None)

    async def wait(self, task_id: str, bound: float, *, on_tick: Tick | None = None, tick: float = 5.0) -> TaskRecord:
        """The task's record once it is no longer pending, or as it is after `bound` seconds.

        Calls `on_tick(elapsed_seconds)` about every `tick` seconds while waiting (progress notifications).
        Polls the store every second so completions written by another process are seen too; a job running in
        this process is not polled (only it ends its task): its end is handed over when it wakes the waiter.
        """
        self._waiters[task_id] += 1
        try:
            return await self._wait(task_id, bound, on_tick, tick)
        finally:
            self._waiters[task_id] -= 1
            if not self._waiters[task_id]:
                del self._waiters[task_id]

    async def _wait(self, task_id: str, bound: float, on_tick: Tick | None, tick: float) -> TaskRecord:
        started = time.monotonic()
        next_tick = tick
        while True:
            elapsed = time.monotonic() - started
            remaining = bound - elapsed
            record = self._ended.pop(task_id, None)
            if record is None and (task_id not in self._running or remaining <= 0):
                record = await self.store.get_task(task_id)
                assert record is not None, f"unknown task {task_id}"
            if record is not None and (record.status != "pending" or remaining <= 0):
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


KEPT_ENDS = 256
"""Most task ends kept for waiters not yet woken (`Jobs.wait`); older ones are read from the store."""
KEPT_TRANSCRIPTS = 16
"""Most just-stored transcripts kept for their waiters (`Jobs.take_transcript`); a waiter cancelled between its wake
and its answer leaves one behind until newer ones push it out (they may be large), then readers use the store."""


def _keep(kept: OrderedDict[str, Any], key: str, value: Any, most: int) -> None:
    kept[key] = value
    while len(kept) > most:
        kept.popitem(last=False)


def _fault(exc: BaseException) -> str:
    """A store fault in a few words (the exception's class and message; never a path with a secret: the store's
    errors name at most the database file)."""
    return f"{type(exc).__name__}: {exc}"


def _context_of(transcript: Transcript) -> dict[str, Any]:
    """What `normalize.Context` needs to normalize the same raw body into the same transcript again (JSON values)."""
    src = transcript.source
    return {
        "asset_id": src.asset_id,
        "audio_url": src.audio_url,
        "task_id": src.task_id,
        "sandbox": src.sandbox,
        "model": src.model,
        "transcript_id": transcript.id,
        "created_at": transcript.created_at.isoformat(),
    }


STORE_FAULT = (
    "MAVI answered the {endpoint} request ({tool}), so it is billed, but this server's store could not save the "
    "answer ({fault}). Nothing is lost: the answer is kept in {path} and is moved into the store, and this task "
    "completed, as soon as the store can take it (the server tries again every 15 s and at every start); "
    "get_task then returns the transcript. Do not start the transcription again (it would be billed again). "
    "If this lasts, ask the user to check the disk space and that no other program holds the database."
)
"""A task whose paid answer was spooled (`Jobs._finish`)."""

STORE_FAULT_LOST = (
    "MAVI answered the {endpoint} request, so it may be billed, but neither this server's store nor its spool "
    "folder could keep the answer ({fault}); the answer is lost. Ask the user to free disk space or fix the data "
    "directory's permissions before starting the transcription again (it will be billed again)."
)
"""A task whose paid answer could not be kept anywhere."""

STORE_FAULT_NOTHING_KEPT = (
    "This server's store could not record the end of the task ({fault}). Check list_tasks before trying again; "
    "if the store keeps failing, ask the user to check the disk space and that no other program holds the database."
)
"""A task without a paid answer to keep whose end could not be recorded."""
