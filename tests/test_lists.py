"""The list tools page (`list_transcripts`, `list_tasks`: cursor in, next_cursor out, null at the end), through the
MCP client in memory against the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.helpers import error, ok, text_of

pytestmark = pytest.mark.anyio

AMI = ["re_700000000000000011", "re_700000000000000012", "re_700000000000000013"]
LATER = "re_700000000000000014"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    with anyio.fail_after(90):
        async with Client(create_server(Settings(sandbox=True, data_dir=tmp_path, rate_limit=0))) as client:
            yield client


async def turns(client: Client, asset_id: str) -> str:
    """identify_speakers on a sandbox recording; its transcript_id."""
    return ok(await client.call_tool("identify_speakers", {"asset_id": asset_id, "mode": "sync"}))["transcript_id"]


async def read_all(client: Client, tool: str, key: str, **arguments: Any) -> list[list[str]]:
    """Every page of a list tool, as the ids on each page, following next_cursor to its null."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        listed = ok(await client.call_tool(tool, {**arguments, **({"cursor": cursor} if cursor else {})}))
        assert "next_cursor" in listed
        pages.append([item[key] for item in listed[next(k for k in listed if isinstance(listed[k], list))]])
        cursor = listed["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10


async def test_list_transcripts_pages_newest_first_to_a_null_cursor(client: Client) -> None:
    made = [await turns(client, asset) for asset in AMI]
    pages = await read_all(client, "list_transcripts", "transcript_id", limit=2)
    assert pages == [made[::-1][:2], made[:1]]
    single = ok(await client.call_tool("list_transcripts", {"limit": 3}))
    assert [t["transcript_id"] for t in single["transcripts"]] == made[::-1]
    assert single["next_cursor"] is None


async def test_a_transcript_added_between_pages_does_not_repeat_one_on_the_next_page(client: Client) -> None:
    made = [await turns(client, asset) for asset in AMI]
    first = ok(await client.call_tool("list_transcripts", {"limit": 2}))
    assert [t["transcript_id"] for t in first["transcripts"]] == made[:0:-1]
    assert f"list_transcripts(cursor={first['next_cursor']!r})" in text_of(
        await client.call_tool("list_transcripts", {"limit": 2})
    )
    await turns(client, LATER)
    second = ok(await client.call_tool("list_transcripts", {"limit": 2, "cursor": first["next_cursor"]}))
    assert [t["transcript_id"] for t in second["transcripts"]] == made[:1]
    assert second["next_cursor"] is None


async def test_list_tasks_pages_and_a_cursor_keeps_to_its_status_filter(client: Client) -> None:
    for asset in AMI:
        await turns(client, asset)
    pages = await read_all(client, "list_tasks", "task_id", limit=2, status="completed")
    assert [len(page) for page in pages] == [2, 1]
    assert len({task for page in pages for task in page}) == 3
    first = ok(await client.call_tool("list_tasks", {"limit": 1, "status": "completed"}))
    message = error(await client.call_tool("list_tasks", {"limit": 1, "cursor": first["next_cursor"]}))
    assert "cursor: made for another list or filter" in message
    message = error(await client.call_tool("list_transcripts", {"cursor": first["next_cursor"]}))
    assert "cursor: made for another list or filter" in message
    message = error(await client.call_tool("list_transcripts", {"cursor": "not-a-cursor"}))
    assert "omit it for the first page" in message
