"""The one canonical transcript every provider's answer is normalized into.

All times are SECONDS from the start of the recording (AssemblyAI's milliseconds are converted by its
normalizer). The model is strict (`extra="forbid"`, finite non-negative times, `end >= start`): a normalizer
that produces anything else fails loudly instead of storing a half-right transcript.

Shape:

```
Transcript
├── id                 "tr_..." stable for the life of the stored transcript
├── kind               "transcript" (words) | "diarization" (speaker turns only, text "")
├── source             provider, model, endpoint, asset_id / audio_url, task_id, sandbox
├── language, duration (seconds, >= the last segment's end)
├── segments[]         start, end, speaker (label or None), text, words[]? (start, end, confidence?)
├── speakers[]         label, name?, talk_time (s), share (0..1), turns, first_heard, last_heard
├── extras             summary, chapters, entities, sentiment, highlights, ..., usage, faces
└── warnings[]         what normalization had to repair (e.g. a reversed segment), for the agent
```

Overlapping speech is real in diarization and is kept as the provider gave it.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol, Self, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from mavi_mcp.defuse import clean_name

Name = Annotated[str, AfterValidator(clean_name)]
"""A provider-given speaker label or name: one line, markers defused, at most 80 characters (`defuse`)."""

Provider = Literal["pyannote", "whisper", "assemblyai", "elevenlabs", "multi-speaker"]
Kind = Literal["transcript", "diarization"]


class _Strict(BaseModel):
    """Strict, frozen; validators built on first use, not at start-up (listing the tools needs none)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _check_times(start: float, end: float, what: str) -> None:
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"{what} has a time that is not a finite number ({start!r}..{end!r})")
    if start < 0:
        raise ValueError(f"{what} starts before 0 s ({start})")
    if end < start:
        raise ValueError(f"{what} ends ({end} s) before it starts ({start} s)")


Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A time in SECONDS: finite and non-negative (checked by pydantic-core, no Python call per value)."""


Word = tuple[str, Seconds, Seconds, float | None]
"""One word: `(text, start, end, confidence)`, times in SECONDS, the provider's confidence (0..1) or None.

A plain tuple, stored as `[text, start, end, confidence]`: transcripts carry tens of thousands of words, and a tuple
of strings and numbers costs the garbage collector nothing once it has seen it (CPython stops tracking such exact
tuples; a NamedTuple, a subclass, stays tracked for ever). `end >= start` is checked by the enclosing `Segment`.
Index with `WORD_TEXT`, `WORD_START`, `WORD_END`, `WORD_CONFIDENCE`.
"""
WORD_TEXT, WORD_START, WORD_END, WORD_CONFIDENCE = 0, 1, 2, 3


class Segment(_Strict):
    """A stretch of one speaker's speech (or of unlabelled speech): SECONDS, text, optional words.

    For diarization (`kind="diarization"`) `text` is empty and `words` is None: the segment is a turn.
    """

    start: Seconds
    end: Seconds
    speaker: Name | None = None
    text: str = ""
    words: list[Word] | None = None

    @classmethod
    def checked(cls, start: float, end: float, speaker: str | None, text: str, words: list[Word] | None) -> Segment:
        """A segment from values the caller has already checked (`normalize._assemble`: finite float times,
        0 <= start <= end, a cleaned speaker label): what `model_construct` with every field gives, in a fifth of
        its time (it walks every field's aliases and defaults; a 66-minute transcript makes 600 segments).
        `tests/test_normalize.py` checks both agree."""
        segment = cls.__new__(cls)
        _set(segment, "__dict__", {"start": start, "end": end, "speaker": speaker, "text": text, "words": words})
        _set(segment, "__pydantic_fields_set__", set(_SEGMENT_FIELDS))
        _set(segment, "__pydantic_extra__", None)
        _set(segment, "__pydantic_private__", None)
        return segment

    @model_validator(mode="after")
    def _times(self) -> Self:
        _check_times(self.start, self.end, f"segment at {self.start}")
        for text, start, end, _ in self.words or ():
            if end < start:
                raise ValueError(f"word {text!r} ends ({end} s) before it starts ({start} s)")
        return self


_set = object.__setattr__
_SEGMENT_FIELDS = frozenset(Segment.model_fields)


class Speaker(_Strict):
    """One speaker's summary. `talk_time` and times in SECONDS; `share` of all talk time, 0..1.

    `turns` counts runs of consecutive segments by this speaker (a turn ends when someone else's segment
    starts). `name` is the provider's name (multi-speaker) until `rename_speakers` overrides it at render time.
    """

    label: Name
    name: Name | None = None
    talk_time: float = Field(ge=0)
    share: float = Field(ge=0, le=1)
    turns: int = Field(ge=0)
    segments: int = Field(ge=0)
    first_heard: float = Field(ge=0)
    last_heard: float = Field(ge=0)


class Source(_Strict):
    """Where the transcript came from: the provider, its model, the MAVI endpoint, and the input."""

    provider: Provider
    endpoint: str
    model: str | None = None
    asset_id: str | None = None
    audio_url: str | None = Field(
        default=None, description="The audio URL as `media.shown_url` shows it: no user:password, no query."
    )
    task_id: str | None = None
    sandbox: bool = False


class Extras(_Strict):
    """Provider results beyond the words, kept as the provider shaped them (times as the provider sent them).

    AssemblyAI: `summary`, `chapters`, `entities`, `sentiment`, `highlights`, `iab_categories`,
    `content_safety` (their `start`/`end` stay in MILLISECONDS, as AssemblyAI documents).
    Async callbacks: `usage` (list of `{duration, model, output_tokens, prompt_tokens}`), `faces`.
    AssemblyAI `language_confidence` (0..1, with language detection). ElevenLabs `audio_events`
    (`{text, start, end, speaker}`, SECONDS) and `language_probability`.
    """

    summary: str | None = None
    chapters: list[dict[str, Any]] | None = None
    entities: list[dict[str, Any]] | None = None
    sentiment: list[dict[str, Any]] | None = None
    highlights: dict[str, Any] | None = None
    iab_categories: dict[str, Any] | None = None
    content_safety: dict[str, Any] | None = None
    usage: list[dict[str, Any]] | None = None
    faces: list[dict[str, Any]] | None = None
    confidence: float | None = None
    language_probability: float | None = None
    provider_transcript_id: str | None = None
    language_confidence: float | None = None
    audio_events: list[dict[str, Any]] | None = None

    def present(self) -> list[str]:
        """Names of the extras that carry something, in declaration order."""
        return [name for name in type(self).model_fields if getattr(self, name) not in (None, [], {})]


class Transcript(_Strict):
    """A normalized, time-aligned transcript (see the module docstring for the shape)."""

    id: str
    kind: Kind
    source: Source
    language: str | None = None
    duration: float = Field(ge=0)
    segments: list[Segment]
    speakers: list[Speaker]
    extras: Extras = Field(default_factory=Extras)
    warnings: list[str] = Field(default_factory=list[str])
    created_at: datetime

    @property
    def word_count(self) -> int:
        """Words in the transcript text (whitespace-separated), 0 for diarization."""
        return sum(len(segment.text.split()) for segment in self.segments)


def new_transcript_id() -> str:
    """A fresh transcript id, `tr_` and 16 hex digits (random, so ids never collide across servers)."""
    return f"tr_{secrets.token_hex(8)}"


class _Timed(Protocol):
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def speaker(self) -> str | None: ...


def summarize_speakers(
    segments: Sequence[_Timed] | Sequence[Mapping[str, Any]], names: dict[str, str] | None = None
) -> list[Speaker]:
    """Per-speaker talk time (s), share, turns, segment count, first/last heard, in order of first appearance.

    `segments` (models, or dicts with `start`, `end`, `speaker`) must be in time order. Overlaps are counted for
    each speaker involved, so shares can sum to more than the recording's speech time; `share` is this
    speaker's part of the summed talk time.
    """
    names = names or {}
    talk: dict[str, float] = {}
    turns: dict[str, int] = {}
    counts: dict[str, int] = {}
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    previous: str | None = None
    rows: list[tuple[str | None, float, float]]
    if segments and isinstance(segments[0], Mapping):  # one kind per call: checked once, not per item
        rows = [(m["speaker"], m["start"], m["end"]) for m in cast("Sequence[Mapping[str, Any]]", segments)]
    else:
        rows = [(t.speaker, t.start, t.end) for t in cast("Sequence[_Timed]", segments)]
    for label, start, end in rows:
        if label is None:
            previous = None
            continue
        talk[label] = talk.get(label, 0.0) + (end - start)
        counts[label] = counts.get(label, 0) + 1
        if label != previous:
            turns[label] = turns.get(label, 0) + 1
        first.setdefault(label, start)
        last[label] = max(last.get(label, 0.0), end)
        previous = label
    total = sum(talk.values())
    return [
        Speaker(
            label=label,
            name=names.get(label),
            talk_time=round(talk[label], 3),
            share=round(talk[label] / total, 4) if total > 0 else 0.0,
            turns=turns[label],
            segments=counts[label],
            first_heard=first[label],
            last_heard=last[label],
        )
        for label in talk
    ]


def utcnow() -> datetime:
    """Now, timezone-aware UTC (one place, so tests and the store agree on the clock)."""
    return datetime.now(UTC)
