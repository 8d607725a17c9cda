"""The one assembly step every normalizer ends with: raw segments -> a validated `Transcript`.

It orders segments by start (stable, so the provider's order is kept for equal starts), repairs what can be
repaired without losing a word (reversed or negative times, ends beyond the duration) and records each repair
in `Transcript.warnings`, computes the duration and the speaker summary, and validates the strict model.
Times given here are SECONDS.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime

import pydantic

from mavi_mcp.defuse import clean_name
from mavi_mcp.errors import ResultError
from mavi_mcp.transcript import (
    Extras,
    Kind,
    Provider,
    Segment,
    Source,
    Transcript,
    new_transcript_id,
    summarize_speakers,
    utcnow,
)

_INF = float("inf")
MAX_SECONDS = 1e8
"""Times at or beyond this (over three years) are not a recording's: rejected like non-finite ones. Renderers and
subtitle formats (`datetime.timedelta`) overflow long before a float does, so the bound is checked here, once."""


@dataclass(frozen=True)
class Context:
    """What the caller knows about a result that the body does not say: ids, input, the model asked for, sandbox.

    `model` is the model the request named (or the shape's default, `shapes.Shape.default_model`); a body that
    names its own model wins.
    """

    asset_id: str | None = None
    audio_url: str | None = None
    task_id: str | None = None
    sandbox: bool = False
    transcript_id: str | None = None
    created_at: datetime | None = None
    model: str | None = None

    def with_model(self, model: str | None) -> Context:
        return dataclasses.replace(self, model=model)


RawWord = tuple[str, float, float, float | None]
"""A word as a normalizer read it, `(text, start, end, confidence)` in SECONDS; a `transcript.Word` once checked."""


@dataclass(slots=True)
class RawSegment:
    start: float
    end: float
    speaker: str | None
    text: str
    words: list[RawWord] | None = None


def _finite(value: float, what: str) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ResultError(f"The provider's answer has {what} that is not a finite number ({value!r}).")
    if abs(value) >= MAX_SECONDS:
        raise ResultError(f"The provider's answer has {what} that is not a plausible time ({value!r} s).")
    return float(value)


def _repair_span(start: float, end: float, what: str, warnings: list[str]) -> tuple[float, float]:
    start = _finite(start, f"{what} start")
    end = _finite(end, f"{what} end")
    if start < 0 or end < 0:
        warnings.append(f"{what} had a negative time ({start}..{end} s); clamped to 0.")
        start, end = max(start, 0.0), max(end, 0.0)
    if end < start:
        warnings.append(f"{what} ended ({end} s) before it started ({start} s); start and end swapped.")
        start, end = end, start
    return start, end


def _segment(raw: RawSegment, start: float, end: float, words: list[RawWord] | None, labels: dict[str, str]) -> Segment:
    speaker = raw.speaker
    if speaker is not None:
        label = labels.get(speaker)
        if label is None:
            label = labels[speaker] = clean_name(speaker)
        speaker = label
    return Segment.checked(float(start), float(end), speaker, raw.text.strip(), words)


def assemble(
    raw_segments: list[RawSegment],
    *,
    provider: Provider,
    endpoint: str,
    model: str | None,
    context: Context,
    kind: Kind = "transcript",
    language: str | None = None,
    duration: float | None = None,
    extras: Extras | None = None,
    names: dict[str, str] | None = None,
) -> Transcript:
    """Validate and assemble `raw_segments` (SECONDS) into a `Transcript`.

    Raises:
        ResultError: a time that is not a finite number, or a shape the strict model rejects.
    """
    warnings: list[str] = []
    segments: list[Segment] = []
    labels: dict[str, str] = {}  # speaker label -> cleaned, once per speaker
    for index, raw in enumerate(raw_segments):
        start, end = raw.start, raw.end
        if not 0.0 <= start <= end < MAX_SECONDS:  # NaN fails every comparison and lands here too
            start, end = _repair_span(start, end, f"segment {index}", warnings)
        words: list[RawWord] | None = None
        if raw.words is not None:
            words = raw.words
            for w_index, (text, w_start, w_end, confidence) in enumerate(raw.words):
                if (
                    0.0 <= w_start <= w_end < MAX_SECONDS
                    and (confidence is None or -_INF < confidence < _INF)
                    and type(w_start) is float
                    and type(w_end) is float
                    and (confidence is None or type(confidence) is float)
                ):
                    continue
                if not 0.0 <= w_start <= w_end < MAX_SECONDS:
                    w_start, w_end = _repair_span(w_start, w_end, f"word {w_index} of segment {index}", warnings)
                if confidence is not None and not -_INF < confidence < _INF:
                    confidence = None
                if words is raw.words:
                    words = list(raw.words)
                words[w_index] = (text, float(w_start), float(w_end), None if confidence is None else float(confidence))
        segments.append(_segment(raw, start, end, words, labels))
    segments.sort(key=lambda s: s.start)

    last_end = max((s.end for s in segments), default=0.0)
    if duration is not None and (not math.isfinite(duration) or not 0 <= duration < MAX_SECONDS):
        warnings.append(f"The provider's duration ({duration!r}) is not usable; using the last segment's end.")
        duration = None
    total = max(duration or 0.0, last_end)

    source = Source(
        provider=provider,
        endpoint=endpoint,
        model=model,
        asset_id=context.asset_id,
        audio_url=context.audio_url,
        task_id=context.task_id,
        sandbox=context.sandbox,
    )
    # Every time was checked above (finite, >= 0, end >= start, below MAX_SECONDS), every text comes from a validated
    # wire model and every speaker label is cleaned like `transcript.Name`, so the transcript is built without
    # validating each word a second time.
    try:
        return Transcript.model_construct(
            id=context.transcript_id or new_transcript_id(),
            kind=kind,
            source=source,
            language=language or None,
            duration=max(round(total, 3), last_end),  # rounding must not cut the last segment off
            segments=segments,
            speakers=summarize_speakers(segments, names),
            extras=extras or Extras(),
            warnings=warnings,
            created_at=context.created_at or utcnow(),
        )
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise ResultError(
            f"The provider's answer could not be normalized: {first['msg']} at {'.'.join(map(str, first['loc']))}."
        ) from None
