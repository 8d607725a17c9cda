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
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate, islice

from mavi_mcp.render.cursor import Position
from mavi_mcp.render.pager import Unit
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
    every_segment = timestamps == "segments"
    for n, span in enumerate(group):
        k = first if n == 0 else span.first
        tokens, times, last = span.tokens, span.times, span.last
        if k >= last:
            continue
        if not stamp or (times is None and n == 0):  # no anchor can go inside a segment without word times
            words.extend(tokens[k:last])
            continue
        if times is None:  # an anchor can go only at this segment's start
            word = tokens[k]
            if every_segment or span.segment.end - last_anchor > ANCHOR_SECONDS:
                word = f"[{clock(span.segment.start)}] {word}"
                last_anchor = math.floor(span.segment.start)
            words.append(word)
            words.extend(tokens[k + 1 : last])
            continue
        if n == 0:  # the turn's first word: the heading carries its time
            words.append(tokens[k])
            k += 1
        elif every_segment:
            words.append(f"[{clock(times[k][1])}] {tokens[k]}")
            last_anchor = math.floor(times[k][1])
            k += 1
        while k < last:  # words up to the next one ending more than ANCHOR_SECONDS after the last anchor
            limit = last_anchor + ANCHOR_SECONDS
            due = k
            while due < last and times[due][2] <= limit:
                due += 1
            words.extend(tokens[k:due])
            if due == last:
                break
            t_start = times[due][1]
            words.append(f"[{clock(t_start)}] {tokens[due]}")
            last_anchor = math.floor(t_start)
            k = due + 1
    prefix = " ".join(heading)
    if not words:
        return Unit(start=Position(head.index, first), rendered="")
    rendered = f"{prefix} {' '.join(words)}" if prefix else " ".join(words)

    def fit(room: int, at_least_one: bool) -> tuple[str, Position] | None:
        # the line cut after n words costs (prefix + " " if prefix) + the n words' bytes + (n - 1) spaces; no word is
        # under 1 byte, so none past room // 2 + 1 can fit
        lead = len(prefix.encode()) + 1 if prefix else 0
        sizes = list(accumulate(map(len, map(str.encode, islice(words, room // 2 + 1)))))
        n = bisect_right(range(len(sizes)), room + 1 - lead, key=lambda i: sizes[i] + i + 1)
        if n >= len(words):
            return None  # every word fits: no cut needed
        if n == 0:
            if not at_least_one:
                return None
            n = 1
        body = " ".join(words[:n])
        body = f"{prefix} {body}" if prefix else body
        skip = n  # the n-th word is in the span where the words counted so far run out
        for index, span in enumerate(group):
            start_k = first if index == 0 else span.first
            if skip <= span.last - start_k:
                return body, Position(span.index, start_k + skip)
            skip -= span.last - start_k
        return body, Position(group[-1].index, group[-1].last)  # not reached: words come from these spans

    return Unit(start=Position(head.index, first), rendered=rendered, fit=fit)


def diarization_units(spans: list[Span], position: Position, *, display: dict[str, str]) -> Iterator[Unit]:
    """One line per turn: `m:ss.s+d.d Speaker` (see the module docstring)."""
    i, _ = _start_index(spans, position)
    for span in spans[i:]:
        segment = span.segment
        speaker = display.get(segment.speaker, segment.speaker) if segment.speaker is not None else "?"
        length = segment.end - segment.start
        yield Unit(Position(span.index, 0), rendered=f"{clock_tenths(segment.start)}+{length:.1f} {speaker}")
