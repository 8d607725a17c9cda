"""Wire models: MAVI's bodies as the API sends them. Permissive (unknown keys never fail a parse), nothing renamed.

Units are the wire's: seconds everywhere except AssemblyAI, whose `start`/`end` are MILLISECONDS.
Sources: ../shared/mavi-api/README.md and the vendor pages beside it (file names given per model).
Normalizers (`mavi_mcp.normalize`) turn these into the canonical `Transcript`; nothing else reads them.

Two kinds of model, read through the same functions (`decode_envelope`, `validate`; `decode` for a whole pydantic
body), which raise `WireError` with the place a body differs:
- pydantic models (`WireModel`, `extra="allow"`) for the envelopes, assets, tasks, turns and callbacks;
- msgspec Structs (`WordLevel`) for the two word-level answers, AssemblyAI and ElevenLabs: a 66-minute answer
  holds 24,000 items, which msgspec decodes from the bytes 2.5x faster than pydantic into objects the cyclic
  garbage collector never tracks (`gc=False`); unknown keys are skipped (the raw body is stored anyway).
Both coerce like pydantic's lax mode ("1.5" is read as 1.5 where a number is expected).
"""

from __future__ import annotations

import json
from typing import Any, Generic, Protocol, TypeVar, cast

import msgspec
import pydantic
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
W = TypeVar("W")

SUCCESS_CODES: frozenset[object] = frozenset({200, "200", "0000"})
"""Envelope `code` values that mean success: 200 (newer pages), "200", "0000" (older pages)."""


class _EnvelopeFields(Protocol):
    code: int | str | None
    msg: str | None
    message: str | None
    success: bool | None
    failed: bool | None


class EnvelopeReading:
    """What both envelope models (`Envelope`, pydantic; `StructEnvelope`, msgspec) read from their fields."""

    __slots__ = ()

    @property
    def ok(self: _EnvelopeFields) -> bool:
        """True when the envelope reports success: a success `code`, or no code and `success: true`."""
        if self.failed is True or self.success is False:
            return False
        if self.code is None:
            return self.success is True
        return self.code in SUCCESS_CODES

    @property
    def text(self: _EnvelopeFields) -> str | None:
        """The envelope's message, whichever key carried it (`msg` on responses, `message` on callbacks)."""
        return self.msg if self.msg is not None else self.message


class WireError(ValueError):
    """A body that is not the expected wire model: `reason` (what differs) and `where` (a dotted path such as
    `data.words.3.start`, "" for the whole body)."""

    def __init__(self, reason: str, where: str) -> None:
        super().__init__(f"{reason} at {where or 'body'}")
        self.reason = reason
        self.where = where


class WireModel(BaseModel):
    """Base of all wire models: unknown keys are kept, so a richer answer never fails to parse.

    Validators are built on first use, not at import: listing the tools needs none of them (start-up).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class Envelope(WireModel, EnvelopeReading, Generic[T]):
    """`{"code", "msg" | "message", "data", "success", "failed"}` (README "Base, auth, envelope")."""

    code: int | str | None = None
    msg: str | None = None
    message: str | None = None
    data: T | None = None
    success: bool | None = None
    failed: bool | None = None


class WordLevel(msgspec.Struct):
    """Base of the msgspec wire models (the word-level answers): unknown keys are skipped."""


class StructEnvelope(msgspec.Struct, EnvelopeReading, Generic[T]):
    """`Envelope` for a `WordLevel` model: the same fields, read the same way (tests/test_normalize.py keeps the two
    declarations equal)."""

    code: int | str | None = None
    msg: str | None = None
    message: str | None = None
    data: T | None = None
    success: bool | None = None
    failed: bool | None = None


_ENVELOPES: dict[type[Any], type[Envelope[Any]]] = {}
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _pydantic_error(exc: pydantic.ValidationError, prefix: str = "") -> WireError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return WireError(first["msg"], f"{prefix}.{where}" if prefix and where else where or prefix)


def _msgspec_error(exc: msgspec.MsgspecError, prefix: str = "") -> WireError:
    reason, _, path = str(exc).partition(" - at `$")
    where = path.rstrip("`").replace("[", ".").replace("]", "").lstrip(".")
    return WireError(reason, f"{prefix}.{where}" if prefix and where else where or prefix)


def _decoder(model: type[Any]) -> msgspec.json.Decoder[Any]:
    decoder = _DECODERS.get(model)
    if decoder is None:
        envelope_type = StructEnvelope[model]  # pyright: ignore[reportInvalidTypeForm]
        decoder = _DECODERS[model] = msgspec.json.Decoder(envelope_type, strict=False)
    return decoder


def decode_envelope(model: type[W], raw: bytes) -> Envelope[W] | StructEnvelope[W]:
    """A whole answer, `{code, msg, data: <model>, ...}`, parsed and validated in one pass over `raw`.

    Raises:
        WireError: `raw` is not JSON, or not an envelope holding `model` (`where` starts at the envelope).
    """
    if issubclass(model, WordLevel):
        try:
            return cast("StructEnvelope[W]", _decoder(model).decode(raw))
        except msgspec.ValidationError as exc:
            raise _msgspec_error(exc) from None
        except msgspec.DecodeError as exc:
            return _decode_nonstandard(model, raw, exc)
    cached = _ENVELOPES.get(model)
    if cached is None:  # parametrizing a generic model is not free: once per model
        cached = _ENVELOPES[model] = Envelope[model]  # pyright: ignore[reportInvalidTypeForm]
    try:
        return cast("Envelope[W]", cached.model_validate_json(raw))
    except pydantic.ValidationError as exc:
        raise _pydantic_error(exc) from None


def _decode_nonstandard(model: type[W], raw: bytes, exc: msgspec.DecodeError) -> StructEnvelope[W]:
    """`raw` that msgspec's JSON reader refuses, read by the standard `json` module, which also takes the `NaN`,
    `Infinity` and `-Infinity` literals Python's own `json.dumps` writes (pydantic reads them too); then validated
    as msgspec would. A NaN confidence is then dropped and a NaN time refused by the normalizer, as for any other
    model. What both msgspec and pydantic refuse stays refused: `json` also reads a lone UTF-16 surrogate escape
    (`"\ud800"`), which no text can be stored with. Raises WireError: not JSON to msgspec and pydantic (msgspec's
    reason), or not an envelope holding `model`."""
    try:
        value = json.loads(raw)
        json.dumps(value, ensure_ascii=False).encode()  # a lone surrogate cannot be encoded: UnicodeEncodeError
    except (ValueError, RecursionError):
        raise _msgspec_error(exc) from None
    try:
        return msgspec.convert(value, StructEnvelope[model], strict=False)  # pyright: ignore[reportInvalidTypeForm]
    except msgspec.MsgspecError as invalid:
        raise _msgspec_error(invalid) from None


def decode(model: type[W], raw: bytes) -> W:
    """A whole body that is the pydantic wire `model` itself (a webhook delivery: `CallbackEnvelope`), in one pass
    over `raw`.

    Raises:
        WireError: `raw` is not JSON, or not `model`.
    """
    try:
        return cast("W", cast("type[BaseModel]", model).model_validate_json(raw))
    except pydantic.ValidationError as exc:
        raise _pydantic_error(exc) from None


def validate(model: type[W], value: object, *, where: str = "") -> W:
    """`value` (parsed JSON: dicts, lists, numbers) read as `model`.

    Raises:
        WireError: `value` is not `model`; its `where` is prefixed with `where`.
    """
    if issubclass(model, WordLevel):
        try:
            return msgspec.convert(value, model, strict=False)
        except msgspec.MsgspecError as exc:
            raise _msgspec_error(exc, where) from None
    try:
        return cast("W", cast("type[BaseModel]", model).model_validate(value))
    except pydantic.ValidationError as exc:
        raise _pydantic_error(exc, where) from None


# --- assets -----------------------------------------------------------------------------------------


class UploadData(WireModel):
    """`POST /upload` -> `data.asset_id` like `re_660727003963174912`."""

    asset_id: str


class AssetResource(WireModel):
    """One entry of `GET /{asset_id}/metadata` `data.resource[]`. Times are epoch MILLISECONDS as strings."""

    asset_id: str
    original_filename: str | None = None
    extension: str | None = None
    file_size: str | int | None = None
    upload_status: str | None = None
    create_time: str | int | None = None
    modify_time: str | int | None = None


class MetadataData(WireModel):
    """`GET /{asset_id}/metadata` -> `data.total`, `data.resource[]`."""

    total: int | str | None = None
    resource: list[AssetResource] = Field(default_factory=list[AssetResource])


class TaskData(WireModel):
    """Answer of every async endpoint: `data.task_id` (001_*.txt, 002_*.txt)."""

    task_id: str


# --- pyannote speaker turns (000_*.txt) ------------------------------------------------------------


class SpeakerTurnItem(WireModel):
    """`{start, end, speaker}` in SECONDS; `speaker` like `SPEAKER_00`."""

    start: float
    end: float
    speaker: str


class SpeakerData(WireModel):
    """`sync-generate-speaker` `data`: `model` ("pyannote"), `items[]`."""

    model: str | None = None
    items: list[SpeakerTurnItem]


# --- Whisper (003_*.txt) ---------------------------------------------------------------------------


class WhisperItem(WireModel):
    """`{text, start_time, end_time, speaker?}` in SECONDS. `speaker` only with `speaker: true`."""

    text: str
    start_time: float
    end_time: float
    speaker: str | None = None


class WhisperData(WireModel):
    """`sync-generate-audio` `data`: `model` ("whisper-1"), `items[]`."""

    model: str | None = None
    items: list[WhisperItem]


# --- AssemblyAI via speech-to-text (004_*.txt) ------------------------------------------------------


class AssemblyAIWord(WordLevel, gc=False):
    """A word: `start`/`end` in MILLISECONDS, `speaker` "A".. only with speaker labels."""

    text: str
    start: float
    end: float
    confidence: float | None = None
    speaker: str | None = None


class AssemblyAIUtterance(WordLevel):
    """An utterance (only with `speaker_labels`): MILLISECONDS, its own `words[]`."""

    text: str
    start: float
    end: float
    speaker: str | None = None
    confidence: float | None = None
    words: list[AssemblyAIWord] | None = None


class AssemblyAITranscript(WordLevel):
    """`speech-to-text` `provider: "assemblyai"` `data`: an AssemblyAI transcript object.

    `audio_duration` is SECONDS (an integer); word and utterance times are MILLISECONDS.
    Feature results (`summary`, `chapters`, `entities`, ...) are kept as the provider sent them.
    """

    id: str | None = None
    status: str | None = None
    error: str | None = None
    language_code: str | None = None
    audio_duration: float | None = None
    text: str | None = None
    confidence: float | None = None
    words: list[AssemblyAIWord] | None = None
    utterances: list[AssemblyAIUtterance] | None = None
    summary: str | None = None
    chapters: list[dict[str, Any]] | None = None
    entities: list[dict[str, Any]] | None = None
    sentiment_analysis_results: list[dict[str, Any]] | None = None
    auto_highlights_result: dict[str, Any] | None = None
    iab_categories_result: dict[str, Any] | None = None
    content_safety_labels: dict[str, Any] | None = None
    speech_model_used: str | None = None
    language_confidence: float | None = None


# --- ElevenLabs via speech-to-text (README "Transcription endpoints") ------------------------------


class ElevenLabsWord(WordLevel, gc=False):
    """A `words[]` item: `type` "word" | "spacing" | "audio_event"; `start`/`end` in SECONDS (one item per word AND
    per space)."""

    text: str
    start: float | None = None
    end: float | None = None
    type: str = "word"
    speaker_id: str | None = None
    logprob: float | None = None


class ElevenLabsTranscript(WordLevel):
    """`speech-to-text` `provider: "elevenlabs"` `data`."""

    language_code: str | None = None
    language_probability: float | None = None
    text: str | None = None
    words: list[ElevenLabsWord] = msgspec.field(default_factory=list[ElevenLabsWord])
    transcription_id: str | None = None
    audio_duration_secs: float | None = None


# --- webhook callbacks (001_*.txt, 002_*.txt, README "Webhook callbacks") --------------------------


class UsageMetadata(WireModel):
    """`{duration, model, output_tokens, prompt_tokens}`; `duration` in SECONDS."""

    duration: float | None = None
    model: str | None = None
    output_tokens: int | None = None
    prompt_tokens: int | None = None


class WhisperCallbackResult(WireModel):
    """`async-generate-audio` callback `data.data`: `data[]` segments, `usage_metadata` an OBJECT."""

    data: list[WhisperItem]
    usage_metadata: UsageMetadata | None = None


class SpeakerCallbackResult(WireModel):
    """`async-generate-speaker` callback `data.data`: `data[]` turns `{start, end, speaker}`."""

    data: list[SpeakerTurnItem]
    usage_metadata: UsageMetadata | list[UsageMetadata] | None = None


class MultiSpeakerSegment(WireModel):
    """`audio_transcription[]` item: SECONDS, `speaker` is a NAME ("Kiara S Stepsister")."""

    start_time: float
    end_time: float
    speaker: str | None = None
    text: str


class Face(WireModel):
    """A detected face: `face_id`, `name`, and where its image is stored (`gs://bucket/blob`)."""

    face_id: str | None = None
    name: str | None = None
    face_file_protocol: str | None = None
    face_file_bucket: str | None = None
    face_file_blob: str | None = None


class MultiSpeakerCallbackResult(WireModel):
    """`async-generate-multi-speaker` callback `data.data`; `usage_metadata` is an ARRAY."""

    audio_transcription: list[MultiSpeakerSegment]
    faces: list[Face] = Field(default_factory=list[Face])
    usage_metadata: list[UsageMetadata] | UsageMetadata | None = None


class CallbackData(WireModel):
    """Callback `data`: `{data: {...}, msg, success}`; the inner `data` depends on the endpoint."""

    data: dict[str, Any] | None = None
    msg: str | None = None
    success: bool | None = None


class CallbackEnvelope(WireModel):
    """A webhook delivery: `{code, message, data: {data, msg, success}, task_id}`."""

    code: int | str | None = None
    message: str | None = None
    msg: str | None = None
    data: CallbackData | None = None
    task_id: str
