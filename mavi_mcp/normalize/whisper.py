"""Whisper segments -> `Transcript`.

Shapes: `sync-generate-audio` `data.items[] {text, start_time, end_time, speaker?}` (003_7014b9b1b540d339.txt)
and the `async-generate-audio` callback `data.data.data[]` with `usage_metadata` an OBJECT (002_*.txt).
Times are SECONDS; Whisper's leading space on each text is dropped.
"""

from __future__ import annotations

from mavi_mcp.normalize._assemble import Context, RawSegment, assemble
from mavi_mcp.transcript import Extras, Transcript
from mavi_mcp.wire import WhisperCallbackResult, WhisperData, WhisperItem


def _segments(items: list[WhisperItem]) -> list[RawSegment]:
    return [RawSegment(start=i.start_time, end=i.end_time, speaker=i.speaker or None, text=i.text) for i in items]


def normalize_whisper(data: WhisperData, context: Context) -> Transcript:
    """`sync-generate-audio` `data` -> transcript (provider "whisper"); speakers only if requested."""
    return assemble(
        _segments(data.items),
        provider="whisper",
        endpoint="sync-generate-audio",
        model=data.model or context.model,
        context=context,
    )


def normalize_whisper_callback(result: WhisperCallbackResult, context: Context) -> Transcript:
    """`async-generate-audio` callback `data.data` -> transcript, with the usage metadata kept."""
    usage = result.usage_metadata
    return assemble(
        _segments(result.data),
        provider="whisper",
        endpoint="async-generate-audio",
        model=(usage.model if usage and usage.model else context.model),
        context=context,
        duration=usage.duration if usage else None,
        extras=Extras(usage=[usage.model_dump(exclude_none=True)] if usage else None),
    )
