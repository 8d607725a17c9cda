"""Ask before paying: a paid call estimated above `MAVI_MCP_CONFIRM_ABOVE_USD` is confirmed by the user through
MCP elicitation (form mode) before anything is sent; the daily budget and the caller's own cap refuse outright.

The decision is a pure function, `check_cost`, so every rule is tested without a server. The asking goes through
the SDK's resolver mechanism (`mcp.server.mcpserver.resolve`), which speaks both protocol eras: a standalone
`elicitation/create` request mid-call up to 2025-11-25, an `InputRequiredResult` round trip from 2026-07-28 on
(a plain `ctx.elicit` fails there). A tool declares one extra parameter, which the SDK fills before the tool body
runs and leaves out of the tool's input schema:

    async def whisper_cost(ctx: Context[Runtime, Any], asset_id: str, speaker: bool,
                           max_cost_usd: float | None) -> CostCheck:
        ...  # duration from the store -> estimate(...) -> check_cost(...)

    WHISPER_COST = cost_gate(whisper_cost)  # module level: one marker, however often annotations are evaluated

    async def transcribe_whisper(..., cost: Annotated[Approved, WHISPER_COST], max_cost_usd: MaxCostUsd = None):
        # runs only when the call may go ahead; `cost.estimate` is what was shown

`decide` takes the context and any of the tool's arguments by name. When the check refuses, or the user declines
or cancels, the tool body never runs, so nothing is sent and nothing is billed; the agent reads why (`ToolError`).
"""

# No `from __future__ import annotations` here: `cost_gate` builds resolvers whose annotations name a local
# resolver (`Resolve(decide)`), and the SDK reads them with `typing.get_type_hints`, which cannot see locals.

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel, Field

from mavi_mcp.cost import Estimate, format_usd
from mavi_mcp.cost import estimate as estimate_cost
from mavi_mcp.settings import Settings

ACCEPTED_ANY = AcceptedElicitation[Any]
"""Kept alive on purpose: the SDK wraps every resolver's value in `AcceptedElicitation[Any]` on every call of a paid
tool (`mcp.server.mcpserver.resolve._accepted`), and pydantic caches a parametrized generic class only weakly, so
without a reference the class was built again on each call (0.49 ms against 3.5 us per call, measured)."""

MaxCostUsd = Annotated[
    float | None,
    Field(
        ge=0.01,  # `minimum`, not `exclusiveMinimum`: google-genai's schema converter refuses the latter
        description="USD cap; only when told to, after asking the user.",
    ),
]
"""The acknowledgement parameter a paid tool takes (`max_cost_usd`)."""


class CostConsent(BaseModel):
    """The form shown to the user (one yes/no field; the message carries the estimate)."""

    pay: bool = Field(
        title="Send and pay",
        description="Yes sends the request to MAVI and it is billed; no sends nothing.",
    )


@dataclass(frozen=True)
class CostCheck:
    """What `check_cost` decided before anything is sent: go ahead, ask the user first, or refuse."""

    tool: str
    estimate: Estimate | None
    """None when the media's duration is unknown (the call then goes ahead: it cannot be priced)."""
    ask: str | None = None
    """The question to put to the user before sending; None when no confirmation is needed."""
    refusal: str | None = None
    """Why nothing is sent, in words for the agent; None when the call may go ahead (or be asked about)."""


@dataclass(frozen=True)
class Approved:
    """What a paid tool's body receives when it may send its request."""

    estimate: Estimate | None
    confirmed_by_user: bool
    """True when the user accepted a confirmation form for this call."""


def check_cost(
    tool: str,
    estimate: Estimate | None,
    *,
    confirm_above_usd: float,
    can_ask: bool,
    max_cost_usd: float | None = None,
    spent_today_usd: float = 0.0,
    daily_budget_usd: float | None = None,
) -> CostCheck:
    """Decide whether a paid call may be sent, must be confirmed by the user first, or is refused. Pure.

    In order: the daily budget (`spent_today_usd` + the estimate past `daily_budget_usd`: refused; already spent
    to the budget: refused even when the estimate is unknown); the caller's cap (estimate above `max_cost_usd`:
    refused); then above `confirm_above_usd` (all in US dollars) the user is asked when the client `can_ask`,
    else the call goes ahead only with a `max_cost_usd` covering the estimate, else it is refused with the
    estimate and the two ways to go on. An unknown estimate (duration not readable) is not asked about.
    """
    if daily_budget_usd is not None:
        refusal = budget_refusal(tool, estimate, spent_today_usd=spent_today_usd, daily_budget_usd=daily_budget_usd)
        if refusal is not None:
            return CostCheck(tool, estimate, refusal=refusal)
    if estimate is None:
        return CostCheck(tool, None)
    if max_cost_usd is not None and estimate.usd > max_cost_usd:
        return CostCheck(
            tool,
            estimate,
            refusal=f"Not sent: {tool} would cost about {estimate.text} ({estimate.basis}), above "
            f"max_cost_usd={max_cost_usd:g}. Nothing was billed.",
        )
    if estimate.usd <= confirm_above_usd:
        return CostCheck(tool, estimate)
    if can_ask:
        return CostCheck(tool, estimate, ask=confirmation_message(tool, estimate))
    if max_cost_usd is not None:
        return CostCheck(tool, estimate)  # acknowledged in the call, and covered (checked above)
    return CostCheck(
        tool,
        estimate,
        refusal=f"Not sent: {tool} would cost about {estimate.text} ({estimate.basis}), above "
        f"MAVI_MCP_CONFIRM_ABOVE_USD={format_usd(confirm_above_usd)}, and this client cannot ask the user to "
        f"confirm. Nothing was billed. To go ahead, call again with max_cost_usd={acknowledgement(estimate):g} "
        "(after checking with the user), or raise MAVI_MCP_CONFIRM_ABOVE_USD in the server's configuration.",
    )


def check_call(
    ctx: Context[Any, Any],
    settings: Settings,
    tool: str,
    seconds: float | None,
    *,
    speaker: bool = False,
    max_cost_usd: float | None = None,
    spent_today_usd: float = 0.0,
) -> CostCheck:
    """`check_cost` for a paid tool's `decide` resolver: the estimate for `seconds` of media (None: unknown), the
    thresholds from `settings`, whether this client can be asked from `ctx`.

    Raises:
        ValueError: `tool` is not a paid tool.
    """
    return check_cost(
        tool,
        estimate_cost(tool, seconds, speaker=speaker) if seconds is not None else None,
        confirm_above_usd=settings.confirm_above_usd,
        can_ask=can_ask_user(ctx),
        max_cost_usd=max_cost_usd,
        spent_today_usd=spent_today_usd,
        daily_budget_usd=settings.daily_budget_usd,
    )


def acknowledgement(estimate: Estimate) -> float:
    """The smallest `max_cost_usd` that covers `estimate`: its dollars rounded up to the cent."""
    return math.ceil(round(estimate.usd * 100, 6)) / 100


def confirmation_message(tool: str, estimate: Estimate) -> str:
    """The question put to the user: the tool, the estimate and its basis."""
    return (
        f"{tool} will cost about {estimate.text} ({estimate.basis}), billed by MAVI to your account. Send the request?"
    )


def budget_refusal(
    tool: str, estimate: Estimate | None, *, spent_today_usd: float, daily_budget_usd: float
) -> str | None:
    """Why a call is refused by the daily budget, or None when it fits. Pure; dollars; the day is UTC.

    A call whose estimate is unknown is refused only when today's spend has already reached the budget.
    """
    spent = format_usd(spent_today_usd)
    budget = format_usd(daily_budget_usd)
    if estimate is None:
        if spent_today_usd >= daily_budget_usd:
            return (
                f"Not sent: today's spend ({spent}) has reached MAVI_MCP_DAILY_BUDGET_USD={budget}. Nothing was "
                "billed. Stored transcripts stay free to read; raise the budget or wait until 0:00 UTC."
            )
        return None
    if spent_today_usd + estimate.usd <= daily_budget_usd + 1e-9:
        return None
    return (
        f"Not sent: {tool} would cost about {estimate.text}, taking today's spend from {spent} to "
        f"{format_usd(spent_today_usd + estimate.usd)}, past MAVI_MCP_DAILY_BUDGET_USD={budget}. Nothing was "
        "billed. Stored transcripts stay free to read; raise the budget or wait until 0:00 UTC."
    )


def start_of_day(now: datetime | None = None) -> datetime:
    """0:00 UTC of `now`'s day (default: today), for `ledger.spend_since`."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def start_of_month(now: datetime | None = None) -> datetime:
    """0:00 UTC of the first day of `now`'s month (default: this month), for `ledger.spend_since`."""
    return start_of_day(now).replace(day=1)


def can_ask_user(ctx: Context[Any, Any]) -> bool:
    """Whether the client declared form elicitation (a bare `elicitation: {}` counts, as the spec says)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def settle(check: CostCheck, answer: ElicitationResult[Any]) -> Approved:
    """The tool may go ahead (`Approved`) or `ToolError` says why not; `answer` is the user's reply, or the
    check itself when nobody was asked.

    Raises:
        ToolError: the check refused, or the user declined, cancelled, or answered "no".
    """
    if check.refusal is not None:
        raise ToolError(check.refusal)
    if check.ask is None:
        return Approved(check.estimate, confirmed_by_user=False)
    priced = f"{check.tool} (about {check.estimate.text})" if check.estimate else check.tool
    if isinstance(answer, AcceptedElicitation):
        data: object = answer.data  # pyright: ignore[reportUnknownMemberType]
        if isinstance(data, CostConsent) and data.pay:
            return Approved(check.estimate, confirmed_by_user=True)
        raise ToolError(f"Not sent: the user answered no to {priced}. Nothing was billed.")
    if answer.action == "decline":
        raise ToolError(f"Not sent: the user declined {priced}. Nothing was billed.")
    raise ToolError(
        f"Not sent: the user dismissed the cost confirmation for {priced}. Nothing was billed; ask the user "
        "before trying again."
    )


def cost_gate(decide: Callable[..., Any]) -> Resolve:
    """The `Resolve` marker of a paid tool's `cost` parameter: `Annotated[Approved, cost_gate(decide)]`.

    `decide` is a resolver (sync or async) returning a `CostCheck`; it may take `ctx: Context` and any of the
    tool's arguments by name (e.g. `asset_id`, `speaker`, `max_cost_usd`). The chain it builds: `decide` ->
    the user's answer when `check.ask` (form elicitation, `CostConsent`) -> `settle`. Resolvers may run once per
    round on protocol 2026-07-28, so `decide` must give the same question for the same call (it does when it
    only reads the estimate).
    """

    # async although they never wait: the SDK runs a sync resolver in a worker thread, a hop per paid call each
    async def ask(check: Annotated[CostCheck, Resolve(decide)]) -> CostCheck | Elicit[CostConsent]:
        if check.refusal is None and check.ask is not None:
            return Elicit(check.ask, CostConsent)
        return check

    async def approve(
        check: Annotated[CostCheck, Resolve(decide)],
        answer: Annotated[ElicitationResult[CostConsent], Resolve(ask)],
    ) -> Approved:
        return settle(check, answer)

    return Resolve(approve)
