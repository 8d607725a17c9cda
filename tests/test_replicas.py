"""Replicas behind nginx (examples/deploy): 2025 session-based clients stay on the replica holding their session,
stateless (2026-07-28) requests go to any replica, and what replicas share (the store, requestState keys)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.request_state import InvalidRequestState
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequestFormParams, ElicitResult
from pydantic import ValidationError

from mavi_mcp.replicas import request_state_security
from mavi_mcp.settings import Settings
from tests.conftest import API_KEY, SandboxServer, write_wav
from tests.helpers import AMI_ES2004A, COSTCO, ok, text_of
from tests.services import DEPLOY, deploy_upstreams, deployment

KEY_A = "a" * 20 + "-request-state-key-one"
KEY_B = "b" * 20 + "-request-state-key-two"


def without_comments(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def test_the_example_upstreams_are_the_ones_the_tests_run() -> None:
    example = (DEPLOY / "nginx" / "mavi-mcp-upstreams.conf").read_text()
    assert without_comments(example) == without_comments(deploy_upstreams([8001, 8002, 8003]))


def test_the_example_units_name_each_replica_as_the_proxy_routes_it() -> None:
    unit = (DEPLOY / "systemd" / "mavi-mcp@.service").read_text()
    assert "Environment=MAVI_MCP_REPLICA_NAME=r%i" in unit
    assert "Environment=MAVI_MCP_PORT=800%i" in unit
    shared = (DEPLOY / "systemd" / "replicas.env").read_text()
    names = re.findall(r"^([A-Z_]+)=", shared, flags=re.MULTILINE)
    known = {field.validation_alias for field in Settings.model_fields.values()}
    assert [name for name in names if name not in known] == []
    for needed in ("MAVI_MCP_WEBHOOK_SECRET", "MAVI_MCP_REQUEST_STATE_KEYS", "MAVI_MCP_ALLOWED_HOSTS"):
        assert needed in names


def test_replicas_with_the_same_request_state_keys_open_each_others_state_and_others_do_not() -> None:
    one = request_state_security(Settings(request_state_keys=f"{KEY_A},{KEY_B}"))
    two = request_state_security(Settings(request_state_keys=f"{KEY_A}"))
    other = request_state_security(Settings(request_state_keys=f"{KEY_B}"))
    assert one is not None
    assert two is not None
    assert other is not None
    assert two.codec.unseal(one.codec.seal(b"round 1")) == b"round 1"
    assert one.codec.unseal(two.codec.seal(b"round 2")) == b"round 2"
    with pytest.raises(InvalidRequestState):
        other.codec.unseal(one.codec.seal(b"round 1"))
    assert request_state_security(Settings()) is None


def test_a_short_request_state_key_is_refused_without_showing_it() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(request_state_keys="short-secret-value")
    messages = "; ".join(str(e["msg"]) for e in refused.value.errors())
    assert "at least 32" in messages
    assert "short-secret-value" not in messages


def replica_env(tmp_path: Path) -> dict[str, str]:
    """What every replica of one deployment shares: the data dir (SQLite store), webhook secret, requestState keys."""
    (tmp_path / "media").mkdir(parents=True, exist_ok=True)
    return {
        "MAVI_MCP_DATA_DIR": str(tmp_path / "data"),
        "MAVI_MCP_ALLOWED_DIRS": str(tmp_path / "media"),
        "MAVI_MCP_WEBHOOK_SECRET": "replicas-webhook-secret-0123456789abcdef",
        "MAVI_MCP_REQUEST_STATE_KEYS": KEY_A,
        "MAVI_MCP_CONFIRM_ABOVE_USD": "100",
        "MAVI_MCP_ALLOWED_HOSTS": "mcp.example.test",
    }


@asynccontextmanager
async def session(url: str, mode: str, session_ids: list[str]) -> AsyncIterator[Client]:
    """An SDK client through the proxy in `mode` ("legacy": 2025 session handshake; "auto": 2026 stateless), noting
    each `Mcp-Session-Id` the server hands out in `session_ids`."""

    async def note(response: httpx2.Response) -> None:
        sid = response.headers.get("mcp-session-id")
        if sid is not None and sid not in session_ids:
            session_ids.append(sid)

    async with (
        httpx2.AsyncClient(timeout=60, event_hooks={"response": [note]}) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


@pytest.mark.e2e
@pytest.mark.anyio
async def test_session_clients_stay_on_their_replica_and_stateless_requests_spread_over_all(
    nginx_available: Path, tmp_path: Path
) -> None:
    with deployment(3, replica_env(tmp_path), "--sandbox") as dep:
        ports = {f"127.0.0.1:{r.port}": r.name for r in dep.replicas}
        session_ids: list[str] = []
        with anyio.fail_after(120):
            first = ""
            for n in range(5):  # initialize is spread round-robin: sessions on every replica
                async with session(dep.url, "legacy", session_ids) as client:
                    assert len((await client.list_tools()).tools) == 13
                    asset = AMI_ES2004A if n % 2 else COSTCO
                    made = ok(await client.call_tool("identify_speakers", {"asset_id": asset, "mode": "sync"}))
                    first = first or made["transcript_id"]
                    page = await client.call_tool("get_transcript", {"transcript_id": made["transcript_id"]})
                    assert text_of(page).startswith(f"Transcript {made['transcript_id']} · pyannote")
                    found = ok(await client.call_tool("list_transcripts", {}))
                    assert first in str(found)  # made on another replica, read from the shared store
        assert len(session_ids) == 5
        assert {sid.split(".", 1)[0] for sid in session_ids} == {"r1", "r2", "r3"}

        by_session: defaultdict[str, set[str]] = defaultdict(set)
        for upstream, status, method, sid in dep.upstream_log():
            if sid != "-":
                by_session[sid].add(ports[upstream])
                assert status in (200, 202, 204), (upstream, status, method, sid)
        for sid in session_ids:
            assert by_session[sid] == {sid.split(".", 1)[0]}, (sid, by_session[sid])

        before = len(dep.upstream_log())
        stateless: list[str] = []
        with anyio.fail_after(60):
            async with session(dep.url, "auto", stateless) as client:
                made = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
                for _ in range(5):
                    page = await client.call_tool("get_transcript", {"transcript_id": made["transcript_id"]})
                    assert text_of(page).startswith(f"Transcript {made['transcript_id']} · pyannote")
        assert stateless == []  # no session: every request may go anywhere
        answered = dep.upstream_log()[before:]
        assert all(status == 200 for _, status, _, _ in answered), answered
        assert len({ports[upstream] for upstream, _, _, _ in answered}) >= 2, answered

        call = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                "name": "list_transcripts",
                "arguments": {},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        }
        headers = {
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": "list_transcripts",
        }
        async with httpx2.AsyncClient(timeout=30) as http:
            for _ in range(3):  # the proxy's public name (MAVI_MCP_ALLOWED_HOSTS) on every replica; others refused
                public = await http.post(f"{dep.url}/mcp", json=call, headers={**headers, "host": "mcp.example.test"})
                assert public.status_code == 200, public.text
                assert first in public.text
                foreign = await http.post(f"{dep.url}/mcp", json=call, headers={**headers, "host": "evil.example"})
                assert foreign.status_code == 421


@pytest.mark.e2e
@pytest.mark.anyio
async def test_a_session_whose_replica_died_is_refused_and_a_new_session_works(
    nginx_available: Path, tmp_path: Path
) -> None:
    with deployment(2, replica_env(tmp_path), "--sandbox") as dep:
        session_ids: list[str] = []
        with anyio.fail_after(90):
            async with session(dep.url, "legacy", session_ids) as client:
                assert len((await client.list_tools()).tools) == 13
                holder = next(r for r in dep.replicas if r.name == session_ids[0].split(".", 1)[0])
                holder.kill()
                with pytest.raises(MCPError, match="error response"):  # nginx's 502: no replica holds it
                    await client.list_tools()
            async with session(dep.url, "legacy", session_ids) as client:
                assert len((await client.list_tools()).tools) == 13
        assert session_ids[1].split(".", 1)[0] != holder.name


async def confirmed_calls(url: str, media: Path) -> list[str]:
    """Upload two recordings and identify their speakers through the proxy as a 2026-07-28 client whose user
    accepts every cost question (a call asked about has two rounds, the second echoing the sealed requestState);
    the errors, '' for a success."""
    asked: list[str] = []

    async def accept(context: object, params: ElicitRequestFormParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"pay": True})

    outcomes: list[str] = []
    async with (
        httpx2.AsyncClient(timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), elicitation_callback=accept) as client,  # pyright: ignore[reportArgumentType]
    ):
        for seconds in (30.0, 31.0):
            path = write_wav(media / f"meeting-{seconds:.0f}.wav", seconds=seconds)
            try:
                asset = ok(await client.call_tool("upload_media", {"path": str(path)}))["asset_id"]
                result = await client.call_tool("identify_speakers", {"asset_id": asset, "mode": "sync"})
                outcomes.append(text_of(result) if result.is_error else "")
            except MCPError as exc:
                outcomes.append(str(exc))
    assert len(asked) >= 1, outcomes  # the user was asked (first round) at least once
    return outcomes


@pytest.mark.e2e
@pytest.mark.anyio
async def test_a_confirmed_paid_call_may_finish_on_another_replica_only_with_shared_request_state_keys(
    nginx_available: Path, tmp_path: Path, sandbox_server: SandboxServer
) -> None:
    # one MAVI for both replicas (`--sandbox` would give each its own simulator, and an upload to one would be
    # unknown to the other)
    env = {
        **replica_env(tmp_path),
        "MAVI_BASE_URL": sandbox_server.url,
        "MAVI_API_KEY": API_KEY,
        "MAVI_MCP_CONFIRM_ABOVE_USD": "0",
    }
    with deployment(2, env) as dep, anyio.fail_after(90):
        assert await confirmed_calls(dep.url, tmp_path / "media") == ["", ""]
    own = {key: value for key, value in env.items() if key != "MAVI_MCP_REQUEST_STATE_KEYS"}
    own["MAVI_MCP_DATA_DIR"] = str(tmp_path / "own")
    with deployment(2, own) as dep, anyio.fail_after(90):
        outcomes = await confirmed_calls(dep.url, tmp_path / "media")
    assert any("requestState" in outcome for outcome in outcomes), outcomes
