"""What the search index holds: a transcript cut into passages, and the hits a search returns.

A passage is one speaker's consecutive speech of at most about `MAX_WORDS` words: short adjacent segments of one
speaker are joined, a long segment (an AssemblyAI utterance can hold thousands of words) is cut into pieces of
at most `MAX_WORDS` words. A hit is then small enough to show whole and its times point close to the match.
Times are SECONDS: a piece of a segment takes its words' own times when the provider gave them aligned with
the text, else the segment's start and end. Word offsets count the whitespace-separated words of the
segment's text, as `render.view` does.

Every backend (SQLite FTS5 now, PostgreSQL later) indexes these passages and returns `Hit`s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from mavi_mcp.transcript import Segment, Transcript

MAX_WORDS = 80
"""Most words in one passage (about 30 s of speech)."""

MARK_OPEN = "\ue000"
MARK_CLOSE = "\ue001"
"""Match markers (Unicode private-use characters) put around matched words by the index. They are removed
from everything indexed, so a marker in a hit's text is always one the index put there."""


def display_name(label: str | None, names: Mapping[str, str], provider: Mapping[str, str]) -> str:
    """The name a passage is indexed under: the user's rename of `label`, else the provider's name, else ""."""
    if label is None:
        return ""
    return names.get(label) or provider.get(label) or ""


def strip_marks(text: str) -> str:
    """`text` without the match markers (they are replaced by spaces, so words stay apart)."""
    if MARK_OPEN not in text and MARK_CLOSE not in text:
        return text
    return text.replace(MARK_OPEN, " ").replace(MARK_CLOSE, " ")


@dataclass(frozen=True)
class Passage:
    """A stretch of one speaker's speech: from word `word` of segment `segment` on, SECONDS `start`..`end`."""

    segment: int
    word: int
    speaker: str | None
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Hit:
    """A passage that matched a query.

    `marked` is `text` with every match between `MARK_OPEN` and `MARK_CLOSE`; `name` the speaker's display
    name when it has one (the user's rename, else the provider's name); `score` higher is better (BM25,
    comparable within one search only). Times in SECONDS.
    """

    transcript_id: str
    segment: int
    word: int
    speaker: str | None
    name: str | None
    start: float
    end: float
    text: str
    marked: str
    score: float


@dataclass(frozen=True)
class Doc:
    """What a hit's title line says about its transcript: recording, provider, date, duration (SECONDS)."""

    transcript_id: str
    provider: str
    model: str | None
    endpoint: str
    recording: str | None
    created_at: datetime
    duration: float
    kind: str

    @classmethod
    def of(cls, transcript: Transcript) -> Doc:
        src = transcript.source
        return cls(
            transcript_id=transcript.id,
            provider=src.provider,
            model=src.model,
            endpoint=src.endpoint,
            recording=src.asset_id or src.audio_url,
            created_at=transcript.created_at,
            duration=transcript.duration,
            kind=transcript.kind,
        )


def _pieces(index: int, segment: Segment) -> list[Passage]:
    tokens = strip_marks(segment.text).split()
    if len(tokens) <= MAX_WORDS:
        return [Passage(index, 0, segment.speaker, segment.start, segment.end, " ".join(tokens))]
    words = segment.words if segment.words is not None and len(segment.words) == len(tokens) else None
    count = math.ceil(len(tokens) / MAX_WORDS)
    size = math.ceil(len(tokens) / count)
    out: list[Passage] = []
    for first in range(0, len(tokens), size):
        last = min(first + size, len(tokens))
        if words is not None:
            start, end = words[first][1], max(w[2] for w in words[first:last])
        else:
            start, end = segment.start, segment.end
        out.append(Passage(index, first, segment.speaker, start, end, " ".join(tokens[first:last])))
    return out


def passages(transcript: Transcript) -> list[Passage]:
    """The passages of `transcript`, in transcript order (none for a diarization: it has no words)."""
    out: list[Passage] = []
    current: Passage | None = None
    current_words = 0
    previous_index = -2
    for index, segment in enumerate(transcript.segments):
        if not segment.text.strip():
            continue
        for piece in _pieces(index, segment):
            words = len(piece.text.split())
            if (
                current is not None
                and piece.word == 0
                and previous_index == index - 1
                and piece.speaker == current.speaker
                and current_words + words <= MAX_WORDS
            ):
                current = Passage(
                    current.segment,
                    current.word,
                    current.speaker,
                    current.start,
                    max(current.end, piece.end),
                    f"{current.text} {piece.text}",
                )
                current_words += words
            else:
                if current is not None:
                    out.append(current)
                current, current_words = piece, words
        previous_index = index
    if current is not None:
        out.append(current)
    return out
