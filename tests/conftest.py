"""Shared fixtures: real processes (the sandbox on a loopback port, mavi-mcp over stdio or HTTP), bounded waits."""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from mcp.client.stdio import StdioServerParameters

from tests.services import nginx_available, pg_url, postgres  # noqa: F401  (fixtures: PostgreSQL, nginx)

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.types import ASGIApp, Receive, Scope, Send

    from mavi_mcp.runtime import Runtime
    from mavi_mcp.sandbox.app import Sandbox

API_KEY = "sk-mavi-e2e-test-key-0123456789"
WEBHOOK_SECRET = "e2e-webhook-secret-0123456789abcdef"


SPAWNING_FIXTURES = frozenset({"postgres", "pg_url", "browser"})
"""Fixtures that start a real process (a PostgreSQL cluster, Chromium): a test that uses one is `e2e` like the
tests that start the sandbox or mavi-mcp, so the quick loop (`-m "not e2e and not fuzz"`) leaves it out."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SPAWNING_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """The one anyio backend of every async test and fixture (session-scoped, so module-scoped fixtures may use it)."""
    return "asyncio"


@dataclass
class Process:
    """A child process whose stderr is drained by a thread (so it never blocks) and kept for assertions."""

    popen: subprocess.Popen[bytes]
    lines: queue.Queue[str] = field(default_factory=queue.Queue[str])
    seen: list[str] = field(default_factory=list[str])

    def __post_init__(self) -> None:
        def drain() -> None:
            assert self.popen.stderr is not None
            for raw in self.popen.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                self.seen.append(line)
                self.lines.put(line)

        threading.Thread(target=drain, daemon=True).start()

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            match = regex.search(line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s; stderr so far:\n" + "\n".join(self.seen))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        if self.popen.stderr is not None:
            self.popen.stderr.close()


def start(args: list[str], env: dict[str, str] | None = None) -> Process:
    child_env = {**os.environ, **(env or {})}
    popen = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env
    )
    return Process(popen)


@dataclass
class SandboxServer:
    process: Process
    url: str

    def admin(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, timeout=10)


def start_sandbox(*flags: str) -> SandboxServer:
    process = start([sys.executable, "-m", "mavi_mcp.sandbox", "--port", "0", *flags])
    match = process.wait_for(r"MAVI sandbox listening on (http://\S+)")
    return SandboxServer(process, match.group(1))


@pytest.fixture
def sandbox_server() -> Iterator[SandboxServer]:
    """The sandbox as a real HTTP server on loopback, vendor rate limit ON, fast uploads."""
    server = start_sandbox("--upload-processing-seconds", "0.3")
    yield server
    server.process.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mavi_mcp_command() -> list[str]:
    """The installed `mavi-mcp` console script (next to this interpreter), else `python -m mavi_mcp`."""
    script = Path(sys.executable).parent / "mavi-mcp"
    if script.exists():
        return [str(script)]
    found = shutil.which("mavi-mcp")
    return [found] if found else [sys.executable, "-m", "mavi_mcp"]


def server_env(tmp_path: Path, base_url: str | None, *, key: str | None = API_KEY, **extra: str) -> dict[str, str]:
    env = {
        "MAVI_MCP_DATA_DIR": str(tmp_path / "data"),
        "MAVI_MCP_ALLOWED_DIRS": str(tmp_path / "media"),
        "MAVI_MCP_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MAVI_MCP_MAX_RETRY_WAIT": "2",
        **extra,
    }
    if base_url is not None:
        env["MAVI_BASE_URL"] = base_url
    if key is not None:
        env["MAVI_API_KEY"] = key
    (tmp_path / "media").mkdir(parents=True, exist_ok=True)
    return env


def stdio_params(env: dict[str, str], *args: str) -> StdioServerParameters:
    command = mavi_mcp_command()
    return StdioServerParameters(command=command[0], args=[*command[1:], *args], env=env)


def write_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """A real (silent) mono 16-bit WAV file written with the stdlib."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * int(rate * seconds))
    return path


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


@asynccontextmanager
async def in_process_server(
    data_dir: Path,
    allowed_dirs: list[Path],
    *,
    api_key: str,
    webhook_secret: str,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    download_transport: httpx2.AsyncBaseTransport | None = None,
    **sandbox_options: Any,
) -> AsyncIterator[tuple[MCPServer[Runtime], Sandbox]]:
    """The real server over an in-process sandbox (no port, no rate limit on either side, callbacks at once).

    Callbacks reach the server's own receiver in process, and the receiver counts as running (transport
    streamable-http; the in-memory MCP client does not use that transport), so async modes are allowed.
    `wrap` sits between the server and the sandbox app (to record requests); `sandbox_options` go to SandboxConfig.
    """
    from mavi_mcp.runtime import RuntimeHolder
    from mavi_mcp.sandbox import SandboxConfig, create_app
    from mavi_mcp.server import create_server
    from mavi_mcp.settings import Settings
    from mavi_mcp.webhook import receiver_app

    holder: RuntimeHolder | None = None

    async def receiver(scope: Scope, receive: Receive, send: Send) -> None:
        runtime = holder.current if holder is not None else None
        assert runtime is not None
        await receiver_app(runtime.receiver)(scope, receive, send)

    deliveries = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=receiver))
    sandbox = create_app(
        SandboxConfig(
            rate_limit=False,
            webhook_url=f"http://mavi-mcp.test/webhooks/mavi/{webhook_secret}",
            webhook_client=deliveries,
            callback_delay=0.0,
            **sandbox_options,
        )
    )
    config = Settings(
        api_key=api_key,  # pyright: ignore[reportArgumentType]
        base_url="http://mavi.test",
        data_dir=data_dir,
        allowed_dirs=allowed_dirs,
        rate_limit=0,
        max_retry_wait=0,
        transport="streamable-http",
        webhook_secret=webhook_secret,  # pyright: ignore[reportArgumentType]
        log_level="WARNING",
    )
    async with deliveries, sandbox.running():
        app = sandbox.app if wrap is None else wrap(sandbox.app)
        holder = RuntimeHolder(config, transport=httpx2.ASGITransport(app=app), download_transport=download_transport)
        yield create_server(config, holder=holder), sandbox
