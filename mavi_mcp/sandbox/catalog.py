"""The sandbox's preloaded assets: real recordings' results, loaded lazily from the bundled files.

Every asset answers every transcription endpoint in that endpoint's exact shape:

- from the bundled body when one exists for that recording (data/<endpoint folder>/<recording>.json, byte-for-byte
  copies of the shared real-data set);
- else built from another real result of the same recording, wrapping only (`derive` has the rules): speaker
  turns of an earnings call from its Whisper-with-speakers segments, one turn per run of one speaker; speaker
  turns of Earnings-21 4320211 from its RTTM; Whisper segments of 4320211 from its multi-speaker callback,
  speakers numbered by the dataset's speaker ids; AssemblyAI and ElevenLabs shapes of 4320211 from Earnings-21's
  real Amazon Transcribe output (its words, times and speaker labels; data/raw/earnings21_amazon_4320211.nlp);
  Whisper and ElevenLabs shapes of 'wildfires' from its real AssemblyAI words (no speaker labels); speaker turns,
  Whisper and AssemblyAI shapes of the two ElevenLabs clips from their real ElevenLabs words (`speaker_0`);
- else a plainly labelled placeholder ("[MAVI sandbox] Only ... are available ..."), never made-up speech; a
  speaker-turn placeholder carries that text as its speaker label, since one made-up speaker would be a claim.

A shape with speakers (speaker turns, Whisper with `speaker`, AssemblyAI `speaker_labels`, ElevenLabs `diarize`,
multi-speaker) is real only for a recording whose results carry speaker labels (`Asset.speaker_labels`).

Sources and licenses: data/ATTRIBUTION.md.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from mavi_mcp.sandbox import derive

PLACEHOLDER = "[MAVI sandbox] Only {have} are available for this recording in the sandbox."


@dataclass(frozen=True)
class Asset:
    """A preloaded recording. `duration` in SECONDS."""

    asset_id: str
    recording: str
    filename: str
    description: str
    duration: float
    source: str
    license: str
    audio_url: str | None = None
    speaker_labels: bool = True
    """Whether this recording's real results carry speaker labels (False: speaker shapes are placeholders)."""


ASSETS: tuple[Asset, ...] = (
    Asset(
        "re_700000000000000001",
        "4430051",
        "sk-telecom-q1-2021.mp3",
        "Earnings-22 4430051: SK Telecom Q1 2021 earnings call with interpreter, 63 min, 26 speakers",
        3767.4,
        "Earnings-22 (revdotcom/speech-datasets)",
        "CC BY-SA 4.0",
        "https://storage.googleapis.com/mavi-sandbox/4430051.mp3",
    ),
    Asset(
        "re_700000000000000002",
        "4474506",
        "costco-q1-fy22.mp3",
        "Earnings-22 4474506: Costco Q1 FY22 earnings call, 66 min, 17 speakers",
        3973.3,
        "Earnings-22 (revdotcom/speech-datasets)",
        "CC BY-SA 4.0",
        "https://storage.googleapis.com/mavi-sandbox/4474506.mp3",
    ),
    Asset(
        "re_700000000000000003",
        "4320211",
        "monro-q3-fy20.mp3",
        "Earnings-21 4320211: Monro Inc Q3 FY2020 earnings call, 55 min, 10 named speakers",
        3285.8,
        "Earnings-21 (revdotcom/speech-datasets)",
        "CC BY-SA 4.0",
        "https://storage.googleapis.com/mavi-sandbox/4320211.mp3",
    ),
    Asset(
        "re_700000000000000004",
        "wildfires",
        "wildfires.mp3",
        "AssemblyAI sample 'wildfires': a news segment on wildfire smoke, 4.7 min, no speaker labels",
        282.0,
        "AssemblyAI/cli test fixture (a recorded real API response)",
        "MIT",
        "https://assembly.ai/wildfires.mp3",
        speaker_labels=False,
    ),
    Asset(
        "re_700000000000000005",
        "vercel_ai_elevenlabs-transcription",
        "hello-vercel.mp3",
        "ElevenLabs sample: 'Hello from the Vercel AI SDK.', 2.5 s, one speaker",
        2.5,
        "vercel/ai ElevenLabs test fixture (a recorded real API response)",
        "Apache-2.0",
    ),
    Asset(
        "re_700000000000000006",
        "vercel_ai_issue-22052-diarized",
        "hello-vercel-diarized.mp3",
        "ElevenLabs sample with diarization: 'Hello from the Versal AI SDK', 2.5 s, one speaker",
        2.5,
        "vercel/ai ElevenLabs test fixture (a recorded real API response)",
        "Apache-2.0",
    ),
    Asset(
        "re_700000000000000011",
        "EN2002b",
        "ami-EN2002b.wav",
        "AMI EN2002b: a meeting, 30 min, 4 speakers (speaker turns only)",
        1786.6,
        "AMI Meeting Corpus",
        "CC BY 4.0",
    ),
    Asset(
        "re_700000000000000012",
        "ES2004a",
        "ami-ES2004a.wav",
        "AMI ES2004a: a design meeting, 17 min, 4 speakers (speaker turns only)",
        1049.0,
        "AMI Meeting Corpus",
        "CC BY 4.0",
    ),
    Asset(
        "re_700000000000000013",
        "IS1009a",
        "ami-IS1009a.wav",
        "AMI IS1009a: a design meeting, 13 min, 4 speakers (speaker turns only)",
        805.7,
        "AMI Meeting Corpus",
        "CC BY 4.0",
    ),
    Asset(
        "re_700000000000000014",
        "TS3003a",
        "ami-TS3003a.wav",
        "AMI TS3003a: a design meeting, 25 min, 4 speakers (speaker turns only)",
        1476.4,
        "AMI Meeting Corpus",
        "CC BY 4.0",
    ),
    Asset(
        "re_700000000000000021",
        "bidnq",
        "voxconverse-bidnq.wav",
        "VoxConverse bidnq: debate/news audio, 17 min, 11 speakers (speaker turns only)",
        1028.5,
        "VoxConverse",
        "CC BY 4.0",
    ),
    Asset(
        "re_700000000000000022",
        "dev_jcako",
        "voxconverse-jcako.wav",
        "VoxConverse jcako: debate/news audio, 17 min, 3 speakers (speaker turns only)",
        996.0,
        "VoxConverse",
        "CC BY 4.0",
    ),
    Asset(
        "re_700000000000000023",
        "eauve",
        "voxconverse-eauve.wav",
        "VoxConverse eauve: debate/news audio, 19 min, 7 speakers (speaker turns only)",
        1145.9,
        "VoxConverse",
        "CC BY 4.0",
    ),
    Asset(
        "re_700000000000000024",
        "guvqf",
        "voxconverse-guvqf.wav",
        "VoxConverse guvqf: debate/news audio, 18 min, 11 speakers (speaker turns only)",
        1084.6,
        "VoxConverse",
        "CC BY 4.0",
    ),
    Asset(
        "re_700000000000000025",
        "kvkje",
        "voxconverse-kvkje.wav",
        "VoxConverse kvkje: debate/news audio, 20 min, 8 speakers (speaker turns only)",
        1200.1,
        "VoxConverse",
        "CC BY 4.0",
    ),
)
BY_ID = {a.asset_id: a for a in ASSETS}
BY_URL = {a.audio_url: a for a in ASSETS if a.audio_url}


def catalog_summary() -> str:
    """One line per preloaded asset, `asset_id: description`, for the server's instructions and the README."""
    return "\n".join(f"{a.asset_id}: {a.description}" for a in ASSETS)


# --- bundled bodies ---------------------------------------------------------------------------------


@cache
def _file(folder: str, recording: str) -> bytes | None:
    node = resources.files("mavi_mcp.sandbox").joinpath("data", folder, f"{recording}.json")
    return node.read_bytes() if node.is_file() else None


def body(folder: str, recording: str) -> dict[str, Any] | None:
    """The bundled body for an endpoint folder and recording, parsed (a fresh copy), or None."""
    raw = _file(folder, recording)
    return json.loads(raw) if raw is not None else None


def _raw_text(name: str) -> str | None:
    node = resources.files("mavi_mcp.sandbox").joinpath("data", "raw", name)
    return node.read_text(encoding="utf-8") if node.is_file() else None


@cache
def _words(recording: str) -> tuple[derive.Unit, ...]:
    """The recording's real word-level result (any provider's), as units in SECONDS; empty when it has none."""
    assemblyai = body("speech-to-text-assemblyai", recording)
    if assemblyai is not None:
        return tuple(derive.from_assemblyai(assemblyai["data"]))
    amazon = _raw_text(f"earnings21_amazon_{recording}.nlp")
    if amazon is not None:
        return tuple(derive.from_rev_nlp(amazon))
    elevenlabs = body("speech-to-text-elevenlabs", recording)
    if elevenlabs is not None:
        return tuple(derive.from_elevenlabs(elevenlabs["data"]))
    return ()


def placeholder_text(asset: Asset, *, speakers: bool) -> str:
    """The labelled text that stands in for a shape this recording has no real result for."""
    if speakers and not asset.speaker_labels:
        have = "transcripts without speaker labels"
    elif _words(asset.recording) or body("sync-generate-audio", asset.recording) is not None:
        have = "other shapes"
    else:
        have = "speaker turns"
    return PLACEHOLDER.format(have=have)


# --- results per endpoint (the `data` of the answer, or the inner `data.data` of a callback) -------


def speaker_items(asset: Asset) -> list[dict[str, Any]]:
    """pyannote turns `{start, end, speaker}` (SECONDS) for `sync-generate-speaker`."""
    bundled = body("sync-generate-speaker", asset.recording)
    if bundled is not None:
        return bundled["data"]["items"]
    whisper = body("sync-generate-audio-speaker", asset.recording)
    if whisper is not None:
        turns: list[dict[str, Any]] = []
        for item in whisper["data"]["items"]:
            if turns and turns[-1]["speaker"] == item["speaker"]:
                turns[-1]["end"] = max(turns[-1]["end"], item["end_time"])
            else:
                turns.append({"start": item["start_time"], "end": item["end_time"], "speaker": item["speaker"]})
        return turns
    rttm = _raw_text(f"{asset.recording}.rttm")
    if rttm is not None:
        rows = [line.split() for line in rttm.splitlines() if line.startswith("SPEAKER")]
        label = derive.sorted_labels(row[7] for row in rows)
        return [
            {"start": float(r[3]), "end": round(float(r[3]) + float(r[4]), 3), "speaker": label[r[7]]} for r in rows
        ]
    words = _words(asset.recording)
    if words and asset.speaker_labels:
        return derive.speaker_turns(words)
    return [{"start": 0.0, "end": asset.duration, "speaker": placeholder_text(asset, speakers=True)}]


def whisper_items(asset: Asset, *, speaker: bool) -> list[dict[str, Any]]:
    """Whisper segments `{text, start_time, end_time, speaker?}` (SECONDS) for `sync-generate-audio`."""
    bundled = body("sync-generate-audio-speaker" if speaker else "sync-generate-audio", asset.recording)
    if bundled is not None:
        return bundled["data"]["items"]
    multi = body("async-generate-multi-speaker-callback", asset.recording)
    speakers_csv = _raw_text(f"{asset.recording}-speakers.csv")
    if multi is not None and speakers_csv is not None:
        number = {row["speaker_name"]: int(row["speaker_id"]) for row in csv.DictReader(io.StringIO(speakers_csv))}
        items: list[dict[str, Any]] = []
        for seg in multi["data"]["data"]["audio_transcription"]:
            item: dict[str, Any] = {
                "text": " " + seg["text"],
                "start_time": seg["start_time"],
                "end_time": seg["end_time"],
            }
            if speaker:
                item["speaker"] = f"SPEAKER_{number.get(seg['speaker'], 0):02d}"
            items.append(item)
        return items
    words = _words(asset.recording)
    if words and (asset.speaker_labels or not speaker):
        return derive.whisper_segments(words, speaker=speaker)
    item = {"text": " " + placeholder_text(asset, speakers=speaker), "start_time": 0.0, "end_time": asset.duration}
    return [{**item, "speaker": "SPEAKER_00"} if speaker else item]


def multi_speaker_result(asset: Asset) -> dict[str, Any]:
    """Callback `data.data` for `async-generate-multi-speaker`: audio_transcription, faces, usage_metadata."""
    bundled = body("async-generate-multi-speaker-callback", asset.recording)
    if bundled is not None:
        return bundled["data"]["data"]
    usage = [{"duration": 0.0, "model": "gemini-2.5-pro", "output_tokens": 0, "prompt_tokens": 0}]
    if not asset.speaker_labels or not (
        _words(asset.recording) or body("sync-generate-audio-speaker", asset.recording)
    ):
        text = placeholder_text(asset, speakers=True)
        segment = {"start_time": 0.0, "end_time": asset.duration, "speaker": "MAVI Sandbox", "text": text}
        return {"audio_transcription": [segment], "faces": [], "usage_metadata": usage}
    segments = [
        {"start_time": i["start_time"], "end_time": i["end_time"], "speaker": i["speaker"], "text": i["text"].strip()}
        for i in whisper_items(asset, speaker=True)
    ]
    return {"audio_transcription": segments, "faces": [], "usage_metadata": usage}


@cache
def _derived_assemblyai(asset: Asset) -> dict[str, Any] | None:
    words = _words(asset.recording)
    if not words or not asset.speaker_labels:
        return None
    transcript_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mavi-sandbox/assemblyai/{asset.recording}"))
    return derive.assemblyai(words, transcript_id=transcript_id, duration=asset.duration, audio_url=asset.audio_url)


@cache
def _derived_elevenlabs(asset: Asset) -> dict[str, Any] | None:
    words = _words(asset.recording)
    return derive.elevenlabs(words) if words else None


def assemblyai_result(asset: Asset) -> dict[str, Any] | None:
    """The real AssemblyAI transcript object (MILLISECONDS) of this recording, or None. Shared: copy to change."""
    bundled = body("speech-to-text-assemblyai", asset.recording)
    return bundled["data"] if bundled is not None else _derived_assemblyai(asset)


def elevenlabs_result(asset: Asset) -> dict[str, Any] | None:
    """The real ElevenLabs transcript object (SECONDS) of this recording, or None. Shared: copy to change."""
    bundled = body("speech-to-text-elevenlabs", asset.recording)
    return bundled["data"] if bundled is not None else _derived_elevenlabs(asset)
