"""The sandbox's preloaded recordings: fixed ids, every asset on every sync endpoint, honoured options, provenance.

Every answer is parsed with the package's wire models (what the client reads) and checked against the real first
words and speakers of its source; a recording without a real result for a shape must answer with a placeholder
that says so ("[MAVI sandbox] ..."). Provenance tests prove the derived shapes follow the shared data set's rules
and that the bundled raw sources are the shared ones, byte for byte.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from mavi_mcp import wire
from mavi_mcp.normalize._assemble import Context
from mavi_mcp.normalize.assemblyai import normalize_assemblyai
from mavi_mcp.normalize.elevenlabs import normalize_elevenlabs
from mavi_mcp.sandbox import ASSETS, catalog, catalog_summary, derive, providers
from mavi_mcp.sandbox.catalog import BY_ID, Asset
from mavi_mcp.wire import AssemblyAITranscript, ElevenLabsTranscript, Envelope, SpeakerData, WhisperData
from tests.helpers import serve

pytestmark = pytest.mark.anyio

SHARED = Path("/work/shared/data")
PLACEHOLDER = "[MAVI sandbox]"
ONLY_TURNS = "[MAVI sandbox] Only speaker turns are available for this recording in the sandbox."
NO_LABELS = "[MAVI sandbox] Only transcripts without speaker labels are available for this recording in the sandbox."
ASSET_IDS = [pytest.param(a.asset_id, id=a.recording) for a in ASSETS]

TURNS = {  # recording: (turns, distinct speakers, first turn); others answer with a placeholder turn
    "4430051": (267, 26, (1.86, 2.0, "SPEAKER_00")),
    "4474506": (141, 17, (2.52, 25.6, "SPEAKER_00")),
    "4320211": (1009, 10, (3.24, 8.834, "SPEAKER_00")),
    "vercel_ai_elevenlabs-transcription": (1, 1, (0.199, 2.479, "SPEAKER_00")),
    "vercel_ai_issue-22052-diarized": (1, 1, (0.2, 2.18, "SPEAKER_00")),
    "EN2002b": (490, 4, (4.48, 4.6, "SPEAKER_01")),
    "ES2004a": (260, 4, (0.37, 1.76, "SPEAKER_03")),
    "IS1009a": (195, 4, (54.95, 60.85, "SPEAKER_00")),
    "TS3003a": (242, 4, (13.46, 27.11, "SPEAKER_01")),
    "bidnq": (239, 11, (1.92, 16.57, "SPEAKER_00")),
    "dev_jcako": (217, 3, (0.48, 12.8, "SPEAKER_01")),
    "eauve": (242, 7, (1.92, 19.1, "SPEAKER_00")),
    "guvqf": (352, 11, (2.24, 26.29, "SPEAKER_00")),
    "kvkje": (145, 8, (191.8, 196.59, "SPEAKER_00")),
}

FIRST_WORDS = {  # recording: the first words of its Whisper transcript (human references, or the recorded words)
    "4430051": "Foreign language Good afternoon. I am Joong-suk Oh",
    "4474506": "Good day and thank you for standing by",
    "4320211": "Good morning ladies and gentlemen, and welcome to the Monro Inc",
    "wildfires": "Smoke from hundreds of wildfires in Canada",
    "vercel_ai_elevenlabs-transcription": "Hello from the Vercel AI SDK.",
    "vercel_ai_issue-22052-diarized": "Hello from the Versal AI SDK",
}

STT_FIRST_WORDS = {  # the speech-to-text shapes of 4320211 carry Amazon Transcribe's real output, errors included
    **FIRST_WORDS,
    "4320211": "Good morning, ladies and gentlemen. And welcome to the Monroe Inks",
}

STT_SPEAKERS = {"4430051": 26, "4474506": 17, "4320211": 7, "vercel_ai_elevenlabs-transcription": 1}


async def post(path: str, body: dict[str, Any]) -> Any:
    """The `data` of a successful answer, checked to be the vendor's success envelope."""
    async with serve() as (_, http):
        response = await http.post(f"/transcriptions/{path}", json=body)
    assert response.status_code == 200, response.text
    envelope = Envelope[Any].model_validate(response.json())
    assert envelope.ok
    return envelope.data


def asset(recording: str) -> Asset:
    return next(a for a in ASSETS if a.recording == recording)


# --- the catalog ---------------------------------------------------------------------------------


def test_the_preloaded_ids_are_fixed_and_name_their_recordings() -> None:
    assert {a.asset_id: a.recording for a in ASSETS} == {
        "re_700000000000000001": "4430051",
        "re_700000000000000002": "4474506",
        "re_700000000000000003": "4320211",
        "re_700000000000000004": "wildfires",
        "re_700000000000000005": "vercel_ai_elevenlabs-transcription",
        "re_700000000000000006": "vercel_ai_issue-22052-diarized",
        "re_700000000000000011": "EN2002b",
        "re_700000000000000012": "ES2004a",
        "re_700000000000000013": "IS1009a",
        "re_700000000000000014": "TS3003a",
        "re_700000000000000021": "bidnq",
        "re_700000000000000022": "dev_jcako",
        "re_700000000000000023": "eauve",
        "re_700000000000000024": "guvqf",
        "re_700000000000000025": "kvkje",
    }


def test_the_catalog_summary_has_one_line_per_asset_with_its_id_and_description() -> None:
    lines = catalog_summary().splitlines()
    assert lines == [f"{a.asset_id}: {a.description}" for a in ASSETS]
    assert lines[2].startswith("re_700000000000000003: Earnings-21 4320211: Monro Inc")


def test_the_catalog_durations_and_audio_urls_agree_with_the_data() -> None:
    for item in ASSETS:
        turns = catalog.speaker_items(item)
        assert max(t["end"] for t in turns) <= item.duration + 0.5, item.recording
        real = catalog.assemblyai_result(item)
        if real is not None:
            assert real["audio_duration"] == round(item.duration), item.recording
            assert real["audio_url"] == item.audio_url, item.recording
            assert real["words"][-1]["end"] <= item.duration * 1000 + 500, item.recording
        if item.recording in TURNS and item.speaker_labels:
            assert f"{TURNS[item.recording][1]} " in item.description or item.recording.startswith("vercel")


# --- every preloaded asset on every sync endpoint ------------------------------------------------


@pytest.mark.parametrize("asset_id", ASSET_IDS)
async def test_speaker_turns_are_the_recordings_real_turns_or_a_labelled_placeholder(asset_id: str) -> None:
    item = BY_ID[asset_id]
    data = SpeakerData.model_validate(await post("sync-generate-speaker", {"asset_id": asset_id}))
    assert data.model == "pyannote"
    if item.recording in TURNS:
        count, speakers, first = TURNS[item.recording]
        assert (len(data.items), len({t.speaker for t in data.items})) == (count, speakers)
        assert (data.items[0].start, data.items[0].end, data.items[0].speaker) == first
        assert all(t.start <= t.end for t in data.items)
    else:
        [turn] = data.items
        assert (turn.start, turn.end, turn.speaker) == (0.0, item.duration, NO_LABELS)


@pytest.mark.parametrize("speaker", [False, True])
@pytest.mark.parametrize("asset_id", ASSET_IDS)
async def test_whisper_segments_carry_real_words_or_a_labelled_placeholder(asset_id: str, speaker: bool) -> None:
    item = BY_ID[asset_id]
    raw = await post("sync-generate-audio", {"asset_id": asset_id, "model": "whisper-1", "speaker": speaker})
    data = WhisperData.model_validate(raw)
    assert data.model == "whisper-1"
    assert all(("speaker" in i) is speaker for i in raw["items"])
    first = data.items[0]
    if item.recording in FIRST_WORDS and (item.speaker_labels or not speaker):
        assert first.text.startswith(" ")
        assert " ".join(i.text.strip() for i in data.items).startswith(FIRST_WORDS[item.recording])
        assert first.start_time > 0
        assert all(a.start_time <= b.start_time for a, b in zip(data.items, data.items[1:], strict=False))
        if speaker:
            assert all(i.speaker is not None and i.speaker.startswith("SPEAKER_") for i in data.items)
    else:
        assert len(data.items) == 1
        expected = ONLY_TURNS if item.recording in TURNS else NO_LABELS
        assert (first.text, first.start_time, first.end_time) == (" " + expected, 0.0, item.duration)


@pytest.mark.parametrize("asset_id", ASSET_IDS)
async def test_assemblyai_words_are_real_in_milliseconds_or_a_labelled_placeholder(asset_id: str) -> None:
    item = BY_ID[asset_id]
    body = {"provider": "assemblyai", "asset_id": asset_id, "speaker_labels": item.speaker_labels}
    raw = await post("speech-to-text", body)
    data = wire.validate(AssemblyAITranscript, raw)
    assert data.status == "completed"
    assert data.words
    assert data.text
    assert raw["speaker_labels"] is item.speaker_labels
    if item.recording in STT_FIRST_WORDS:
        assert data.text.startswith(STT_FIRST_WORDS[item.recording])
        assert all(isinstance(w["start"], int) and isinstance(w["end"], int) for w in raw["words"])
        assert data.words[-1].end > 1000  # milliseconds
        if item.speaker_labels:
            assert data.utterances
            speakers = {w.speaker for w in data.words}
            assert len(speakers) == STT_SPEAKERS.get(item.recording, 1)
            assert data.words[0].speaker == "A"
        else:
            assert data.utterances is None
    else:
        assert data.text == ONLY_TURNS
        assert data.words[-1].end == round(item.duration * 1000)
        assert data.utterances is not None
        assert [u.speaker for u in data.utterances] == ["A"]


@pytest.mark.parametrize("asset_id", ASSET_IDS)
async def test_elevenlabs_words_are_real_in_seconds_or_a_labelled_placeholder(asset_id: str) -> None:
    item = BY_ID[asset_id]
    body = {"provider": "elevenlabs", "asset_id": asset_id, "diarize": item.speaker_labels}
    raw = await post("speech-to-text", body)
    data = wire.validate(ElevenLabsTranscript, raw)
    words = [w for w in data.words if w.type == "word"]
    assert data.text
    assert {w.type for w in data.words} <= {"word", "spacing"}
    if item.recording in STT_FIRST_WORDS:
        assert data.text.startswith(STT_FIRST_WORDS[item.recording])
        assert [w.text for w in words[:2]] == STT_FIRST_WORDS[item.recording].split()[:2]
        if item.speaker_labels:
            assert words[0].speaker_id == "speaker_0"
            assert len({w.speaker_id for w in words}) == STT_SPEAKERS.get(item.recording, 1)
        else:
            assert all("speaker_id" not in w for w in raw["words"])
        assert (words[-1].end or 0) <= item.duration + 0.5
    else:
        assert data.text == ONLY_TURNS
        assert words[-1].end == pytest.approx(item.duration, abs=0.001)


# --- options honoured on real data ---------------------------------------------------------------


async def test_assemblyai_without_speaker_labels_drops_the_speaker_key_and_utterances_and_each_answer_is_new() -> None:
    plain = await post("speech-to-text", {"provider": "assemblyai", "asset_id": "re_700000000000000001"})
    labelled = await post(
        "speech-to-text", {"provider": "assemblyai", "asset_id": "re_700000000000000001", "speaker_labels": True}
    )
    assert (plain["utterances"], plain["speaker_labels"]) == (None, False)
    assert all("speaker" not in w for w in plain["words"])
    assert [w["text"] for w in plain["words"]] == [w["text"] for w in labelled["words"]]
    assert len({w["speaker"] for w in labelled["words"]}) == 26
    assert labelled["utterances"][1]["text"].startswith("Good afternoon. I am Joong-suk Oh")
    assert plain["id"] != labelled["id"]
    again = await post("speech-to-text", {"provider": "assemblyai", "asset_id": "re_700000000000000001"})
    assert len({plain["id"], again["id"]}) == 2


async def test_assemblyai_keeps_only_the_words_inside_the_millisecond_window_and_echoes_the_options() -> None:
    body = {
        "provider": "assemblyai",
        "asset_id": "re_700000000000000002",
        "speaker_labels": True,
        "audio_start_from": 60_000,
        "audio_end_at": 120_000,
        "language_code": "en",
        "speakers_expected": 3,
        "punctuate": False,
    }
    raw = await post("speech-to-text", body)
    words, utterances = raw["words"], raw["utterances"]
    assert all(w["end"] > 60_000 and w["start"] < 120_000 for w in words)
    assert 100 < len(words) < 400
    assert raw["text"] == " ".join(w["text"] for w in words)
    assert [w for u in utterances for w in u["words"]] == words
    assert (utterances[0]["start"], utterances[-1]["end"]) == (words[0]["start"], words[-1]["end"])
    echoed = ("audio_start_from", "audio_end_at", "language_code", "speakers_expected", "punctuate")
    assert tuple(raw[k] for k in echoed) == (60_000, 120_000, "en", 3, False)


async def test_the_recorded_assemblyai_response_is_served_as_recorded_and_speaker_labels_on_it_get_a_placeholder() -> (
    None
):
    plain = await post("speech-to-text", {"provider": "assemblyai", "asset_id": "re_700000000000000004"})
    assert plain["confidence"] == 0.9786635
    assert plain["words"][0] == {
        "text": "Smoke",
        "start": 240,
        "end": 640,
        "confidence": 0.90152997,
        "speaker": None,
        "channel": None,
    }
    labelled = await post(
        "speech-to-text", {"provider": "assemblyai", "asset_id": "re_700000000000000004", "speaker_labels": True}
    )
    assert labelled["text"] == NO_LABELS
    assert labelled["audio_url"] == "https://assembly.ai/wildfires.mp3"
    assert [(u["speaker"], u["text"]) for u in labelled["utterances"]] == [("A", NO_LABELS)]


async def test_elevenlabs_diarize_granularity_and_audio_events_shape_the_items() -> None:
    base = {"provider": "elevenlabs", "asset_id": "re_700000000000000003"}
    plain = await post("speech-to-text", base)
    diarized = await post(
        "speech-to-text", {**base, "diarize": True, "tag_audio_events": False, "model_id": "scribe_v1"}
    )
    untimed = await post("speech-to-text", {**base, "timestamps_granularity": "none"})
    segment = await post("speech-to-text", {**base, "timestamps_granularity": "segment", "num_speakers": 32})
    assert all("speaker_id" not in w for w in plain["words"])
    assert len({w["speaker_id"] for w in diarized["words"]}) == 7  # Amazon Transcribe's own diarization
    assert [w["text"] for w in diarized["words"]] == [w["text"] for w in plain["words"]]
    assert all(w["start"] is None and w["end"] is None for w in untimed["words"])
    assert [w["text"] for w in untimed["words"]] == [w["text"] for w in plain["words"]]
    assert segment["words"] == plain["words"]
    language = await post("speech-to-text", {**base, "language_code": "en"})
    assert language["language_code"] == "en"


def test_elevenlabs_audio_events_are_kept_by_default_and_dropped_when_not_tagged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clip = BY_ID["re_700000000000000005"]
    real = catalog.elevenlabs_result(clip)
    assert real is not None
    assert all(w["type"] != "audio_event" for w in real["words"])  # no bundled recording has one: add one
    event = {"text": "(laughter)", "start": 2.3, "end": 2.4, "type": "audio_event", "speaker_id": "speaker_0"}
    monkeypatch.setattr(catalog, "elevenlabs_result", lambda _: {**real, "words": [*real["words"], event]})
    kept = providers.speech_to_text("elevenlabs", clip, {})
    dropped = providers.speech_to_text("elevenlabs", clip, {"tag_audio_events": False})
    assert kept["words"][-1] == {"text": "(laughter)", "start": 2.3, "end": 2.4, "type": "audio_event"}
    assert [w["text"] for w in dropped["words"]] == [w["text"] for w in real["words"]]


async def test_elevenlabs_diarize_on_a_recording_without_speaker_labels_gets_a_placeholder() -> None:
    plain = await post("speech-to-text", {"provider": "elevenlabs", "asset_id": "re_700000000000000004"})
    diarized = await post(
        "speech-to-text", {"provider": "elevenlabs", "asset_id": "re_700000000000000004", "diarize": True}
    )
    assert plain["text"].startswith("Smoke from hundreds of wildfires")
    assert diarized["text"] == NO_LABELS
    assert {w["speaker_id"] for w in diarized["words"]} == {"speaker_0"}


@pytest.mark.parametrize("key", ["url", "source_url"])
async def test_a_preloaded_recordings_audio_url_is_answered_with_that_recording(key: str) -> None:
    raw = await post("speech-to-text", {"provider": "assemblyai", key: "https://assembly.ai/wildfires.mp3"})
    assert raw["text"].startswith("Smoke from hundreds of wildfires")
    monro = await post(
        "speech-to-text", {"provider": "elevenlabs", key: "https://storage.googleapis.com/mavi-sandbox/4320211.mp3"}
    )
    assert monro["text"].startswith(STT_FIRST_WORDS["4320211"])


async def test_other_urls_get_a_placeholder_and_asset_id_wins_over_url_while_a_blank_one_does_not() -> None:
    other = await post("speech-to-text", {"provider": "elevenlabs", "source_url": "gs://bucket/call.mp3"})
    assert (
        other["text"] == "[MAVI sandbox] The sandbox does not fetch URLs; no audio was read from gs://bucket/call.mp3."
    )
    url = "https://assembly.ai/wildfires.mp3"
    both = {"provider": "assemblyai", "asset_id": "re_700000000000000005", "url": url}
    assert (await post("speech-to-text", both))["text"] == "Hello from the Vercel AI SDK."
    blank = {"provider": "assemblyai", "asset_id": "  ", "url": url}
    assert (await post("speech-to-text", blank))["text"].startswith("Smoke from hundreds")


# --- provenance ----------------------------------------------------------------------------------


@pytest.mark.parametrize("recording", ["4430051", "4474506"])
def test_the_whisper_grouping_rebuilds_the_bundled_segments_from_the_bundled_words(recording: str) -> None:
    aai = catalog.body("speech-to-text-assemblyai", recording)
    plain = catalog.body("sync-generate-audio", recording)
    labelled = catalog.body("sync-generate-audio-speaker", recording)
    assert aai is not None
    assert plain is not None
    assert labelled is not None
    words = derive.from_assemblyai(aai["data"])
    assert derive.whisper_segments(words, speaker=False) == plain["data"]["items"]
    rebuilt = derive.whisper_segments(words, speaker=True)
    bundled = labelled["data"]["items"]
    assert [{k: v for k, v in s.items() if k != "speaker"} for s in rebuilt] == [
        {k: v for k, v in s.items() if k != "speaker"} for s in bundled
    ]
    relabel = {(r["speaker"], b["speaker"]) for r, b in zip(rebuilt, bundled, strict=True)}
    assert len(relabel) == len({r for r, _ in relabel}) == len({b for _, b in relabel})  # one-to-one


@pytest.mark.parametrize("recording", ["4430051", "4474506", "4320211"])
def test_whisper_speaker_labels_agree_with_the_speaker_turns_of_the_same_recording(recording: str) -> None:
    item = asset(recording)
    turns = catalog.speaker_items(item)
    segments = catalog.whisper_items(item, speaker=True)
    agree = sum(
        s["speaker"] in {t["speaker"] for t in turns if t["start"] < s["end_time"] and t["end"] > s["start_time"]}
        for s in segments
    )
    assert agree / len(segments) > 0.98


def test_the_4320211_provider_shapes_carry_every_timed_token_of_the_amazon_transcribe_output_in_order() -> None:
    raw = (Path(catalog.__file__).parent / "data/raw/earnings21_amazon_4320211.nlp").read_text()
    rows = list(csv.DictReader(io.StringIO(raw), delimiter="|"))
    item = asset("4320211")
    aai = catalog.assemblyai_result(item)
    eleven = catalog.elevenlabs_result(item)
    assert aai is not None
    assert eleven is not None
    assert [w["text"] for w in aai["words"]] == [r["token"] + r["punctuation"] for r in rows]
    assert [(w["start"], w["end"]) for w in aai["words"][:2]] == [(3240, 3370), (3370, 3630)]
    words = [w for w in eleven["words"] if w["type"] == "word"]
    assert [(w["text"], w["start"], w["end"]) for w in words] == [
        (r["token"] + r["punctuation"], float(r["ts"]), float(r["endTs"])) for r in rows
    ]
    letters = {r["speaker"]: w["speaker"] for r, w in zip(rows, aai["words"], strict=True)}
    assert len(letters) == len(set(letters.values())) == 7  # Amazon's speakers map one-to-one to letters
    assert [u["speaker"] for u in aai["utterances"][:2]] == ["A", "B"]


def test_the_derived_shapes_read_through_the_projects_normalizers_with_their_speakers() -> None:
    monro = asset("4320211")
    aai = catalog.assemblyai_result(monro)
    eleven = catalog.elevenlabs_result(BY_ID["re_700000000000000004"])
    assert aai is not None
    assert eleven is not None
    transcript = normalize_assemblyai(wire.validate(AssemblyAITranscript, aai), Context())
    assert len(transcript.speakers) == 7
    assert transcript.segments[0].text.startswith("Good morning, ladies and gentlemen.")
    wildfires = normalize_elevenlabs(wire.validate(ElevenLabsTranscript, eleven), Context())
    assert wildfires.speakers == []
    assert wildfires.segments[0].text.startswith("Smoke from hundreds of wildfires")


def test_the_bundled_raw_sources_are_the_shared_data_sets_files() -> None:
    if not (SHARED / "raw").is_dir():
        pytest.skip("the shared data set is not on this machine")
    bundled = Path(catalog.__file__).parent / "data" / "raw"
    pairs = {
        "4320211.rttm": SHARED / "raw/diarization/earnings21/4320211.rttm",
        "earnings21_amazon_4320211.nlp": SHARED / "raw/provider_responses/other_vendors/earnings21_amazon_4320211.nlp",
    }
    for name, original in pairs.items():
        assert (bundled / name).read_bytes() == original.read_bytes(), name
    metadata = (SHARED / "raw/diarization/earnings21/speaker-metadata.csv").read_text().splitlines()
    expected = [metadata[0], *(line for line in metadata[1:] if line.startswith("4320211,"))]
    assert (bundled / "4320211-speakers.csv").read_text().splitlines() == expected
