"""What a transcript result carries, through the MCP client in memory (`--sandbox` settings, in process): the words
in both parts, a stable `next_cursor`, budgets that count both parts and survive cursors and get_task, pages that fill
their budget, and transcripts that clients browsing resources can find."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult, TextResourceContents

from mavi_mcp.render.tokens import estimate_tokens
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.helpers import COSTCO, ok, text_of

pytestmark = pytest.mark.anyio


def result_tokens(result: CallToolResult) -> int:
    """Estimated tokens of everything a client may hand its model: the text content and the structured content."""
    return estimate_tokens(text_of(result)) + estimate_tokens(json.dumps(result.structured_content))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(sandbox=True, data_dir=tmp_path, rate_limit=0)
    with anyio.fail_after(120):
        async with Client(create_server(settings)) as connected:
            yield connected


async def costco_whisper(client: Client, **page: Any) -> dict[str, Any]:
    args = {"asset_id": COSTCO, "speaker": True, "mode": "sync", **page}
    return ok(await client.call_tool("transcribe_whisper", args))


async def test_structured_content_carries_the_page_text_so_words_reach_models_that_see_only_that_part(
    client: Client,
) -> None:
    result = await client.call_tool("transcribe_whisper", {"asset_id": COSTCO, "speaker": True, "mode": "sync"})
    structured = ok(result)
    assert structured["text"] in text_of(result)  # the content may start with the cost line
    assert "Good day and thank you for standing by" in structured["text"]


async def test_structured_text_can_be_turned_off_for_clients_that_show_both_parts(tmp_path: Path) -> None:
    settings = Settings(sandbox=True, data_dir=tmp_path, rate_limit=0, structured_text=False)
    with anyio.fail_after(120):
        async with Client(create_server(settings)) as client:
            structured = await costco_whisper(client)
    assert "text" not in structured


async def test_next_cursor_is_present_and_null_on_the_last_page(client: Client) -> None:
    first = await costco_whisper(client)
    cursor = first["next_cursor"]
    pages = 1
    while cursor is not None:
        page = ok(await client.call_tool("get_transcript", {"transcript_id": first["transcript_id"], "cursor": cursor}))
        assert "next_cursor" in page
        cursor = page["next_cursor"]
        pages += 1
    assert pages > 1


async def test_following_a_cursor_keeps_the_budget_of_the_first_page(client: Client) -> None:
    first = await costco_whisper(client, max_tokens=500)
    args = {"transcript_id": first["transcript_id"], "cursor": first["next_cursor"]}
    second = await client.call_tool("get_transcript", args)
    assert ok(second)["page"] == 2
    assert ok(second)["estimated_tokens"] <= 500  # the page text keeps the small budget (not the 6,000 default)
    assert result_tokens(second) < 1000


@pytest.mark.parametrize("fmt", ["text", "json", "srt"])
async def test_a_whole_result_stays_within_its_budget_and_under_25000_tokens_at_the_largest_budget(
    client: Client, fmt: str
) -> None:
    first = await costco_whisper(client)
    args = {"transcript_id": first["transcript_id"], "format": fmt, "max_tokens": 20000}
    result = await client.call_tool("get_transcript", args)
    assert ok(result)["counts"]["segments_on_page"] > 50
    assert result_tokens(result) <= 20000


async def test_a_page_fills_its_budget_instead_of_stopping_before_a_long_turn(client: Client) -> None:
    # Costco's turns are long: the first page goes on into the next one rather than stopping before it
    args = {"asset_id": COSTCO, "speaker": True, "mode": "sync", "max_tokens": 1500}
    result = await client.call_tool("transcribe_whisper", args)
    assert 0.75 * 1500 <= result_tokens(result) <= 1500
    word_of_next_page = ok(result)["next_cursor"].split(".")[3]
    assert word_of_next_page != "0"  # the page ends inside a turn, which the next page continues


async def test_get_task_answers_with_the_page_options_its_call_asked_for(client: Client) -> None:
    first = await costco_whisper(client, format="srt", start="10:00", end="11:00")
    again = ok(await client.call_tool("get_task", {"task_id": first["task_id"]}))
    assert again["format"] == "srt"
    assert again["window"] == {"start": 600.0, "end": 660.0}
    assert again["text"] == first["text"]


async def test_resources_list_names_the_recent_transcripts_and_the_resource_is_bounded(client: Client) -> None:
    first = await costco_whisper(client)
    listed = await client.list_resources()
    uris = [str(r.uri) for r in listed.resources]
    assert f"mavi://transcripts/{first['transcript_id']}" in uris
    read = await client.read_resource(f"mavi://transcripts/{first['transcript_id']}")
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    assert estimate_tokens(contents.text) <= 6000  # the server's page budget
    assert "get_transcript(" in contents.text.splitlines()[-1]  # how to read the rest
