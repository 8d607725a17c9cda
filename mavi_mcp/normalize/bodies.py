"""Whole MAVI bodies (bytes, as received) -> `Transcript`, by the shape they have.

One entry point for anything that holds a raw body: the stored raw results of paid calls, the benchmarks, the
tests on the bundled recordings. Shapes are named after the endpoint that produces them (callbacks carry a
`-callback` suffix); `sync-generate-audio-speaker` is the same shape as `sync-generate-audio`.
"""

from __future__ import annotations

from typing import Literal, get_args

import pydantic

from mavi_mcp import wire
from mavi_mcp.errors import ResultError
from mavi_mcp.normalize._assemble import Context
from mavi_mcp.normalize.assemblyai import normalize_assemblyai
from mavi_mcp.normalize.elevenlabs import normalize_elevenlabs
from mavi_mcp.normalize.multi_speaker import normalize_multi_speaker_callback
from mavi_mcp.normalize.speakers import normalize_speaker_callback, normalize_speaker_turns
from mavi_mcp.normalize.whisper import normalize_whisper, normalize_whisper_callback
from mavi_mcp.transcript import Transcript

Shape = Literal[
    "sync-generate-speaker",
    "sync-generate-audio",
    "sync-generate-audio-speaker",
    "speech-to-text-assemblyai",
    "speech-to-text-elevenlabs",
    "async-generate-audio-callback",
    "async-generate-speaker-callback",
    "async-generate-multi-speaker-callback",
]
SHAPES: tuple[str, ...] = get_args(Shape)


def _data(envelope: wire.Envelope[wire.T]) -> wire.T:
    if envelope.data is None:
        raise ResultError("The body has no data.")
    return envelope.data


def _callback(body: bytes) -> dict[str, object]:
    envelope = wire.CallbackEnvelope.model_validate_json(body)
    if envelope.data is None or envelope.data.data is None:
        raise ResultError("The callback carries no result (data.data).")
    return envelope.data.data


def normalize_body(shape: Shape, body: bytes, context: Context | None = None) -> Transcript:
    """Parse `body` as `shape` and normalize it.

    Raises:
        ResultError: the body is not that shape, or cannot become a valid transcript.
    """
    ctx = context or Context()
    try:
        if shape == "sync-generate-speaker":
            return normalize_speaker_turns(_data(wire.Envelope[wire.SpeakerData].model_validate_json(body)), ctx)
        if shape in ("sync-generate-audio", "sync-generate-audio-speaker"):
            return normalize_whisper(_data(wire.Envelope[wire.WhisperData].model_validate_json(body)), ctx)
        if shape == "speech-to-text-assemblyai":
            data = _data(wire.Envelope[wire.AssemblyAITranscript].model_validate_json(body))
            return normalize_assemblyai(data, ctx)
        if shape == "speech-to-text-elevenlabs":
            data = _data(wire.Envelope[wire.ElevenLabsTranscript].model_validate_json(body))
            return normalize_elevenlabs(data, ctx)
        if shape == "async-generate-audio-callback":
            return normalize_whisper_callback(wire.WhisperCallbackResult.model_validate(_callback(body)), ctx)
        if shape == "async-generate-speaker-callback":
            return normalize_speaker_callback(wire.SpeakerCallbackResult.model_validate(_callback(body)), ctx)
        return normalize_multi_speaker_callback(wire.MultiSpeakerCallbackResult.model_validate(_callback(body)), ctx)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ResultError(f"The body is not a {shape} body: {first['msg']} at {where}.") from None
