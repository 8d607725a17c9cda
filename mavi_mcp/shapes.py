"""The registry of MAVI response shapes: for each endpoint and provider, one entry that everything looks up.

The client parses an answer with the entry's wire model, the pipeline normalizes it with the entry's normalizer,
the webhook receiver picks the callback entry by its task's endpoint, and the tests and benchmarks walk the same
table. A new provider is one entry here (plus its wire model and normalizer).

| shape (= data folder) | endpoint | wire model | provider | default model | USD/s |
| --- | --- | --- | --- | --- | --- |
| `sync-generate-speaker` | sync-generate-speaker | `SpeakerData` | pyannote | pyannote | 0.001 |
| `sync-generate-audio` | sync-generate-audio | `WhisperData` | whisper | whisper-1 | 0.001 |
| `sync-generate-audio-speaker` | sync-generate-audio, speaker | `WhisperData` | whisper | whisper-1 | 0.002 |
| `speech-to-text-assemblyai` | speech-to-text | `AssemblyAITranscript` (ms) | assemblyai | universal-2 | 0.15/h |
| `speech-to-text-elevenlabs` | speech-to-text | `ElevenLabsTranscript` | elevenlabs | scribe_v2 | 0.39/h |
| `async-generate-speaker-callback` | async-generate-speaker | `SpeakerCallbackResult` | pyannote | pyannote | 0.001 |
| `async-generate-audio-callback` | async-generate-audio | `WhisperCallbackResult` | whisper | whisper-1 | 0.001 |
| `async-generate-multi-speaker-callback` | its start | `MultiSpeakerCallback...` | multi-speaker | - | 0.10/min |

The wire model is the answer's `data` (sync) or the callback's `data.data` (async).
Prices are MAVI's (../shared/mavi-api/README.md, "Pricing"); times in every wire model are SECONDS except
AssemblyAI's words and utterances (MILLISECONDS), which its normalizer converts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from mavi_mcp import wire
from mavi_mcp.cost import PRICES
from mavi_mcp.endpoints import (
    ASYNC_AUDIO,
    ASYNC_MULTI_SPEAKER,
    ASYNC_SPEAKER,
    SPEECH_TO_TEXT,
    SYNC_AUDIO,
    SYNC_SPEAKER,
    Endpoint,
)
from mavi_mcp.errors import ResultError
from mavi_mcp.normalize import (
    Context,
    normalize_assemblyai,
    normalize_elevenlabs,
    normalize_multi_speaker_callback,
    normalize_speaker_callback,
    normalize_speaker_turns,
    normalize_whisper,
    normalize_whisper_callback,
)
from mavi_mcp.transcript import Kind, Provider, Transcript

ShapeName = Literal[
    "sync-generate-speaker",
    "sync-generate-audio",
    "sync-generate-audio-speaker",
    "speech-to-text-assemblyai",
    "speech-to-text-elevenlabs",
    "async-generate-audio-callback",
    "async-generate-speaker-callback",
    "async-generate-multi-speaker-callback",
]


@dataclass(frozen=True)
class Shape:
    """One response shape: where it comes from, how to read it, how to normalize it, what it costs.

    `request` holds the fields every request for this shape carries (the model, the provider, the speaker flag);
    `usd_per_second` is MAVI's price per second of audio, read from the one price table (`cost.PRICES`).
    """

    name: ShapeName
    endpoint: Endpoint
    provider: Provider
    kind: Kind
    wire: type[Any]
    normalize: Callable[[Any, Context], Transcript]
    default_model: str | None
    usd_per_second: float
    request: Mapping[str, Any] = field(default_factory=dict[str, Any])
    callback: bool = False

    def parse(self, body: bytes) -> Any:
        """The wire model of a whole body as received: `Envelope[wire].data`, or a callback's `data.data`.

        Raises:
            ResultError: the body is not this shape (the message says where it differs).
        """
        try:
            if self.callback:
                envelope = wire.decode(wire.CallbackEnvelope, body)
                if envelope.data is None or envelope.data.data is None:
                    raise ResultError("The callback carries no result (data.data).")
                return wire.validate(self.wire, envelope.data.data, where="data.data")
            data = wire.decode_envelope(self.wire, body).data
        except wire.WireError as exc:
            raise ResultError(f"The body is not a {self.name} body: {exc}.") from None
        if data is None:
            raise ResultError("The body has no data.")
        return data

    def normalize_body(self, body: bytes, context: Context | None = None) -> Transcript:
        """Parse and normalize a whole body (stored raw results, benchmarks, tests on the bundled recordings).

        Raises:
            ResultError: the body is not this shape, or cannot become a valid transcript.
        """
        ctx = context or Context()
        return self.normalize(self.parse(body), ctx.with_model(ctx.model or self.default_model))

    def price(self, seconds: float) -> float:
        """USD for `seconds` of audio at this shape's price."""
        return seconds * self.usd_per_second


_ENTRIES: tuple[Shape, ...] = (
    Shape(
        "sync-generate-speaker",
        SYNC_SPEAKER,
        "pyannote",
        "diarization",
        wire.SpeakerData,
        normalize_speaker_turns,
        default_model="pyannote",
        usd_per_second=PRICES["identify_speakers"].usd_per_second,
    ),
    Shape(
        "sync-generate-audio",
        SYNC_AUDIO,
        "whisper",
        "transcript",
        wire.WhisperData,
        normalize_whisper,
        default_model="whisper-1",
        usd_per_second=PRICES["transcribe_whisper"].usd_per_second,
        request={"model": "whisper-1", "speaker": False},
    ),
    Shape(
        "sync-generate-audio-speaker",
        SYNC_AUDIO,
        "whisper",
        "transcript",
        wire.WhisperData,
        normalize_whisper,
        default_model="whisper-1",
        usd_per_second=PRICES["transcribe_whisper_speaker"].usd_per_second,
        request={"model": "whisper-1", "speaker": True},
    ),
    Shape(
        "speech-to-text-assemblyai",
        SPEECH_TO_TEXT,
        "assemblyai",
        "transcript",
        wire.AssemblyAITranscript,
        normalize_assemblyai,
        default_model="universal-2",
        usd_per_second=PRICES["transcribe_assemblyai"].usd_per_second,
        request={"provider": "assemblyai"},
    ),
    Shape(
        "speech-to-text-elevenlabs",
        SPEECH_TO_TEXT,
        "elevenlabs",
        "transcript",
        wire.ElevenLabsTranscript,
        normalize_elevenlabs,
        default_model="scribe_v2",
        usd_per_second=PRICES["transcribe_elevenlabs"].usd_per_second,
        request={"provider": "elevenlabs"},
    ),
    Shape(
        "async-generate-audio-callback",
        ASYNC_AUDIO,
        "whisper",
        "transcript",
        wire.WhisperCallbackResult,
        normalize_whisper_callback,
        default_model="whisper-1",
        usd_per_second=PRICES["transcribe_whisper"].usd_per_second,
        request={"model": "whisper-1"},
        callback=True,
    ),
    Shape(
        "async-generate-speaker-callback",
        ASYNC_SPEAKER,
        "pyannote",
        "diarization",
        wire.SpeakerCallbackResult,
        normalize_speaker_callback,
        default_model="pyannote",
        usd_per_second=PRICES["identify_speakers"].usd_per_second,
        callback=True,
    ),
    Shape(
        "async-generate-multi-speaker-callback",
        ASYNC_MULTI_SPEAKER,
        "multi-speaker",
        "transcript",
        wire.MultiSpeakerCallbackResult,
        normalize_multi_speaker_callback,
        default_model=None,
        usd_per_second=PRICES["multi_speaker_async"].usd_per_second,
        callback=True,
    ),
)

SHAPES: dict[str, Shape] = {shape.name: shape for shape in _ENTRIES}
"""Every shape by name (the names of the bundled data folders)."""

SHAPE_NAMES: tuple[str, ...] = get_args(ShapeName)

SPEAKER_TURNS = SHAPES["sync-generate-speaker"]
WHISPER = SHAPES["sync-generate-audio"]
WHISPER_SPEAKER = SHAPES["sync-generate-audio-speaker"]
ASSEMBLYAI = SHAPES["speech-to-text-assemblyai"]
ELEVENLABS = SHAPES["speech-to-text-elevenlabs"]
WHISPER_CALLBACK = SHAPES["async-generate-audio-callback"]
SPEAKER_CALLBACK = SHAPES["async-generate-speaker-callback"]
MULTI_SPEAKER_CALLBACK = SHAPES["async-generate-multi-speaker-callback"]

_CALLBACK_BY_ENDPOINT: dict[str, Shape] = {s.endpoint.name: s for s in _ENTRIES if s.callback}


def callback_for(endpoint: str) -> Shape | None:
    """The callback shape of an async endpoint (`async-generate-audio` -> its callback entry), or None."""
    return _CALLBACK_BY_ENDPOINT.get(endpoint)


def detect_callback(inner: dict[str, Any]) -> Shape | None:
    """The callback shape whose wire model accepts `inner` (a callback's `data.data`), for a task this store has no
    record of (started by another server of the account): the entries are tried in registry order, multi-speaker
    first (its `audio_transcription` is unmistakable), then Whisper, then speaker turns. None when none fits."""
    for shape in (MULTI_SPEAKER_CALLBACK, WHISPER_CALLBACK, SPEAKER_CALLBACK):
        try:
            wire.validate(shape.wire, inner)
        except wire.WireError:
            continue
        return shape
    return None


def normalize_body(name: str, body: bytes, context: Context | None = None) -> Transcript:
    """Parse and normalize a whole body of the shape called `name` (see `Shape.normalize_body`).

    Raises:
        KeyError: no shape of that name. ResultError: the body is not that shape.
    """
    return SHAPES[name].normalize_body(body, context)


__all__ = [
    "SHAPES",
    "SHAPE_NAMES",
    "Shape",
    "ShapeName",
    "callback_for",
    "detect_callback",
    "normalize_body",
]
