"""`mavi_mcp.cost`: the price table against MAVI's published prices, estimates and billed costs on the bundled
real recordings (to the cent), and the fingerprints that make a repeated request free."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import anyio
import pytest

from mavi_mcp.cost import (
    PAID_TOOLS,
    PRICES,
    Billed,
    account_fingerprint,
    billed_seconds,
    billed_text,
    duration_fields,
    estimate,
    estimates_for,
    file_sha256,
    file_sha256_async,
    format_usd,
    price_key,
    price_list,
    provider_seconds,
    request_key,
)
from tests.data import (
    ASSEMBLYAI,
    ELEVENLABS,
    MULTI_SPEAKER_CALLBACK,
    SPEAKER_TURNS,
    WHISPER,
    WHISPER_CALLBACK,
    WHISPER_SPEAKER,
    all_recordings,
    load,
)

# --- the price table -------------------------------------------------------------------------------------------


def test_the_price_table_holds_mavis_published_prices() -> None:
    labels = {key: price.label for key, price in PRICES.items()}
    assert labels == {
        "identify_speakers": "$0.001/s",
        "transcribe_whisper": "$0.001/s",
        "transcribe_whisper_speaker": "$0.002/s",
        "transcribe_assemblyai": "$0.15/h",
        "transcribe_elevenlabs": "$0.39/h",
        "multi_speaker_async": "$0.10/min",
    }


def test_the_readme_tool_table_states_the_prices_of_the_table() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    described = dict(re.findall(r"^\| `(\w+)` \| .* \| (.*) \|$", readme, flags=re.MULTILINE))
    for tool in PAID_TOOLS:
        label = PRICES[price_key(tool)].label
        assert label in described[tool], f"{tool}: the README says {described[tool]!r}, the table {label}"
    assert PRICES["transcribe_whisper_speaker"].label in described["transcribe_whisper"]


def test_whisper_has_two_prices_by_its_speaker_option_and_free_tools_have_none() -> None:
    assert price_key("transcribe_whisper") == "transcribe_whisper"
    assert price_key("transcribe_whisper", speaker=True) == "transcribe_whisper_speaker"
    assert price_key("identify_speakers", speaker=True) == "identify_speakers"
    with pytest.raises(ValueError, match="get_transcript' is not a paid tool; paid tools: identify_speakers"):
        price_key("get_transcript")


# --- estimates ------------------------------------------------------------------------------------------------


def test_an_hour_long_call_costs_what_mavis_pages_say_to_the_cent() -> None:
    seconds = 3767.0  # Earnings-22 4430051, as AssemblyAI reports it
    costs = {name: format_usd(e.usd) for name, e in estimates_for(seconds).items()}
    assert costs == {
        "identify_speakers": "$3.77",
        "transcribe_whisper": "$3.77",
        "transcribe_whisper(speaker=true)": "$7.53",
        "transcribe_assemblyai": "$0.16",
        "transcribe_elevenlabs": "$0.41",
        "multi_speaker_async": "$6.28",
    }
    assert estimate("transcribe_assemblyai", seconds).usd == 0.156958
    assert estimate("multi_speaker_async", seconds).usd == 6.278333


def test_an_estimate_reads_as_price_for_duration_with_its_basis() -> None:
    found = estimate("transcribe_whisper", 225)
    assert found.text == "$0.23 for 3:45"
    assert found.basis == "Whisper at $0.001/s for 3:45"
    long = estimate("transcribe_whisper", 3767, speaker=True)
    assert long.text == "$7.53 for 1:02:47"
    assert long.basis == "Whisper with speaker labels at $0.002/s for 1:02:47"


def test_small_amounts_stay_visible_and_large_ones_get_separators() -> None:
    assert format_usd(0) == "$0.00"
    assert format_usd(0.0025) == "$0.003"
    assert format_usd(0.0004) == "<$0.001"
    assert format_usd(0.1) == "$0.10"
    assert format_usd(1234.5) == "$1,234.50"


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_an_impossible_duration_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="finite number of seconds"):
        estimate("transcribe_whisper", seconds)


# --- billed after the call, on the real bodies -----------------------------------------------------------------


def test_assemblyai_and_the_whisper_callback_state_the_same_durations_for_the_same_calls() -> None:
    for name, seconds in (("4430051", 3767.0), ("4474506", 3973.0)):
        assert provider_seconds(ASSEMBLYAI, load(ASSEMBLYAI, name)) == seconds
        assert provider_seconds(WHISPER_CALLBACK, load(WHISPER_CALLBACK, name)) == seconds


def test_elevenlabs_states_its_duration_in_seconds_when_it_sends_one() -> None:
    assert provider_seconds(ELEVENLABS, load(ELEVENLABS, "vercel_ai_issue-22052-diarized")) == 2.50775
    assert provider_seconds(ELEVENLABS, load(ELEVENLABS, "4430051")) is None


def test_a_zero_usage_duration_is_not_taken_as_the_billed_duration() -> None:
    body = load(MULTI_SPEAKER_CALLBACK, "4320211")
    assert body["data"]["data"]["usage_metadata"][0]["duration"] == 0.0
    assert provider_seconds(MULTI_SPEAKER_CALLBACK, body) is None
    assert billed_seconds(MULTI_SPEAKER_CALLBACK, body, asset_seconds=3300.5) == Billed(3300.5, "asset")
    body["data"]["data"]["usage_metadata"] = [{"duration": 12.0}, {"duration": "3300.5"}]
    assert provider_seconds(MULTI_SPEAKER_CALLBACK, body) == 3300.5


def test_sync_shapes_are_billed_on_the_asset_duration_else_the_transcript_end() -> None:
    for shape in (SPEAKER_TURNS, WHISPER, WHISPER_SPEAKER):
        body = load(shape, "4430051" if shape != SPEAKER_TURNS else "EN2002b")
        assert provider_seconds(shape, body) is None
        assert billed_seconds(shape, body, asset_seconds=3767.2, transcript_end=3700.0) == Billed(3767.2, "asset")
        assert billed_seconds(shape, body, transcript_end=3700.0) == Billed(3700.0, "transcript")
        assert billed_seconds(shape, body) is None


def test_the_billed_cost_of_each_bundled_provider_answer_matches_the_vendor_price_to_the_cent() -> None:
    assembly = billed_seconds(ASSEMBLYAI, load(ASSEMBLYAI, "4474506"), asset_seconds=1.0)
    assert assembly == Billed(3973.0, "provider")
    assert format_usd(assembly.cost("transcribe_assemblyai").usd) == "$0.17"  # 3973 s x $0.15/h = $0.1655
    wildfires = billed_seconds(ASSEMBLYAI, load(ASSEMBLYAI, "wildfires"))
    assert wildfires is not None
    assert wildfires.cost("transcribe_assemblyai").usd == 0.01175  # 282 s
    whisper = billed_seconds(WHISPER_CALLBACK, load(WHISPER_CALLBACK, "4474506"))
    assert whisper is not None
    assert whisper.cost("transcribe_whisper", speaker=True).text == "$7.95 for 1:06:13"
    scribe = billed_seconds(ELEVENLABS, load(ELEVENLABS, "vercel_ai_issue-22052-diarized"))
    assert scribe is not None
    assert scribe.cost("transcribe_elevenlabs").usd == 0.000272


def test_bodies_without_the_expected_envelope_give_no_provider_duration() -> None:
    assert provider_seconds(ASSEMBLYAI, {"data": None}) is None
    assert provider_seconds(ASSEMBLYAI, {"data": {"audio_duration": True}}) is None
    assert provider_seconds(ASSEMBLYAI, {"data": {"audio_duration": "n/a"}}) is None
    assert provider_seconds(WHISPER_CALLBACK, {"data": {"data": {"usage_metadata": None}}}) is None
    assert provider_seconds("sync-generate-audio", {"data": {"audio_duration": 5}}) is None


@pytest.mark.parametrize(("shape", "name"), all_recordings())
def test_the_duration_fields_read_from_raw_bytes_give_what_the_whole_body_gives(shape: str, name: str) -> None:
    body = load(shape, name)
    raw = json.dumps(body).encode()
    assert provider_seconds(shape, duration_fields(raw) or {}) == provider_seconds(shape, body)


def test_duration_fields_read_other_layouts_whole_and_refuse_what_is_not_a_json_object() -> None:
    other = {"data": [{"audio_duration": 5}], "note": "data is a list here"}
    assert duration_fields(json.dumps(other).encode()) == other
    assert duration_fields(b"[1, 2]") is None
    assert duration_fields(b"\xff not json") is None
    assert duration_fields(b'{"data": {"audio_duration": 12.5, "words": [1, 2, 3]}}') == {
        "data": {"audio_duration": 12.5}
    }


# --- never twice ----------------------------------------------------------------------------------------------


def test_a_request_key_ignores_option_order_unset_options_and_view_arguments() -> None:
    base = request_key("speech-to-text", "re_1", {"provider": "assemblyai", "speaker_labels": True, "boost": 1.0})
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    same = request_key(
        "speech-to-text",
        " re_1 ",
        {
            "boost": 1,
            "speaker_labels": True,
            "provider": "assemblyai",
            "language_code": None,
            "format": "srt",
            "start": 300,
            "end": "5:00",
            "speakers": ["A"],
            "max_tokens": 2000,
            "timestamps": "none",
            "cursor": "c1",
            "wait_seconds": 5,
            "refresh": False,
            "max_cost_usd": 9,
        },
    )
    assert same == base


def test_a_request_key_changes_with_anything_that_changes_the_result() -> None:
    key = request_key("sync-generate-audio", "re_1", {"model": "whisper-1", "speaker": False})
    assert key == request_key("async-generate-audio", "re_1", {"model": "whisper-1", "speaker": False})
    assert key == request_key("async-generate-audio-callback", "re_1", {"model": "whisper-1", "speaker": False})
    assert key == request_key("/transcriptions/sync-generate-audio", "re_1", {"speaker": False, "model": "whisper-1"})
    others = {
        request_key("sync-generate-audio", "re_1", {"model": "whisper-1", "speaker": True}),
        request_key("sync-generate-audio", "re_2", {"model": "whisper-1", "speaker": False}),
        request_key("sync-generate-speaker", "re_1", {"model": "whisper-1", "speaker": False}),
        request_key("sync-generate-audio", "re_1", {"model": "whisper-2", "speaker": False}),
        request_key("sync-generate-audio", "re_1", {"model": "whisper-1"}),
        request_key("speech-to-text", "re_1", {"provider": "assemblyai", "word_boost": ["a", "b"]}),
        request_key("speech-to-text", "re_1", {"provider": "assemblyai", "word_boost": ["b", "a"]}),
        request_key("speech-to-text", "re_1", {"provider": "assemblyai", "audio_end_at": 300000}),
    }
    assert key not in others
    assert len(others) == 8


def test_a_request_on_another_accounts_key_gets_its_own_request_key() -> None:
    options = {"provider": "assemblyai"}
    mine = request_key("speech-to-text", "https://example.org/a.mp3", options)
    theirs = account_fingerprint("sk-mavi-their-own-key-0123456789")
    assert re.fullmatch(r"[0-9a-f]{16}", theirs)
    assert "their" not in theirs
    assert theirs == account_fingerprint(" sk-mavi-their-own-key-0123456789 ")
    assert request_key("speech-to-text", "https://example.org/a.mp3", options, account=theirs) != mine


def test_a_request_key_refuses_options_that_are_not_json_data() -> None:
    with pytest.raises(TypeError, match="is not JSON data"):
        request_key("speech-to-text", "re_1", {"provider": object()})


def test_identical_files_have_one_sha256_whatever_their_names(tmp_path: Path) -> None:
    content = b"RIFF" + bytes(range(256)) * 5000
    first, second, other = tmp_path / "a.wav", tmp_path / "copy of a.wav", tmp_path / "b.wav"
    first.write_bytes(content)
    second.write_bytes(content)
    other.write_bytes(content + b"\0")
    assert file_sha256(first) == file_sha256(second) == hashlib.sha256(content).hexdigest()
    assert file_sha256(other) != file_sha256(first)


@pytest.mark.anyio
async def test_hashing_runs_in_a_worker_thread(tmp_path: Path) -> None:
    path = tmp_path / "x.mp3"
    path.write_bytes(b"ID3" * 1000)
    with anyio.fail_after(10):
        assert await file_sha256_async(path) == hashlib.sha256(b"ID3" * 1000).hexdigest()


def test_the_upload_answer_lists_every_tools_price_for_the_duration() -> None:
    assert price_list(3767) == (
        "Estimated cost of 1:02:47: identify_speakers $3.77 · transcribe_whisper $3.77 ($7.53 with speaker=true) · "
        "transcribe_assemblyai $0.16 · transcribe_elevenlabs $0.41 · multi_speaker_async $6.28"
    )


def test_a_paid_result_says_what_it_was_billed_and_on_what_duration() -> None:
    billed = billed_seconds(ASSEMBLYAI, load(ASSEMBLYAI, "4430051"))
    assert billed is not None
    assert billed_text(billed, billed.cost("transcribe_assemblyai")) == (
        "Billed $0.16 for 1:02:47 (the provider's duration)"
    )
    fallback = Billed(225.4, "transcript")
    assert billed_text(fallback, fallback.cost("identify_speakers")) == (
        "Billed $0.23 for 3:45 (the transcript's end, a lower bound)"
    )
