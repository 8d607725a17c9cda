"""Issue 15 end to end: the sandbox as a real HTTP server (its ledger, `GET /_sandbox/processed`, is what was
billed) and `mavi-mcp` over stdio. A scripted session of repeats, view changes, concurrent duplicates and
re-uploads is billed exactly once per distinct request; reported costs match MAVI's prices for the bundled
recordings' durations; a call above the confirmation threshold is asked about through the client's elicitation
callback (accepted, declined, cancelled) or refused to a client without elicitation; the daily budget refuses.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult, ElicitRequestFormParams, ElicitResult

from mavi_mcp.cost import PRICES
from mavi_mcp.sandbox.catalog import BY_ID
from tests.conftest import WEBHOOK_SECRET, SandboxServer, free_port, server_env, start_sandbox, stdio_params, write_wav
from tests.helpers import error, ok, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

COSTCO = "re_700000000000000002"  # 3973.3 s
WILDFIRES = "re_700000000000000004"  # 282.0 s
MONRO = "re_700000000000000003"  # 3285.8 s
GATE_PREFIX = "Error executing tool transcribe_whisper: "
"""The SDK's prefix of a refusal raised before the tool body runs (by its cost gate)."""
TRANSCRIPTIONS = ("sync-generate-speaker", "sync-generate-audio", "speech-to-text", "async-generate-audio")


@pytest.fixture
def sandbox() -> Iterator[tuple[SandboxServer, int]]:
    port = free_port()
    server = start_sandbox(
        "--no-rate-limit",
        "--upload-processing-seconds",
        "0.2",
        "--callback-delay",
        "0.2",
        "--webhook-url",
        f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}",
    )
    yield server, port
    server.process.stop()


@dataclass
class Session:
    client: Client
    admin: httpx2.Client
    media: Path
    calls: int = 0

    async def call(self, tool: str, **arguments: Any) -> CallToolResult:
        self.calls += 1
        with anyio.fail_after(90):
            return await self.client.call_tool(tool, arguments)

    def processed(self) -> Counter[str]:
        return Counter(self.admin.get("/_sandbox/processed").json()["processed"])


@asynccontextmanager
async def session(
    sandbox: SandboxServer,
    tmp: Path,
    *args: str,
    elicit: Callable[[Any, ElicitRequestFormParams], Awaitable[ElicitResult]] | None = None,
    mode: str = "auto",
    **settings: str,
) -> AsyncIterator[Session]:
    env = server_env(tmp, sandbox.url, MAVI_MCP_RATE_LIMIT="0", **settings)
    with (tmp / "server.log").open("a") as log, sandbox.admin() as admin:
        transport = stdio_client(stdio_params(env, *args), errlog=log)
        async with Client(transport, mode=mode, read_timeout_seconds=90, elicitation_callback=elicit) as client:  # pyright: ignore[reportArgumentType]
            yield Session(client, admin, tmp / "media")


def cents(usd: float) -> int:
    return round(usd * 100)


async def test_a_scripted_session_is_billed_once_per_distinct_request(
    sandbox: tuple[SandboxServer, int], tmp_path: Path
) -> None:
    server, port = sandbox
    async with session(server, tmp_path, "--webhook-port", str(port)) as s:
        before = s.processed()
        a = write_wav(s.media / "a.wav", seconds=3.0)
        shutil.copy(a, s.media / "a-copy.wav")
        b = write_wav(s.media / "b.wav", seconds=5.0)

        # uploads: the same bytes again (any name) reuse the asset; refresh uploads anyway
        first = ok(await s.call("upload_media", path=str(a)))
        assert first["duration_seconds"] == pytest.approx(3.0)
        assert "Estimated cost of 0:03: identify_speakers $0.003 · transcribe_whisper $0.003 ($0.006 with" in text_of(
            await s.call("upload_media", path=str(a))
        )
        again = ok(await s.call("upload_media", path=str(s.media / "a-copy.wav")))
        assert (again["asset_id"], again["reused"]) == (first["asset_id"], True)
        asset_b = ok(await s.call("upload_media", path=str(b)))["asset_id"]
        fresh = ok(await s.call("upload_media", path=str(a), refresh=True))
        assert fresh["asset_id"] != first["asset_id"]
        assert "reused" not in fresh
        asset = first["asset_id"]

        # one request, many views: only the first is billed
        paid = await s.call("transcribe_whisper", asset_id=asset, mode="sync")
        assert text_of(paid).startswith("Billed $0.003 for 0:03 (the file's duration).")
        assert (ok(paid)["billed_seconds"], ok(paid)["cost_usd"]) == (3.0, 0.003)
        original = ok(paid)["task_id"]
        for view in (
            {},
            {"format": "srt"},
            {"format": "json"},
            {"start": 1, "end": 2},
            {"max_tokens": 600},
            {"timestamps": "none"},
            {"mode": "async"},  # the same product by webhook: the same result
        ):
            reused = await s.call("transcribe_whisper", asset_id=asset, **{"mode": "sync", **view})
            data = ok(reused)
            assert (data["reused"], data["task_id"], data["cost_usd"]) == (True, original, 0.0)
            assert text_of(reused).startswith(f"Reused the result of task {original} (")

        # every option that changes the result is a new request, billed once
        assert ok(await s.call("transcribe_whisper", asset_id=asset, speaker=True, mode="sync"))["cost_usd"] == 0.006
        assert ok(await s.call("transcribe_whisper", asset_id=asset, speaker=True, format="vtt"))["reused"]
        assert "cost_usd" in ok(await s.call("identify_speakers", asset_id=asset, mode="sync"))
        assert ok(await s.call("identify_speakers", asset_id=asset, format="rttm"))["reused"]
        assert "reused" not in ok(await s.call("transcribe_assemblyai", asset_id=asset))
        assert ok(await s.call("transcribe_assemblyai", asset_id=asset, format="srt"))["reused"]
        assert "reused" not in ok(await s.call("transcribe_assemblyai", asset_id=asset, speaker_labels=True))
        assert "reused" not in ok(await s.call("transcribe_elevenlabs", asset_id=asset))
        assert ok(await s.call("transcribe_elevenlabs", asset_id=asset, format="json"))["reused"]
        assert "reused" not in ok(await s.call("transcribe_whisper", asset_id=fresh["asset_id"], mode="sync"))

        # identical calls at the same time are billed once (sync and async)
        results: list[dict[str, Any]] = []

        async def together(tool: str, arguments: dict[str, Any]) -> None:
            results.append(ok(await s.call(tool, **arguments)))

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(together, "transcribe_whisper", {"asset_id": asset_b, "mode": "sync"})
            for _ in range(2):
                tg.start_soon(together, "identify_speakers", {"asset_id": asset_b, "mode": "sync"})
            for _ in range(2):
                tg.start_soon(together, "transcribe_whisper", {"asset_id": MONRO, "mode": "async", "wait_seconds": 30})
        assert sorted(bool(r.get("reused")) for r in results) == [False] * 3 + [True] * 4
        by_webhook = next(r for r in results if r.get("endpoint") == "async-generate-audio" and not r.get("reused"))
        assert cents(by_webhook["cost_usd"]) == cents(PRICES["transcribe_whisper"].usd_for(BY_ID[MONRO].duration))
        assert len({r["task_id"] for r in results}) == 3

        # refresh pays again on purpose; the newest result is reused after it
        again_paid = ok(await s.call("transcribe_whisper", asset_id=asset, mode="sync", refresh=True))
        assert "reused" not in again_paid
        assert again_paid["task_id"] != original
        assert ok(await s.call("transcribe_whisper", asset_id=asset, mode="sync"))["task_id"] == again_paid["task_id"]

        # reading stored results is free
        ok(await s.call("get_task", task_id=original, format="srt"))
        listed = await s.call("list_tasks", limit=50)
        assert text_of(listed).startswith("Spent today $")
        assert s.calls >= 30

        processed = s.processed() - before
        billed = Counter({name: n for name, n in processed.items() if name in (*TRANSCRIPTIONS, "upload")})
        assert billed == Counter(
            {
                "upload": 3,  # a.wav, b.wav, a.wav with refresh (metadata checks are free)
                "sync-generate-audio": 5,  # a, a with speakers, the fresh asset, b (three at once), a with refresh
                "sync-generate-speaker": 2,  # a, b (two at once)
                "speech-to-text": 3,  # assemblyai, assemblyai with speaker_labels, elevenlabs
                "async-generate-audio": 1,  # MONRO, two at once
            }
        )
        # the ledger agrees with the vendor's: every billed task listed with its cost, summed in today's spend
        tasks = ok(listed)
        costs = [t["cost_usd"] for t in tasks["tasks"] if t.get("cost_usd") is not None]
        assert len(costs) == sum(billed[name] for name in TRANSCRIPTIONS)
        assert tasks["spent_today_usd"] == pytest.approx(sum(costs), abs=1e-6)


async def test_reported_costs_match_mavi_prices_for_the_bundled_recordings_to_the_cent(
    sandbox: tuple[SandboxServer, int], tmp_path: Path
) -> None:
    server, _ = sandbox
    async with session(server, tmp_path) as s:
        cases = [
            ("transcribe_assemblyai", {"asset_id": WILDFIRES}, "transcribe_assemblyai", WILDFIRES),
            ("transcribe_elevenlabs", {"asset_id": COSTCO}, "transcribe_elevenlabs", COSTCO),
            ("transcribe_whisper", {"asset_id": COSTCO, "mode": "sync"}, "transcribe_whisper", COSTCO),
        ]
        for tool, arguments, price, asset in cases:
            result = await s.call(tool, max_tokens=600, max_cost_usd=20, **arguments)
            data = ok(result)
            expected = PRICES[price].usd_for(BY_ID[asset].duration)  # pyright: ignore[reportArgumentType]
            assert cents(data["cost_usd"]) == cents(expected), (tool, data["billed_seconds"])
            assert f"Billed ${expected:,.2f} for " in text_of(result).splitlines()[0]
        # speaker turns carry no duration and this asset was not uploaded here: the transcript's end, said to be
        # a lower bound (Monro's last turn ends 2.4 s before the recording)
        result = await s.call("identify_speakers", asset_id=MONRO, mode="sync", max_tokens=600)
        assert text_of(result).startswith("Billed $3.28 for 54:43 (the transcript's end, a lower bound).")
        assert ok(result)["cost_usd"] <= PRICES["identify_speakers"].usd_for(BY_ID[MONRO].duration)


def answering(action: str, content: dict[str, Any] | None, asked: list[str]) -> Any:
    async def callback(context: Any, params: ElicitRequestFormParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action=action, content=content)  # pyright: ignore[reportArgumentType]

    return callback


@pytest.mark.parametrize(
    ("era", "action", "content", "sent", "said"),
    [
        ("auto", "accept", {"pay": True}, True, "Billed $0.006 for 0:03"),
        ("legacy", "accept", {"pay": True}, True, "Billed $0.006 for 0:03"),
        ("auto", "accept", {"pay": False}, False, "Not sent: the user answered no to transcribe_whisper (about $0.006"),
        ("auto", "decline", None, False, "Not sent: the user declined transcribe_whisper (about $0.006 for 0:03)"),
        ("legacy", "decline", None, False, "Not sent: the user declined transcribe_whisper (about $0.006 for 0:03)"),
        ("auto", "cancel", None, False, "Not sent: the user dismissed the cost confirmation for transcribe_whisper"),
    ],
)
async def test_a_call_above_the_threshold_is_sent_only_when_the_user_accepts(
    sandbox: tuple[SandboxServer, int], tmp_path: Path, era: str, action: str, content: Any, sent: bool, said: str
) -> None:
    """`era`: `auto` negotiates 2026-07-28 (the question rides an InputRequiredResult), `legacy` 2025-11-25 (an
    elicitation request mid-call)."""
    server, _ = sandbox
    asked: list[str] = []
    callback = answering(action, content, asked)
    async with session(server, tmp_path, elicit=callback, mode=era, MAVI_MCP_CONFIRM_ABOVE_USD="0.005") as s:
        asset = ok(await s.call("upload_media", path=str(write_wav(s.media / "a.wav", seconds=3.0))))["asset_id"]
        assert not asked  # the upload is free
        assert ok(await s.call("transcribe_whisper", asset_id=asset, mode="sync"))["cost_usd"] == 0.003  # under it
        before = s.processed()
        result = await s.call("transcribe_whisper", asset_id=asset, speaker=True, mode="sync")
        assert asked == [
            "transcribe_whisper will cost about $0.006 for 0:03 (Whisper with speaker labels at $0.002/s for "
            "0:03), billed by MAVI to your account. Send the request?"
        ]
        if sent:
            assert text_of(result).startswith(said)
            assert s.processed() - before == Counter({"sync-generate-audio": 1})
            assert ok(await s.call("transcribe_whisper", asset_id=asset, speaker=True, format="srt"))["reused"]
            assert len(asked) == 1  # a reuse is free: not asked again
        else:
            assert said in error(result)
            assert "Nothing was billed" in error(result)
            assert s.processed() == before


async def test_a_client_without_elicitation_is_refused_with_the_estimate_then_goes_ahead_with_max_cost(
    sandbox: tuple[SandboxServer, int], tmp_path: Path
) -> None:
    server, _ = sandbox
    async with session(server, tmp_path, MAVI_MCP_CONFIRM_ABOVE_USD="0.005") as s:
        asset = ok(await s.call("upload_media", path=str(write_wav(s.media / "a.wav", seconds=3.0))))["asset_id"]
        before = s.processed()
        refused = error(await s.call("transcribe_whisper", asset_id=asset, speaker=True, mode="sync"))
        assert refused.removeprefix(GATE_PREFIX) == (
            "Not sent: transcribe_whisper would cost about $0.006 for 0:03 (Whisper with speaker labels at $0.002/s "
            "for 0:03), above MAVI_MCP_CONFIRM_ABOVE_USD=$0.005, and this client cannot ask the user to confirm. "
            "Nothing was billed. To go ahead, call again with max_cost_usd=0.01 (after checking with the user), or "
            "raise MAVI_MCP_CONFIRM_ABOVE_USD in the server's configuration."
        )
        assert s.processed() == before
        paid = ok(await s.call("transcribe_whisper", asset_id=asset, speaker=True, mode="sync", max_cost_usd=0.01))
        assert paid["cost_usd"] == 0.006
        assert s.processed() - before == Counter({"sync-generate-audio": 1})


async def test_the_daily_budget_refuses_a_call_that_would_pass_it(
    sandbox: tuple[SandboxServer, int], tmp_path: Path
) -> None:
    server, _ = sandbox
    async with session(server, tmp_path, MAVI_MCP_DAILY_BUDGET_USD="0.008") as s:
        asset = ok(await s.call("upload_media", path=str(write_wav(s.media / "a.wav", seconds=3.0))))["asset_id"]
        assert ok(await s.call("transcribe_whisper", asset_id=asset, mode="sync"))["cost_usd"] == 0.003
        before = s.processed()
        refused = error(await s.call("transcribe_whisper", asset_id=asset, speaker=True, mode="sync"))
        assert refused.removeprefix(GATE_PREFIX).startswith(
            "Not sent: transcribe_whisper would cost about $0.006 for 0:03, taking today's spend from $0.003 to "
            "$0.009, past MAVI_MCP_DAILY_BUDGET_USD=$0.008. Nothing was billed."
        )
        assert s.processed() == before
        assert ok(await s.call("transcribe_whisper", asset_id=asset, format="srt"))["reused"]  # stored: still free
        listed = ok(await s.call("list_tasks"))
        assert (listed["spent_today_usd"], listed["spent_month_usd"]) == (0.003, 0.003)
