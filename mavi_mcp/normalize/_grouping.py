"""Grouping a flat word list into sentence-sized segments (AssemblyAI without utterances, ElevenLabs).

A new segment starts when the speaker changes, after a word that ends a sentence once the segment holds at
least `MIN_SENTENCE_WORDS` words or `MIN_SENTENCE_SECONDS`, at a pause of `PAUSE_SECONDS` or more, and at
`MAX_WORDS` words or `MAX_SECONDS` at the latest. Times are SECONDS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter

from mavi_mcp.normalize._assemble import RawSegment, RawWord

PAUSE_SECONDS = 1.5
MIN_SENTENCE_WORDS = 8
MIN_SENTENCE_SECONDS = 2.0
MAX_WORDS = 60
MAX_SECONDS = 30.0
_SENTENCE_END = (".", "?", "!", "…", '."', '?"', '!"', ".'", "?'", "!'", ".)", "。", "？", "！")
_END = itemgetter(2)


def grouped_segments(
    words: list[RawWord], speakers: Sequence[str | None], text: Callable[[int, int], str]
) -> list[RawSegment]:
    """`words` (in time order; `speakers[i]` is word i's speaker) as segments by the rules in the module docstring:
    each with its words, its first word's start, its latest end, its first word's speaker, and `text(first, stop)`
    (the provider's text of `words[first:stop]`)."""
    segments: list[RawSegment] = []
    for first, stop in segment_spans(words, speakers):
        group = words[first:stop]
        segments.append(
            RawSegment(
                start=group[0][1],
                end=max(map(_END, group)),
                speaker=speakers[first],
                text=text(first, stop),
                words=group,
            )
        )
    return segments


def segment_spans(words: Sequence[RawWord], speakers: Sequence[str | None]) -> list[tuple[int, int]]:
    """The segments of `words` (in time order; `speakers[i]` is word i's speaker) by the rules in the module
    docstring, as `(first, stop)` index pairs: segment k is `words[first:stop]`; `[]` for no words.

    Indexes rather than lists of groups: a 66-minute answer has 12,000 words, and the callers slice what they
    need (the words, their texts) in C.
    """
    if not words:
        return []
    starts = [0]
    first_start = words[0][1]
    speaker = speakers[0]
    count = 0
    last_text = ""
    last_end = first_start
    for index, (text, start, end, _) in enumerate(words):
        if count and (
            speakers[index] != speaker
            or start - last_end >= PAUSE_SECONDS
            or count >= MAX_WORDS
            or end - first_start > MAX_SECONDS
            or (
                (count >= MIN_SENTENCE_WORDS or last_end - first_start >= MIN_SENTENCE_SECONDS)
                and (
                    last_text.endswith(_SENTENCE_END)
                    or (last_text[-1:].isspace() and last_text.rstrip().endswith(_SENTENCE_END))
                )
            )
        ):
            starts.append(index)
            first_start, speaker, count = start, speakers[index], 0
        count += 1
        last_text, last_end = text, end
    return list(zip(starts, [*starts[1:], len(words)], strict=True))
