"""ElevenLabs transcript (via MAVI `speech-to-text`) -> `Transcript`.

Shape (../shared/mavi-api/README.md): `data.words[] {text, start, end, type: "word"|"spacing"|"audio_event",
speaker_id, logprob}` in SECONDS. Items are grouped into segments at speaker changes, sentence ends and
pauses (`_grouping`); a segment's text is its items' texts joined verbatim, so ElevenLabs' own spacing is
kept. Audio events ("(laughter)") stay in the text and in the words. `confidence` is `exp(logprob)`.
"""

from __future__ import annotations

import math
from typing import Any

from mavi_mcp.normalize._assemble import Context, RawSegment, RawWord, assemble
from mavi_mcp.normalize._grouping import grouped_segments
from mavi_mcp.transcript import Extras, Transcript
from mavi_mcp.wire import ElevenLabsTranscript, ElevenLabsWord


def _untimed_turns(data: ElevenLabsTranscript) -> tuple[list[RawSegment], list[str]]:
    """Turns of an answer whose words carry no times but speaker ids (`diarize=True` with
    `timestamps_granularity="none"`): one segment per run of one speaker's items, text joined verbatim.

    A turn takes the times its items have (the last time known before it when none): ElevenLabs gave no more.
    """
    raw: list[RawSegment] = []
    known = 0.0
    current: list[ElevenLabsWord] = []

    def flush() -> None:
        nonlocal known
        text = "".join(item.text for item in current).strip()
        starts = [i.start for i in current if i.start is not None]
        ends = [i.end for i in current if i.end is not None]
        start = min(starts, default=known)
        end = max(ends, default=start)
        known = max(known, end)
        speaker = next((i.speaker_id for i in current if i.speaker_id), None)
        if text:
            raw.append(RawSegment(start=start, end=max(start, end), speaker=speaker, text=text))

    for item in data.words:
        is_word = item.type != "spacing"
        if current and is_word and item.speaker_id not in (None, current[0].speaker_id):
            flush()
            current = []
        if current or is_word:
            current.append(item)
    if current:
        flush()
    warning = (
        "ElevenLabs sent no word times (timestamps_granularity 'none'): turns keep their speakers and order, "
        "but their times and the speakers' talk times are unknown (0)."
    )
    return raw, [warning]


def _event(item: ElevenLabsWord) -> dict[str, Any]:
    """An audio event as `extras.audio_events` lists it: `{text, start, end, speaker}` (SECONDS), unknowns left out."""
    fields = (("text", item.text), ("start", item.start), ("end", item.end), ("speaker", item.speaker_id))
    return {key: value for key, value in fields if value is not None}


def normalize_elevenlabs(data: ElevenLabsTranscript, context: Context) -> Transcript:
    """ElevenLabs `data` -> transcript (provider "elevenlabs"); the model is the `model_id` asked for
    (`context.model`).

    Items of `type: "audio_event"` stay in the text and are also listed in `extras.audio_events`
    (`{text, start, end, speaker}`, SECONDS). An answer without word times but with speaker ids keeps one
    segment per speaker turn (see `_untimed_turns`); without speaker ids its text is one segment.
    """
    items = data.words
    words: list[RawWord] = []
    speakers: list[str | None] = []
    positions: list[int] = []  # where each word is in `items`
    events: list[dict[str, Any]] = []
    untimed = False
    exp = math.exp
    for position, item in enumerate(items):
        kind = item.type
        if kind == "spacing":
            continue  # its text is joined below; its time carries nothing
        start, end, logprob = item.start, item.end, item.logprob
        if start is None or end is None:
            untimed = True
            break
        if kind == "audio_event":
            events.append(_event(item))
        words.append((item.text, start, end, exp(logprob) if logprob is not None and logprob <= 0 else None))
        speakers.append(item.speaker_id)
        positions.append(position)
    if untimed:  # the loop stopped early: list every event
        events = [_event(item) for item in items if item.type == "audio_event"]
    raw: list[RawSegment]
    notes: list[str] = []
    if untimed and any(item.speaker_id for item in items):
        raw, notes = _untimed_turns(data)
    elif untimed or (not words and data.text):
        # timestamps_granularity "none": the text is all there is (or the items' texts, when no text is given)
        text = data.text or "".join(item.text for item in items)
        raw = [RawSegment(start=0.0, end=data.audio_duration_secs or 0.0, speaker=None, text=text)]
        raw = [r for r in raw if r.text.strip()]
    else:
        # a segment's text is every item from its first word to the next segment's first word (the spacing after
        # its last word included); leading blank spacing is dropped, other leading items kept
        texts = [item.text for item in items]
        positions.append(len(texts))  # where the text after the last word ends
        lead = next((i for i in range(positions[0]) if texts[i].strip()), positions[0]) if words else 0

        def text_of(first: int, stop: int) -> str:
            return "".join(texts[lead if first == 0 else positions[first] : positions[stop]])

        raw = grouped_segments(words, speakers, text_of)
    transcript = assemble(
        raw,
        provider="elevenlabs",
        endpoint="speech-to-text",
        model=context.model,
        context=context,
        language=data.language_code,
        duration=data.audio_duration_secs,
        extras=Extras(
            language_probability=data.language_probability,
            provider_transcript_id=data.transcription_id,
            audio_events=events or None,
        ),
    )
    if notes:
        transcript = transcript.model_copy(update={"warnings": [*notes, *transcript.warnings]})
    return transcript
