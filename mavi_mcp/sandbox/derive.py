"""Response shapes built from another real result of the same recording: only the wrapping is ours.

The rules are those of the shared data set (../shared/data/README.md, "How the shapes were built"), so a shape
derived here looks exactly like the bundled ones (a test rebuilds the bundled Whisper segments from the bundled
AssemblyAI words with `whisper_segments` and requires equality):

- Whisper segments: words grouped as Whisper groups them (a segment ends at a sentence end once it is 2 s or 8
  words long, and at 15 s or 40 words at the latest; split at speaker changes when labelled), times rounded to
  0.01 s, text with Whisper's leading space, speakers `SPEAKER_00`.. in sorted order of the source's ids.
- Speaker turns: one turn per run of words of one speaker, `SPEAKER_00`.. in sorted order of the source's ids.
- AssemblyAI: the words in MILLISECONDS, speaker letters `A`, `B`.. by first appearance, one utterance per run of
  one speaker; ElevenLabs: `word` items with a `spacing` item between them (from one word's end to the next
  one's start), SECONDS, `speaker_0`.. by first appearance. Fields a source cannot supply (word `confidence`,
  `logprob`) are left out.

Sources read here (all real, credited in data/ATTRIBUTION.md): the bundled AssemblyAI and ElevenLabs bodies,
and Earnings-21's Amazon Transcribe output in Rev's NLP format (`token|speaker|ts|endTs|punctuation|...`,
SECONDS), bundled byte for byte as `data/raw/earnings21_amazon_4320211.nlp`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

SENTENCE_ENDS = (".", "?", "!", "…")
LETTERS = [chr(ord("A") + n) for n in range(26)] + [f"A{chr(ord('A') + n)}" for n in range(26)]


@dataclass(frozen=True)
class Unit:
    """A word (or a whole sentence, `words` long) with times in SECONDS and the source's speaker id, if any."""

    text: str
    start: float
    end: float
    speaker: str | None
    words: int = 1


# --- reading real results ----------------------------------------------------------------------


def from_assemblyai(data: JSON) -> list[Unit]:
    """An AssemblyAI transcript's words (MILLISECONDS on the wire) as units in seconds."""
    return [Unit(w["text"], w["start"] / 1000, w["end"] / 1000, w.get("speaker")) for w in data["words"]]


def from_elevenlabs(data: JSON) -> list[Unit]:
    """An ElevenLabs transcript's `word` items (SECONDS) as units; spacing and audio events are left out."""
    return [
        Unit(w["text"], w["start"], w["end"], w.get("speaker_id"))
        for w in data["words"]
        if w.get("type", "word") == "word"
    ]


def from_rev_nlp(text: str) -> list[Unit]:
    """Rev's NLP format (`token|speaker|ts|endTs|punctuation|...`, SECONDS): one unit per timed token."""
    rows = csv.DictReader(io.StringIO(text), delimiter="|")
    return [
        Unit(r["token"] + r["punctuation"], float(r["ts"]), float(r["endTs"]), r["speaker"] or None)
        for r in rows
        if r["ts"] and r["endTs"]
    ]


# --- shaping -----------------------------------------------------------------------------------


def sorted_labels(ids: Iterable[str]) -> dict[str, str]:
    """Source speaker ids -> `SPEAKER_00`.. in sorted (string) order, as pyannote-style labels are given."""
    return {source: f"SPEAKER_{n:02d}" for n, source in enumerate(sorted(set(ids)))}


def first_seen(units: Iterable[Unit], names: Sequence[str]) -> dict[str, str]:
    """Source speaker ids -> `names[n]` in order of first appearance."""
    labels: dict[str, str] = {}
    for unit in units:
        if unit.speaker is not None and unit.speaker not in labels:
            labels[unit.speaker] = names[len(labels)]
    return labels


def runs(units: Sequence[Unit]) -> list[list[Unit]]:
    """Maximal runs of consecutive units with the same speaker."""
    out: list[list[Unit]] = []
    for unit in units:
        if out and out[-1][-1].speaker == unit.speaker:
            out[-1].append(unit)
        else:
            out.append([unit])
    return out


def speaker_turns(units: Sequence[Unit]) -> list[JSON]:
    """`sync-generate-speaker` items `{start, end, speaker}` (SECONDS): one turn per run of one speaker."""
    labels = sorted_labels(u.speaker for u in units if u.speaker is not None)
    return [
        {"start": run[0].start, "end": run[-1].end, "speaker": labels[run[0].speaker]}
        for run in runs(units)
        if run[0].speaker is not None
    ]


def whisper_segments(units: Sequence[Unit], *, speaker: bool) -> list[JSON]:
    """`sync-generate-audio` items `{text, start_time, end_time, speaker?}` (SECONDS), grouped as Whisper groups."""
    labels = sorted_labels(u.speaker for u in units if u.speaker is not None)
    segments: list[JSON] = []
    current: list[Unit] = []

    def close() -> None:
        if not current:
            return
        segment: JSON = {
            "text": " " + " ".join(u.text for u in current),
            "start_time": round(current[0].start, 2),
            "end_time": round(current[-1].end, 2),
        }
        if speaker:
            segment["speaker"] = labels.get(str(current[0].speaker), "SPEAKER_00")
        segments.append(segment)
        current.clear()

    for unit in units:
        if current and speaker and unit.speaker != current[0].speaker:
            close()
        current.append(unit)
        duration = current[-1].end - current[0].start
        words = sum(u.words for u in current)
        if (unit.text.endswith(SENTENCE_ENDS) and (duration >= 2 or words >= 8)) or duration >= 15 or words >= 40:
            close()
    close()
    return segments


def assemblyai(units: Sequence[Unit], *, transcript_id: str, duration: float, audio_url: str | None) -> JSON:
    """An AssemblyAI transcript with speaker labels on: words and utterances in MILLISECONDS."""
    letters = first_seen(units, LETTERS)

    def word(u: Unit) -> JSON:
        return {
            "text": u.text,
            "start": round(u.start * 1000),
            "end": round(u.end * 1000),
            "speaker": letters[str(u.speaker)],
        }

    utterances = [
        {
            "start": round(run[0].start * 1000),
            "end": round(run[-1].end * 1000),
            "text": " ".join(u.text for u in run),
            "speaker": letters[str(run[0].speaker)],
            "words": [word(u) for u in run],
        }
        for run in runs(units)
    ]
    return {
        "id": transcript_id,
        "status": "completed",
        "language_code": "en_us",
        "audio_url": audio_url,
        "audio_duration": round(duration),
        "text": " ".join(u.text for u in units),
        "words": [word(u) for u in units],
        "utterances": utterances,
        "punctuate": True,
        "format_text": True,
        "speaker_labels": True,
        "speakers_expected": None,
    }


def elevenlabs(units: Sequence[Unit]) -> JSON:
    """An ElevenLabs transcript: `word` and `spacing` items in SECONDS; `speaker_id` only when labelled."""
    labels = first_seen(units, [f"speaker_{n}" for n in range(64)])
    items: list[JSON] = []
    for n, unit in enumerate(units):
        if n:
            previous = units[n - 1]
            items.append(_item(" ", previous.end, unit.start, "spacing", labels.get(str(previous.speaker))))
        items.append(_item(unit.text, unit.start, unit.end, "word", labels.get(str(unit.speaker))))
    return {"language_code": "eng", "text": " ".join(u.text for u in units), "words": items}


def _item(text: str, start: float, end: float, kind: str, speaker: str | None) -> JSON:
    item: JSON = {"text": text, "start": round(start, 3), "end": round(end, 3), "type": kind}
    if speaker is not None:
        item["speaker_id"] = speaker
    return item
