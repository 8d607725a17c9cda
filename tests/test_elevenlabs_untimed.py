"""ElevenLabs answers without word times (`diarize=True`, `timestamps_granularity="none"`) keep their speakers.

The bodies are derived from the bundled recorded ElevenLabs answers by removing the word times, which is what
ElevenLabs leaves out at that granularity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mavi_mcp import wire
from mavi_mcp.normalize import Context, normalize_elevenlabs
from mavi_mcp.transcript import Transcript
from tests import data
from tests.conftest import in_process_server


def untimed(name: str, **fields: Any) -> tuple[dict[str, Any], Transcript]:
    body = data.load(data.ELEVENLABS, name)["data"]
    for item in body["words"]:
        item.pop("start", None)
        item.pop("end", None)
    body.update(fields)
    transcript = normalize_elevenlabs(wire.validate(wire.ElevenLabsTranscript, body), Context(model="scribe_v2"))
    return body, transcript


def test_an_untimed_diarized_answer_keeps_every_speaker_and_turn_in_order() -> None:
    body, transcript = untimed("4430051")
    ids = list(dict.fromkeys(w["speaker_id"] for w in body["words"] if w.get("speaker_id")))
    assert len(ids) > 5
    assert [s.label for s in transcript.speakers] == ids
    turns = [ids[0]]
    for word in body["words"]:
        if word.get("type") != "spacing" and word["speaker_id"] != turns[-1]:
            turns.append(word["speaker_id"])
    assert [s.speaker for s in transcript.segments] == turns
    assert " ".join(s.text for s in transcript.segments).split() == body["text"].split()
    assert any("no word times" in w for w in transcript.warnings)
    assert all(s.words is None for s in transcript.segments)


def test_an_untimed_diarized_answer_keeps_the_duration_it_was_given() -> None:
    _, transcript = untimed("vercel_ai_issue-22052-diarized")
    assert transcript.duration == 2.508  # audio_duration_secs 2.50775, rounded to ms
    assert [(s.speaker, s.text) for s in transcript.segments] == [("speaker_0", "Hello from the Versal AI SDK")]


def test_times_present_on_some_items_are_kept() -> None:
    body = data.load(data.ELEVENLABS, "vercel_ai_issue-22052-diarized")["data"]
    for item in body["words"][2:]:
        item.pop("start", None)
        item.pop("end", None)
    transcript = normalize_elevenlabs(wire.validate(wire.ElevenLabsTranscript, body), Context())
    (segment,) = transcript.segments
    assert (segment.start, segment.end) == (0.2, 0.48)


def test_audio_events_are_listed_in_extras_with_their_times_in_seconds() -> None:
    body = data.load(data.ELEVENLABS, "vercel_ai_issue-22052-diarized")["data"]
    body["words"][6:6] = [
        {"text": "(laughter)", "start": 0.73, "end": 0.75, "type": "audio_event", "speaker_id": "speaker_0"},
        {"text": " ", "start": 0.75, "end": 0.76, "type": "spacing", "speaker_id": "speaker_0"},
    ]
    transcript = normalize_elevenlabs(wire.validate(wire.ElevenLabsTranscript, body), Context())
    assert transcript.extras.audio_events == [
        {"text": "(laughter)", "start": 0.73, "end": 0.75, "speaker": "speaker_0"}
    ]
    assert "(laughter)" in transcript.segments[0].text


@pytest.mark.anyio
async def test_transcribing_with_diarize_and_no_timestamps_shows_the_speakers_on_the_first_page(
    tmp_path: Path,
) -> None:
    """Through the MCP client: the tool over the in-process sandbox, which drops the times as MAVI does."""
    async with in_process_server(tmp_path / "data", [tmp_path], api_key="sk-test", webhook_secret="s" * 32) as (
        server,
        _,
    ):
        with anyio.fail_after(60):
            async with Client(server) as client:
                result = await client.call_tool(
                    "transcribe_elevenlabs",
                    {"asset_id": "re_700000000000000003", "diarize": True, "timestamps_granularity": "none"},
                )
    assert not result.is_error
    text = "".join(getattr(block, "text", "") for block in result.content)
    assert "No speaker labels" not in text
    assert "Speakers (7;" in text
    assert "no word times" in text
    structured = result.structured_content
    assert structured is not None
    assert structured["counts"]["speakers"] == 7
    assert structured["counts"]["segments"] > 7
