"""Normalizers on every bundled real recording, and on small hand-made payloads for the repairs and edge cases.

The real bodies (tests/data.py) are parsed with the wire models exactly as the client and the webhook receiver
parse them, normalized, and checked against the provider's own content: every word in order, times in seconds
within the recording, the right speakers, overlaps kept, extras kept.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import pytest

from mavi_mcp import shapes, wire
from mavi_mcp.errors import ResultError
from mavi_mcp.normalize import (
    Context,
    normalize_assemblyai,
    normalize_elevenlabs,
    normalize_multi_speaker_callback,
    normalize_speaker_callback,
    normalize_speaker_turns,
    normalize_whisper,
    normalize_whisper_callback,
)
from mavi_mcp.transcript import Segment, Transcript
from tests import data

T = TypeVar("T")

CONTEXT = Context(asset_id="re_660727003963174912", task_id="task-1")


def _callback_result(body: bytes) -> dict[str, Any]:
    envelope = wire.CallbackEnvelope.model_validate_json(body)
    assert envelope.data is not None
    assert envelope.data.data is not None
    return envelope.data.data


def _data(envelope: wire.Envelope[T] | wire.StructEnvelope[T]) -> T:
    assert envelope.ok, f"the recording's envelope does not report success: {envelope.code!r}"
    assert envelope.data is not None
    return envelope.data


@cache
def normalized(folder: str, name: str) -> Transcript:
    """The recording normalized once per session (transcripts are frozen, so sharing them is safe)."""
    return shapes.normalize_body(folder, data.raw(folder, name), CONTEXT)


def _ids(params: list[tuple[str, str]]) -> list[str]:
    return [f"{folder}/{name}" for folder, name in params]


ALL = data.all_recordings()


def _source_items(folder: str, name: str) -> list[dict[str, Any]]:
    """The provider's own list of timed items, straight from the JSON (no wire model in between)."""
    body = data.load(folder, name)
    if folder in (data.WHISPER_CALLBACK,):
        return body["data"]["data"]["data"]
    if folder == data.MULTI_SPEAKER_CALLBACK:
        return body["data"]["data"]["audio_transcription"]
    if folder in (data.ASSEMBLYAI, data.ELEVENLABS):
        return body["data"]["words"]
    return body["data"]["items"]


def _provider_tokens(folder: str, name: str) -> list[str]:
    """The provider's transcript as a token sequence, from the JSON as the provider shaped it."""
    items = _source_items(folder, name)
    if folder == data.ASSEMBLYAI:
        return [w["text"] for w in items]
    if folder == data.ELEVENLABS:
        return [w["text"] for w in items if w.get("type", "word") in ("word", "audio_event")]
    return [token for item in items for token in item["text"].split()]


# --- the bundled copies ----------------------------------------------------------------------------


def test_every_bundled_endpoint_folder_is_covered_by_these_tests() -> None:
    assert data.folders() == sorted(data.FOLDERS)
    assert set(data.FOLDERS) <= set(shapes.SHAPES)
    assert len(ALL) == 23


@pytest.mark.skipif(not data.SHARED_MAVI_DATA.is_dir(), reason="the shared data folder is not on this machine")
def test_bundled_recordings_are_byte_identical_to_the_shared_originals() -> None:
    shared = sorted(str(p.relative_to(data.SHARED_MAVI_DATA)) for p in data.SHARED_MAVI_DATA.glob("*/*.json"))
    assert data.relative_files() == shared
    for relative in shared:
        folder, filename = relative.split("/")
        original = (data.SHARED_MAVI_DATA / relative).read_bytes()
        assert data.raw(folder, filename.removesuffix(".json")) == original, f"{relative} differs from the original"


# --- properties that hold on every real recording ------------------------------------------------


@pytest.mark.parametrize(("folder", "name"), ALL, ids=_ids(ALL))
def test_every_recording_normalizes_to_seconds_within_its_duration(folder: str, name: str) -> None:
    transcript = normalized(folder, name)
    items = _source_items(folder, name)
    assert transcript.segments
    assert transcript.warnings == []  # the real bodies need no repair
    last_end = max(s.end for s in transcript.segments)
    assert transcript.duration >= last_end
    for segment in transcript.segments:
        assert 0 <= segment.start <= segment.end <= transcript.duration
        for word in segment.words or []:
            assert 0 <= word[1] <= word[2] <= transcript.duration
    # the last thing the provider timed is the last thing in the transcript, in seconds
    if folder == data.ASSEMBLYAI:
        assert last_end == pytest.approx(max(w["end"] for w in items) / 1000)
    else:
        assert last_end == pytest.approx(max(i.get("end", i.get("end_time")) for i in items))
    assert transcript.source.asset_id == CONTEXT.asset_id


TEXT_RECORDINGS = [(folder, name) for folder, name in ALL if folder != data.SPEAKER_TURNS]


@pytest.mark.parametrize(("folder", "name"), TEXT_RECORDINGS, ids=_ids(TEXT_RECORDINGS))
def test_every_word_of_the_provider_appears_in_order_in_the_segments(folder: str, name: str) -> None:
    transcript = normalized(folder, name)
    expected = _provider_tokens(folder, name)
    assert len(expected) > 5
    assert [token for s in transcript.segments for token in s.text.split()] == expected
    if folder in (data.ASSEMBLYAI, data.ELEVENLABS):  # word-level providers: the words list too
        assert all(s.words for s in transcript.segments)
        assert [w[0] for s in transcript.segments for w in s.words or []] == expected
    assert transcript.kind == "transcript"


@pytest.mark.parametrize(("folder", "name"), ALL, ids=_ids(ALL))
def test_segment_starts_never_go_backwards_for_any_speaker(folder: str, name: str) -> None:
    transcript = normalized(folder, name)
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    by_speaker: dict[str | None, list[float]] = {}
    for segment in transcript.segments:
        by_speaker.setdefault(segment.speaker, []).append(segment.start)
    for speaker, speaker_starts in by_speaker.items():
        assert speaker_starts == sorted(speaker_starts), speaker


# --- speaker turns (pyannote) --------------------------------------------------------------------

SPEAKER_TURNS = [(data.SPEAKER_TURNS, name) for name in data.names(data.SPEAKER_TURNS)]


@pytest.mark.parametrize(("folder", "name"), SPEAKER_TURNS, ids=_ids(SPEAKER_TURNS))
def test_speaker_turns_keep_every_turn_including_overlaps(folder: str, name: str) -> None:
    transcript = normalized(folder, name)
    items = _source_items(folder, name)
    assert transcript.kind == "diarization"
    assert transcript.source.provider == "pyannote"
    assert transcript.source.endpoint == "sync-generate-speaker"
    assert transcript.source.model == "pyannote"
    assert len(transcript.segments) == len(items)
    assert Counter((s.start, s.end, s.speaker) for s in transcript.segments) == Counter(
        (i["start"], i["end"], i["speaker"]) for i in items
    )
    assert all(s.text == "" and s.words is None for s in transcript.segments)
    assert {s.label for s in transcript.speakers} == {i["speaker"] for i in items}
    for speaker in transcript.speakers:
        own = [i for i in items if i["speaker"] == speaker.label]
        assert speaker.segments == len(own)
        assert speaker.talk_time == pytest.approx(sum(i["end"] - i["start"] for i in own), abs=1e-3)
        assert speaker.first_heard == min(i["start"] for i in own)
        assert speaker.last_heard == max(i["end"] for i in own)
    # the source is in start order, so the transcript keeps exactly its overlaps
    source_overlaps = sum(1 for a, b in itertools.pairwise(items) if b["start"] < a["end"])
    kept_overlaps = sum(1 for a, b in itertools.pairwise(transcript.segments) if b.start < a.end)
    assert kept_overlaps == source_overlaps


def test_overlapping_speech_is_real_in_the_speaker_recordings() -> None:
    """Guards the overlap test above against passing vacuously."""
    overlaps = {
        name: sum(1 for a, b in itertools.pairwise(s.segments) if b.start < a.end)
        for name in data.names(data.SPEAKER_TURNS)
        for s in [normalized(data.SPEAKER_TURNS, name)]
    }
    assert sum(overlaps.values()) > 100
    assert overlaps["bidnq"] > 0


def test_speaker_turns_hand_checked_facts() -> None:
    es = normalized(data.SPEAKER_TURNS, "ES2004a")
    assert (es.segments[0].start, es.segments[0].end, es.segments[0].speaker) == (0.37, 1.76, "SPEAKER_03")
    assert len(es.segments) == 260
    assert es.duration == 1049.04
    assert [s.label for s in es.speakers] == ["SPEAKER_03", "SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]
    bidnq = normalized(data.SPEAKER_TURNS, "bidnq")
    assert len(bidnq.speakers) == 11
    assert len(bidnq.segments) == 239
    # turn 2 (16.47..16.98, SPEAKER_01) starts before turn 1 (1.92..16.57, SPEAKER_00) ends: both kept
    assert (bidnq.segments[0].end, bidnq.segments[1].start) == (16.57, 16.47)
    assert normalized(data.SPEAKER_TURNS, "kvkje").segments[0].start == 191.8
    assert len(normalized(data.SPEAKER_TURNS, "EN2002b").segments) == 490


def test_speaker_callback_with_usage_keeps_usage_and_duration() -> None:
    items = data.load(data.SPEAKER_TURNS, "dev_jcako")["data"]["items"]
    callback = {"data": items, "usage_metadata": {"duration": 1000.5, "model": "pyannote"}}
    transcript = normalize_speaker_callback(wire.SpeakerCallbackResult.model_validate(callback), CONTEXT)
    assert transcript.kind == "diarization"
    assert transcript.source.endpoint == "async-generate-speaker"
    assert transcript.source.task_id == "task-1"
    assert len(transcript.segments) == 217
    assert transcript.duration == 1000.5  # the usage duration, longer than the last turn (996.0)
    assert transcript.extras.usage == [{"duration": 1000.5, "model": "pyannote"}]
    assert {s.label for s in transcript.speakers} == {"SPEAKER_00", "SPEAKER_01", "SPEAKER_02"}


# --- Whisper --------------------------------------------------------------------------------------


def test_whisper_without_speaker_labels_has_no_speakers() -> None:
    transcript = normalized(data.WHISPER, "4430051")
    assert transcript.source.provider == "whisper"
    assert transcript.source.endpoint == "sync-generate-audio"
    assert transcript.source.model == "whisper-1"
    assert len(transcript.segments) == 322
    assert transcript.speakers == []
    assert all(s.speaker is None and s.words is None for s in transcript.segments)
    first = transcript.segments[0]
    assert (first.text, first.start, first.end) == ("Foreign language Good", 1.86, 21.36)  # leading space dropped
    assert transcript.segments[-1].text == "Thank you."
    assert transcript.duration == 3767.38


def test_whisper_with_speaker_labels_finds_every_speaker() -> None:
    transcript = normalized(data.WHISPER_SPEAKER, "4430051")
    items = _source_items(data.WHISPER_SPEAKER, "4430051")
    assert len(transcript.segments) == len(items) == 441
    assert len(transcript.speakers) == 26
    assert {s.label for s in transcript.speakers} == {f"SPEAKER_{n:02d}" for n in range(26)}
    assert [s.speaker for s in transcript.segments] == [i["speaker"] for i in items]
    assert transcript.segments[1].text == "Good afternoon. I am Joong-suk Oh, Head of IR Planning at SK Telecom."
    assert transcript.segments[1].speaker == "SPEAKER_01"
    other = normalized(data.WHISPER_SPEAKER, "4474506")
    assert len(other.speakers) == 17
    assert other.segments[0].speaker == "SPEAKER_00"
    assert other.duration == 3973.32
    # SPEAKER_01 (the CFO) talks most of the call
    assert max(other.speakers, key=lambda s: s.talk_time).label == "SPEAKER_01"


@pytest.mark.parametrize("name", ["4430051", "4474506"])
def test_whisper_callback_matches_the_sync_answer_and_keeps_usage(name: str) -> None:
    callback = normalized(data.WHISPER_CALLBACK, name)
    sync = normalized(data.WHISPER_SPEAKER, name)
    usage = data.load(data.WHISPER_CALLBACK, name)["data"]["data"]["usage_metadata"]
    assert callback.source.endpoint == "async-generate-audio"
    assert callback.source.task_id == "task-1"
    assert callback.source.model == "whisper-1"
    assert [(s.start, s.end, s.speaker, s.text) for s in callback.segments] == [
        (s.start, s.end, s.speaker, s.text) for s in sync.segments
    ]
    assert callback.extras.usage == [usage]
    assert callback.extras.usage[0]["duration"] == {"4430051": 3767, "4474506": 3973}[name]
    assert callback.duration >= usage["duration"]


def test_whisper_callback_speaker_null_means_no_speaker() -> None:
    body = {
        "data": [
            {"start_time": 0.0, "end_time": 2.0, "text": " Oh", "speaker": None},
            {"start_time": 2.0, "end_time": 3.5, "text": " hello there", "speaker": None},
        ],
        "usage_metadata": {"duration": 2, "model": "whisper-1", "output_tokens": 0, "prompt_tokens": 0},
    }
    transcript = normalize_whisper_callback(wire.WhisperCallbackResult.model_validate(body), CONTEXT)
    assert [s.speaker for s in transcript.segments] == [None, None]
    assert transcript.speakers == []
    assert [s.text for s in transcript.segments] == ["Oh", "hello there"]
    assert transcript.duration == 3.5  # the last segment's end, beyond the usage's rounded 2 s


# --- multi-speaker ----------------------------------------------------------------------------------


def test_multi_speaker_callback_keeps_named_speakers() -> None:
    transcript = normalized(data.MULTI_SPEAKER_CALLBACK, "4320211")
    items = _source_items(data.MULTI_SPEAKER_CALLBACK, "4320211")
    assert transcript.source.provider == "multi-speaker"
    assert transcript.source.model == "gemini-2.5-pro"
    assert len(transcript.segments) == len(items) == 420
    names = {
        "Speaker 1",
        "Brett Ponton",
        "Brian D'Ambrosia",
        "Bret Jordan",
        "Stephanie Benjamin's",
        "Maureen Mulholland",
        "Brian Nagel",
        "Jonathan Lamers",
        "Scott Stember",
        "Rick Nelson",
    }
    assert {s.label for s in transcript.speakers} == names
    assert {s.label: s.name for s in transcript.speakers if s.name} == {name: name for name in names}
    assert transcript.segments[0].speaker == "Speaker 1"
    assert transcript.segments[0].text.startswith("Good morning ladies and gentlemen")
    assert transcript.segments[-1].speaker == "Maureen Mulholland"
    assert max(transcript.speakers, key=lambda s: s.segments).label == "Brett Ponton"
    assert transcript.extras.usage == [
        {"duration": 0.0, "model": "gemini-2.5-pro", "output_tokens": 0, "prompt_tokens": 0}
    ]
    assert not transcript.extras.faces  # an audio-only recording: the provider found no faces
    assert transcript.duration == 3283.43


def test_multi_speaker_faces_are_kept_as_the_provider_sent_them() -> None:
    body = data.load(data.MULTI_SPEAKER_CALLBACK, "4320211")["data"]["data"]
    face = {  # the vendor's documented example (001_e522976c290095e0.txt)
        "face_id": "9e545636-509a-4a7d-b7c8-6359ea6a6d8b_person_001",
        "name": "Kiara S Stepsister",
        "face_file_protocol": "gs",
        "face_file_bucket": "memories-cache",
        "face_file_blob": "api-backend/9e545636_batch_1_video_9_person_001.jpg",
    }
    body["faces"] = [face]
    body["usage_metadata"].append({"duration": 1.5, "model": "gemini-2.5-flash", "output_tokens": 10})
    transcript = normalize_multi_speaker_callback(wire.MultiSpeakerCallbackResult.model_validate(body), CONTEXT)
    assert transcript.extras.faces == [face]
    assert transcript.source.model == "gemini-2.5-flash, gemini-2.5-pro"
    assert transcript.extras.usage is not None
    assert [u["model"] for u in transcript.extras.usage] == ["gemini-2.5-pro", "gemini-2.5-flash"]


def test_multi_speaker_blank_speaker_becomes_unlabelled() -> None:
    body = {
        "audio_transcription": [
            {"start_time": 0.0, "end_time": 1.8, "speaker": "Kiara S Stepsister", "text": "You wolfless Omega!"},
            {"start_time": 1.8, "end_time": 2.5, "speaker": "  ", "text": "Clean that up."},
            {"start_time": 2.5, "end_time": 3.0, "speaker": None, "text": "You jinx!"},
        ],
        "usage_metadata": {"duration": 3.0, "model": "gemini-2.5-pro"},  # an object instead of the array
    }
    transcript = normalize_multi_speaker_callback(wire.MultiSpeakerCallbackResult.model_validate(body), CONTEXT)
    assert [s.speaker for s in transcript.segments] == ["Kiara S Stepsister", None, None]
    assert [s.label for s in transcript.speakers] == ["Kiara S Stepsister"]
    assert transcript.extras.usage == [{"duration": 3.0, "model": "gemini-2.5-pro"}]


# --- AssemblyAI (MILLISECONDS) --------------------------------------------------------------------


def test_assemblyai_milliseconds_become_seconds() -> None:
    transcript = normalized(data.ASSEMBLYAI, "4430051")
    first = transcript.segments[0]
    assert first.words is not None
    assert (first.words[0][0], first.words[0][1], first.words[0][2]) == ("Foreign", 1.86, 1.86)
    assert first.start == 1.86
    assert transcript.duration == 3767.38  # last word ends at 3767380 ms; audio_duration says 3767 s
    source_words = _source_items(data.ASSEMBLYAI, "4430051")
    words = [w for s in transcript.segments for w in s.words or []]
    assert [(w[1], w[2]) for w in words] == [pytest.approx((w["start"] / 1000, w["end"] / 1000)) for w in source_words]


@pytest.mark.parametrize(("name", "speakers", "utterances"), [("4430051", 26, 267), ("4474506", 17, 141)])
def test_assemblyai_utterances_become_segments_with_their_speakers(name: str, speakers: int, utterances: int) -> None:
    transcript = normalized(data.ASSEMBLYAI, name)
    source = data.load(data.ASSEMBLYAI, name)["data"]["utterances"]
    assert len(transcript.segments) == len(source) == utterances
    assert len(transcript.speakers) == speakers
    assert {s.label for s in transcript.speakers} == {f"SPEAKER_{chr(ord('A') + n)}" for n in range(speakers)}
    assert [s.speaker for s in transcript.segments] == [f"SPEAKER_{u['speaker']}" for u in source]
    assert [s.text for s in transcript.segments] == [u["text"] for u in source]
    assert [len(s.words or []) for s in transcript.segments] == [len(u["words"]) for u in source]
    assert transcript.language == "en_us"
    assert transcript.source.endpoint == "speech-to-text"
    assert transcript.extras.provider_transcript_id == data.load(data.ASSEMBLYAI, name)["data"]["id"]


def test_assemblyai_without_speaker_labels_groups_words_into_sentences_and_keeps_confidence() -> None:
    transcript = normalized(data.ASSEMBLYAI, "wildfires")
    assert transcript.speakers == []
    assert all(s.speaker is None for s in transcript.segments)
    assert sum(len(s.words or []) for s in transcript.segments) == 861
    assert transcript.extras.confidence == 0.9786635
    first = transcript.segments[0]
    assert first.words is not None
    assert (first.words[0][0], first.words[0][1], first.words[0][3]) == ("Smoke", 0.24, 0.90152997)
    assert first.text.startswith("Smoke from hundreds of wildfires in Canada")
    assert transcript.duration == 282.0  # audio_duration (s) is later than the last word (280.53 s)
    # grouped at sentence ends: most segments end a sentence, none is longer than the 30 s cap
    ends = [s.text.rstrip()[-1] for s in transcript.segments]
    assert sum(1 for c in ends if c in ".?!") >= len(ends) * 0.8
    assert all(s.end - s.start <= 30.0 for s in transcript.segments)


@pytest.mark.parametrize("name", ["4430051", "4474506"])
def test_assemblyai_utterances_without_nested_words_take_theirs_from_the_flat_list(name: str) -> None:
    body = data.load(data.ASSEMBLYAI, name)
    nested = [[w["text"] for w in u["words"]] for u in body["data"]["utterances"]]
    for utterance in body["data"]["utterances"]:
        del utterance["words"]
    parsed = wire.decode_envelope(wire.AssemblyAITranscript, json.dumps(body).encode())
    transcript = normalize_assemblyai(_data(parsed), CONTEXT)
    # each utterance gets exactly the words AssemblyAI nested in it, even the zero-length words placed
    # exactly on an utterance boundary
    assert [[w[0] for w in s.words or []] for s in transcript.segments] == nested


def test_assemblyai_flat_words_at_and_after_the_last_utterance_are_not_lost() -> None:
    body = {
        "status": "completed",
        "audio_duration": 7,
        "words": [
            {"text": "Hello,", "start": 0, "end": 520, "speaker": "A"},
            {"text": "how", "start": 520, "end": 780, "speaker": "A"},
            {"text": "Fine.", "start": 2980, "end": 5200, "speaker": "B"},
            {"text": "Thanks.", "start": 5200, "end": 5200, "speaker": "B"},
            {"text": "Bye.", "start": 6000, "end": 6400, "speaker": "A"},
        ],
        "utterances": [
            {"text": "Hello, how", "start": 0, "end": 2980, "speaker": "A"},
            {"text": "Fine. Thanks.", "start": 2980, "end": 5200, "speaker": "B"},
        ],
    }
    transcript = normalize_assemblyai(wire.validate(wire.AssemblyAITranscript, body), CONTEXT)
    assert [(s.speaker, s.text, [w[0] for w in s.words or []]) for s in transcript.segments] == [
        ("SPEAKER_A", "Hello, how", ["Hello,", "how"]),
        ("SPEAKER_B", "Fine. Thanks.", ["Fine.", "Thanks."]),
        ("SPEAKER_A", "Bye.", ["Bye."]),
    ]
    assert (transcript.segments[-1].start, transcript.segments[-1].end) == (6.0, 6.4)


def test_assemblyai_error_status_raises_result_error_with_the_reason() -> None:
    body = {"id": "x", "status": "error", "error": "Download error, unable to download https://a.test/x.mp3"}
    with pytest.raises(ResultError) as caught:
        normalize_assemblyai(wire.validate(wire.AssemblyAITranscript, body), CONTEXT)
    assert "Download error, unable to download" in str(caught.value)
    with pytest.raises(ResultError, match="no reason given"):
        normalize_assemblyai(wire.validate(wire.AssemblyAITranscript, {"status": "error"}), CONTEXT)


def test_assemblyai_extras_are_kept() -> None:
    body = {
        "id": "9a27d0d5",
        "status": "completed",
        "audio_duration": 52,
        "confidence": 0.97,
        "words": [{"text": "Hello.", "start": 0, "end": 520, "confidence": 0.99}],
        "summary": "- A greeting.",
        "chapters": [{"start": 0, "end": 520, "headline": "Hello"}],
        "entities": [{"entity_type": "person_name", "text": "Ann", "start": 0, "end": 520}],
        "sentiment_analysis_results": [{"text": "Hello.", "sentiment": "POSITIVE", "start": 0, "end": 520}],
        "auto_highlights_result": {"status": "success", "results": []},
        "speech_model_used": "universal",
    }
    transcript = normalize_assemblyai(wire.validate(wire.AssemblyAITranscript, body), CONTEXT)
    extras = transcript.extras
    assert extras.summary == "- A greeting."
    assert extras.chapters == [{"start": 0, "end": 520, "headline": "Hello"}]  # provider's ms, as documented
    assert extras.entities == body["entities"]
    assert extras.sentiment == body["sentiment_analysis_results"]
    assert extras.highlights == {"status": "success", "results": []}
    assert extras.confidence == 0.97
    assert extras.provider_transcript_id == "9a27d0d5"
    assert transcript.source.model == "universal"
    assert transcript.duration == 52


def test_assemblyai_text_without_words_becomes_one_segment() -> None:
    body = {"status": "completed", "audio_duration": 12, "text": "Hello there.", "words": []}
    transcript = normalize_assemblyai(wire.validate(wire.AssemblyAITranscript, body), CONTEXT)
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [(0.0, 12.0, "Hello there.")]


# --- ElevenLabs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "speakers"), [("4430051", 26), ("4474506", 17)])
def test_elevenlabs_speakers_are_the_providers(name: str, speakers: int) -> None:
    transcript = normalized(data.ELEVENLABS, name)
    source = _source_items(data.ELEVENLABS, name)
    assert len(transcript.speakers) == speakers
    assert {s.label for s in transcript.speakers} == {w["speaker_id"] for w in source}
    # each segment is one speaker's: every word in it has that speaker in the source
    word_speakers = iter(w["speaker_id"] for w in source if w["type"] == "word")
    for segment in transcript.segments:
        for _ in segment.words or []:
            assert next(word_speakers) == segment.speaker
    assert transcript.segments[0].speaker == "speaker_0"
    assert transcript.language == "eng"
    assert transcript.source.model == "scribe_v2"


def test_elevenlabs_real_response_with_logprob_gives_confidence() -> None:
    transcript = normalized(data.ELEVENLABS, "vercel_ai_issue-22052-diarized")
    assert [s.text for s in transcript.segments] == ["Hello from the Versal AI SDK"]
    words = transcript.segments[0].words
    assert words is not None
    assert [w[0] for w in words] == ["Hello", "from", "the", "Versal", "AI", "SDK"]
    assert (words[0][1], words[0][2]) == (0.2, 0.42)
    assert words[0][3] == pytest.approx(math.exp(-7.510157047363464e-06))
    assert transcript.extras.language_probability == 0.9322303533554077
    assert transcript.duration == pytest.approx(2.50775, abs=1e-3)
    plain = normalized(data.ELEVENLABS, "vercel_ai_elevenlabs-transcription")
    assert plain.segments[0].text == "Hello from the Vercel AI SDK."
    assert plain.segments[0].words is not None
    assert {w[3] for w in plain.segments[0].words} == {1.0}  # logprob 0 is certainty


def _elevenlabs(words: list[dict[str, Any]], **fields: Any) -> Transcript:
    body = {"language_code": "eng", "words": words, **fields}
    return normalize_elevenlabs(wire.validate(wire.ElevenLabsTranscript, body), CONTEXT.with_model("scribe_v1"))


def test_elevenlabs_audio_events_stay_in_text_and_words() -> None:
    transcript = _elevenlabs(
        [
            {"text": "Hi", "start": 0.0, "end": 0.3, "type": "word", "speaker_id": "speaker_0", "logprob": -0.5},
            {"text": " ", "start": 0.3, "end": 0.4, "type": "spacing", "speaker_id": "speaker_0"},
            {"text": "(laughter)", "start": 0.4, "end": 1.2, "type": "audio_event", "speaker_id": "speaker_0"},
            {"text": " ", "start": 1.2, "end": 1.3, "type": "spacing", "speaker_id": "speaker_0", "logprob": 0.3},
            {"text": "there.", "start": 1.3, "end": 1.6, "type": "word", "speaker_id": "speaker_0", "logprob": 0.2},
        ]
    )
    assert transcript.source.model == "scribe_v1"
    assert [s.text for s in transcript.segments] == ["Hi (laughter) there."]
    words = transcript.segments[0].words
    assert words is not None
    assert [w[0] for w in words] == ["Hi", "(laughter)", "there."]
    assert words[0][3] == pytest.approx(math.exp(-0.5))
    assert words[1][3] is None  # no logprob
    assert words[2][3] is None  # a positive logprob is not a probability


def test_elevenlabs_speaker_change_starts_a_new_segment() -> None:
    transcript = _elevenlabs(
        [
            {"text": "Yes", "start": 0.0, "end": 0.3, "type": "word", "speaker_id": "speaker_0"},
            {"text": " ", "start": 0.3, "end": 0.35, "type": "spacing", "speaker_id": "speaker_0"},
            {"text": "no", "start": 0.35, "end": 0.6, "type": "word", "speaker_id": "speaker_1"},
        ]
    )
    assert [(s.speaker, s.text) for s in transcript.segments] == [("speaker_0", "Yes"), ("speaker_1", "no")]


def test_elevenlabs_without_timestamps_keeps_the_text() -> None:
    transcript = _elevenlabs(
        [{"text": "Hello", "type": "word"}, {"text": " ", "type": "spacing"}, {"text": "world.", "type": "word"}],
        text="Hello world.",
        audio_duration_secs=4.25,
    )
    assert [(s.start, s.end, s.speaker, s.text) for s in transcript.segments] == [(0.0, 4.25, None, "Hello world.")]


def test_elevenlabs_untimed_items_without_a_text_field_do_not_lose_words() -> None:
    transcript = _elevenlabs(
        [{"text": "Hello", "type": "word"}, {"text": " ", "type": "spacing"}, {"text": "world.", "type": "word"}]
    )
    assert [s.text for s in transcript.segments] == ["Hello world."]


def test_elevenlabs_untimed_spacing_does_not_discard_the_word_times() -> None:
    transcript = _elevenlabs(
        [
            {"text": "Hello", "start": 0.5, "end": 0.9, "type": "word", "speaker_id": "speaker_0"},
            {"text": " ", "type": "spacing", "speaker_id": "speaker_0"},
            {"text": "world.", "start": 1.0, "end": 1.4, "type": "word", "speaker_id": "speaker_0"},
        ],
        text="Hello world.",
    )
    assert [(s.start, s.end, s.speaker, s.text) for s in transcript.segments] == [
        (0.5, 1.4, "speaker_0", "Hello world.")
    ]
    assert [(w[0], w[1]) for w in transcript.segments[0].words or []] == [("Hello", 0.5), ("world.", 1.0)]


def test_elevenlabs_text_only_answer_becomes_one_segment() -> None:
    transcript = _elevenlabs([], text="Only text.", audio_duration_secs=3.0)
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [(0.0, 3.0, "Only text.")]


# --- repairs and refusals on hand-made payloads -------------------------------------------------------


def _whisper(items: list[dict[str, Any]]) -> Transcript:
    return normalize_whisper(wire.WhisperData.model_validate({"model": "whisper-1", "items": items}), CONTEXT)


def test_reversed_segment_is_swapped_with_a_warning() -> None:
    transcript = _whisper([{"text": " backwards", "start_time": 5.0, "end_time": 3.0}])
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [(3.0, 5.0, "backwards")]
    assert len(transcript.warnings) == 1
    assert "swapped" in transcript.warnings[0]
    assert "ended (3.0 s) before it started (5.0 s)" in transcript.warnings[0]


def test_negative_time_is_clamped_to_zero_with_a_warning() -> None:
    transcript = _whisper(
        [{"text": " early", "start_time": -0.25, "end_time": 1.0}, {"text": " fine", "start_time": 1, "end_time": 2}]
    )
    assert [(s.start, s.end) for s in transcript.segments] == [(0.0, 1.0), (1.0, 2.0)]
    assert len(transcript.warnings) == 1
    assert "negative time (-0.25..1.0 s); clamped to 0" in transcript.warnings[0]


def test_negative_and_reversed_word_times_in_assemblyai_are_repaired() -> None:
    body = {
        "status": "completed",
        "words": [
            {"text": "One", "start": -40, "end": 300},
            {"text": "two.", "start": 900, "end": 600},
        ],
    }
    transcript = normalize_assemblyai(wire.validate(wire.AssemblyAITranscript, body), CONTEXT)
    words = transcript.segments[0].words
    assert words is not None
    assert [(w[1], w[2]) for w in words] == [(0.0, 0.3), (0.6, 0.9)]
    assert (transcript.segments[0].start, transcript.segments[0].end) == (0.0, 0.6)
    assert len(transcript.warnings) == 3  # the segment (its first word's start) and both words
    assert "word 1 of segment 0 ended (0.6 s) before it started (0.9 s)" in transcript.warnings[2]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_time_that_is_not_a_finite_number_is_refused(bad: str) -> None:
    body = json.loads(f'{{"model": "whisper-1", "items": [{{"text": "x", "start_time": {bad}, "end_time": 1.0}}]}}')
    with pytest.raises(ResultError, match="not a finite number"):
        normalize_whisper(wire.WhisperData.model_validate(body), CONTEXT)
    turns = json.loads(f'{{"items": [{{"start": 0.5, "end": {bad}, "speaker": "SPEAKER_00"}}]}}')
    with pytest.raises(ResultError, match="not a finite number"):
        normalize_speaker_turns(wire.SpeakerData.model_validate(turns), CONTEXT)


def test_nan_word_time_from_assemblyai_is_refused() -> None:
    body = json.loads('{"status": "completed", "words": [{"text": "x", "start": NaN, "end": 10}]}')
    with pytest.raises(ResultError, match="not a finite number"):
        normalize_assemblyai(wire.validate(wire.AssemblyAITranscript, body), CONTEXT)


def test_duration_is_never_shorter_than_the_last_segment() -> None:
    transcript = _whisper([{"text": " tail", "start_time": 0.5, "end_time": 1.2344}])
    assert transcript.duration >= transcript.segments[-1].end


def test_unusable_provider_duration_is_replaced_with_a_warning() -> None:
    body = {"language_code": "eng", "text": "Hi", "audio_duration_secs": -3.0, "words": []}
    transcript = normalize_elevenlabs(wire.validate(wire.ElevenLabsTranscript, body), CONTEXT)
    assert transcript.duration == 0.0
    assert any("duration" in w for w in transcript.warnings)


def test_segments_arriving_out_of_order_are_sorted_by_start() -> None:
    transcript = normalize_speaker_turns(
        wire.SpeakerData.model_validate(
            {
                "items": [
                    {"start": 5.0, "end": 6.0, "speaker": "SPEAKER_01"},
                    {"start": 1.0, "end": 2.0, "speaker": "SPEAKER_00"},
                    {"start": 1.0, "end": 1.5, "speaker": "SPEAKER_01"},
                ]
            }
        ),
        CONTEXT,
    )
    assert [(s.start, s.speaker) for s in transcript.segments] == [
        (1.0, "SPEAKER_00"),
        (1.0, "SPEAKER_01"),
        (5.0, "SPEAKER_01"),
    ]
    assert [s.label for s in transcript.speakers] == ["SPEAKER_00", "SPEAKER_01"]


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        (lambda: normalize_speaker_turns(wire.SpeakerData.model_validate({"items": []}), CONTEXT), "diarization"),
        (lambda: _whisper([]), "transcript"),
        (
            lambda: normalize_whisper_callback(wire.WhisperCallbackResult.model_validate({"data": []}), CONTEXT),
            "transcript",
        ),
        (
            lambda: normalize_multi_speaker_callback(
                wire.MultiSpeakerCallbackResult.model_validate({"audio_transcription": [], "faces": []}), CONTEXT
            ),
            "transcript",
        ),
        (
            lambda: normalize_assemblyai(
                wire.validate(wire.AssemblyAITranscript, {"status": "completed", "words": [], "utterances": []}),
                CONTEXT,
            ),
            "transcript",
        ),
        (lambda: _elevenlabs([], text=""), "transcript"),
    ],
    ids=["speaker-turns", "whisper", "whisper-callback", "multi-speaker", "assemblyai", "elevenlabs"],
)
def test_empty_answer_gives_an_empty_transcript(build: Callable[[], Transcript], kind: str) -> None:
    transcript = build()
    assert transcript.kind == kind
    assert transcript.segments == []
    assert transcript.speakers == []
    assert transcript.duration == 0.0
    assert transcript.warnings == []


def test_context_fills_source_and_identity() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    context = Context(
        audio_url="https://a.test/x.mp3", sandbox=True, transcript_id="tr_0123456789abcdef", created_at=when
    )
    transcript = shapes.WHISPER.normalize_body(b'{"code": 200, "msg": "success", "data": {"items": []}}', context)
    assert transcript.id == "tr_0123456789abcdef"
    assert transcript.created_at == when
    assert transcript.source.audio_url == "https://a.test/x.mp3"
    assert transcript.source.sandbox is True
    assert transcript.source.model == "whisper-1"  # the registry's default when the body names none


def test_both_envelope_models_declare_the_same_fields_with_the_same_defaults() -> None:
    """`Envelope` (pydantic) and `StructEnvelope` (msgspec) are one envelope written for two libraries."""
    pydantic_fields = {name: info.default for name, info in wire.Envelope.model_fields.items()}
    struct_fields = dict(
        zip(wire.StructEnvelope.__struct_fields__, wire.StructEnvelope.__struct_defaults__, strict=True)
    )
    assert pydantic_fields == struct_fields


def test_word_level_answers_read_numbers_sent_as_text_and_skip_unknown_keys_like_the_other_wire_models() -> None:
    body = {"code": 200, "data": {"words": [{"text": "a", "start": "1.5", "end": 2, "new_field": {"x": 1}}]}}
    envelope = wire.decode_envelope(wire.ElevenLabsTranscript, json.dumps(body).encode())
    assert envelope.ok
    assert envelope.data is not None
    (word,) = envelope.data.words
    assert (word.text, word.start, word.end, word.type) == ("a", 1.5, 2.0, "word")
    turns = wire.validate(wire.SpeakerData, {"items": [{"start": "1.5", "end": 2, "speaker": "A"}], "new_field": 1})
    assert (turns.items[0].start, turns.items[0].end) == (1.5, 2.0)


@pytest.mark.parametrize(
    ("shape", "word", "start"),
    [
        (shapes.ELEVENLABS, '{"text": "hi", "start": 0.5, "end": 0.9, "type": "word", "logprob": NaN}', '"start": 0.5'),
        (shapes.ASSEMBLYAI, '{"text": "hi", "start": 500, "end": 900, "confidence": NaN}', '"start": 500'),
    ],
)
def test_a_word_level_answer_with_the_nan_literals_python_json_writes_is_read_as_pydantic_read_it(
    shape: shapes.Shape, word: str, start: str
) -> None:
    """msgspec refuses `NaN` / `Infinity` literals; Python's `json.dumps` writes them. A NaN confidence is dropped
    and the words kept, a NaN time is refused by the normalizer with its reason (not "not an answer it knows")."""
    body = '{"code": 200, "msg": "success", "data": {"status": "completed", "text": "hi", "words": [WORD]}}'
    transcript = shape.normalize_body(body.replace("WORD", word).encode(), CONTEXT)
    assert transcript.segments[0].words == [("hi", 0.5, 0.9, None)]
    nan_time = body.replace("WORD", word.replace(start, start.split(":")[0] + ": Infinity"))
    with pytest.raises(ResultError, match="not a finite number"):
        shape.normalize_body(nan_time.encode(), CONTEXT)
    with pytest.raises(ResultError, match="JSON is malformed"):  # not JSON even to the json module: msgspec's reason
        shape.normalize_body(body.replace("WORD", word[:-1]).encode(), CONTEXT)
    lone_surrogate = body.replace("WORD", word.replace('"hi"', '"h\\ud800i"'))  # pydantic refused it too
    with pytest.raises(ResultError, match="JSON is malformed"):
        shape.normalize_body(lone_surrogate.encode(), CONTEXT)


@pytest.mark.parametrize(
    ("model", "body", "where"),
    [
        (wire.ElevenLabsTranscript, {"words": [{"text": "a"}, {"text": "b", "start": "soon"}]}, "data.words.1.start"),
        (wire.AssemblyAITranscript, {"words": [{"text": "a", "start": 1}]}, "data.words.0"),
        (wire.SpeakerData, {"items": [{"start": 0, "end": "later", "speaker": "A"}]}, "data.items.0.end"),
    ],
)
def test_a_body_that_is_not_its_wire_model_says_where_it_differs_whichever_library_reads_it(
    model: type[Any], body: dict[str, Any], where: str
) -> None:
    raw = json.dumps({"code": 200, "data": body}).encode()
    with pytest.raises(wire.WireError) as caught:
        wire.decode_envelope(model, raw)
    assert caught.value.where == where
    assert caught.value.reason
    with pytest.raises(wire.WireError) as again:
        wire.validate(model, body, where="data")
    assert again.value.where == where


@pytest.mark.parametrize(
    ("speaker", "text", "words"),
    [("SPEAKER_00", "two words", [("two", 0.5, 0.9, 0.8), ("words", 1.0, 1.5, None)]), (None, "", None)],
)
def test_a_checked_segment_is_the_segment_pydantic_builds_from_the_same_values(
    speaker: str | None, text: str, words: list[tuple[str, float, float, float | None]] | None
) -> None:
    fields = {"start": 0.5, "end": 1.5, "speaker": speaker, "text": text, "words": words}
    checked = Segment.checked(0.5, 1.5, speaker, text, words)
    for other in (Segment.model_construct(**fields), Segment.model_validate(fields)):
        assert checked == other
        assert checked.model_dump_json() == other.model_dump_json()
        assert checked.model_fields_set == other.model_fields_set
    assert checked.model_copy(update={"text": "changed"}).text == "changed"
    assert Segment.model_validate_json(checked.model_dump_json()) == checked
