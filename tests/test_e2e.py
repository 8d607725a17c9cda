"""End to end on real recordings: the sandbox on a loopback port, `mavi-mcp` spawned by the SDK's client.

stdio is the main path (Claude Desktop, Claude Code); streamable HTTP carries the async multi-speaker flow with
the webhook receiver on the same app. Every wait is bounded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mavi_mcp.sandbox import catalog
from tests.conftest import (
    WEBHOOK_SECRET,
    SandboxServer,
    free_port,
    mavi_mcp_command,
    server_env,
    start,
    start_sandbox,
    stdio_params,
    wait_http,
    write_wav,
)
from tests.helpers import AMI_ES2004A, COSTCO, MONRO, TOOLS, error, ok, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SK_TELECOM = "re_700000000000000001"
EXPECTED_TOOLS = set(TOOLS)


async def read_json_segments(client: Client, transcript_id: str, budget: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(500):
        args: dict[str, Any] = {"transcript_id": transcript_id, "format": "json", "max_tokens": budget}
        if cursor:
            args["cursor"] = cursor
        page = ok(await client.call_tool("get_transcript", args))
        records.extend(page["segments"])
        cursor = page.get("next_cursor")
        if cursor is None:
            return records
    raise AssertionError("paging did not end")


async def test_an_agent_uploads_identifies_speakers_and_transcribes_real_recordings_over_stdio(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    env = server_env(tmp_path, sandbox_server.url)
    wav = write_wav(tmp_path / "media" / "standup.wav", seconds=3.0)
    with anyio.fail_after(180):
        async with Client(stdio_params(env)) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(tools) == EXPECTED_TOOLS
            assert "$0.001" in (tools["identify_speakers"].description or "")

            uploaded = ok(await client.call_tool("upload_media", {"path": str(wav)}))
            assert uploaded["status"] == "completed"
            assert uploaded["asset_id"].startswith("re_")
            assert uploaded["upload_status"] == "SUCCESS"
            own = ok(await client.call_tool("transcribe_whisper", {"asset_id": uploaded["asset_id"], "mode": "sync"}))
            assert own["duration"] == pytest.approx(3.0)
            assert "[MAVI sandbox]" in text_of(
                await client.call_tool("get_transcript", {"transcript_id": own["transcript_id"]})
            )

            turns = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            assert turns["kind"] == "diarization"
            assert turns["counts"]["segments"] == 260
            assert len(turns["speakers"]) == 4
            assert turns["duration"] == pytest.approx(1049.04)
            assert sum(s["turns"] for s in turns["speakers"]) >= 4

            call = await client.call_tool(
                "transcribe_whisper", {"asset_id": COSTCO, "speaker": True, "mode": "sync", "max_tokens": 2000}
            )
            whisper = ok(call)
            assert (
                text_of(call)
                .split("<transcript>\n", 1)[1]
                .startswith("[0:02] S0: Good day and thank you for standing by")
            )
            assert len(whisper["speakers"]) == 17
            assert whisper["duration"] == pytest.approx(3973.32)
            assert whisper["next_cursor"]

            items = json.loads(
                (Path(catalog.__file__).parent / "data/sync-generate-audio-speaker/4474506.json").read_text()
            )
            records = await read_json_segments(client, whisper["transcript_id"], 1500)
            indexes = sorted({r["i"] for r in records})
            assert indexes == list(range(len(items["data"]["items"])))
            by_index: dict[int, list[str]] = {}
            for record in records:
                by_index.setdefault(record["i"], []).append(record["text"])
            for i, item in enumerate(items["data"]["items"]):
                assert " ".join(by_index[i]).split() == item["text"].split()

            aai = ok(
                await client.call_tool(
                    "transcribe_assemblyai", {"asset_id": SK_TELECOM, "speaker_labels": True, "language_code": "en"}
                )
            )
            assert aai["provider"] == "assemblyai"
            assert len(aai["speakers"]) == 26
            assert aai["counts"]["words"] == 5363

            eleven = ok(await client.call_tool("transcribe_elevenlabs", {"asset_id": COSTCO, "diarize": True}))
            assert eleven["counts"]["words"] == 11942
            assert eleven["duration"] == pytest.approx(3973.32)

            renamed = ok(
                await client.call_tool(
                    "rename_speakers",
                    {
                        "transcript_id": whisper["transcript_id"],
                        "names": [{"speaker": "S1", "name": "Richard Galanti"}],
                    },
                )
            )
            assert renamed["renamed"] == {"SPEAKER_01": "Richard Galanti"}
            again = await client.call_tool(
                "get_transcript",
                {"transcript_id": whisper["transcript_id"], "speakers": ["Richard Galanti"], "max_tokens": 600},
            )
            assert "Richard Galanti: Uh, thank you, Sadie" in text_of(again)
            search = {"query": '"thank you Sadie"', "speakers": ["Richard Galanti"]}
            found = await client.call_tool("search_transcripts", {**search, "transcript_id": whisper["transcript_id"]})
            hit = ok(found)["hits"][0]
            assert (hit["speaker"], hit["name"]) == ("SPEAKER_01", "Richard Galanti")
            assert "Richard Galanti: <transcript>" in text_of(found)

            task = ok(await client.call_tool("get_task", {"task_id": whisper["task_id"]}))
            assert task["status"] == "completed"
            assert task["transcript_id"] == whisper["transcript_id"]
            tasks = ok(await client.call_tool("list_tasks", {"status": "completed"}))
            assert len(tasks["tasks"]) == 6

            refused = error(await client.call_tool("multi_speaker_async", {"asset_id": MONRO}))
            assert "webhook" in refused
            assert "Nothing was sent or billed" in refused

            resource = await client.read_resource(f"mavi://transcripts/{turns['transcript_id']}")
            assert "260 turns" in resource.contents[0].text  # type: ignore[union-attr]


async def test_a_named_speaker_transcript_arrives_by_webhook_over_streamable_http(tmp_path: Path) -> None:
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}"
    sandbox = start_sandbox("--webhook-url", webhook, "--callback-delay", "1")
    env = server_env(tmp_path, sandbox.url)
    server = start([*mavi_mcp_command(), "--transport", "streamable-http", "--port", str(port)], env)
    try:
        wait_http(f"http://127.0.0.1:{port}/mcp")
        with anyio.fail_after(90):
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                info = ok(await client.call_tool("webhook_info", {}))
                assert info["running_here"] is True
                assert info["url"].endswith(f"/webhooks/mavi/{WEBHOOK_SECRET}")
                started = ok(await client.call_tool("multi_speaker_async", {"asset_id": MONRO, "wait_seconds": 0}))
                assert started["status"] == "pending"
                task_id = started["task_id"]
                result: dict[str, Any] = started
                while result["status"] == "pending":
                    result = ok(await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 5}))
                assert result["status"] == "completed"
                assert result["counts"]["segments"] == 420
                names = {s["label"] for s in result["speakers"]}
                assert len(names) == 10
                assert {"Brett Ponton", "Maureen Mulholland", "Brian D'Ambrosia"} <= names
                records = await read_json_segments(client, result["transcript_id"], 6000)
                assert sorted({r["i"] for r in records}) == list(range(420))
    finally:
        server.stop()
        sandbox.process.stop()


async def test_stdio_with_webhook_port_receives_async_results_in_the_same_process(tmp_path: Path) -> None:
    port = free_port()
    sandbox = start_sandbox(
        "--webhook-url", f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}", "--callback-delay", "1"
    )
    env = server_env(tmp_path, sandbox.url)
    try:
        with anyio.fail_after(60):
            async with Client(stdio_params(env, "--webhook-port", str(port))) as client:
                result = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "async"}))
                assert result["status"] == "completed", result
                assert result["endpoint"] == "async-generate-speaker"
                assert result["counts"]["segments"] == 260
    finally:
        sandbox.process.stop()


async def test_a_separate_webhook_service_feeds_stdio_servers_through_the_shared_store(tmp_path: Path) -> None:
    port = free_port()
    sandbox = start_sandbox(
        "--webhook-url", f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}", "--callback-delay", "1"
    )
    env = server_env(tmp_path, sandbox.url)
    receiver = start([*mavi_mcp_command(), "webhook", "--port", str(port)], env)
    try:
        receiver.wait_for(r"listening on")
        with anyio.fail_after(60):
            async with Client(stdio_params(env)) as client:
                info = ok(await client.call_tool("webhook_info", {}))
                assert info["running_here"] is False
                assert len(info["other_receivers"]) == 1
                result = ok(
                    await client.call_tool("transcribe_whisper", {"asset_id": COSTCO, "mode": "async", "speaker": True})
                )
                assert result["status"] == "completed", result
                assert result["endpoint"] == "async-generate-audio"
                assert len(result["speakers"]) == 17
    finally:
        receiver.stop()
        sandbox.process.stop()


async def test_bad_input_and_api_failures_reach_the_agent_as_actionable_errors(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    env = server_env(tmp_path, sandbox_server.url, MAVI_MCP_MAX_ATTEMPTS="3")
    (media / "notes.txt").parent.mkdir(exist_ok=True)
    (media / "notes.txt").write_text("not audio")
    outside = write_wav(tmp_path / "outside.wav")
    with sandbox_server.admin() as admin, anyio.fail_after(120):
        async with Client(stdio_params(env)) as client:
            assert "outside the directories" in error(await client.call_tool("upload_media", {"path": str(outside)}))
            assert "is a directory" in error(await client.call_tool("upload_media", {"path": str(media)}))
            assert "audio and video files only" in error(
                await client.call_tool("upload_media", {"path": str(media / "notes.txt")})
            )
            assert "exactly one audio source" in error(
                await client.call_tool(
                    "transcribe_assemblyai", {"asset_id": COSTCO, "url": "https://example.com/a.mp3"}
                )
            )
            unknown = error(await client.call_tool("transcribe_whisper", {"asset_id": "re_123", "mode": "sync"}))
            assert "unknown or deleted asset_id" in unknown
            assert "rate limit" in unknown

            admin.put("/_sandbox/faults", json={"sync-generate-audio": [{"kind": "status", "status": 402}]})
            assert "out of credits" in error(
                await client.call_tool("transcribe_whisper", {"asset_id": COSTCO, "mode": "sync"})
            )

            admin.put(
                "/_sandbox/faults",
                json={"sync-generate-speaker": [{"kind": "status", "status": 429, "retry_after": "1", "count": 1}]},
            )
            before = admin.get("/_sandbox/processed").json()["processed"]
            recovered = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            assert recovered["counts"]["segments"] == 260
            assert admin.get("/_sandbox/processed").json()["processed"][len(before) :] == ["sync-generate-speaker"]

            admin.put("/_sandbox/faults", json={"sync-generate-speaker": [{"kind": "status_after", "status": 500}]})
            before = admin.get("/_sandbox/processed").json()["processed"]
            again = {"asset_id": AMI_ES2004A, "mode": "sync", "refresh": True}  # the same request: paid again
            failed = error(await client.call_tool("identify_speakers", again))
            assert "did not resend" in failed
            assert admin.get("/_sandbox/processed").json()["processed"][len(before) :] == ["sync-generate-speaker"]
            admin.delete("/_sandbox/faults")

    no_key = server_env(tmp_path / "nokey", sandbox_server.url, key=None)
    with anyio.fail_after(60):
        async with Client(stdio_params(no_key)) as client:
            assert {t.name for t in (await client.list_tools()).tools} == EXPECTED_TOOLS
            message = error(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A}))
            assert "MAVI_API_KEY" in message
            assert "--sandbox" in message

    strict = start_sandbox("--api-key", "sk-the-only-valid-key")
    try:
        with anyio.fail_after(60):
            async with Client(stdio_params(server_env(tmp_path / "wrongkey", strict.url))) as client:
                refused = error(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
                assert "API key was refused" in refused
                assert "HTTP 401" in refused
    finally:
        strict.process.stop()


async def test_the_sandbox_flag_serves_everything_in_process_without_a_key(tmp_path: Path) -> None:
    env = {"MAVI_MCP_DATA_DIR": str(tmp_path / "data"), "MAVI_MCP_ALLOWED_DIRS": str(tmp_path)}
    with anyio.fail_after(60):
        async with Client(stdio_params(env, "--sandbox")) as client:
            assert "re_700000000000000003" in (client.instructions or "")
            result = ok(await client.call_tool("multi_speaker_async", {"asset_id": MONRO}))
            assert result["status"] == "completed"
            assert result["sandbox"] is True
            assert len(result["speakers"]) == 10


def test_the_command_line_documents_every_setting() -> None:
    import subprocess

    shown = subprocess.run([*mavi_mcp_command(), "--help"], capture_output=True, text=True, timeout=30, check=True)
    for name in (
        "MAVI_API_KEY",
        "MAVI_BASE_URL",
        "MAVI_MCP_DATA_DIR",
        "MAVI_MCP_ALLOWED_DIRS",
        "--sandbox",
        "--transport",
    ):
        assert name in shown.stdout
    assert shown.stderr == ""


def test_importing_the_package_reads_no_environment_and_prints_nothing() -> None:
    import subprocess

    code = "import mavi_mcp.server, mavi_mcp.cli"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env={"PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


async def test_two_sse_sessions_share_one_runtime_and_its_store(tmp_path: Path) -> None:
    from mcp.client.sse import sse_client

    port = free_port()
    server = start(
        [*mavi_mcp_command(), "--sandbox", "--transport", "sse", "--port", str(port)], server_env(tmp_path, None)
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/nothing")
        with anyio.fail_after(60):
            async with Client(sse_client(f"http://127.0.0.1:{port}/sse")) as first:
                made = ok(await first.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
                async with Client(sse_client(f"http://127.0.0.1:{port}/sse")) as second:
                    read = ok(await second.call_tool("get_transcript", {"transcript_id": made["transcript_id"]}))
                    assert read["counts"]["segments"] == 260
                    info = ok(await second.call_tool("webhook_info", {}))
                    assert info["running_here"] is True
    finally:
        server.stop()
