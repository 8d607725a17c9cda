"""AssemblyAI transcript (via MAVI `speech-to-text`) -> `Transcript`.

Shape: 004_d5a1143acd9404eb.txt. Word and utterance `start`/`end` are MILLISECONDS and are converted to
seconds here; `audio_duration` is seconds. With speaker labels, `utterances[]` become segments (each with its
words); without, `words[]` are grouped into sentence-sized segments (`_grouping`).
"""

from __future__ import annotations

from operator import itemgetter

from mavi_mcp.errors import ResultError
from mavi_mcp.normalize._assemble import Context, RawSegment, RawWord, assemble
from mavi_mcp.normalize._grouping import grouped_segments
from mavi_mcp.transcript import Extras, Transcript
from mavi_mcp.wire import AssemblyAITranscript, AssemblyAIUtterance, AssemblyAIWord

MS = 1000.0
_TEXT = itemgetter(0)


def _word(w: AssemblyAIWord) -> RawWord:
    return (w.text, w.start / MS, w.end / MS, w.confidence)


def _label(speaker: str | None) -> str | None:
    """AssemblyAI's "A", "B".. as `SPEAKER_A`..: unambiguous next to other labels, stable across pages."""
    return f"SPEAKER_{speaker}" if speaker else None


def _belongs(word: AssemblyAIWord, utterance: AssemblyAIUtterance) -> bool:
    """Whether the next flat word is part of `utterance` (words are taken in order, utterance by utterance).

    A word inside the utterance's span belongs to it; a word starting exactly at its end (AssemblyAI gives
    zero-length words there) belongs to it only if it has the utterance's speaker, else to the next one.
    """
    if word.start < utterance.end:
        return True
    return word.start == utterance.end and word.speaker == utterance.speaker


def normalize_assemblyai(data: AssemblyAITranscript, context: Context) -> Transcript:
    """AssemblyAI `data` -> transcript (provider "assemblyai").

    Raises:
        ResultError: the provider reports `status: "error"` (its `error` text is in the message).
    """
    if data.status == "error":
        raise ResultError(f"AssemblyAI could not transcribe this audio: {data.error or 'no reason given'}.")
    words = data.words or []
    raw: list[RawSegment]
    if data.utterances:
        raw = []
        remaining = iter(words)
        pending: AssemblyAIWord | None = next(remaining, None)
        for utterance in data.utterances:
            own: list[RawWord]
            if utterance.words is not None:
                own = [_word(w) for w in utterance.words]
            else:  # take the flat words that fall inside this utterance
                own = []
                while pending is not None and _belongs(pending, utterance):
                    own.append(_word(pending))
                    pending = next(remaining, None)
            raw.append(
                RawSegment(
                    start=utterance.start / MS,
                    end=utterance.end / MS,
                    speaker=_label(utterance.speaker),
                    text=utterance.text,
                    words=own,
                )
            )
        if pending is not None and data.utterances[-1].words is None:  # flat words after the last utterance
            leftover = [pending, *remaining]
            raw.append(
                RawSegment(
                    start=leftover[0].start / MS,
                    end=max(w.end for w in leftover) / MS,
                    speaker=_label(leftover[0].speaker),
                    text=" ".join(w.text for w in leftover),
                    words=[_word(w) for w in leftover],
                )
            )
    else:
        flat: list[RawWord] = [(w.text, w.start / MS, w.end / MS, w.confidence) for w in words]
        speakers = [_label(w.speaker) for w in words]
        raw = grouped_segments(flat, speakers, lambda first, stop: " ".join(map(_TEXT, flat[first:stop])))
        if not raw and data.text and data.text.strip():
            raw = [RawSegment(start=0.0, end=data.audio_duration or 0.0, speaker=None, text=data.text)]
    return assemble(
        raw,
        provider="assemblyai",
        endpoint="speech-to-text",
        model=data.speech_model_used or context.model,
        context=context,
        language=data.language_code,
        duration=data.audio_duration,
        extras=Extras(
            summary=data.summary or None,
            chapters=data.chapters or None,
            entities=data.entities or None,
            sentiment=data.sentiment_analysis_results or None,
            highlights=data.auto_highlights_result or None,
            iab_categories=data.iab_categories_result or None,
            content_safety=data.content_safety_labels or None,
            confidence=data.confidence,
            provider_transcript_id=data.id,
            language_confidence=data.language_confidence,
        ),
    )
