"""Webhook ingestion: store a delivery durably, then apply it to its task, once. Never raises on bad input.

Persist, then acknowledge: the raw body is committed (SQLite WAL, synchronous=FULL) before the receiver answers
2xx, so an acknowledged delivery survives a crash. A body that is not JSON or not a known shape is still kept,
marked "malformed", and its task (when it names one) is marked failed with the reason. Idempotent on `task_id`:
a second delivery for a settled task is kept as "duplicate" and changes nothing. The callback's shape is the
registry's for the task's endpoint (`shapes.callback_for`); a task this store has no record of (an early callback,
or one another server of the account started) is read by the callback shape that accepts it
(`shapes.detect_callback`), and created from the callback so a later local record joins it.

Delivery statuses: received -> applied | failed_result | malformed | duplicate | error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mavi_mcp import wire
from mavi_mcp.callback_body import CallbackBody, read_body
from mavi_mcp.errors import ResultError
from mavi_mcp.normalize import Context
from mavi_mcp.shapes import callback_for, detect_callback
from mavi_mcp.store_api import StoreAPI
from mavi_mcp.wire import SUCCESS_CODES, CallbackEnvelope

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    task_id: str | None
    status: str
    note: str | None = None


async def ingest(store: StoreAPI, body: bytes, *, sandbox: bool = False) -> Ingested:
    """Store `body` durably, then apply it to its task (see the module docstring). Never raises on bad input."""
    read = read_body(body)  # any depth, encoding or shape: kept and marked, never an exception
    if read.problem is not None:
        await store.record_delivery(body, task_id=None, status="malformed", note=read.problem)
        return Ingested(None, "malformed", read.problem)
    delivery = await store.record_delivery(body, task_id=read.task_id, status="received")
    return await reapply(store, delivery, body, sandbox=sandbox, read=read)


async def reapply(
    store: StoreAPI, delivery: int, body: bytes, *, sandbox: bool = False, read: CallbackBody | None = None
) -> Ingested:
    """Apply stored delivery `delivery` (its raw `body`, or `read` already) to its task; also for one left
    `received` by a receiver that stopped between commit and apply (`mavi_mcp.recovery`). Idempotent: a settled
    task is not changed."""
    read = read or read_body(body)
    payload, task_id = read.payload, read.task_id
    try:
        return await _apply(store, delivery, payload, task_id, sandbox=sandbox)
    except Exception as exc:  # keep the receiver up whatever the body held; the body is already stored
        logger.exception("Could not apply webhook delivery %d", delivery)
        note = f"could not be applied ({type(exc).__name__}); raw body kept as delivery {delivery}"
        await store.mark_delivery(delivery, "error", note)
        if task_id:
            await store.complete_from_callback(task_id, "unknown", None, f"The callback {note}.")
        return Ingested(task_id, "error", note)


async def _apply(store: StoreAPI, delivery: int, payload: Any, task_id: str | None, *, sandbox: bool) -> Ingested:
    existing = await store.get_task(task_id) if task_id else None
    endpoint = existing.endpoint if existing else None

    async def malformed(reason: str) -> Ingested:
        note = f"{reason}; raw body kept as delivery {delivery}"
        await store.mark_delivery(delivery, "malformed", note)
        if task_id and (existing is None or existing.status == "pending"):
            await store.complete_from_callback(
                task_id, endpoint or "unknown", None, f"MAVI's callback could not be read: {note}."
            )
        return Ingested(task_id, "malformed", note)

    if task_id is None:
        return await malformed("the callback has no task_id")
    if existing is not None and existing.status != "pending":
        await store.mark_delivery(delivery, "duplicate", f"task already {existing.status}")
        return Ingested(task_id, "duplicate")
    try:
        envelope = wire.validate(CallbackEnvelope, payload)
    except wire.WireError as exc:
        return await malformed(f"not a MAVI callback ({exc.reason})")
    data = envelope.data
    message = envelope.message or envelope.msg or ""
    failed = envelope.code not in SUCCESS_CODES or (data is not None and data.success is False)
    if failed or data is None or data.data is None:
        reason = (data.msg if data is not None else None) or message or "no result in the callback"
        await store.mark_delivery(delivery, "failed_result", reason)
        await store.complete_from_callback(task_id, endpoint or "unknown", None, f"MAVI reported a failure: {reason}")
        return Ingested(task_id, "failed_result", reason)
    known = endpoint is not None and endpoint != "unknown"
    shape = callback_for(endpoint) if known and endpoint is not None else detect_callback(data.data)
    if shape is None:
        return await malformed(f"the result is not the shape {endpoint or 'of any known callback'} sends")
    context = Context(
        asset_id=existing.asset_id if existing else None,
        task_id=task_id,
        sandbox=sandbox,
        model=shape.default_model,
    )
    try:
        transcript = shape.normalize(wire.validate(shape.wire, data.data), context)
    except wire.WireError as exc:
        if known:
            return await malformed(f"the result is not the shape {endpoint} sends ({exc.reason})")
        return await malformed(f"the result could not be normalized ({exc.reason})")
    except ResultError as exc:
        return await malformed(f"the result could not be normalized ({exc})")
    applied = await store.complete_from_callback(task_id, endpoint or shape.endpoint.name, transcript, None)
    if not applied:  # a concurrent delivery settled it first
        await store.mark_delivery(delivery, "duplicate", "task settled by a concurrent delivery")
        return Ingested(task_id, "duplicate")
    await store.mark_delivery(delivery, "applied", f"transcript {transcript.id}")
    return Ingested(task_id, "applied", transcript.id)
