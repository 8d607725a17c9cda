"""`webhook_info`: where MAVI must send async results, and whether a receiver is running.

A paid async task is started only when a webhook receiver exists to catch its result (`pipeline.start_async`):
MAVI offers no way to fetch a result later.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mavi_mcp.pipeline import NO_RECEIVER
from mavi_mcp.runtime import Runtime
from mavi_mcp.secrecy import without_secret
from mavi_mcp.tools._boundary import agent_errors, runtime_of


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
    """The webhook URL to paste once into the MAVI console (async results need it, over public HTTPS),
    and whether a receiver runs. The URL holds a secret: show it only to the user. Free.
    """
    rt = runtime_of(ctx)
    live = await rt.store.live_receivers()
    stats = await rt.store.delivery_stats()
    own = without_secret(rt.webhook_url, rt.receiver.secret) if rt.webhook_url else None  # as heartbeats store it
    others = [r.url for r in live if r.url != own]
    last = stats.last_received_at.isoformat() if stats.last_received_at else None
    info = WebhookInfo(
        url=rt.webhook_url,
        running_here=rt.receiver_here is not None,
        how=rt.receiver_here,
        other_receivers=others,
        deliveries_received=stats.total,
        deliveries_by_status=stats.by_status,
        last_delivery_at=last,
        verified=rt.sandbox or stats.verified,
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
        f"Deliveries received so far: {stats.total}"
        + (f" (last at {last})" if last else "")
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
