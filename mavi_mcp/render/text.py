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

from collections.abc import Iterator

from mavi_mcp.render.cursor import Position
from mavi_mcp.render.pager import Piece, Unit
from mavi_mcp.render.timefmt import clock, clock_tenths
from mavi_mcp.render.view import Span, Timestamps

ANCHOR_SECONDS = 30.0

OPEN_TAG = "<transcript>"
CLOSE_TAG = "</transcript>"


def neutralize(text: str) -> str:
    """Recording text with the data markers defused, so spoken words cannot close the untrusted block."""
    if "transcript>" not in text:
        return text
    return text.replace(CLOSE_TAG, "</transcript\u200b>").replace(OPEN_TAG, "<transcript\u200b>")


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
    spans: list[Span], position: Position, *, display: dict[str, str], hours: bool, timestamps: Timestamps
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
        yield _turn(group, first, display=display, hours=hours, timestamps=timestamps)
        i = j
        if i < len(spans):
            first = spans[i].first


def _turn(group: list[Span], first: int, *, display: dict[str, str], hours: bool, timestamps: Timestamps) -> Unit:
    head = group[0]
    speaker = display.get(head.speaker, head.speaker) if head.speaker is not None else None
    started = head.token_start(first)
    stamp = timestamps != "none"
    heading: list[str] = []
    if stamp:
        heading.append(f"[{clock(started, hours=hours)}]")
    if speaker is not None:
        heading.append(f"{speaker}:")
    prefix = " ".join(heading)
    pieces: list[Piece] = []
    last_anchor = started
    lead = prefix
    for n, span in enumerate(group):
        start_k = first if n == 0 else span.first
        for k in range(start_k, span.last):
            word = neutralize(span.tokens[k])
            anchor = ""
            if stamp and not (n == 0 and k == start_k):
                if span.times is not None:
                    t_start, t_end = span.times[k]
                    due = t_end - last_anchor > ANCHOR_SECONDS
                    if k == span.first and timestamps == "segments":
                        due = True
                elif k == span.first:
                    t_start = span.segment.start
                    due = timestamps == "segments" or span.segment.end - last_anchor > ANCHOR_SECONDS
                else:
                    t_start, due = 0.0, False
                if due:
                    anchor = f"[{clock(t_start, hours=hours)}] "
                    last_anchor = t_start
            space = " " if lead or pieces else ""
            pieces.append(Piece(f"{lead}{space}{anchor}{word}", Position(span.index, k + 1)))
            lead = ""
    if not pieces and lead:
        pieces.append(Piece(lead, Position(group[-1].index, group[-1].last)))
    return Unit(start=Position(head.index, first), pieces=pieces)


def diarization_units(spans: list[Span], position: Position, *, display: dict[str, str], hours: bool) -> Iterator[Unit]:
    """One line per turn: `m:ss.s+d.d Speaker` (see the module docstring)."""
    i, _ = _start_index(spans, position)
    for span in spans[i:]:
        segment = span.segment
        speaker = display.get(segment.speaker, segment.speaker) if segment.speaker is not None else "?"
        length = segment.end - segment.start
        line = f"{clock_tenths(segment.start, hours=hours)}+{length:.1f} {speaker}"
        yield Unit(start=Position(span.index, 0), pieces=[Piece(line, Position(span.index + 1, 0))])
