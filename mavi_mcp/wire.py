"""Wire models: MAVI's bodies as the API sends them. Permissive (`extra="allow"`), nothing renamed.

Units are the wire's: seconds everywhere except AssemblyAI, whose `start`/`end` are MILLISECONDS.
Sources: ../shared/mavi-api/README.md and the vendor pages beside it (file names given per model).
Normalizers (`mavi_mcp.normalize`) turn these into the canonical `Transcript`; nothing else reads them.
"""

from __future__ import annotations

from typing import Any, Generic, NotRequired, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

T = TypeVar("T")

SUCCESS_CODES: frozenset[object] = frozenset({200, "200", "0000"})
"""Envelope `code` values that mean success: 200 (newer pages), "200", "0000" (older pages)."""


class WireModel(BaseModel):
    """Base of all wire models: unknown keys are kept, so a richer answer never fails to parse."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Envelope(WireModel, Generic[T]):
    """`{"code", "msg" | "message", "data", "success", "failed"}` (README "Base, auth, envelope")."""

    code: int | str | None = None
    msg: str | None = None
    message: str | None = None
    data: T | None = None
    success: bool | None = None
    failed: bool | None = None

    @property
    def ok(self) -> bool:
        """True when the envelope reports success: a success `code`, or no code and `success: true`."""
        if self.failed is True or self.success is False:
            return False
        if self.code is None:
            return self.success is True
        return self.code in SUCCESS_CODES

    @property
    def text(self) -> str | None:
        """The envelope's message, whichever key carried it (`msg` on responses, `message` on callbacks)."""
        return self.msg if self.msg is not None else self.message


_ENVELOPES: dict[type[BaseModel], type[Envelope[Any]]] = {}


def envelope(model: type[BaseModel]) -> type[Envelope[Any]]:
    """`Envelope[model]`, built once per model (parametrizing a generic model is not free), so a whole answer is
    parsed and validated in one pass over its bytes (`model_validate_json`)."""
    cached = _ENVELOPES.get(model)
    if cached is None:
        cached = _ENVELOPES[model] = Envelope[model]  # pyright: ignore[reportInvalidTypeForm]
    return cached


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


class AssemblyAIWord(TypedDict):
    """A word: `start`/`end` in MILLISECONDS, `speaker` "A".. only with speaker labels.

    A TypedDict rather than a model: a transcript has tens of thousands of words, and a plain dict per word
    parses twice as fast (unknown keys are dropped; the raw body is kept in the store anyway).
    """

    text: str
    start: float
    end: float
    confidence: NotRequired[float | None]
    speaker: NotRequired[str | None]


class AssemblyAIUtterance(WireModel):
    """An utterance (only with `speaker_labels`): MILLISECONDS, its own `words[]`."""

    text: str
    start: float
    end: float
    speaker: str | None = None
    confidence: float | None = None
    words: list[AssemblyAIWord] | None = None


class AssemblyAITranscript(WireModel):
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


class ElevenLabsWord(TypedDict):
    """A `words[]` item: `type` "word" | "spacing" | "audio_event"; `start`/`end` in SECONDS.

    A TypedDict for the same reason as `AssemblyAIWord` (ElevenLabs sends one item per word AND per space).
    """

    text: str
    start: NotRequired[float | None]
    end: NotRequired[float | None]
    type: NotRequired[str]
    speaker_id: NotRequired[str | None]
    logprob: NotRequired[float | None]


class ElevenLabsTranscript(WireModel):
    """`speech-to-text` `provider: "elevenlabs"` `data`."""

    language_code: str | None = None
    language_probability: float | None = None
    text: str | None = None
    words: list[ElevenLabsWord] = Field(default_factory=list[ElevenLabsWord])
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
