"""The paid path every transcription tool takes (issue 15): priced and confirmed before, billed once, reported after.

1. Before the tool body runs, its cost gate (`paid_gate`, an SDK resolver: `confirm.cost_gate`) builds the request
   as the body will, and goes ahead free when an identical request is already paid for; else it estimates the cost
   from the asset's duration and applies `confirm.check_cost` (daily budget, `max_cost_usd`, asking the user
   through elicitation above `MAVI_MCP_CONFIRM_ABOVE_USD`). Refused, declined or cancelled: the body never runs.
2. The body (`run_paid`) claims the request in the ledger inside one store transaction: an identical request
   (same `billing.key_of`) returns the stored result free, `reused: true`, with the original task id and date;
   else it is sent once under the claimed id.
3. The answer's first line and structured content state the billed duration and cost (`billed_seconds`,
   `cost_usd`), or the estimate while the task is pending.
"""

import inspect
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any, cast

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Resolve
from mcp_types import CallToolResult, TextContent
from pydantic import Field, ValidationError

from mavi_mcp import billing
from mavi_mcp.confirm import Approved, CostCheck, check_call, cost_gate
from mavi_mcp.cost import WINDOW_NOTE, Billed, BilledFrom, account_fingerprint, billed_text, estimate, format_usd
from mavi_mcp.errors import MaviError
from mavi_mcp.jobs import new_job_id
from mavi_mcp.ledger import LedgerEntry, fail_charge, rename_charge, reuse_note
from mavi_mcp.pipeline import Transcription, transcribe
from mavi_mcp.runtime import Runtime
from mavi_mcp.tools._answers import wait_and_answer
from mavi_mcp.tools._boundary import request_key, runtime_of
from mavi_mcp.tools._params import PageOptions

Refresh = Annotated[
    bool,
    Field(description="Pay again for a stored result."),
]
"""The parameter that asks for a new, paid run of a request already paid for (and a new upload of a file)."""

Build = Callable[[Runtime, Mapping[str, Any]], Awaitable[Transcription]]
"""Builds a tool's request from its (validated, flat) arguments: the same function for the gate and the body."""

CLAIM_WAIT = 30.0
"""Longest a duplicate waits for a concurrent identical async start to be named by MAVI (seconds)."""


def account_of(ctx: Context[Runtime, Any]) -> str:
    """Whose money: the caller's own key's fingerprint (header `X-MAVI-API-Key`), empty for the server's key."""
    key = request_key(ctx)
    return account_fingerprint(key) if key else ""


def paid_gate(tool: str, names: Sequence[str], build: Build) -> Resolve:
    """The cost gate of a paid tool (`cost: Annotated[Approved, GATE]`, a module-level constant).

    `names` are the tool arguments `build` reads (they must be the tool's flat parameter names). A request that
    cannot be built (bad input) passes the gate: the body builds it again and reports the problem.
    """

    async def decide(ctx: Context[Runtime, Any], **args: Any) -> CostCheck:
        rt = runtime_of(ctx)
        try:
            request = await build(rt, args)
        except (MaviError, ValidationError, ValueError):
            return CostCheck(tool, None)
        key = billing.key_of(request, account=account_of(ctx))
        # reads (the claim re-checks under the exclusive lock): replicas need not queue behind each other for them
        reused = not args.get("refresh") and await rt.store.in_transaction(
            lambda db: billing.reusable(db, key), exclusive=False
        )
        if reused:
            return CostCheck(tool, None)  # served from the store, free
        seconds, spent = await rt.store.in_transaction(
            lambda db: (billing.media_seconds(db, request), billing.spend_now(db)), exclusive=False
        )
        return check_call(
            ctx,
            rt.settings,
            tool,
            seconds,
            speaker=billing.price_of(request) == "transcribe_whisper_speaker",
            max_cost_usd=args.get("max_cost_usd"),
            spent_today_usd=spent.today_usd,
        )

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context[Runtime, Any])]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names]
    decide.__signature__ = inspect.Signature(params, return_annotation=CostCheck)  # type: ignore[attr-defined]
    decide.__annotations__ = {"ctx": Context[Runtime, Any], "return": CostCheck}
    decide.__name__ = decide.__qualname__ = f"{tool}_cost"
    return cost_gate(decide)


async def run_paid(
    ctx: Context[Runtime, Any],
    request: Transcription,
    page: PageOptions,
    wait_seconds: float | None,
    *,
    refresh: bool,
    approved: Approved,
) -> CallToolResult:
    """Claim, send once, wait and answer with the cost; or answer an identical request's stored result free."""
    rt = runtime_of(ctx)
    key = billing.key_of(request, account=account_of(ctx))
    price = billing.price_of(request)
    estimated = approved.estimate.usd if approved.estimate is not None else None
    claim_id = f"{billing.PROVISIONAL}{secrets.token_hex(8)}" if request.shape.callback else new_job_id()
    deadline = time.monotonic() + CLAIM_WAIT
    while True:
        claim = await rt.store.in_transaction(
            lambda db: billing.claim_request(
                db, task_id=claim_id, tool=price, key=key, estimated_usd=estimated, refresh=refresh
            ),
            exclusive=f"claim:{key}",  # identical requests exclude each other; others need not wait
        )
        if claim.new or not claim.entry.task_id.startswith(billing.PROVISIONAL) or time.monotonic() > deadline:
            break
        await anyio.sleep(0.2)  # an identical async start is being sent: wait for MAVI's task id
    if not claim.new:
        answer = await wait_and_answer(ctx, claim.entry.task_id, page, wait_seconds, what=request.tool)
        return reused_answer(answer, claim.entry)
    try:
        task_id = await transcribe(rt, request, api_key=request_key(ctx), job_id=claim_id)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await rt.store.in_transaction(lambda db: fail_charge(db, claim_id), exclusive=False)
        raise
    if task_id != claim_id:
        await rt.store.in_transaction(lambda db: rename_charge(db, claim_id, task_id), exclusive=False)
    answer = await wait_and_answer(ctx, task_id, page, wait_seconds, what=request.tool)
    answered: dict[str, Any] = answer.structured_content or {}
    task_id = str(answered.get("task_id") or task_id)  # MAVI's task id, once an async start has it
    entry = await rt.store.in_transaction(lambda db: billing.entry_of(db, task_id), exclusive=False)
    windowed = page.start is not None or page.end is not None
    return with_cost(answer, entry, note=WINDOW_NOTE if windowed else None)


def cost_line(entry: LedgerEntry) -> str:
    """The first line of a paid answer: billed duration and cost, or the estimate while it runs."""
    if entry.status == "billed" and entry.cost_usd is not None and entry.billed_seconds is not None:
        source = cast(BilledFrom, entry.billed_from or "asset")
        billed = Billed(entry.billed_seconds, source)
        return billed_text(billed, estimate(entry.tool, entry.billed_seconds)) + "."
    if entry.status == "failed":
        return "Not billed (the request failed)."
    if entry.estimated_usd is not None:
        return f"Estimated {format_usd(entry.estimated_usd)}; the billed amount is shown once the task completes."
    return "Cost unknown until the task completes (the media's duration was not known before sending)."


def with_cost(answer: CallToolResult, entry: LedgerEntry | None, *, note: str | None = None) -> CallToolResult:
    """`answer` with the cost line first in its text and `billed_seconds` / `cost_usd` in structured content."""
    if entry is None:
        return answer
    line = cost_line(entry) + (f" {note}" if note else "")
    data = dict(answer.structured_content or {})
    if entry.status == "billed":
        data["billed_seconds"] = entry.billed_seconds
        data["cost_usd"] = entry.cost_usd
    return _prefixed(answer, line, data)


def reused_answer(answer: CallToolResult, original: LedgerEntry) -> CallToolResult:
    """The stored result of an identical request, free: `reused: true`, cost 0, the original's task and date."""
    data: dict[str, Any] = {**(answer.structured_content or {}), "reused": True, "billed_seconds": 0.0, "cost_usd": 0.0}
    return _prefixed(answer, reuse_note(original), data)


def _prefixed(answer: CallToolResult, line: str, data: dict[str, Any]) -> CallToolResult:
    content = list(answer.content)
    if content and isinstance(content[0], TextContent):
        content[0] = TextContent(type="text", text=f"{line}\n{content[0].text}")
    else:
        content.insert(0, TextContent(type="text", text=line))
    return CallToolResult(content=content, structured_content=data, is_error=answer.is_error)
