"""Pyannote speaker turns -> a diarization `Transcript` (segments with a speaker and no text).

Shapes: `sync-generate-speaker` `data.items[] {start, end, speaker}` (000_1dcabf4313decfba.txt) and the
`async-generate-speaker` callback `data.data.data[] {start, end, speaker}` (../shared/mavi-api/README.md).
Times are SECONDS. Overlapping turns are real and kept.
"""

from __future__ import annotations

from mavi_mcp.normalize._assemble import Context, RawSegment, assemble
from mavi_mcp.transcript import Extras, Transcript
from mavi_mcp.wire import SpeakerCallbackResult, SpeakerData, SpeakerTurnItem, UsageMetadata


def _turns(items: list[SpeakerTurnItem]) -> list[RawSegment]:
    return [RawSegment(start=i.start, end=i.end, speaker=i.speaker, text="") for i in items]


def normalize_speaker_turns(data: SpeakerData, context: Context) -> Transcript:
    """`sync-generate-speaker` `data` -> diarization transcript (provider "pyannote")."""
    return assemble(
        _turns(data.items),
        provider="pyannote",
        endpoint="sync-generate-speaker",
        model=data.model or context.model,
        context=context,
        kind="diarization",
    )


def normalize_speaker_callback(result: SpeakerCallbackResult, context: Context) -> Transcript:
    """`async-generate-speaker` callback `data.data` -> diarization transcript."""
    usage = result.usage_metadata
    usage_list = usage if isinstance(usage, list) else [usage] if usage is not None else []
    return assemble(
        _turns(result.data),
        provider="pyannote",
        endpoint="async-generate-speaker",
        model=context.model,
        context=context,
        kind="diarization",
        duration=_usage_duration(usage_list),
        extras=Extras(usage=[u.model_dump(exclude_none=True) for u in usage_list] or None),
    )


def _usage_duration(usage: list[UsageMetadata]) -> float | None:
    durations = [u.duration for u in usage if u.duration]
    return max(durations) if durations else None
