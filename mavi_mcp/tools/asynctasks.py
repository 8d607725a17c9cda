"""Async MAVI tasks: start one, wait a bounded time for its webhook callback, answer with a page or a handle.

A paid async task is started only when a webhook receiver exists to catch its result (in this process, or a
live `mavi-mcp webhook` service sharing the store): MAVI offers no way to fetch a result later, so a result
without a receiver is lost. `webhook_info` tells the user the URL to paste into the MAVI console.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mavi_mcp.client import Endpoint, may_have_been_processed, task_id_in_raw
from mavi_mcp.errors import APIError, ResultError
from mavi_mcp.runtime import Runtime
from mavi_mcp.secrecy import without_secret
from mavi_mcp.tools._common import agent_errors, request_key, runtime_of

logger = logging.getLogger(__name__)

Mode = Literal["auto", "sync", "async"]

ModeParam = Annotated[
    Mode,
    Field(
        description="sync: MAVI answers the request itself. async: MAVI delivers the result to this server's webhook "
        "later (needs a receiver; see webhook_info). auto: async when a receiver has already received MAVI "
        "callbacks, else sync. Either way the job outlives the wait and get_task returns it."
    ),
]

NO_RECEIVER = (
    "No webhook receiver is running for this server, so the result of an async MAVI task would be lost (MAVI only "
    "delivers it by webhook; there is no way to fetch it later). Nothing was sent or billed. Ask the user to start "
    "the server with --webhook-port N (stdio), serve over streamable-http, or run `mavi-mcp webhook --port N`, and "
    "to paste the URL shown by webhook_info into the MAVI console (Webhooks Settings). Or use mode='sync'."
)


RESULT_STILL_ARRIVES = (
    "its result still arrives at the webhook and is stored: within a few minutes list_tasks shows it under MAVI's "
    "task id (without a tool name; endpoint {endpoint}), and get_task with that id returns the transcript."
)

UNREADABLE_START = (
    "MAVI may have started the task, and billed it: this server could not read its task id from the answer, so it "
    "could not record the task. Do not start it again unless you accept paying twice. If MAVI runs it, "
    + RESULT_STILL_ARRIVES
)
"""Added to the error when the answer to an async start cannot be read (`start_async`)."""

UNANSWERED_START = (
    "This server did not resend the request, because it may have been processed and billed: MAVI may have started "
    "the task. If it did, "
    + RESULT_STILL_ARRIVES
    + " Check list_tasks before starting it again (a second start is billed again)."
)
"""The advice of an error after which an async start may have been processed (timeout, connection failure after
sending, 5xx other than 503), in place of the error class's generic hint."""


async def webhook_verified(rt: Runtime) -> bool:
    """True when MAVI callbacks are known to reach this store (sandbox, or one has been received before)."""
    if rt.sandbox:
        return True
    stats = await rt.store.run(rt.store.sync.delivery_stats)
    by_status: dict[str, int] = stats["by_status"]
    return any(n for status, n in by_status.items() if status in ("applied", "duplicate", "failed_result"))


async def choose_mode(rt: Runtime, mode: Mode) -> Literal["sync", "async"]:
    if mode == "sync":
        return "sync"
    if mode == "async":
        if not await rt.receiver_available():
            raise ToolError(NO_RECEIVER)
        return "async"
    return "async" if await rt.receiver_available() and await webhook_verified(rt) else "sync"


async def start_async(
    ctx: Context[Runtime, Any],
    endpoint: Endpoint,
    body: dict[str, Any],
    *,
    tool: str,
    asset_id: str | None,
    params: dict[str, Any],
) -> str:
    """Start an async MAVI task and record it; the pair is shielded from cancellation so no task is orphaned.

    Returns MAVI's task id (32 hex digits), recorded as a pending task. An answer that cannot be parsed (cut off
    on the way) but holds one complete task id (`client.task_id_in_raw`) counts as an answer: the task is recorded
    under that id, and the raw answer is kept in the store's raw_results with it.

    Raises:
        ToolError: no webhook receiver (nothing sent).
        ResultError: MAVI answered with a body whose task id cannot be read; the body is kept in the store's
            raw_results, and the message says the task may be running (and billed) and where its result will show.
        APIError: the request failed (see `MaviClient`); when it may have been processed (read timeout, connection
            failure after sending, 5xx other than 503) the message says where the result would show and to check
            list_tasks before starting again.
        MaviError: any other failure (no key configured).
    """
    rt = runtime_of(ctx)
    if not await rt.receiver_available():
        raise ToolError(NO_RECEIVER)
    task_id = ""
    with anyio.CancelScope(shield=True):
        try:
            task_id = await rt.client.start_task(endpoint, body, api_key=request_key(ctx))
        except ResultError as exc:
            read = task_id_in_raw(exc.raw) if exc.raw is not None else None
            if exc.raw is not None:
                await rt.store.run(rt.store.sync.save_raw_result, endpoint.name, exc.raw, task_id=read)
            if read is None:
                raise ResultError(f"{exc} {UNREADABLE_START.format(endpoint=endpoint.name)}") from None
            logger.warning("%s Its task id %s was read from the raw answer; recorded as usual.", exc, read)
            task_id = read
        except APIError as exc:
            if may_have_been_processed(exc):
                exc.advice = UNANSWERED_START.format(endpoint=endpoint.name)
            raise
        await rt.store.run(
            rt.store.sync.create_task,
            task_id,
            mode="async",
            endpoint=endpoint.name,
            tool=tool,
            asset_id=asset_id,
            params=params,
        )
    return task_id


class WebhookInfo(BaseModel):
    url: str | None = Field(default=None, description="URL to paste into the MAVI console, if a receiver runs here.")
    running_here: bool
    how: str | None = None
    other_receivers: list[str] = Field(default_factory=list[str], description="Live receivers sharing this store.")
    deliveries_received: int
    deliveries_by_status: dict[str, int]
    last_delivery_at: str | None = None
    verified: bool = Field(description="A MAVI callback has reached this store before.")


@agent_errors
async def webhook_info(ctx: Context[Runtime, Any]) -> Annotated[CallToolResult, WebhookInfo]:
    """Where MAVI must send async results, and whether a receiver is running.

    Use it before async work (multi_speaker_async, mode='async'), or to help the user set up the webhook:
    the URL must be pasted once into the MAVI console (Webhooks Settings) and be reachable over public HTTPS.
    Cost: free. Returns: the URL (it contains a secret; share it only with the user), receivers, deliveries.
    """
    rt = runtime_of(ctx)
    live = await rt.store.run(rt.store.sync.live_receivers)
    stats = await rt.store.run(rt.store.sync.delivery_stats)
    own = without_secret(rt.webhook_url, rt.receiver.secret) if rt.webhook_url else None  # as heartbeats store it
    others = [r["url"] for r in live if r["url"] != own]
    info = WebhookInfo(
        url=rt.webhook_url,
        running_here=rt.receiver_here is not None,
        how=rt.receiver_here,
        other_receivers=others,
        deliveries_received=stats["total"],
        deliveries_by_status=stats["by_status"],
        last_delivery_at=stats["last_received_at"],
        verified=await webhook_verified(rt),
    )
    lines: list[str] = []
    if rt.receiver_here:
        lines.append(f"Webhook receiver running {rt.receiver_here}. URL for the MAVI console: {rt.webhook_url}")
    else:
        lines.append("No webhook receiver runs in this server process.")
    if others:
        lines.append("Other live receivers writing to the same store: " + ", ".join(others))
    if not rt.receiver_here and not others:
        lines.append(NO_RECEIVER)
    lines.append(
        f"Deliveries received so far: {stats['total']}"
        + (f" (last at {stats['last_received_at']})" if stats["last_received_at"] else "")
        + ("" if info.verified else "; none from MAVI yet, so the console URL is not confirmed.")
    )
    if rt.webhook_url and rt.webhook_url.startswith("http://") and not rt.sandbox:
        lines.append(
            "MAVI needs a public HTTPS URL: put this port behind a tunnel or reverse proxy and set "
            "MAVI_MCP_WEBHOOK_PUBLIC_URL so this tool shows the URL to paste."
        )
    return CallToolResult(
        content=[TextContent(type="text", text="\n".join(lines))], structured_content=info.model_dump()
    )
