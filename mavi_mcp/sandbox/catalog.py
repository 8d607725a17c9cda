"""The sandbox's preloaded assets: real recordings' results, loaded lazily from the bundled files.

Every asset answers every transcription endpoint in that endpoint's exact shape:

- from the bundled body when one exists for that recording (data/<endpoint folder>/<recording>.json, byte-for-byte
  copies of the shared real-data set);
- else built from another real body of the same recording, wrapping only (speaker turns of an earnings call from
  its Whisper-with-speakers segments, one turn per run of one speaker; speaker turns of Earnings-21 4320211 from
  its RTTM; Whisper segments of 4320211 from its multi-speaker callback, speakers numbered by the dataset's
  speaker ids);
- else a plainly labelled placeholder ("[MAVI sandbox] ..."), never made-up speech.

Sources and licenses: data/ATTRIBUTION.md.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

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


def _raw_text(name: str) -> str:
    return resources.files("mavi_mcp.sandbox").joinpath("data", "raw", name).read_text()


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
    if asset.recording == "4320211":
        rows = [line.split() for line in _raw_text("4320211.rttm").splitlines() if line.startswith("SPEAKER")]
        ids = sorted({row[7] for row in rows})
        label = {original: f"SPEAKER_{i:02d}" for i, original in enumerate(ids)}
        return [
            {"start": float(r[3]), "end": round(float(r[3]) + float(r[4]), 3), "speaker": label[r[7]]} for r in rows
        ]
    return [{"start": 0.0, "end": asset.duration, "speaker": "SPEAKER_00"}]


def whisper_items(asset: Asset, *, speaker: bool) -> list[dict[str, Any]]:
    """Whisper segments `{text, start_time, end_time, speaker?}` (SECONDS) for `sync-generate-audio`."""
    bundled = body("sync-generate-audio-speaker" if speaker else "sync-generate-audio", asset.recording)
    if bundled is not None:
        return bundled["data"]["items"]
    multi = body("async-generate-multi-speaker-callback", asset.recording)
    if multi is not None:
        reader = csv.DictReader(io.StringIO(_raw_text(f"{asset.recording}-speakers.csv")))
        number = {row["speaker_name"]: int(row["speaker_id"]) for row in reader}
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
    text = _only(asset)
    item = {"text": " " + text, "start_time": 0.0, "end_time": asset.duration}
    return [{**item, "speaker": "SPEAKER_00"} if speaker else item]


def _only(asset: Asset) -> str:
    have = "speaker turns" if body("sync-generate-speaker", asset.recording) is not None else "other providers' results"
    return PLACEHOLDER.format(have=have)


def multi_speaker_result(asset: Asset) -> dict[str, Any]:
    """Callback `data.data` for `async-generate-multi-speaker`: audio_transcription, faces, usage_metadata."""
    bundled = body("async-generate-multi-speaker-callback", asset.recording)
    if bundled is not None:
        return bundled["data"]["data"]
    segments = [
        {
            "start_time": i["start_time"],
            "end_time": i["end_time"],
            "speaker": i.get("speaker") or "Speaker 1",
            "text": i["text"].strip(),
        }
        for i in whisper_items(asset, speaker=True)
    ]
    return {
        "audio_transcription": segments,
        "faces": [],
        "usage_metadata": [{"duration": 0.0, "model": "gemini-2.5-pro", "output_tokens": 0, "prompt_tokens": 0}],
    }


def assemblyai_result(asset: Asset) -> dict[str, Any]:
    """The AssemblyAI transcript object (MILLISECONDS) as MAVI's `speech-to-text` returns it."""
    bundled = body("speech-to-text-assemblyai", asset.recording)
    if bundled is not None:
        return bundled["data"]
    return placeholder_assemblyai(_only(asset), asset.duration)


def elevenlabs_result(asset: Asset) -> dict[str, Any]:
    """The ElevenLabs transcript object (SECONDS) as MAVI's `speech-to-text` returns it."""
    bundled = body("speech-to-text-elevenlabs", asset.recording)
    if bundled is not None:
        return bundled["data"]
    return placeholder_elevenlabs(_only(asset), asset.duration)


def placeholder_assemblyai(text: str, duration: float) -> dict[str, Any]:
    """An AssemblyAI-shaped result whose only words are `text`, spread over `duration` seconds."""
    words = text.split()
    step = duration * 1000 / max(len(words), 1)
    return {
        "id": "sandbox",
        "status": "completed",
        "language_code": "en_us",
        "audio_duration": round(duration),
        "text": text,
        "words": [
            {"text": w, "start": round(i * step), "end": round((i + 1) * step), "confidence": 1.0, "speaker": None}
            for i, w in enumerate(words)
        ],
        "utterances": None,
        "confidence": 1.0,
    }


def placeholder_elevenlabs(text: str, duration: float) -> dict[str, Any]:
    """An ElevenLabs-shaped result whose only words are `text`, spread over `duration` seconds."""
    words = text.split()
    step = duration / max(len(words), 1)
    items: list[dict[str, Any]] = []
    for i, w in enumerate(words):
        if i:
            items.append(
                {
                    "text": " ",
                    "start": round(i * step, 3),
                    "end": round(i * step, 3),
                    "type": "spacing",
                    "speaker_id": "speaker_0",
                }
            )
        items.append(
            {
                "text": w,
                "start": round(i * step, 3),
                "end": round((i + 1) * step, 3),
                "type": "word",
                "speaker_id": "speaker_0",
            }
        )
    return {"language_code": "eng", "language_probability": 1.0, "text": text, "words": items}
