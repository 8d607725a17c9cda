"""`mavi_mcp.confirm`: the rules of `check_cost`, and the confirmation through a real MCP client's elicitation
callback (accepted, declined, cancelled, answered no, no elicitation at all) on both protocol eras, against a
tiny `MCPServer` whose one paid tool uses `cost_gate`. "Nothing sent" is the tool body not running.

No `from __future__ import annotations`: the tool is defined inside `paid_server`, and its `cost` annotation
names the local resolver, which the SDK can only see in an annotation evaluated at definition time."""

import gc
import weakref
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
import pytest
from mcp import Client
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ElicitRequestFormParams, ElicitResult

from mavi_mcp.confirm import (
    ACCEPTED_ANY,
    Approved,
    CostCheck,
    MaxCostUsd,
    acknowledgement,
    budget_refusal,
    check_call,
    check_cost,
    cost_gate,
    start_of_day,
    start_of_month,
)
from mavi_mcp.cost import estimate
from mavi_mcp.settings import Settings
from tests import paid_tool

HOUR_WHISPER = estimate("transcribe_whisper", 3767, speaker=True)  # $7.534 for 1:02:47
SHORT_WHISPER = estimate("transcribe_whisper", 225)  # $0.225 for 3:45

# --- the rules ------------------------------------------------------------------------------------------------


def test_a_call_under_the_threshold_goes_ahead_without_asking() -> None:
    check = check_cost("transcribe_whisper", SHORT_WHISPER, confirm_above_usd=1.0, can_ask=True)
    assert check == CostCheck("transcribe_whisper", SHORT_WHISPER)


def test_a_call_over_the_threshold_asks_a_client_that_can_ask_showing_the_estimate() -> None:
    check = check_cost("transcribe_whisper", HOUR_WHISPER, confirm_above_usd=1.0, can_ask=True, max_cost_usd=20)
    assert check.refusal is None
    assert check.ask == (
        "transcribe_whisper will cost about $7.53 for 1:02:47 (Whisper with speaker labels at $0.002/s for "
        "1:02:47), billed by MAVI to your account. Send the request?"
    )


def test_a_client_that_cannot_ask_is_refused_with_the_estimate_and_how_to_go_on() -> None:
    check = check_cost("transcribe_whisper", HOUR_WHISPER, confirm_above_usd=1.0, can_ask=False)
    assert check.refusal == (
        "Not sent: transcribe_whisper would cost about $7.53 for 1:02:47 (Whisper with speaker labels at "
        "$0.002/s for 1:02:47), above MAVI_MCP_CONFIRM_ABOVE_USD=$1.00, and this client cannot ask the user to "
        "confirm. Nothing was billed. To go ahead, call again with max_cost_usd=7.54 (after checking with the "
        "user), or raise MAVI_MCP_CONFIRM_ABOVE_USD in the server's configuration."
    )
    acknowledged = check_cost(
        "transcribe_whisper", HOUR_WHISPER, confirm_above_usd=1.0, can_ask=False, max_cost_usd=7.54
    )
    assert acknowledged == CostCheck("transcribe_whisper", HOUR_WHISPER)


def test_the_callers_cap_refuses_an_estimate_above_it_even_under_the_threshold() -> None:
    check = check_cost("transcribe_whisper", SHORT_WHISPER, confirm_above_usd=1.0, can_ask=True, max_cost_usd=0.2)
    assert check.refusal == (
        "Not sent: transcribe_whisper would cost about $0.23 for 3:45 (Whisper at $0.001/s for 3:45), above "
        "max_cost_usd=0.2. Nothing was billed."
    )


def test_threshold_zero_asks_before_every_priced_call_and_an_unknown_price_is_not_asked() -> None:
    assert check_cost("identify_speakers", SHORT_WHISPER, confirm_above_usd=0, can_ask=True).ask is not None
    assert check_cost("identify_speakers", None, confirm_above_usd=0, can_ask=True) == CostCheck(
        "identify_speakers", None
    )


def test_the_acknowledgement_is_the_estimate_rounded_up_to_the_cent() -> None:
    assert acknowledgement(HOUR_WHISPER) == 7.54
    assert acknowledgement(estimate("transcribe_whisper", 3000)) == 3.0
    assert acknowledgement(estimate("transcribe_assemblyai", 282)) == 0.02


def test_the_daily_budget_refuses_a_call_that_would_pass_it_and_counts_what_was_spent() -> None:
    assert budget_refusal("transcribe_whisper", SHORT_WHISPER, spent_today_usd=4.5, daily_budget_usd=5) is None
    assert budget_refusal("transcribe_whisper", SHORT_WHISPER, spent_today_usd=4.775, daily_budget_usd=5) is None
    refusal = budget_refusal("transcribe_whisper", HOUR_WHISPER, spent_today_usd=1.25, daily_budget_usd=5)
    assert refusal == (
        "Not sent: transcribe_whisper would cost about $7.53 for 1:02:47, taking today's spend from $1.25 to "
        "$8.78, past MAVI_MCP_DAILY_BUDGET_USD=$5.00. Nothing was billed. Stored transcripts stay free to read; "
        "raise the budget or wait until 0:00 UTC."
    )
    check = check_cost(
        "transcribe_whisper",
        HOUR_WHISPER,
        confirm_above_usd=100,
        can_ask=True,
        spent_today_usd=1.25,
        daily_budget_usd=5,
    )
    assert check.refusal == refusal


def test_an_unknown_price_is_refused_only_once_the_budget_is_spent() -> None:
    assert budget_refusal("transcribe_assemblyai", None, spent_today_usd=4.99, daily_budget_usd=5) is None
    spent = budget_refusal("transcribe_assemblyai", None, spent_today_usd=5, daily_budget_usd=5)
    assert spent is not None
    assert spent.startswith("Not sent: today's spend ($5.00) has reached MAVI_MCP_DAILY_BUDGET_USD=$5.00.")


def test_days_and_months_start_at_midnight_utc() -> None:
    moment = datetime.fromisoformat("2026-11-30T23:30:00-05:00")  # already Dec 1 in UTC
    assert start_of_day(moment) == datetime(2026, 12, 1, tzinfo=UTC)
    assert start_of_month(datetime(2026, 11, 30, 12, tzinfo=UTC)) == datetime(2026, 11, 1, tzinfo=UTC)


# --- through a real MCP client ----------------------------------------------------------------------------------


ERAS_SEEN: list[str | None] = []


def paid_server(
    *, confirm_above_usd: float = 1.0, daily_budget_usd: float | None = None, spent_today_usd: float = 0.0
) -> tuple[MCPServer, list[float]]:
    """A server with one paid tool, `transcribe(seconds)`, priced as Whisper with speakers; `sent` records the
    calls whose body ran (what would have been sent to MAVI)."""
    server = MCPServer("cost-test")
    sent: list[float] = []
    settings = Settings(confirm_above_usd=confirm_above_usd, daily_budget_usd=daily_budget_usd)

    def decide(ctx: Context[Any, Any], seconds: float, max_cost_usd: float | None) -> CostCheck:
        ERAS_SEEN.append(ctx.protocol_version)
        return check_call(
            ctx,
            settings,
            "transcribe_whisper",
            seconds,
            speaker=True,
            max_cost_usd=max_cost_usd,
            spent_today_usd=spent_today_usd,
        )

    @server.tool()
    async def transcribe(
        seconds: float, cost: Annotated[Approved, cost_gate(decide)], max_cost_usd: MaxCostUsd = None
    ) -> str:
        sent.append(seconds)
        confirmed = " (confirmed by the user)" if cost.confirmed_by_user else ""
        return f"sent: {cost.estimate.text if cost.estimate else 'unknown'}{confirmed}"

    return server, sent


def answering(action: str, content: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    """An elicitation callback that answers `action` and records each question's message."""
    asked: list[str] = []

    async def callback(context: Any, params: ElicitRequestFormParams) -> ElicitResult:
        asked.append(params.message)
        assert params.requested_schema["properties"]["pay"]["type"] == "boolean"
        return ElicitResult(action=action, content=content)  # pyright: ignore[reportArgumentType]

    return callback, asked


ERAS = ["legacy", "auto"]
"""`legacy`: the 2025-11-25 handshake (elicitation request mid-call); `auto`: 2026-07-28 (InputRequiredResult)."""


async def call(
    server: MCPServer, mode: str, callback: Any, arguments: dict[str, Any], *, tool: str = "transcribe"
) -> tuple[bool, str]:
    with anyio.fail_after(30):
        async with Client(server, mode=mode, elicitation_callback=callback) as client:  # pyright: ignore[reportArgumentType]
            result = await client.call_tool(tool, arguments)
    text = result.content[0].text  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    return result.is_error, str(text)  # pyright: ignore[reportUnknownArgumentType]


@pytest.mark.anyio
async def test_the_cost_parameter_is_not_in_the_tool_schema() -> None:
    server, _ = paid_server()
    async with Client(server) as client:
        schema = (await client.list_tools()).tools[0].input_schema
    assert sorted(schema["properties"]) == ["max_cost_usd", "seconds"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_an_accepted_confirmation_sends_the_call(mode: str) -> None:
    server, sent = paid_server()
    callback, asked = answering("accept", {"pay": True})
    ERAS_SEEN.clear()
    error, text = await call(server, mode, callback, {"seconds": 3767})
    assert (error, text) == (False, "sent: $7.53 for 1:02:47 (confirmed by the user)")
    assert sent == [3767]
    assert len(asked) == 1
    assert "$7.53 for 1:02:47" in asked[0]
    assert set(ERAS_SEEN) == {"2025-11-25" if mode == "legacy" else "2026-07-28"}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_a_tool_module_with_string_annotations_uses_a_module_level_gate(mode: str) -> None:
    server = MCPServer("cost-test")
    server.tool()(paid_tool.multi_speaker)
    paid_tool.SENT.clear()
    declining, _ = answering("decline")
    error, text = await call(server, mode, declining, {"seconds": 3600}, tool="multi_speaker")
    assert error
    assert "declined multi_speaker_async (about $6.00 for 1:00:00)" in text
    accepting, _ = answering("accept", {"pay": True})
    error, text = await call(server, mode, accepting, {"seconds": 3600}, tool="multi_speaker")
    assert (error, text) == (False, "sent: $6.00 for 1:00:00 confirmed=True")
    assert paid_tool.SENT == [3600]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize(
    ("action", "content", "says"),
    [
        (
            "decline",
            None,
            "Not sent: the user declined transcribe_whisper (about $7.53 for 1:02:47). Nothing was billed.",
        ),
        ("cancel", None, "Not sent: the user dismissed the cost confirmation for transcribe_whisper"),
        ("accept", {"pay": False}, "Not sent: the user answered no to transcribe_whisper (about $7.53 for 1:02:47)."),
    ],
)
async def test_a_declined_cancelled_or_refused_confirmation_sends_nothing(
    mode: str, action: str, content: dict[str, Any] | None, says: str
) -> None:
    server, sent = paid_server()
    callback, asked = answering(action, content)
    error, text = await call(server, mode, callback, {"seconds": 3767})
    assert error
    assert says in text
    assert sent == []
    assert len(asked) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_a_cheap_call_is_not_asked_about(mode: str) -> None:
    server, sent = paid_server()
    callback, asked = answering("decline")
    assert await call(server, mode, callback, {"seconds": 225}) == (False, "sent: $0.45 for 3:45")
    assert (sent, asked) == ([225], [])


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_a_client_without_elicitation_is_refused_then_goes_ahead_with_the_acknowledgement(mode: str) -> None:
    server, sent = paid_server()
    error, text = await call(server, mode, None, {"seconds": 3767})
    assert error
    assert "this client cannot ask the user to confirm" in text
    assert "call again with max_cost_usd=7.54" in text
    assert sent == []
    assert await call(server, mode, None, {"seconds": 3767, "max_cost_usd": 7.54}) == (False, "sent: $7.53 for 1:02:47")
    assert sent == [3767]


@pytest.mark.anyio
async def test_a_raised_threshold_lets_the_call_through_without_asking() -> None:
    server, sent = paid_server(confirm_above_usd=10)
    callback, asked = answering("decline")
    assert await call(server, "auto", callback, {"seconds": 3767}) == (False, "sent: $7.53 for 1:02:47")
    assert (sent, asked) == ([3767], [])


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_the_daily_budget_refuses_before_asking_and_sends_nothing(mode: str) -> None:
    server, sent = paid_server(daily_budget_usd=5, spent_today_usd=4.9)
    callback, asked = answering("accept", {"pay": True})
    error, text = await call(server, mode, callback, {"seconds": 3767})
    assert error
    assert "taking today's spend from $4.90 to $12.43, past MAVI_MCP_DAILY_BUDGET_USD=$5.00" in text
    assert (sent, asked) == ([], [])
    assert await call(server, mode, callback, {"seconds": 30}) == (False, "sent: $0.06 for 0:30")


def test_the_sdks_accepted_outcome_class_stays_built_between_paid_calls() -> None:
    """The SDK parametrizes `AcceptedElicitation[Any]` on every paid call; pydantic keeps that class only weakly, so
    mavi_mcp.confirm holds it (else it is rebuilt each call)."""
    assert ACCEPTED_ANY is AcceptedElicitation[Any]
    built = weakref.ref(AcceptedElicitation[Any])
    gc.collect()
    assert built() is not None
    assert built() is AcceptedElicitation[Any]


def test_the_gate_s_own_resolvers_are_async_so_the_sdk_runs_them_without_a_worker_thread() -> None:
    """The SDK runs a sync resolver in a worker thread: two hops on every paid call for two functions that never
    wait. `decide` is the tool's own (async in every mavi-mcp tool)."""
    import inspect
    from typing import get_type_hints

    async def decide() -> CostCheck:
        raise AssertionError("not called")

    approve = cost_gate(decide).fn
    ask = get_type_hints(approve, include_extras=True)["answer"].__metadata__[0].fn
    assert inspect.iscoroutinefunction(approve)
    assert inspect.iscoroutinefunction(ask)
