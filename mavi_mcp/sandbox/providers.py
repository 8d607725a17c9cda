"""`speech-to-text` in the sandbox: AssemblyAI and ElevenLabs results on real data, shaped by the request.

Options honoured because they can be applied faithfully to a real result (004_d5a1143acd9404eb.txt and
../shared/mavi-api/README.md): AssemblyAI `speaker_labels` (off -> `utterances: null`, words without speaker),
`audio_start_from`/`audio_end_at` (MILLISECONDS: words and utterances outside are dropped), `language_code`
(echoed); ElevenLabs `diarize` (off -> no `speaker_id`), `timestamps_granularity` ("none" -> text only),
`tag_audio_events` (off -> audio events dropped). Analysis options (summary, chapters, ...) cannot be simulated
from a transcript and come back empty, as a provider returns for audio with nothing to report.
Option types are checked as a backend would; a bad value gets the vendor's generic 400.
"""

from __future__ import annotations

import copy
from typing import Any

from mavi_mcp.sandbox import catalog
from mavi_mcp.sandbox.app import LIMIT, Reject, Upload, sandbox_text
from mavi_mcp.sandbox.catalog import Asset

_BOOL = {
    "punctuate", "format_text", "speaker_labels", "language_detection", "disfluencies", "sentiment_analysis",
    "entity_detection", "auto_highlights", "content_safety", "iab_categories", "auto_chapters", "summarization",
    "redact_pii", "redact_pii_audio", "filter_profanity", "multichannel", "custom_topics", "diarize",
    "tag_audio_events",
}  # fmt: skip
_UNIT = {"language_confidence_threshold", "speech_threshold"}
_COUNT = {"speakers_expected", "audio_start_from", "audio_end_at", "num_speakers"}
_LISTS = {"redact_pii_policies", "word_boost", "topics", "custom_spelling"}
_CHOICES: dict[str, set[str]] = {
    "summary_model": {"informative", "conversational"},
    "summary_type": {"bullets", "bullets_verbose", "headline", "paragraph", "gist"},
    "redact_pii_sub": {"hash", "entity_name"},
    "redact_pii_audio_quality": {"mp3", "wav"},
    "boost_param": {"low", "default", "high"},
    "timestamps_granularity": {"none", "segment", "word"},
    "file_format": {"pcm_s16le_16", "other"},
}


def _check(body: dict[str, Any]) -> None:
    for key, value in body.items():
        if value is None:
            continue
        bad = (
            (key in _BOOL and not isinstance(value, bool))
            or (key in _UNIT and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1))
            or (key in _COUNT and (isinstance(value, bool) or not isinstance(value, int) or value < 0))
            or (key in _LISTS and not isinstance(value, list))
            or (key in _CHOICES and value not in _CHOICES[key])
        )
        if bad:
            raise Reject(400, LIMIT)


def speech_to_text(provider: str, target: Asset | Upload | str, body: dict[str, Any]) -> dict[str, Any]:
    """The `data` of a `speech-to-text` answer for `target` (asset, upload, or a URL)."""
    _check(body)
    if provider == "assemblyai":
        return _assemblyai(target, body)
    return _elevenlabs(target, body)


def _resolve(target: Asset | Upload | str) -> tuple[Asset | None, str, float]:
    """The preloaded asset behind `target` (if any), and placeholder text and duration otherwise."""
    if isinstance(target, Asset):
        return target, "", target.duration
    if isinstance(target, Upload):
        return None, sandbox_text(target.filename, target.duration), target.duration
    asset = catalog.BY_URL.get(target)
    if asset is not None:
        return asset, "", asset.duration
    return None, f"[MAVI sandbox] The sandbox does not fetch URLs; no audio was read from {target}.", 1.0


def _assemblyai(target: Asset | Upload | str, body: dict[str, Any]) -> dict[str, Any]:
    asset, text, duration = _resolve(target)
    data = copy.deepcopy(catalog.assemblyai_result(asset)) if asset else catalog.placeholder_assemblyai(text, duration)
    start = body.get("audio_start_from")
    end = body.get("audio_end_at")
    if start is not None or end is not None:
        lo, hi = start or 0, end if end is not None else float("inf")
        all_words: list[dict[str, Any]] = data.get("words") or []
        data["words"] = [w for w in all_words if w["end"] > lo and w["start"] < hi]
        if data.get("utterances"):
            kept: list[dict[str, Any]] = []
            utterances: list[dict[str, Any]] = data["utterances"]
            for utterance in utterances:
                own: list[dict[str, Any]] = utterance.get("words") or []
                words = [w for w in own if w["end"] > lo and w["start"] < hi]
                if words:
                    kept.append(
                        {
                            **utterance,
                            "words": words,
                            "text": " ".join(w["text"] for w in words),
                            "start": words[0]["start"],
                            "end": words[-1]["end"],
                        }
                    )
            data["utterances"] = kept
        data["text"] = " ".join(str(w["text"]) for w in data["words"])
    if not body.get("speaker_labels"):
        data["utterances"] = None
        unlabelled: list[dict[str, Any]] = data.get("words") or []
        for word in unlabelled:
            word["speaker"] = None
    if body.get("language_code"):
        data["language_code"] = body["language_code"]
    for key in ("speaker_labels", "punctuate", "format_text", "speakers_expected"):
        if key in body:
            data[key] = body[key]
    return data


def _elevenlabs(target: Asset | Upload | str, body: dict[str, Any]) -> dict[str, Any]:
    asset, text, duration = _resolve(target)
    data = copy.deepcopy(catalog.elevenlabs_result(asset)) if asset else catalog.placeholder_elevenlabs(text, duration)
    words: list[dict[str, Any]] = data.get("words") or []
    if body.get("tag_audio_events") is False:
        words = [w for w in words if w.get("type") != "audio_event"]
    if body.get("diarize") is False:
        for word in words:
            word.pop("speaker_id", None)
    if body.get("timestamps_granularity") == "none":
        words = []
    data["words"] = words
    if body.get("language_code"):
        data["language_code"] = body["language_code"]
    return data
