"""The API key never leaves the process: not in a tool result, an error, a log line, a stored row or a file.

A real `mavi-mcp` over stdio (log level DEBUG, stderr to a file) is started with a recognisable key against a
sandbox that accepts only that key. Every tool is driven with good and bad input, every resource is read, and
faults are injected, several of them answers that echo the key back in their message (a 401, a 400, a 429, a
500 after processing, a 200 envelope with no data, a 5xx on upload, metadata and an async start). A media URL
whose user:password and signature query carry the same canary is uploaded (downloaded from a loopback server) and
transcribed by URL (sent to MAVI, which echoes it in its answer and, once, in an error). Then
everything the server wrote is scanned: every tool result and error text and its structured content, the
resources, the tool list, stderr, every row of every table of the SQLite store, and every file of the data
directory (WAL included). The scan looks for the key's distinctive middle, so a truncated key counts too.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult

from tests.conftest import (
    WEBHOOK_SECRET,
    SandboxServer,
    free_port,
    server_env,
    start_sandbox,
    stdio_params,
    write_wav,
)
from tests.helpers import store_rows

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CANARY = "SECRETCANARY"
KEYS = [
    "sk-mavi-SECRETCANARY-0123456789",
    "mavi-SECRETCANARY-no-sk-prefix-0123456789",  # keys are not validated by prefix; redaction must not rely on it
]
AMI = "re_700000000000000012"
SHORT = "re_700000000000000025"
WILDFIRES = "re_700000000000000004"
ELEVEN = "re_700000000000000006"
MONRO = "re_700000000000000003"


@dataclass
class Outputs:
    """Everything the server sent back, as text, with where it came from."""

    seen: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    errors: int = 0
    results: int = 0

    def add(self, where: str, result: CallToolResult) -> CallToolResult:
        self.seen.extend((where, c.text) for c in result.content if c.type == "text")
        if result.structured_content is not None:
            self.seen.append((where, json.dumps(result.structured_content)))
        if result.is_error:
            self.errors += 1
        else:
            self.results += 1
        return result


def leaks(texts: list[tuple[str, str]]) -> list[str]:
    return [f"{where}: {text[:300]!r}" for where, text in texts if CANARY in text]


def files_under(directory: Path) -> list[tuple[str, str]]:
    return [
        (f"file {path.relative_to(directory)}", path.read_bytes().decode("utf-8", "replace"))
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    ]


async def drive_every_tool(
    client: Client, admin: httpx2.Client, key: str, media: Path, out: Outputs, signed_url: str
) -> None:
    """Every tool with good and bad input, the resources, and faults that echo `key`; asserts what should work works.

    `signed_url` is a media URL with user:password and a signature query that carry the canary: upload_media
    downloads it, the speech-to-text tools send it to MAVI, and a fault echoes it back in MAVI's error message.
    """

    async def call(tool: str, arguments: dict[str, Any]) -> CallToolResult:
        with anyio.fail_after(60):
            return out.add(tool, await client.call_tool(tool, arguments))

    def faults(spec: dict[str, list[dict[str, Any]]]) -> None:
        assert admin.put("/_sandbox/faults", json=spec).status_code == 200

    echo = f"Invalid API key {key} for this account"
    tools = await client.list_tools()
    out.seen.extend(("tool list", t.model_dump_json()) for t in tools.tools)
    out.seen.append(("instructions", client.instructions or ""))

    wav = write_wav(media / "canary.wav", seconds=1.0)
    uploaded = await call("upload_media", {"path": str(wav)})
    assert not uploaded.is_error, uploaded.content
    await call("upload_media", {"path": str(media / "missing.wav")})

    turns = await call("identify_speakers", {"asset_id": AMI, "mode": "sync", "max_tokens": 500})
    transcript_id = (turns.structured_content or {})["transcript_id"]
    await call("identify_speakers", {"asset_id": "re_123", "mode": "sync"})
    whisper = await call("transcribe_whisper", {"asset_id": MONRO, "speaker": True, "mode": "sync", "max_tokens": 500})
    assert not whisper.is_error, whisper.content
    by_webhook = await call("transcribe_whisper", {"asset_id": SHORT, "mode": "async"})
    assert (by_webhook.structured_content or {}).get("status") == "completed", by_webhook.content
    await call("transcribe_assemblyai", {"asset_id": WILDFIRES, "max_tokens": 500})
    await call("transcribe_assemblyai", {"asset_id": WILDFIRES, "url": "https://example.com/a.mp3"})
    await call("transcribe_elevenlabs", {"asset_id": ELEVEN, "diarize": True})
    await call("transcribe_elevenlabs", {"num_speakers": 99})
    named = await call("multi_speaker_async", {"asset_id": MONRO, "max_tokens": 500})
    assert (named.structured_content or {}).get("status") == "completed", named.content

    cursor = (whisper.structured_content or {}).get("next_cursor")
    whisper_id = (whisper.structured_content or {})["transcript_id"]
    await call("get_transcript", {"transcript_id": whisper_id, "cursor": cursor, "format": "json"})
    await call("get_transcript", {"transcript_id": whisper_id, "format": "srt", "max_tokens": 500})
    await call("get_transcript", {"transcript_id": "tr_nope", "start": "nan"})
    await call("rename_speakers", {"transcript_id": transcript_id, "names": [{"speaker": "S0", "name": "Ana Ruiz"}]})
    await call("rename_speakers", {"transcript_id": transcript_id, "names": [{"speaker": "nobody", "name": "x"}]})
    await call("list_transcripts", {})
    await call("get_task", {"task_id": (turns.structured_content or {})["task_id"]})
    await call("get_task", {"task_id": "job_nope"})
    await call("list_tasks", {"limit": 200})
    await call("list_tasks", {"status": "nope"})
    await call("webhook_info", {})
    for uri in (f"mavi://transcripts/{transcript_id}", f"mavi://tasks/{(turns.structured_content or {})['task_id']}"):
        resource = await client.read_resource(uri)
        out.seen.extend((uri, getattr(c, "text", "")) for c in resource.contents)

    faults({"sync-generate-speaker": [{"kind": "status", "status": 401, "message": echo, "count": 1}]})
    direct = admin.post("/transcriptions/sync-generate-speaker", json={"asset_id": AMI}, headers={"Authorization": key})
    assert key in direct.text  # the faults below really send the key back to the server
    for endpoint, fault, tool, arguments in [
        ("sync-generate-speaker", {"kind": "status", "status": 401, "message": echo}, "identify_speakers", AMI),
        ("sync-generate-audio", {"kind": "status", "status": 400, "message": echo}, "transcribe_whisper", AMI),
        ("speech-to-text", {"kind": "status", "status": 429, "message": echo}, "transcribe_elevenlabs", ELEVEN),
        ("sync-generate-speaker", {"kind": "status_after", "status": 500, "message": echo}, "identify_speakers", SHORT),
        ("sync-generate-audio", {"kind": "status", "status": 200, "message": echo}, "transcribe_whisper", SHORT),
        ("sync-generate-speaker", {"kind": "truncated"}, "identify_speakers", SHORT),
        ("sync-generate-speaker", {"kind": "reset"}, "identify_speakers", SHORT),
        ("async-generate-audio", {"kind": "status", "status": 503, "message": echo}, "transcribe_whisper", SHORT),
    ]:
        faults({endpoint: [fault]})
        mode = {"mode": "async"} if endpoint.startswith("async") else {"mode": "sync"}
        args: dict[str, Any] = {"asset_id": arguments, "refresh": True}  # repeats are sent, not reused
        args |= {} if tool == "transcribe_elevenlabs" else mode
        failed = await call(tool, args)
        assert failed.is_error, (endpoint, fault, failed.content)
    from_url = await call("upload_media", {"path": signed_url})
    assert (from_url.structured_content or {}).get("status") == "completed", from_url.content
    for tool, source in [("transcribe_assemblyai", "url"), ("transcribe_elevenlabs", "source_url")]:
        by_url = await call(tool, {source: signed_url, "max_tokens": 500})
        assert not by_url.is_error, by_url.content
        await call("get_transcript", {"transcript_id": (by_url.structured_content or {})["transcript_id"]})
    faults({"speech-to-text": [{"kind": "status", "status": 400, "message": f"Cannot download {signed_url}"}]})
    assert (await call("transcribe_assemblyai", {"url": signed_url, "refresh": True})).is_error
    faults({"metadata": [{"kind": "status", "status": 502, "message": echo, "count": 1}]})
    assert not (await call("upload_media", {"path": str(wav)})).is_error
    faults({"upload": [{"kind": "status", "status": 500, "message": echo}]})
    assert (await call("upload_media", {"path": str(wav), "refresh": True})).is_error
    admin.delete("/_sandbox/faults")


class MediaSite(ThreadingHTTPServer):
    """A loopback web server that answers every GET with one WAV file and records the paths asked for."""

    paths: list[str]


def serve_media(wav: bytes) -> MediaSite:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(wav)))
            self.end_headers()
            self.wfile.write(wav)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    site = MediaSite(("127.0.0.1", 0), Handler)
    site.paths = []
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site


@pytest.mark.parametrize("key", KEYS, ids=["sk-key", "key-without-sk-prefix"])
async def test_the_api_key_appears_in_nothing_the_server_writes_or_answers(tmp_path: Path, key: str) -> None:
    port = free_port()
    sandbox: SandboxServer = start_sandbox(
        "--api-key",
        key,
        "--no-rate-limit",
        "--upload-processing-seconds",
        "0.2",
        "--callback-delay",
        "0.2",
        "--webhook-url",
        f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}",
    )
    env = server_env(
        tmp_path,
        sandbox.url,
        key=key,
        MAVI_MCP_RATE_LIMIT="0",
        MAVI_MCP_MAX_RETRY_WAIT="0.2",
        MAVI_MCP_LOG_LEVEL="DEBUG",
        MAVI_MCP_ALLOW_PRIVATE_URLS="1",  # the signed media URL is served on loopback by the test
    )
    data = tmp_path / "data"
    log = tmp_path / "server-stderr.log"
    out = Outputs()
    media_site = serve_media(write_wav(tmp_path / "served.wav", seconds=1.0).read_bytes())
    host, media_port = media_site.server_address[:2]
    signed_url = (
        f"http://ana:{CANARY}-password@{host!s}:{media_port}/calls/q1.wav"
        f"?X-Amz-Credential=AKIA%2F{CANARY}&X-Amz-Signature={CANARY}-signature-0123&X-Amz-Expires=3600"
    )
    try:
        with log.open("w") as errlog, sandbox.admin() as admin:
            params = stdio_params(env, "--webhook-port", str(port))
            async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=90) as client:
                await drive_every_tool(client, admin, key, tmp_path / "media", out, signed_url)
    finally:
        sandbox.process.stop()
        media_site.shutdown()
        media_site.server_close()
    assert media_site.paths == ["/calls/q1.wav?" + signed_url.partition("?")[2]]  # downloaded with its query

    assert out.results >= 15
    assert out.errors >= 15
    written = out.seen + [("stderr", line) for line in log.read_text().splitlines()]
    written += store_rows(data / "mavi-mcp.sqlite3") + files_under(data)
    # the 200 answer that echoed the key was kept (a paid answer is never dropped), with the key scrubbed
    assert any(where == "table raw_results" and "[redacted]" in text for where, text in written)
    assert any("DEBUG" in text for where, text in written if where == "stderr")
    assert leaks(written) == []
