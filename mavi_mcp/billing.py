"""The ledger applied to the store's tasks (issue 15): what a paid request is keyed by, what it is estimated to
cost, whether an identical one is already paid for, and what a finished one was billed.

`mavi_mcp.cost` holds the prices and fingerprints, `mavi_mcp.ledger` the ledger's rows; this module joins them
with the store's `tasks`, `transcripts`, `raw_results` and `media_files` tables. Every function that takes a
`SqlTx` (a `sqlite3.Connection`, or PostgreSQL's `store_pg.PgTx`) runs inside one store transaction
(`StoreAPI.in_transaction`).

A ledger row is settled lazily (`reconcile`): when its task has completed, the billed duration is read from the
raw body kept with the task (a sync answer in `raw_results`, an async callback in `deliveries`: the provider's
duration or usage field), else the asset's duration read before upload, else
the transcript's end; when its task has failed, the row is marked failed (not spent, never reused).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from mavi_mcp.cost import PriceKey, billed_seconds, duration_fields, estimate, price_key, request_key
from mavi_mcp.ledger import (
    Claim,
    LedgerEntry,
    Spend,
    SqlTx,
    entries,
    entry,
    fail_charge,
    find_reusable,
    media_duration,
    open_charge,
    settle_charge,
    spend,
)
from mavi_mcp.pipeline import Transcription
from mavi_mcp.shapes import callback_for

PROVISIONAL = "claim_"
"""Prefix of the ledger id of an async start claimed before MAVI has named its task (`ledger.rename_charge`)."""

_SOURCE_KEYS = ("asset_id", "url", "source_url")

MAYBE_PROCESSED = "processed and billed"
"""Words every error of a request that may have been processed says ("... may have been processed and billed",
`errors`, `client`, `pipeline`, `jobs.INTERRUPTED`): its ledger row counts in spend at its estimate."""


def price_of(request: Transcription) -> PriceKey:
    """The price-table key of a request: its tool, and for Whisper whether speakers are labelled."""
    speaker = bool(request.params.get("speaker", request.shape.request.get("speaker", False)))
    return price_key(request.tool, speaker=speaker)


def key_of(request: Transcription, *, account: str = "") -> str:
    """The `cost.request_key` of a request: its product (sync and async alike), its source (asset id or URL as
    sent) and every option that changes the result (the body and the shape's fixed fields, less the source)."""
    fields: dict[str, Any] = {**request.shape.request, **request.body}
    source = next((str(fields[k]) for k in _SOURCE_KEYS if fields.get(k)), "")
    options = {k: v for k, v in fields.items() if k not in _SOURCE_KEYS}
    return request_key(request.shape.endpoint.name, source, options, account=account)


def media_seconds(db: SqlTx, request: Transcription) -> float | None:
    """The seconds of media a request will be billed for, as far as known before sending: the asset's duration
    read at upload (None for a URL or an asset not uploaded through this server), narrowed by AssemblyAI's
    `audio_start_from` / `audio_end_at` (milliseconds) when given."""
    if request.asset_id is None:
        return None
    seconds = media_duration(db, request.asset_id)
    if seconds is None:
        return None
    start_ms, end_ms = request.body.get("audio_start_from"), request.body.get("audio_end_at")
    start = float(start_ms) / 1000 if isinstance(start_ms, int | float) else 0.0
    end = min(float(end_ms) / 1000, seconds) if isinstance(end_ms, int | float) else seconds
    return max(end - start, 0.0)


def reconcile(db: SqlTx) -> None:
    """Settle every pending ledger row whose task has ended: billed (duration and cost, see the module's
    docstring) when it completed, failed when it failed. Idempotent; cheap (pending rows only)."""
    rows = db.execute(
        "SELECT l.task_id, l.tool, t.status, t.endpoint, t.params, t.asset_id, t.transcript_id, tr.duration, t.error"
        " FROM ledger l JOIN tasks t ON t.task_id = l.task_id LEFT JOIN transcripts tr ON tr.id = t.transcript_id"
        " WHERE l.status = 'pending' AND t.status != 'pending' ORDER BY l.task_id"  # one order: no deadlock
    ).fetchall()
    for task_id, tool, status, endpoint, params, asset_id, transcript_id, end, error in rows:
        if status != "completed":
            fail_charge(db, task_id, maybe_billed=MAYBE_PROCESSED in (error or ""))
            continue
        raw = (
            db.execute("SELECT body FROM raw_results WHERE task_id = ? ORDER BY id DESC LIMIT 1", (task_id,)).fetchone()
            or db.execute(
                "SELECT body FROM deliveries WHERE task_id = ? AND status = 'applied' ORDER BY id DESC LIMIT 1",
                (task_id,),
            ).fetchone()
        )
        options = cast(dict[str, Any], params if isinstance(params, dict) else json.loads(params or "{}"))  # PG: JSONB
        provider = options.get("provider")
        callback = callback_for(str(endpoint))
        shape = f"{endpoint}-{provider}" if endpoint == "speech-to-text" and provider else str(endpoint)
        shape = callback.name if callback is not None else shape
        billed = billed_seconds(
            shape,
            duration_fields(bytes(raw[0])) if raw is not None else None,
            asset_seconds=media_duration(db, asset_id) if asset_id else None,
            transcript_end=float(end) if end is not None else None,
        )
        cost = estimate(str(tool), billed.seconds).usd if billed is not None else None
        settle_charge(db, task_id, billed=billed, cost_usd=cost, transcript_id=transcript_id)


def reusable(db: SqlTx, key: str) -> LedgerEntry | None:
    """The entry of an identical request whose result is stored or on its way (after `reconcile`), or None."""
    reconcile(db)
    return find_reusable(db, key)


def claim_request(
    db: SqlTx,
    *,
    task_id: str,
    tool: PriceKey,
    key: str,
    estimated_usd: float | None,
    refresh: bool,
) -> Claim:
    """Reuse an identical request's entry, or record this one as pending under `task_id` before it is sent; with
    `refresh`, always record a new one. Run inside one transaction: two identical calls made together get one new
    row and one reuse."""
    existing = None if refresh else reusable(db, key)
    if existing is not None:
        return Claim(existing, new=False)
    return Claim(open_charge(db, task_id=task_id, tool=tool, request_key=key, estimated_usd=estimated_usd), new=True)


def spend_now(db: SqlTx, now: datetime | None = None) -> Spend:
    """Today's and this month's spend (UTC), after settling what has ended."""
    reconcile(db)
    return spend(db, now)


def entry_of(db: SqlTx, task_id: str) -> LedgerEntry | None:
    """A task's ledger entry, settled if it has ended; None for a free or unknown task."""
    reconcile(db)
    return entry(db, task_id)


def entries_of(db: SqlTx, task_ids: list[str]) -> dict[str, LedgerEntry]:
    """Several tasks' ledger entries by task id, settled if ended (for `list_tasks`)."""
    reconcile(db)
    return entries(db, task_ids)
