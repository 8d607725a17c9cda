"""Helpers shared by the test modules (constants of the bundled recordings, MCP result readers, the
sandbox harness, README readers, store scans), in one place: tests never import each other."""

from __future__ import annotations

import io
import re
import sqlite3
import wave
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp_types import CallToolResult
from pydantic.fields import FieldInfo

from mavi_mcp.render.cursor import Position, decode_cursor
from mavi_mcp.render.page import Page, render_page
from mavi_mcp.render.view import View
from mavi_mcp.runtime import Runtime, RuntimeHolder
from mavi_mcp.sandbox import SandboxConfig, create_app
from mavi_mcp.sandbox.app import Sandbox
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.transcript import Transcript
from tests.conftest import API_KEY

AMI_ES2004A = "re_700000000000000012"


COSTCO = "re_700000000000000002"


MONRO = "re_700000000000000003"


TOOLS = [  # in the order the server lists them
    "upload_media",
    "identify_speakers",
    "transcribe_whisper",
    "transcribe_assemblyai",
    "transcribe_elevenlabs",
    "multi_speaker_async",
    "get_transcript",
    "search_transcripts",
    "rename_speakers",
    "list_transcripts",
    "get_task",
    "list_tasks",
    "webhook_info",
]


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert first.type == "text"
    return first.text


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def error(result: CallToolResult) -> str:
    assert result.is_error, text_of(result)
    message = text_of(result)
    assert "Traceback" not in message
    assert API_KEY not in message
    return message


REPO = Path(__file__).resolve().parent.parent


README = REPO / "README.md"


def section(title: str, text: str | None = None) -> str:
    """The README text under `## {title}`, up to the next `## ` heading."""
    text = README.read_text() if text is None else text
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of the first markdown table in `text`, header and separator rows left out."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in lines]
    assert len(rows) > 2, "no table found"
    return rows[2:]


@dataclass(frozen=True)
class ConfigVariable:
    name: str
    flag: str | None
    default: str | None
    """The default as written in backticks, or None when the README says it in words ("none", "your home")."""
    meaning: str


def config_variables(text: str | None = None) -> list[ConfigVariable]:
    """Every variable of the configuration table, in order; `A` / `B` rows give two variables."""
    found: list[ConfigVariable] = []
    for row in table_rows(section("Configuration", text)):
        names = re.findall(r"`([A-Z0-9_]+)`", row[0])
        flags = re.findall(r"`(--[a-z-]+)`", row[1])
        literal = re.fullmatch(r"`[^`]*`( / `[^`]*`)*", row[2])
        defaults = re.findall(r"`([^`]*)`", row[2]) if literal else []
        for index, name in enumerate(names):
            found.append(
                ConfigVariable(
                    name=name,
                    flag=flags[index] if index < len(flags) else None,
                    default=defaults[index] if index < len(defaults) else None,
                    meaning=row[3],
                )
            )
    return found


def env_name(field: FieldInfo) -> str:
    alias = field.validation_alias
    assert isinstance(alias, str), f"setting without an environment variable: {field}"
    return alias


def default_text(field: FieldInfo) -> str | None:
    """A setting's default as an environment value (`1.0` -> "1", `False` -> "false"), None if it has none."""
    value = field.get_default(call_default_factory=False)
    if value is None or field.default_factory is not None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_by_env() -> dict[str, FieldInfo]:
    return {env_name(field): field for field in Settings.model_fields.values()}


def read_all(transcript: Transcript, view: View, budget: int, names: dict[str, str] | None = None) -> list[Page]:
    pages: list[Page] = []
    position: Position | None = None
    page_no = 1
    while True:
        page = render_page(transcript, names=names or {}, view=view, position=position, page=page_no, max_tokens=budget)
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = decode_cursor(page.next_cursor, transcript.id)
        assert (cursor.position, cursor.page) != (position, page_no), "paging must advance"
        position, page_no = cursor.position, cursor.page
        assert page_no < 2000, "runaway paging"


def body(page: Page) -> str:
    return page.text.split("<transcript>\n", 1)[1].rsplit("\n</transcript>", 1)[0]


_STAMP = re.compile(r"^\[\d+(?::\d\d){1,2}\]$")


def text_tokens(pages: list[Page], display: dict[str, str]) -> list[str]:
    """The recording's words from text pages: anchors and speaker prefixes removed."""
    prefixes = sorted({f"{name}:" for name in display.values()}, key=len, reverse=True)
    tokens: list[str] = []
    for page in pages:
        for line in body(page).split("\n"):
            rest = re.sub(r"^\[\d+(?::\d\d){1,2}\] ", "", line)
            for prefix in prefixes:
                if rest.startswith(prefix + " "):
                    rest = rest[len(prefix) + 1 :]
                    break
            tokens.extend(t for t in rest.split() if not _STAMP.match(t))
    return tokens


def expected_tokens(transcript: Transcript, view: View) -> list[str]:
    from mavi_mcp.render.view import select

    return [t for span in select(transcript, view) for t in span.tokens[span.first : span.last]]


KEY = "sk-mavi-sandbox-test"


LIMIT = "Request has exceeded the limit."


NO_WEBHOOK = "An async request requires at least one webhook."


HOOK = "http://receiver.invalid/hook/s3cret"


SK_TELECOM = "re_700000000000000001"


AMI_EN2002B = "re_700000000000000011"


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def config(**changes: Any) -> SandboxConfig:
    """Test defaults: rate limit off, a webhook configured, immediate callbacks; `changes` override them."""
    values: dict[str, Any] = {"rate_limit": False, "webhook_url": HOOK, "callback_delay": 0.0}
    return SandboxConfig(**{**values, **changes})


@asynccontextmanager
async def serve(
    settings: SandboxConfig | None = None, *, key: str | None = KEY
) -> AsyncGenerator[tuple[Sandbox, httpx2.AsyncClient]]:
    """A running in-process sandbox and an HTTP client on it that sends `key` (None: no Authorization header)."""
    sandbox = create_app(settings or config())
    headers = {"Authorization": key} if key is not None else {}
    async with sandbox.running():
        transport = httpx2.ASGITransport(app=sandbox.app)
        async with httpx2.AsyncClient(base_url="http://sandbox", transport=transport, headers=headers) as http:
            yield sandbox, http


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    """A real (silent) mono 16-bit WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * round(seconds * rate))
    return buffer.getvalue()


async def upload(http: httpx2.AsyncClient, name: str = "meeting.wav", content: bytes | None = None) -> str:
    answer = await http.post("/upload", files={"file": (name, wav_bytes(2.0) if content is None else content)})
    assert answer.status_code == 200, answer.text
    asset_id: str = answer.json()["data"]["asset_id"]
    return asset_id


def assert_error(response: httpx2.Response, status: int, msg: str) -> None:
    assert (response.status_code, response.json()) == (status, {"code": status, "msg": msg, "data": None})


def store_rows(database: Path) -> list[tuple[str, str]]:
    """Every value of every row of every table, as text (bytes decoded leniently)."""
    rows: list[tuple[str, str]] = []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"transcripts", "raw_results", "tasks", "deliveries", "speaker_names"} <= set(tables)
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # names come from sqlite_master
                for value in row:
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    rows.append((f"table {table}", text))
    return rows


@asynccontextmanager
async def sandbox_server(data_dir: Path) -> AsyncIterator[tuple[Client, Runtime]]:
    """A `--sandbox` server in process, its MCP client and its runtime (rate limit off)."""
    settings = Settings(sandbox=True, data_dir=data_dir, rate_limit=0, log_level="WARNING")
    holder = RuntimeHolder(settings)
    async with Client(create_server(settings, holder=holder)) as client:
        assert holder.current is not None
        yield client, holder.current
