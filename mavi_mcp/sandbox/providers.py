"""`speech-to-text` in the sandbox: AssemblyAI and ElevenLabs results on real data, shaped by the request.

The audio source is `asset_id` > `url` > `source_url` (004_d5a1143acd9404eb.txt "Audio Source"); a blank one
counts as absent; `url` must be http(s), `source_url` http(s) or gs:// (the page's wording); none at all, or a
`provider` other than "assemblyai"/"elevenlabs" -> the vendor's generic 400. A URL that is a preloaded
recording's `audio_url` is answered with that recording; the sandbox fetches no other URL and says so.

Options honoured because they can be applied faithfully to a real result:

- AssemblyAI (004_*.txt "Parameters", "Response Parameters"): `speaker_labels` (off, AssemblyAI's default ->
  `utterances: null` and words WITHOUT the `speaker` key, as the page says "Only present when
  speaker_labels=true"; the recorded wildfires response is served as it was recorded, with its `speaker: null`);
  `speaker_labels` on for a recording without speaker labels -> a labelled placeholder, since a real provider
  would have labelled the words. `audio_start_from` / `audio_end_at` (MILLISECONDS): words and utterances
  outside are dropped, `text` rebuilt from the kept words. `language_code`, `speakers_expected`, `punctuate`,
  `format_text` are echoed. Each answer gets a fresh transcript `id`, as each call is a new provider job.
- ElevenLabs (README "Transcription endpoints"; ElevenLabs' own API reference for defaults and ranges):
  `diarize` (default false: items WITHOUT `speaker_id`, as in ElevenLabs' recorded non-diarized responses; on
  for a recording without speaker labels -> placeholder); `timestamps_granularity` `word` (default) as
  recorded, `none` -> items kept with `start`/`end` null (ElevenLabs' schema makes both nullable), `segment`
  (a MAVI value, not an ElevenLabs one; ElevenLabs has no segment level) -> as `word`; `tag_audio_events`
  (default true; false drops `audio_event` items).

Analysis options (summary, chapters, PII, ...) need a model; they are type-checked, not simulated.
Validation, where the pages are silent the conservative reading (JSON `null` counts as absent, unknown keys are
ignored), each failure the vendor's generic 400 "Request has exceeded the limit.": booleans must be JSON
booleans; 0..1 thresholds numbers in range; `speakers_expected` >= 1; `audio_start_from`/`audio_end_at`
integers >= 0 with end after start; lists of strings (`custom_spelling`: of objects); the documented choices
(`summary_model`, `summary_type`, `redact_pii_sub`, `redact_pii_audio_quality`, `boost_param`,
`timestamps_granularity` none/segment/word, `file_format`); ElevenLabs `num_speakers` 1..32 and `model_id` one
of ElevenLabs' Scribe models.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, cast
from urllib.parse import urlsplit

from mavi_mcp.sandbox import catalog
from mavi_mcp.sandbox.answers import LIMIT, Reject, Upload, sandbox_text
from mavi_mcp.sandbox.catalog import Asset

JSON = dict[str, Any]

_AAI_BOOL = (
    "punctuate", "format_text", "speaker_labels", "language_detection", "disfluencies", "sentiment_analysis",
    "entity_detection", "auto_highlights", "content_safety", "iab_categories", "auto_chapters", "summarization",
    "redact_pii", "redact_pii_audio", "filter_profanity", "multichannel", "custom_topics",
)  # fmt: skip
_AAI_UNIT = ("language_confidence_threshold", "speech_threshold")
_AAI_TEXT = ("language_code", "speech_model", "webhook_url")
_AAI_TEXT_LISTS = ("redact_pii_policies", "word_boost", "topics")
_AAI_CHOICES: dict[str, set[str]] = {
    "summary_model": {"informative", "conversational"},
    "summary_type": {"bullets", "bullets_verbose", "headline", "paragraph", "gist"},
    "redact_pii_sub": {"hash", "entity_name"},
    "redact_pii_audio_quality": {"mp3", "wav"},
    "boost_param": {"low", "default", "high"},
}
_EL_TEXT = ("language_code", "source_lang", "target_lang")
_EL_CHOICES: dict[str, set[str]] = {
    "model_id": {"scribe_v1", "scribe_v1_experimental", "scribe_v2"},
    "timestamps_granularity": {"none", "segment", "word"},
    "file_format": {"pcm_s16le_16", "other"},
}


# --- typed reads of a request body; every failure is the vendor's generic 400 ---------------------


def _fail() -> Reject:
    return Reject(400, LIMIT)


def _bool(body: JSON, key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _fail()
    return value


def _int(body: JSON, key: str, low: int, high: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise _fail()
    return value


def _unit(body: JSON, key: str) -> None:
    value = body.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1):
        raise _fail()


def _text(body: JSON, key: str, choices: set[str] | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (choices is not None and value not in choices):
        raise _fail()
    return value


def _list(body: JSON, key: str, item: type[str] | type[dict[str, Any]]) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, item) for v in cast(list[Any], value)):
        raise _fail()


def source(body: JSON) -> tuple[str | None, str | None]:
    """`(asset_id, url)`: the audio source by the page's priority (asset_id > url > source_url)."""
    asset_id = _text(body, "asset_id")
    url = _text(body, "url")
    source_url = _text(body, "source_url")
    if asset_id is not None and asset_id.strip():
        return asset_id, None
    if url is not None and url.strip():
        if not url.strip().startswith(("http://", "https://")):
            raise _fail()
        return None, url.strip()
    if source_url is not None and source_url.strip():
        if not source_url.strip().startswith(("http://", "https://", "gs://")):
            raise _fail()
        return None, source_url.strip()
    raise _fail()


def provider(body: JSON) -> str:
    name = _text(body, "provider", {"assemblyai", "elevenlabs"})
    if name is None:
        raise _fail()
    return name


# --- answers ---------------------------------------------------------------------------------------


def speech_to_text(name: str, target: Asset | Upload | str, body: JSON) -> JSON:
    """The `data` of a `speech-to-text` answer for `target` (asset, upload, or a URL); `body` is the request."""
    if name == "assemblyai":
        return _assemblyai(target, body)
    return _elevenlabs(target, body)


def _resolve(target: Asset | Upload | str) -> tuple[Asset | None, str, float, str | None]:
    """The preloaded asset behind `target` (if any), else a placeholder's text, duration and audio URL."""
    if isinstance(target, Asset):
        return target, "", target.duration, target.audio_url
    if isinstance(target, Upload):
        return None, sandbox_text(target.filename, target.duration), target.duration, None
    asset = catalog.BY_URL.get(target)
    if asset is not None:
        return asset, "", asset.duration, asset.audio_url
    return None, f"[MAVI sandbox] The sandbox does not fetch URLs; no audio was read from {_bare(target)}.", 1.0, target


def _bare(url: str) -> str:
    """`url` without user:password, query and fragment: a signed URL's secrets are not words of a transcript."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()


def _assemblyai(target: Asset | Upload | str, body: JSON) -> JSON:
    for key in _AAI_BOOL:
        _bool(body, key, False)
    for key in _AAI_UNIT:
        _unit(body, key)
    for key in _AAI_TEXT:
        _text(body, key)
    for key in _AAI_TEXT_LISTS:
        _list(body, key, str)
    _list(body, "custom_spelling", dict)
    for key, choices in _AAI_CHOICES.items():
        _text(body, key, choices)
    _int(body, "speakers_expected", 1)
    start = _int(body, "audio_start_from", 0)
    end = _int(body, "audio_end_at", 0)
    if start is not None and end is not None and end <= start:
        raise _fail()
    labels = _bool(body, "speaker_labels", False)

    asset, text, duration, audio_url = _resolve(target)
    real = catalog.assemblyai_result(asset) if asset is not None else None
    if asset is not None and (real is None or (labels and not asset.speaker_labels)):
        text = catalog.placeholder_text(asset, speakers=labels)
    if real is None or text:
        data = placeholder_assemblyai(text, duration, speaker_labels=labels, audio_url=audio_url)
    else:
        data = copy.deepcopy(real)
    if start is not None or end is not None:
        _window(data, start or 0, end if end is not None else float("inf"))
        data["audio_start_from"], data["audio_end_at"] = start, end
    if not labels:
        data["utterances"] = None
        if data.get("speaker_labels"):  # a labelled result: the page says `speaker` is only present with labels
            labelled: list[JSON] = data.get("words") or []
            for word in labelled:
                word.pop("speaker", None)
    data["speaker_labels"] = labels
    for key in ("language_code", "speakers_expected", "punctuate", "format_text"):
        if body.get(key) is not None:
            data[key] = body[key]
    data["id"] = str(uuid.uuid4())
    return data


def _window(data: JSON, lo: float, hi: float) -> None:
    """Keep the words (and utterances' words) that overlap `[lo, hi)` MILLISECONDS; rebuild the texts."""
    all_words: list[JSON] = data.get("words") or []
    data["words"] = [w for w in all_words if w["end"] > lo and w["start"] < hi]
    if data.get("utterances"):
        kept: list[JSON] = []
        for utterance in cast(list[JSON], data["utterances"]):
            own: list[JSON] = utterance.get("words") or []
            words = [w for w in own if w["end"] > lo and w["start"] < hi]
            if words:
                text = " ".join(w["text"] for w in words)
                kept.append(
                    {**utterance, "words": words, "text": text, "start": words[0]["start"], "end": words[-1]["end"]}
                )
        data["utterances"] = kept
    data["text"] = " ".join(str(w["text"]) for w in data["words"])


def _elevenlabs(target: Asset | Upload | str, body: JSON) -> JSON:
    for key in _EL_TEXT:
        _text(body, key)
    for key, choices in _EL_CHOICES.items():
        _text(body, key, choices)
    _int(body, "num_speakers", 1, 32)
    diarize = _bool(body, "diarize", False)
    events = _bool(body, "tag_audio_events", True)
    granularity = _text(body, "timestamps_granularity") or "word"

    asset, text, duration, _ = _resolve(target)
    real = catalog.elevenlabs_result(asset) if asset is not None else None
    if asset is not None and (real is None or (diarize and not asset.speaker_labels)):
        text = catalog.placeholder_text(asset, speakers=diarize)
    data = placeholder_elevenlabs(text, duration) if real is None or text else copy.deepcopy(real)
    words: list[JSON] = data.get("words") or []
    if not events:
        words = [w for w in words if w.get("type") != "audio_event"]
    if not diarize:
        for word in words:
            word.pop("speaker_id", None)
    if granularity == "none":
        for word in words:
            word["start"] = word["end"] = None
    data["words"] = words
    if body.get("language_code"):
        data["language_code"] = body["language_code"]
    return data


def placeholder_assemblyai(text: str, duration: float, *, speaker_labels: bool, audio_url: str | None) -> JSON:
    """An AssemblyAI-shaped result whose only words are `text`, spread evenly over `duration` seconds."""
    words = text.split()
    step = duration * 1000 / max(len(words), 1)
    items: list[JSON] = []
    for i, w in enumerate(words):
        item: JSON = {"text": w, "start": round(i * step), "end": round((i + 1) * step)}
        if speaker_labels:
            item["speaker"] = "A"
        items.append(item)
    utterances = None
    if speaker_labels:
        utterances = [{"start": 0, "end": round(duration * 1000), "text": text, "speaker": "A", "words": items}]
    return {
        "id": "",
        "status": "completed",
        "language_code": "en_us",
        "audio_url": audio_url,
        "audio_duration": round(duration),
        "text": text,
        "words": items,
        "utterances": utterances,
        "punctuate": True,
        "format_text": True,
        "speaker_labels": speaker_labels,
        "speakers_expected": None,
    }


def placeholder_elevenlabs(text: str, duration: float) -> JSON:
    """An ElevenLabs-shaped result whose only words are `text`, spread evenly over `duration` seconds."""
    words = text.split()
    step = duration / max(len(words), 1)
    items: list[JSON] = []
    for i, w in enumerate(words):
        if i:
            at = round(i * step, 3)
            items.append({"text": " ", "start": at, "end": at, "type": "spacing", "speaker_id": "speaker_0"})
        end = round((i + 1) * step, 3)
        items.append({"text": w, "start": round(i * step, 3), "end": end, "type": "word", "speaker_id": "speaker_0"})
    return {"language_code": "eng", "text": text, "words": items}
