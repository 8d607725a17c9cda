"""Grouping a flat word list into sentence-sized segments (AssemblyAI without utterances, ElevenLabs).

A new segment starts when the speaker changes, after a word that ends a sentence once the segment holds at
least `MIN_SENTENCE_WORDS` words or `MIN_SENTENCE_SECONDS`, at a pause of `PAUSE_SECONDS` or more, and at
`MAX_WORDS` words or `MAX_SECONDS` at the latest. Times are SECONDS.
"""

from __future__ import annotations

from collections.abc import Iterable

PAUSE_SECONDS = 1.5
MIN_SENTENCE_WORDS = 8
MIN_SENTENCE_SECONDS = 2.0
MAX_WORDS = 60
MAX_SECONDS = 30.0
_SENTENCE_END = (".", "?", "!", "…", '."', '?"', '!"', ".'", "?'", "!'", ".)", "。", "？", "！")


Token = tuple[str, float, float, str | None, bool, float | None]
"""One unit of text with its time span: `(text, start, end, speaker, is_word, confidence)`, SECONDS; `text` is joined
verbatim (ElevenLabs keeps its own spacing). A plain tuple: tens of thousands are made per transcript."""


def group_tokens(tokens: Iterable[Token]) -> list[list[Token]]:
    """Split `tokens` (in time order) into groups by the rules in the module docstring."""
    groups: list[list[Token]] = []
    current: list[Token] = []
    words = 0
    last_word: Token | None = None
    for token in tokens:
        text, t_start, t_end, speaker, is_word, _ = token
        if current and is_word:
            start = current[0][1]
            pause = t_start - last_word[2] if last_word is not None else 0.0
            spoken = last_word[2] - start if last_word is not None else 0.0
            long_enough = words >= MIN_SENTENCE_WORDS or spoken >= MIN_SENTENCE_SECONDS
            if (
                speaker != current[0][3]
                or pause >= PAUSE_SECONDS
                or (last_word is not None and long_enough and last_word[0].rstrip().endswith(_SENTENCE_END))
                or words >= MAX_WORDS
                or t_end - start > MAX_SECONDS
            ):
                groups.append(current)
                current, words, last_word = [], 0, None
        if not current and not is_word and not text.strip():
            continue  # never start a segment with spacing
        current.append(token)
        if is_word:
            words += 1
            last_word = token
    if current:
        groups.append(current)
    return groups
