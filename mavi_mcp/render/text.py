"""The compact text format: one line per speaker turn, `[m:ss] Speaker: text`.

- Consecutive segments of one speaker (adjacent in the transcript) make one turn, one line.
- Timestamps: every turn starts with one, and inside a turn an inline `[m:ss]` anchor is added so that no
  stretch of more than `ANCHOR_SECONDS` of audio goes without one (at word level when the provider gave word
  times aligned with the text, else at segment starts). `timestamps="segments"` anchors every segment;
  `"none"` drops them all. Hours appear only when the recording reaches an hour (`h:mm:ss`).
- Without speaker labels, lines are cut at anchors instead: each line is about `ANCHOR_SECONDS` of speech.
- Diarization transcripts (turns without words) render one line per turn, `m:ss.s+d.d Speaker` (start to the
  tenth of a second, then the duration in seconds), which keeps every turn's start and end to 0.1 s.
- The speaker is shown by the name a user gave (`rename_speakers`), else the provider's name, else its label.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from mavi_mcp.render.cursor import Position
from mavi_mcp.render.pager import Piece, Unit
from mavi_mcp.render.timefmt import clock, clock_tenths
from mavi_mcp.render.view import Span, Timestamps

ANCHOR_SECONDS = 30.0


def _start_index(spans: list[Span], position: Position) -> tuple[int, int]:
    """Index of the first span at/after `position` and the token to start from inside it."""
    for i, span in enumerate(spans):
        if span.index > position.segment:
            return i, span.first
        if span.index == position.segment:
            first = max(span.first, position.word)
            if first < span.last or (not span.tokens and position.word == 0):
                return i, first
    return len(spans), 0


def text_units(
    spans: list[Span], position: Position, *, display: dict[str, str], timestamps: Timestamps
) -> Iterator[Unit]:
    """Turn lines from `position` on (see the module docstring)."""
    i, first = _start_index(spans, position)
    while i < len(spans):
        head = spans[i]
        group = [head]
        j = i + 1
        labelled = head.speaker is not None
        while j < len(spans):
            nxt = spans[j]
            if nxt.index != spans[j - 1].index + 1 or nxt.speaker != head.speaker:
                break
            if not labelled and nxt.segment.end - head.token_start(first) > ANCHOR_SECONDS:
                break
            group.append(nxt)
            j += 1
        yield _turn(group, first, display=display, timestamps=timestamps)
        i = j
        if i < len(spans):
            first = spans[i].first


def _turn(group: list[Span], first: int, *, display: dict[str, str], timestamps: Timestamps) -> Unit:
    head = group[0]
    speaker = display.get(head.speaker, head.speaker) if head.speaker is not None else None
    started = head.token_start(first)
    stamp = timestamps != "none"
    heading: list[str] = []
    if stamp:
        heading.append(f"[{clock(started)}]")
    if speaker is not None:
        heading.append(f"{speaker}:")
    # words[i] is the i-th word as printed (with an anchor in front where one is due); the line is the heading
    # and the words joined by single spaces. Cut points are built only if the pager has to cut this turn.
    words: list[str] = []
    last_anchor = math.floor(started)  # the time printed; the 30 s bound counts from it
    for n, span in enumerate(group):
        start_k = first if n == 0 else span.first
        tokens = span.tokens
        times = span.times
        if not stamp or (times is None and n == 0):  # no anchor can go inside a segment without word times
            words.extend(tokens[start_k : span.last])
            continue
        for k in range(start_k, span.last):
            word = tokens[k]
            if n == 0 and k == start_k:
                words.append(word)
                continue
            if times is not None:
                _, t_start, t_end, _ = times[k]
                due = t_end - last_anchor > ANCHOR_SECONDS or (k == span.first and timestamps == "segments")
            elif k == span.first:
                t_start = span.segment.start
                due = timestamps == "segments" or span.segment.end - last_anchor > ANCHOR_SECONDS
            else:
                words.extend(tokens[k : span.last])
                break
            if due:
                word = f"[{clock(t_start)}] {word}"
                last_anchor = math.floor(t_start)
            words.append(word)
    prefix = " ".join(heading)
    if not words:
        return Unit(start=Position(head.index, first), rendered="")
    rendered = f"{prefix} {' '.join(words)}" if prefix else " ".join(words)

    def make_pieces() -> list[Piece]:
        afters = [
            Position(span.index, k + 1)
            for n, span in enumerate(group)
            for k in range(first if n == 0 else span.first, span.last)
        ]
        pieces = [Piece(f"{prefix} {words[0]}" if prefix else words[0], afters[0])]
        pieces.extend(Piece(" " + w, after) for w, after in zip(words[1:], afters[1:], strict=True))
        return pieces

    return Unit(start=Position(head.index, first), rendered=rendered, make_pieces=make_pieces)


def diarization_units(spans: list[Span], position: Position, *, display: dict[str, str]) -> Iterator[Unit]:
    """One line per turn: `m:ss.s+d.d Speaker` (see the module docstring)."""
    i, _ = _start_index(spans, position)
    for span in spans[i:]:
        segment = span.segment
        speaker = display.get(segment.speaker, segment.speaker) if segment.speaker is not None else "?"
        length = segment.end - segment.start
        line = f"{clock_tenths(segment.start)}+{length:.1f} {speaker}"
        yield Unit(start=Position(span.index, 0), given_pieces=[Piece(line, Position(span.index + 1, 0))])
