"""A paid tool written the way `mavi_mcp/tools/` modules are (`from __future__ import annotations`, functions at
module level, the gate as a module-level marker), to check that `cost_gate` works with string annotations."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context

from mavi_mcp.confirm import Approved, CostCheck, MaxCostUsd, can_ask_user, check_cost, cost_gate
from mavi_mcp.cost import estimate

SENT: list[float] = []


def multi_speaker_cost(ctx: Context[Any, Any], seconds: float, max_cost_usd: float | None) -> CostCheck:
    return check_cost(
        "multi_speaker_async",
        estimate("multi_speaker_async", seconds),
        confirm_above_usd=1.0,
        can_ask=can_ask_user(ctx),
        max_cost_usd=max_cost_usd,
    )


MULTI_SPEAKER_COST = cost_gate(multi_speaker_cost)


async def multi_speaker(
    seconds: float, cost: Annotated[Approved, MULTI_SPEAKER_COST], max_cost_usd: MaxCostUsd = None
) -> str:
    SENT.append(seconds)
    return f"sent: {cost.estimate.text if cost.estimate else '?'} confirmed={cost.confirmed_by_user}"
