"""upload_media with URLs on the server's own machine or network: refused (every spelling, every redirect hop),
unless the user opted in. The media servers are the test's own, on loopback; the download client is the real one."""

from __future__ import annotations

import http.server
import io
import ipaddress
import threading
import wave
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mavi_mcp.cli import build_parser, settings_from
from mavi_mcp.netguard import blocked_reason, literal_address
from mavi_mcp.netguard_http import GuardedTransport
from mavi_mcp.runtime import RuntimeHolder, _ssl_context  # pyright: ignore[reportPrivateUsage]
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.helpers import error, ok

pytestmark = pytest.mark.anyio


LOCALHOST = ("127.0.0.1/32", "::1/128")
"""What `localhost` resolves to: the first hop of the redirect tests ("public" for them; it is a name, so the
tool's up-front check of numeric hosts does not see it)."""


def wav_bytes(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


@dataclass
class MediaServer:
    """A loopback HTTP server: `/talk.wav` is a WAV, `/to?url` redirects to `url`; `hits` lists the paths asked."""

    host: str
    port: int
    hits: list[str] = field(default_factory=lambda: [])

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


@contextmanager
def media_server(host: str) -> Generator[MediaServer]:
    wav = wav_bytes(1.0)
    state = MediaServer(host, 0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            if self.path.startswith("/to?"):
                self.send_response(302)
                self.send_header("Location", self.path[4:])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(wav)))
            self.end_headers()
            self.wfile.write(wav)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@asynccontextmanager
async def server_client(tmp_path: Path, *, allow_private: bool, exempt: tuple[str, ...] = ()) -> AsyncGenerator[Client]:
    """The real server (sandbox API) with the real guarded download client; `exempt` networks pass the guard
    (the first hop of a redirect test: a stand-in for a public host)."""
    settings = Settings(sandbox=True, data_dir=tmp_path, rate_limit=0, allow_private_urls=allow_private)
    transport = None
    if exempt:
        networks = [ipaddress.ip_network(net) for net in exempt]
        transport = GuardedTransport(verify=_ssl_context(), allow_private=False, exempt=networks)
    holder = RuntimeHolder(settings, download_transport=transport)
    async with Client(create_server(settings, holder=holder)) as client:
        yield client


@pytest.mark.parametrize(
    "host",
    ["127.0.0.2", "localhost", "0x7f000002", "2130706434", "0177.0.0.2", "127.2", "[::ffff:127.0.0.2]"],
)
async def test_a_url_on_the_servers_own_machine_is_refused_in_every_spelling_and_never_requested(
    tmp_path: Path, host: str
) -> None:
    with media_server("127.0.0.2") as media:
        if host == "localhost":
            media.host = "localhost"  # resolves to 127.0.0.1 (and ::1): a second server is not needed to refuse it
        async with server_client(tmp_path, allow_private=False) as client:
            with anyio.fail_after(30):
                message = error(await client.call_tool("upload_media", {"path": media.url("/talk.wav", host)}))
        assert "Refused to download" in message
        assert "loopback" in message
        assert "MAVI_MCP_ALLOW_PRIVATE_URLS=1" in message
        assert media.hits == []


async def test_a_public_looking_url_that_redirects_to_the_servers_own_machine_is_refused_at_the_redirect(
    tmp_path: Path,
) -> None:
    with media_server("127.0.0.1") as first, media_server("127.0.0.2") as target:
        first.host = "localhost"
        async with server_client(tmp_path, allow_private=False, exempt=LOCALHOST) as client:
            url = first.url("/to?" + target.url("/talk.wav"))
            with anyio.fail_after(30):
                message = error(await client.call_tool("upload_media", {"path": url}))
        assert first.hits == ["/to?" + target.url("/talk.wav")]  # the first hop was fetched...
        assert target.hits == []  # ...the redirect target never was
        assert "Refused to download from 127.0.0.2: it is a loopback address" in message


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:a9fe:a9fe]/x.wav"])
async def test_a_redirect_to_the_cloud_metadata_endpoint_is_refused(tmp_path: Path, target: str) -> None:
    with media_server("127.0.0.1") as first:
        first.host = "localhost"
        async with server_client(tmp_path, allow_private=False, exempt=LOCALHOST) as client:
            with anyio.fail_after(30):
                message = error(await client.call_tool("upload_media", {"path": first.url("/to?" + target)}))
        assert "link-local" in message
        assert "cloud metadata" in message


async def test_with_the_opt_in_a_media_server_on_the_lan_is_downloaded_and_uploaded(tmp_path: Path) -> None:
    with media_server("127.0.0.1") as media:
        async with server_client(tmp_path, allow_private=True) as client:
            with anyio.fail_after(30):
                result = ok(await client.call_tool("upload_media", {"path": media.url("/to?/talk.wav")}))
        assert result["status"] == "completed"
        assert result["filename"] == "talk.wav"
        assert result["size_bytes"] == len(wav_bytes(1.0))
        assert media.hits == ["/to?/talk.wav", "/talk.wav"]


def test_the_opt_in_is_a_flag_and_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from(build_parser().parse_args(["--allow-private-urls"])).allow_private_urls is True
    monkeypatch.setenv("MAVI_MCP_ALLOW_PRIVATE_URLS", "1")
    assert Settings().allow_private_urls is True
    monkeypatch.delenv("MAVI_MCP_ALLOW_PRIVATE_URLS")
    assert Settings().allow_private_urls is False


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("0x7f000001", "loopback"),
        ("2130706433", "loopback"),
        ("0177.0.0.1", "loopback"),
        ("127.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("2002:7f00:1::", "loopback"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "address"),  # reserved
        ("198.18.0.1", "benchmarking"),
    ],
)
def test_every_non_public_address_and_spelling_is_classified_as_blocked(host: str, reason: str) -> None:
    ip = literal_address(host)
    assert ip is not None
    why = blocked_reason(ip)
    assert why is not None
    assert reason in why


@pytest.mark.parametrize("host", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(host: str) -> None:
    ip = literal_address(host)
    assert ip is not None
    assert blocked_reason(ip) is None
