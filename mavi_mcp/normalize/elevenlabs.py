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
from mavi_mcp.normalize._grouping import Token, group_tokens
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
        text = "".join(item["text"] for item in current).strip()
        times = [(i.get("start"), i.get("end")) for i in current]
        starts = [a for a, _ in times if a is not None]
        ends = [b for _, b in times if b is not None]
        start = min(starts, default=known)
        end = max(ends, default=start)
        known = max(known, end)
        speaker = next((i.get("speaker_id") for i in current if i.get("speaker_id")), None)
        if text:
            raw.append(RawSegment(start=start, end=max(start, end), speaker=speaker, text=text))

    for item in data.words:
        is_word = item.get("type", "word") != "spacing"
        if current and is_word and item.get("speaker_id") not in (None, current[0].get("speaker_id")):
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
    fields = (("text", item["text"]), ("start", item.get("start")), ("end", item.get("end")))
    return {key: value for key, value in (*fields, ("speaker", item.get("speaker_id"))) if value is not None}


def normalize_elevenlabs(data: ElevenLabsTranscript, context: Context) -> Transcript:
    """ElevenLabs `data` -> transcript (provider "elevenlabs"); the model is the `model_id` asked for
    (`context.model`).

    Items of `type: "audio_event"` stay in the text and are also listed in `extras.audio_events`
    (`{text, start, end, speaker}`, SECONDS). An answer without word times but with speaker ids keeps one
    segment per speaker turn (see `_untimed_turns`); without speaker ids its text is one segment.
    """
    tokens: list[Token] = []
    events: list[dict[str, Any]] = []
    untimed = False
    previous_end = 0.0
    for item in data.words:
        start, end, logprob, kind = item.get("start"), item.get("end"), item.get("logprob"), item.get("type", "word")
        is_word = kind != "spacing"
        if kind == "audio_event":
            events.append(_event(item))
        if start is None or end is None:
            if is_word:
                untimed = True
                break
            start = end = previous_end  # an untimed space: its time carries nothing, its text is kept
        previous_end = end
        confidence = math.exp(logprob) if logprob is not None and logprob <= 0 else None
        tokens.append((item["text"], start, end, item.get("speaker_id"), is_word, confidence))
    if untimed:  # the loop stopped early: list every event
        events = [_event(item) for item in data.words if item.get("type") == "audio_event"]
    raw: list[RawSegment]
    notes: list[str] = []
    if untimed and any(item.get("speaker_id") for item in data.words):
        raw, notes = _untimed_turns(data)
    elif untimed or (not tokens and data.text):
        # timestamps_granularity "none": the text is all there is (or the items' texts, when no text is given)
        text = data.text or "".join(item["text"] for item in data.words)
        raw = [RawSegment(start=0.0, end=data.audio_duration_secs or 0.0, speaker=None, text=text)]
        raw = [r for r in raw if r.text.strip()]
    else:
        raw = []
        for group in group_tokens(tokens):
            words: list[RawWord] = [(t[0], t[1], t[2], t[5]) for t in group if t[4]]
            if not words:
                continue
            raw.append(
                RawSegment(
                    start=words[0][1],
                    end=max(w[2] for w in words),
                    speaker=group[0][3],
                    text="".join(t[0] for t in group),
                    words=words,
                )
            )
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
