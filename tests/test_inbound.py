"""Inbound HTTP and secrets: Host/Origin on every loopback bind, loopback decided on addresses, the token's
scheme, blank or unsafe secrets refused at start, the webhook's content type, private files, quiet logs."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from mavi_mcp.cli import configure_logging
from mavi_mcp.client import MaviClient
from mavi_mcp.httpserve import Limits, server_config
from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.settings import Settings
from mavi_mcp.store import DB_NAME, AsyncStore, Store
from mavi_mcp.webhook import SECRET_FILE, Receiver, receiver_app, webhook_path
from tests.conftest import WEBHOOK_SECRET, free_port, mavi_mcp_command, server_env, wait_http

pytestmark = pytest.mark.anyio
TOKEN = "inbound-test-token-0123456789abcdef"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@contextmanager
def served(tmp_path: Path, host: str, **env: str) -> Generator[tuple[str, subprocess.Popen[bytes]]]:
    """`mavi-mcp --sandbox --transport streamable-http` on `host`; its stdout is captured (it must stay empty)."""
    port = free_port()
    process = subprocess.Popen(
        [*mavi_mcp_command(), "--sandbox", "--transport", "streamable-http", "--host", host, "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **server_env(tmp_path, None), **env},
    )
    try:
        wait_http(f"http://{host}:{port}/nothing-here")
        yield f"http://{host}:{port}", process
    finally:
        if process.returncode is None:
            process.terminate()
            process.communicate(timeout=10)  # drains and closes the pipes


@pytest.mark.e2e
def test_a_loopback_bind_other_than_127_0_0_1_checks_host_origin_and_a_case_insensitive_bearer_token(
    tmp_path: Path,
) -> None:
    with served(tmp_path, "127.0.0.2", MAVI_MCP_AUTH_TOKEN=TOKEN) as (url, process):
        authorized = {**MCP_HEADERS, "Authorization": f"bearer {TOKEN}"}
        with httpx2.Client(timeout=10) as http:
            foreign_host = http.post(f"{url}/mcp", json=INIT, headers={**authorized, "Host": "evil.example"})
            foreign_origin = http.post(f"{url}/mcp", json=INIT, headers={**authorized, "Origin": "http://evil.example"})
            wrong = http.post(f"{url}/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": "bearer nope"})
            lower = http.post(f"{url}/mcp", json=INIT, headers=authorized)
            upper = http.post(f"{url}/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"BEARER  {TOKEN}"})
            hook = http.post(
                f"{url}{webhook_path(WEBHOOK_SECRET)}?token=query-secret-123",
                content=b"{}",
                headers={"Content-Type": "application/json"},
            )
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert foreign_host.status_code == 421
    assert foreign_origin.status_code == 403
    assert wrong.status_code == 401
    assert lower.status_code == 200
    assert upper.status_code == 200
    assert hook.status_code == 200
    assert out == b""  # no access log, nothing else either
    assert WEBHOOK_SECRET.encode() not in err
    assert b"query-secret-123" not in err
    assert TOKEN.encode() not in err


@pytest.mark.e2e
def test_a_reverse_proxys_public_name_is_accepted_when_listed_in_allowed_hosts(tmp_path: Path) -> None:
    with (
        served(tmp_path, "127.0.0.1", MAVI_MCP_ALLOWED_HOSTS="mcp.example.com") as (url, _),
        httpx2.Client(timeout=10) as http,
    ):
        proxied = http.post(
            f"{url}/mcp",
            json=INIT,
            headers={**MCP_HEADERS, "Host": "mcp.example.com", "Origin": "https://mcp.example.com"},
        )
        foreign = http.post(f"{url}/mcp", json=INIT, headers={**MCP_HEADERS, "Host": "evil.example"})
    assert proxied.status_code == 200
    assert foreign.status_code == 421


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*mavi_mcp_command(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **server_env(tmp_path, None), **env},
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--transport", "streamable-http", "--host", "127.evil.invalid"], {}, "without authentication"),
        (["--transport", "streamable-http"], {"MAVI_MCP_AUTH_TOKEN": "  "}, "MAVI_MCP_AUTH_TOKEN is set but empty"),
        ([], {"MAVI_MCP_WEBHOOK_SECRET": "abc/def+ghi=0123456789abcdefghijkl"}, "cannot stand in a URL path"),
        ([], {"MAVI_MCP_WEBHOOK_SECRET": "short-secret"}, "at least 32"),
    ],
)
def test_unsafe_configurations_are_refused_at_start_with_the_reason(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    done = run_cli(tmp_path, *args, "--port", str(free_port()), **env)
    assert done.returncode == 2
    assert expected in done.stderr
    assert done.stdout == ""


@pytest.mark.e2e
def test_check_masks_credentials_inside_the_base_url(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--check", MAVI_BASE_URL="http://ana:pa55word-xyz@127.0.0.1:9/api?token=tok-secret-99")
    assert "base_url = http://…@127.0.0.1:9/api?…" in done.stderr
    assert "pa55word-xyz" not in done.stderr + done.stdout
    assert "tok-secret-99" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain; x=json", 415),
        ("application/jsonp", 415),
        ("text/json-ish", 415),
        ("application/json; charset=utf-8", 200),
        ("Application/JSON", 200),
        ("application/cloudevents+json", 200),
    ],
)
async def test_the_webhook_parses_the_content_type(tmp_path: Path, content_type: str, status: int) -> None:
    store = Store.in_dir(tmp_path)
    try:
        receiver = Receiver(AsyncStore(store), secret=WEBHOOK_SECRET, max_bytes=10_000)
        transport = httpx2.ASGITransport(app=receiver_app(receiver))
        async with httpx2.AsyncClient(transport=transport, base_url="http://hook") as http:
            answer = await http.post(receiver.path, content=b"{}", headers={"content-type": content_type})
        assert answer.status_code == status
        assert len(store.deliveries()) == (1 if status == 200 else 0)
    finally:
        store.close()


async def test_a_loose_data_dir_store_and_secret_are_tightened_and_it_is_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    Store.in_dir(data).close()
    (data / DB_NAME).chmod(0o644)
    (data / SECRET_FILE).write_text("a" * 40 + "\n")
    (data / SECRET_FILE).chmod(0o644)
    caplog.set_level(logging.WARNING, logger="mavi_mcp.secrecy")
    async with RuntimeHolder(Settings(sandbox=False, data_dir=data)).open():
        pass
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", SECRET_FILE):
        path = data / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert sum("Tightened" in r.getMessage() for r in caplog.records) == 3


async def test_a_new_store_is_private_from_the_start(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    async with RuntimeHolder(Settings(sandbox=False, data_dir=data)).open():
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert modes[DB_NAME] == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes


async def test_the_webhook_secret_is_kept_only_in_its_file_not_in_the_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, webhook_port=0, webhook_secret=SecretStr(WEBHOOK_SECRET))
    async with RuntimeHolder(settings).open() as runtime:
        assert runtime.webhook_url is not None
        assert WEBHOOK_SECRET in runtime.webhook_url  # the URL to paste, shown to the user
        with anyio.fail_after(10):
            while not await runtime.store.live_receivers():
                await anyio.sleep(0.05)
        live = await runtime.store.live_receivers()
    assert live[0].url.endswith("/webhooks/mavi/<secret>")
    for path in data.iterdir():
        assert WEBHOOK_SECRET.encode() not in path.read_bytes(), path


async def test_at_debug_the_http_stack_logs_no_headers(tmp_path: Path) -> None:
    signed = "https://bucket.example/a.wav?X-Amz-Signature=sig-0123456789"
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    configure_logging("DEBUG")
    keep = Keep(level=logging.DEBUG)
    response: httpx2.Response | None = None
    logging.getLogger().addHandler(keep)
    try:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]

            def answer() -> None:
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {signed}\r\nContent-Length: 0\r\n\r\n".encode())

            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, answer)
                async with httpx2.AsyncClient() as http:
                    response = await http.get(f"http://127.0.0.1:{port}/x")
        assert response is not None
        assert response.headers["location"] == signed
    finally:
        logging.getLogger().removeHandler(keep)
        configure_logging("WARNING")
    text = "\n".join(r.getMessage() for r in records)
    assert "sig-0123456789" not in text
    assert not [r for r in records if r.name.startswith(("httpcore", "httpx"))]


async def test_a_success_body_that_echoes_the_key_is_scrubbed_from_the_parsed_result_too() -> None:
    key = "sk-mavi-echoed-key-0123456789"

    def echo(request: httpx2.Request) -> httpx2.Response:
        resource = {
            "asset_id": "re_1",
            "upload_status": "SUCCESS",
            "original_filename": request.headers["authorization"],
        }
        body = {"code": "0000", "msg": "ok", "data": {"resource": [resource]}}
        return httpx2.Response(200, content=json.dumps(body).encode())

    async with httpx2.AsyncClient(base_url="http://mavi.test", transport=httpx2.MockTransport(echo)) as http:
        metadata = await MaviClient(http, SecretStr(key), rate_limit=0).metadata("re_1")
    assert metadata.original_filename == "[redacted]"
    assert key not in metadata.model_dump_json()


# --- slow clients -------------------------------------------------------------------------------------------


@contextmanager
def receiver_server(tmp_path: Path, limits: Limits) -> Generator[tuple[int, Store]]:
    """The webhook receiver under uvicorn with `limits`, in a thread of its own, on a free loopback port."""
    import threading

    import uvicorn

    store = Store.in_dir(tmp_path)
    receiver = Receiver(AsyncStore(store), secret=WEBHOOK_SECRET, max_bytes=100_000)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(receiver_app(receiver), log_level="warning", limits=limits, lifespan="off"))
    thread = threading.Thread(target=lambda: anyio.run(lambda: server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield port, store
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes `sock` (EOF or reset) within `seconds`."""
    sock.settimeout(seconds)
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and says nothing
        b"POST /webhooks/mavi/x HTTP/1.1\r\nHost: a\r\n",  # never finishes its head
        b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{",
    ],
    ids=["idle", "unfinished head", "unfinished body"],
)
def test_a_client_that_never_finishes_its_request_is_disconnected_and_others_are_served(
    tmp_path: Path, sent: bytes
) -> None:
    with receiver_server(tmp_path, Limits(header_timeout=0.5, body_timeout=0.5)) as (port, store):
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(sent)
        answer = httpx2.post(
            f"http://127.0.0.1:{port}{webhook_path(WEBHOOK_SECRET)}",
            content=b'{"task_id": "t1"}',
            headers={"content-type": "application/json"},
            timeout=5,
        )
        assert answer.status_code == 200
        assert closed_within(slow, 5.0)
        slow.close()
        assert len(store.deliveries()) == 1


@pytest.mark.parametrize(
    ("host", "allowed", "protected", "accepted"),
    [
        ("127.0.0.2", [], True, "127.0.0.2:8000"),
        ("localhost", [], True, "localhost:8000"),
        ("0.0.0.0", ["mcp.example.com"], True, "mcp.example.com"),
        ("0.0.0.0", [], False, None),  # deliberately public (a token is required): the names clients use are unknown
    ],
)
def test_host_checks_are_on_for_loopback_binds_and_for_listed_proxy_names(
    host: str, allowed: list[str], protected: bool, accepted: str | None
) -> None:
    from mavi_mcp.httpguard import transport_security

    security = transport_security(Settings(host=host, allowed_hosts=allowed))
    assert (security is not None) is protected
    if security is not None:
        assert accepted in security.allowed_hosts or f"{accepted.rsplit(':', 1)[0]}:*" in security.allowed_hosts
        assert "evil.example" not in security.allowed_hosts


@pytest.mark.e2e
def test_the_webhook_service_writes_nothing_to_stdout_and_no_secret_path_to_its_log(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*mavi_mcp_command(), "webhook", "--port", str(port), "--log-level", "DEBUG"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **server_env(tmp_path, None)},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        answer = httpx2.post(
            f"http://127.0.0.1:{port}{webhook_path(WEBHOOK_SECRET)}",
            content=b'{"task_id": "t-quiet"}',
            headers={"content-type": "application/json"},
            timeout=10,
        )
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert answer.status_code == 200
    assert out == b""
    assert err.count(WEBHOOK_SECRET.encode()) == 1  # once: the URL to paste, printed at start
    assert b"POST /webhooks" not in err
