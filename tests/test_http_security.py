"""HTTP transports: bearer token, refusing open binds, DNS-rebinding protection, per-request keys, --check."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import (
    API_KEY,
    WEBHOOK_SECRET,
    Process,
    free_port,
    mavi_mcp_command,
    server_env,
    start,
    start_sandbox,
    wait_http,
)
from tests.helpers import AMI_ES2004A, error, ok

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
TOKEN = "test-bearer-token-0123456789abcdef"


@contextmanager
def http_server(env: dict[str, str], *flags: str) -> Iterator[tuple[str, Process]]:
    port = free_port()
    process = start([*mavi_mcp_command(), "--transport", "streamable-http", "--port", str(port), *flags], env)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz-not-there")
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.stop()


@asynccontextmanager
async def client_with(url: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    """An SDK client whose HTTP requests carry `headers` (the caller owns, and closes, that HTTP client)."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_the_mcp_endpoint_needs_the_bearer_token_and_the_webhook_route_does_not(tmp_path: Path) -> None:
    env = server_env(tmp_path, None, MAVI_MCP_AUTH_TOKEN=TOKEN)
    with http_server(env, "--sandbox") as (url, _):
        with httpx2.Client(timeout=10) as raw:
            refused = raw.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
            wrong = raw.post(f"{url}/mcp", headers={"Authorization": "Bearer nope"}, json={})
            assert wrong.status_code == 401
            assert TOKEN not in refused.text + wrong.text
            hook = raw.post(
                f"{url}/webhooks/mavi/{WEBHOOK_SECRET}",
                content=b"{not json",
                headers={"content-type": "application/json"},
            )
            assert hook.status_code == 200
            assert hook.json()["status"] == "malformed"
        with anyio.fail_after(30):
            async with client_with(url, {"Authorization": f"Bearer {TOKEN}"}) as client:
                result = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
                assert result["counts"]["segments"] == 260


def test_serving_http_on_a_public_address_without_a_token_is_refused(tmp_path: Path) -> None:
    env = server_env(tmp_path, None)
    done = subprocess.run(
        [*mavi_mcp_command(), "--transport", "streamable-http", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        env={**__import__("os").environ, **env},
    )
    assert done.returncode == 2
    assert "MAVI_MCP_AUTH_TOKEN" in done.stderr
    assert "--allow-unauthenticated" in done.stderr
    assert done.stdout == ""


async def test_an_explicitly_allowed_public_bind_starts(tmp_path: Path) -> None:
    env = server_env(tmp_path, None)
    port = free_port()
    process = start(
        [*mavi_mcp_command(), "--sandbox", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", str(port),
         "--allow-unauthenticated"],
        env,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/anything")
        assert process.popen.poll() is None
    finally:
        process.stop()


def test_dns_rebinding_protection_stays_on_for_loopback(tmp_path: Path) -> None:
    with http_server(server_env(tmp_path, None), "--sandbox") as (url, _), httpx2.Client(timeout=10) as raw:
        response = raw.post(
            f"{url}/mcp",
            headers={"Host": "attacker.example", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )
    assert response.status_code in (403, 421)


async def test_a_per_request_key_is_used_for_that_request_only_and_never_stored(tmp_path: Path) -> None:
    own_key = "sk-mavi-tenant-key-9876543210"
    sandbox = start_sandbox("--api-key", own_key, "--no-rate-limit")
    env = server_env(tmp_path, sandbox.url, MAVI_MCP_RATE_LIMIT="0")  # the server's own key is not the sandbox's
    try:
        with http_server(env) as (url, process), anyio.fail_after(60):
            async with client_with(url, {"X-MAVI-API-Key": own_key}) as tenant:
                result = ok(await tenant.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
                assert result["counts"]["segments"] == 260
            async with client_with(url, {}) as anonymous:
                refused = error(
                    await anonymous.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"})
                )
                assert "API key was refused" in refused
            assert not any(own_key in line for line in process.seen)
    finally:
        sandbox.process.stop()
    for file in (tmp_path / "data").rglob("*"):
        if file.is_file():
            assert own_key.encode() not in file.read_bytes(), file
    with sqlite3.connect(tmp_path / "data" / "mavi-mcp.sqlite3") as db:
        dump = "\n".join(db.iterdump())
    assert own_key not in dump
    assert API_KEY not in dump


def test_check_reports_a_working_configuration_and_a_refused_key(tmp_path: Path) -> None:
    import os

    sandbox = start_sandbox("--api-key", "sk-the-right-one", "--no-rate-limit")
    try:
        good = subprocess.run(
            [*mavi_mcp_command(), "--check"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **server_env(tmp_path, sandbox.url, key="sk-the-right-one")},
        )
        bad = subprocess.run(
            [*mavi_mcp_command(), "--check"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **server_env(tmp_path, sandbox.url, key="sk-the-wrong-one-123456")},
        )
    finally:
        sandbox.process.stop()
    assert good.returncode == 0, good.stderr
    assert "API check OK" in good.stderr
    assert "api_key = sk-t…(16 chars)" in good.stderr
    assert "sk-the-right-one" not in good.stderr + good.stdout
    assert bad.returncode == 1
    assert "API key was refused" in bad.stderr
    assert "sk-the-wrong-one-123456" not in bad.stderr + bad.stdout
