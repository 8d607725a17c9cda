"""`search_transcripts` and `get_transcript(format="insights")` through the MCP client in memory (`--sandbox`
settings, in process): a transcription is searchable at once, a hit leads to the window that reads it, renames
are searchable, a store from before the index is indexed when it is opened, and the provider's insights are
readable."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mavi_mcp.search.query import SYNTAX
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.shapes import normalize_body
from mavi_mcp.store import SCHEMA_VERSION, Store
from tests import data
from tests.helpers import COSTCO, error, ok, text_of
from tests.insights_data import assemblyai_with_insights

pytestmark = pytest.mark.anyio

QUESTIONS = Path(__file__).resolve().parent.parent / "benchmarks" / "evidence_questions.json"
COSTCO_RECORDING = "speech-to-text-assemblyai/4474506"
ELEVENLABS_DIARIZED = "re_700000000000000006"  # ElevenLabs sample with diarization, 2.5 s


def words(text: str) -> str:
    """Lower-cased letter/digit runs joined by single spaces: how a passage is looked for in a page."""
    return " ".join(re.findall(r"[^\W_]+", text.casefold()))


def settings_for(data_dir: Path) -> Settings:
    return Settings(sandbox=True, data_dir=data_dir, rate_limit=0)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    with anyio.fail_after(120):
        async with Client(create_server(settings_for(tmp_path))) as client:
            yield client


async def transcribe_costco(client: Client) -> str:
    """Transcribe the 66-minute Costco call (AssemblyAI in the sandbox); returns its transcript id."""
    arguments = {"asset_id": COSTCO, "speaker_labels": True, "max_tokens": 500}
    result = ok(await client.call_tool("transcribe_assemblyai", arguments))
    assert result["duration"] > 3600
    return result["transcript_id"]


async def search(client: Client, **arguments: Any) -> tuple[dict[str, Any], str]:
    result = await client.call_tool("search_transcripts", arguments)
    return ok(result), text_of(result)


async def test_the_tool_description_shows_the_query_syntax_in_one_line(client: Client) -> None:
    tool = next(t for t in (await client.list_tools()).tools if t.name == "search_transcripts")
    assert tool.description is not None
    assert SYNTAX in tool.description
    assert list(tool.input_schema["properties"]) == [
        "query",
        "transcript_id",
        "speakers",
        "start",
        "end",
        "max_tokens",
        "cursor",
    ]


async def test_a_transcribed_call_is_searchable_and_the_hit_leads_to_the_window_that_reads_it(client: Client) -> None:
    transcript_id = await transcribe_costco(client)
    found, text = await search(client, query='"membership fee income"')
    hit = found["hits"][0]
    assert hit["transcript_id"] == transcript_id
    assert hit["speaker"] is not None
    assert "membership fee income" in words(hit["text"])
    assert "«membership fee income»" in text
    assert found["transcripts"][0]["transcript_id"] == transcript_id
    assert 0 <= hit["start"] < hit["end"] <= found["transcripts"][0]["duration"]
    assert hit["read"]["start"] <= hit["start"]
    assert hit["read"]["end"] >= hit["end"]
    assert f'get_transcript("{transcript_id}", start={hit["read"]["start"]}, end={hit["read"]["end"]})' in text

    window = {"transcript_id": transcript_id, "start": hit["read"]["start"], "end": hit["read"]["end"]}
    page = await client.call_tool("get_transcript", {**window, "format": "json", "max_tokens": 20000})
    segments = ok(page)["segments"]
    saying = [s for s in segments if "membership fee income" in words(s["text"])]
    assert saying, "the window does not contain the phrase"
    assert {s["speaker"] for s in saying} == {hit["speaker"]}
    assert any(s["start"] <= hit["end"] and s["end"] >= hit["start"] for s in saying)
    assert "membership fee income" in words(text_of(await client.call_tool("get_transcript", window)))


async def test_on_a_stored_one_hour_call_one_search_under_2000_tokens_reaches_the_answer(client: Client) -> None:
    transcript_id = await transcribe_costco(client)
    questions = [q for q in json.loads(QUESTIONS.read_text())["questions"] if q["recording"] == COSTCO_RECORDING]
    assert len(questions) >= 5
    for question in questions:
        found, text = await search(client, query=question["query"], transcript_id=transcript_id)
        assert found["estimated_tokens"] < 2000, question["question"]
        assert words(question["passage"]) in words(text), question["question"]


async def test_a_renamed_speaker_is_found_by_the_new_name(client: Client) -> None:
    transcript_id = await transcribe_costco(client)
    before, _ = await search(client, query="Quartermaine")
    assert before["hits"] == []
    hit = (await search(client, query='"membership fee income"'))[0]["hits"][0]
    label = hit["speaker"]
    ok(
        await client.call_tool(
            "rename_speakers",
            {"transcript_id": transcript_id, "names": [{"speaker": label, "name": "Zoe Quartermaine"}]},
        )
    )

    by_name, text = await search(client, query="Quartermaine")
    assert by_name["hits"]
    assert {(h["speaker"], h.get("name")) for h in by_name["hits"]} == {(label, "Zoe Quartermaine")}
    assert "Zoe Quartermaine:" in text
    filtered, _ = await search(
        client, query="membership", transcript_id=transcript_id, speakers=["zoe quartermaine"], max_tokens=20000
    )
    assert filtered["hits"]
    assert {h["speaker"] for h in filtered["hits"]} == {label}


async def test_a_store_from_before_the_index_is_indexed_when_it_is_opened(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    transcript = normalize_body(data.ASSEMBLYAI, data.raw(data.ASSEMBLYAI, "4474506"))
    path = settings.store_dir / "mavi-mcp.sqlite3"
    store = Store(path)
    store.save_transcript(transcript)
    store.close()
    db = sqlite3.connect(path)  # make it the store schema 1 left: the same tables, no search_* tables
    with db:
        for table in ("search_fts", "search_passages", "search_docs"):
            db.execute(f"DROP TABLE {table}")
        db.execute("PRAGMA user_version=1")
    db.close()

    with anyio.fail_after(120):
        async with Client(create_server(settings)) as client:
            found, _ = await search(client, query="paid executive members")
            assert found["hits"][0]["transcript_id"] == transcript.id
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    db.close()


async def test_search_arguments_are_checked_with_actionable_messages(client: Client) -> None:
    transcript_id = await transcribe_costco(client)
    assert "list_transcripts" in error(
        await client.call_tool("search_transcripts", {"query": "x", "transcript_id": "tr_nope"})
    )
    assert SYNTAX in error(await client.call_tool("search_transcripts", {"query": "-fee"}))
    unknown = {"query": "fee", "transcript_id": transcript_id, "speakers": ["Nobody Here"]}
    assert "Nobody Here" in error(await client.call_tool("search_transcripts", unknown))
    assert "after start" in error(
        await client.call_tool("search_transcripts", {"query": "fee", "start": 60, "end": "0:30"})
    )
    first, _ = await search(client, query="fee", max_tokens=500)
    assert first["next_cursor"]
    other = {"query": "price", "cursor": first["next_cursor"]}
    assert "another search" in error(await client.call_tool("search_transcripts", other))
    second, _ = await search(client, query="fee", max_tokens=500, cursor=first["next_cursor"])
    seen = {(h["start"], h["end"]) for h in first["hits"]}
    assert second["hits"]
    assert not seen & {(h["start"], h["end"]) for h in second["hits"]}


async def test_the_insights_format_returns_what_assemblyai_added(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    transcript = normalize_body(data.ASSEMBLYAI, assemblyai_with_insights())
    store = Store(settings.store_dir / "mavi-mcp.sqlite3")
    store.save_transcript(transcript)
    store.close()
    with anyio.fail_after(120):
        async with Client(create_server(settings)) as client:
            first = await client.call_tool("get_transcript", {"transcript_id": transcript.id})
            assert "insights" in text_of(first)  # the first page says they exist
            args = {"transcript_id": transcript.id, "format": "insights", "max_tokens": 500}
            result = await client.call_tool("get_transcript", args)
            page = ok(result)
            assert page["format"] == "insights"
            assert page["transcript_id"] == transcript.id
            insights = page["insights"]
            assert insights["chapters"][1]["headline"] == "Fee increase"
            assert insights["chapters"][1]["start"] == 2763.75
            assert insights["entities"][0]["text"] == "Richard Galanti"
            assert {"summary", "highlights", "sentiment", "topics", "content_safety"} <= set(insights)
            assert page["estimated_tokens"] <= 500
            assert page["next_cursor"]
            text = text_of(result)
            assert "Insights of" in text

            shown = [text]
            cursor = page["next_cursor"]
            while cursor:  # the cursor alone continues the insights (its view wins)
                follow = await client.call_tool("get_transcript", {"transcript_id": transcript.id, "cursor": cursor})
                shown.append(text_of(follow))
                cursor = ok(follow).get("next_cursor")
            assert "Fee increase" in "\n".join(shown)
            assert "End of insights." in shown[-1]


async def test_a_transcription_asked_for_insights_answers_with_them_and_its_ids(client: Client) -> None:
    arguments = {"asset_id": ELEVENLABS_DIARIZED, "format": "insights"}
    result = await client.call_tool("transcribe_elevenlabs", arguments)
    page = ok(result)
    assert page["format"] == "insights"
    assert page["task_id"]
    assert page["insights"]["language"]["code"] == "eng"
    assert 0.5 < page["insights"]["language"]["probability"] <= 1
    assert "Language: eng, probability 0.93" in text_of(result)
    words_page = ok(await client.call_tool("get_transcript", {"transcript_id": page["transcript_id"]}))
    bad = {"transcript_id": page["transcript_id"], "format": "insights", "cursor": "not-a-cursor"}
    assert "cursor" in error(await client.call_tool("get_transcript", bad))
    assert words_page["format"] == "text"
