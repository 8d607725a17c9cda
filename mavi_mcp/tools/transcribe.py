"""Paid transcription tools. Each is: validate (nothing is sent for bad input) -> build the request -> run it
through the pipeline (`mavi_mcp.pipeline`) -> wait with progress and answer (`_answers.wait_and_answer`).

Which endpoint, wire model, normalizer and default model each uses is the registry's (`mavi_mcp.shapes`); the page
options (`_params.PageOptions`) and the provider options (`mavi_mcp.options`) are declared once and expanded into
each tool's flat parameters (`_params.expand_bundles`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from mavi_mcp import shapes
from mavi_mcp.confirm import Approved, MaxCostUsd
from mavi_mcp.media import shown_url
from mavi_mcp.options import AssemblyAIOptions, ElevenLabsOptions
from mavi_mcp.pipeline import Mode, Transcription, choose_mode
from mavi_mcp.runtime import Runtime
from mavi_mcp.tools._answers import TranscriptResult
from mavi_mcp.tools._boundary import agent_errors, runtime_of
from mavi_mcp.tools._paid import Refresh, paid_gate, run_paid
from mavi_mcp.tools._params import (
    DEFAULT_PAGE,
    AssetId,
    PageOptions,
    WaitSeconds,
    build_bundle,
    expand_bundles,
)

TranscriptAnswer = Annotated[CallToolResult, TranscriptResult]

ModeParam = Annotated[
    Mode,
    Field(description="async: by webhook (see webhook_info); auto: async once a receiver got MAVI callbacks."),
]

_URL_OPTIONS = ("url", "source_url", "webhook_url")
"""Options of `speech-to-text` that hold URLs: sent in full, stored and shown by `media.shown_url` only."""


async def _run(
    ctx: Context[Runtime, Any],
    request: Transcription,
    page: PageOptions,
    wait_seconds: float | None,
    *,
    refresh: bool,
    cost: Approved,
) -> CallToolResult:
    view = page.model_dump(exclude_defaults=True)
    if view:  # kept with the task, so get_task answers with the page this call asked for
        request = dataclasses.replace(request, params={**request.params, "page": view})
    return await run_paid(ctx, request, page, wait_seconds, refresh=refresh, approved=cost)


_PAID = ("refresh", "max_cost_usd")
"""The cost parameters every paid tool takes (its gate reads them)."""


async def _speakers_request(rt: Runtime, args: Mapping[str, Any]) -> Transcription:
    asset_id = str(args["asset_id"])
    is_async = await choose_mode(rt, args.get("mode", "auto")) == "async"
    shape = shapes.SPEAKER_CALLBACK if is_async else shapes.SPEAKER_TURNS
    return Transcription(shape, {"asset_id": asset_id}, "identify_speakers", asset_id=asset_id)


async def _whisper_request(rt: Runtime, args: Mapping[str, Any]) -> Transcription:
    asset_id, speaker = str(args["asset_id"]), bool(args.get("speaker", False))
    if await choose_mode(rt, args.get("mode", "auto")) == "async":
        shape, body = shapes.WHISPER_CALLBACK, {"asset_id": asset_id, "speaker": speaker}
    else:
        shape, body = (shapes.WHISPER_SPEAKER if speaker else shapes.WHISPER), {"asset_id": asset_id}
    params = {"speaker": speaker, "model": shape.default_model}
    return Transcription(shape, body, "transcribe_whisper", asset_id=asset_id, params=params)


async def _multi_speaker_request(rt: Runtime, args: Mapping[str, Any]) -> Transcription:
    asset_id = str(args["asset_id"])
    return Transcription(shapes.MULTI_SPEAKER_CALLBACK, {"asset_id": asset_id}, "multi_speaker_async", asset_id)


async def _assemblyai_request(rt: Runtime, args: Mapping[str, Any]) -> Transcription:
    options = build_bundle(AssemblyAIOptions, {name: args.get(name) for name in _names(AssemblyAIOptions)})
    return _speech_to_text_request(shapes.ASSEMBLYAI, options)


async def _elevenlabs_request(rt: Runtime, args: Mapping[str, Any]) -> Transcription:
    options = build_bundle(ElevenLabsOptions, {name: args.get(name) for name in _names(ElevenLabsOptions)})
    return _speech_to_text_request(shapes.ELEVENLABS, options)


def _names(bundle: type[AssemblyAIOptions | ElevenLabsOptions]) -> tuple[str, ...]:
    return tuple(info.alias or name for name, info in bundle.model_fields.items())


SPEAKERS_COST = paid_gate("identify_speakers", ("asset_id", "mode", *_PAID), _speakers_request)
WHISPER_COST = paid_gate("transcribe_whisper", ("asset_id", "speaker", "mode", *_PAID), _whisper_request)
ASSEMBLYAI_COST = paid_gate("transcribe_assemblyai", (*_names(AssemblyAIOptions), *_PAID), _assemblyai_request)
ELEVENLABS_COST = paid_gate("transcribe_elevenlabs", (*_names(ElevenLabsOptions), *_PAID), _elevenlabs_request)
MULTI_SPEAKER_COST = paid_gate("multi_speaker_async", ("asset_id", *_PAID), _multi_speaker_request)


@agent_errors
@expand_bundles
async def identify_speakers(
    ctx: Context[Runtime, Any],
    asset_id: AssetId,
    cost: Annotated[Approved, SPEAKERS_COST],
    mode: ModeParam = "auto",
    wait_seconds: WaitSeconds = None,
    refresh: Refresh = False,
    max_cost_usd: MaxCostUsd = None,
    page: PageOptions = DEFAULT_PAGE,
) -> TranscriptAnswer:
    """Who speaks when (diarization, no words): speaker turns and a per-speaker summary (talk time, share,
    turns). $0.001 per second of audio. Next: transcribe_* for the words, rename_speakers for names.
    """
    request = await _speakers_request(runtime_of(ctx), {"asset_id": asset_id, "mode": mode})
    return await _run(ctx, request, page, wait_seconds, refresh=refresh, cost=cost)


@agent_errors
@expand_bundles
async def transcribe_whisper(
    ctx: Context[Runtime, Any],
    asset_id: AssetId,
    cost: Annotated[Approved, WHISPER_COST],
    speaker: Annotated[bool, Field(description="Also label speakers (costs twice as much).")] = False,
    mode: ModeParam = "auto",
    wait_seconds: WaitSeconds = None,
    refresh: Refresh = False,
    max_cost_usd: MaxCostUsd = None,
    page: PageOptions = DEFAULT_PAGE,
) -> TranscriptAnswer:
    """Whisper transcript of an uploaded recording: timestamped turns, the cheapest way to the words.
    $0.001 per second of audio, $0.002 with speaker=True (speaker labels). Returns transcript_id, the first page
    and next_cursor; read on with get_transcript.
    """
    request = await _whisper_request(runtime_of(ctx), {"asset_id": asset_id, "speaker": speaker, "mode": mode})
    return await _run(ctx, request, page, wait_seconds, refresh=refresh, cost=cost)


@agent_errors
@expand_bundles
async def transcribe_assemblyai(
    ctx: Context[Runtime, Any],
    options: AssemblyAIOptions,
    cost: Annotated[Approved, ASSEMBLYAI_COST],
    wait_seconds: WaitSeconds = None,
    refresh: Refresh = False,
    max_cost_usd: MaxCostUsd = None,
    page: PageOptions = DEFAULT_PAGE,
) -> TranscriptAnswer:
    """AssemblyAI transcript: word times, speaker labels, optional summary, chapters, entities,
    sentiment, highlights, topics, PII redaction. $0.15 per hour of audio.

    Exactly one source: asset_id, url or source_url. Times in pages are seconds; audio_start_from and
    audio_end_at are milliseconds. Extras are kept with the transcript (format="insights").
    """
    request = _speech_to_text_request(shapes.ASSEMBLYAI, options)
    return await _run(ctx, request, page, wait_seconds, refresh=refresh, cost=cost)


@agent_errors
@expand_bundles
async def transcribe_elevenlabs(
    ctx: Context[Runtime, Any],
    options: ElevenLabsOptions,
    cost: Annotated[Approved, ELEVENLABS_COST],
    wait_seconds: WaitSeconds = None,
    refresh: Refresh = False,
    max_cost_usd: MaxCostUsd = None,
    page: PageOptions = DEFAULT_PAGE,
) -> TranscriptAnswer:
    """ElevenLabs Scribe transcript: 90+ languages, word times, up to 32 speakers, audio events
    such as (laughter). $0.39 per hour of audio. Exactly one source: asset_id, url or source_url.
    """
    request = _speech_to_text_request(shapes.ELEVENLABS, options)
    return await _run(ctx, request, page, wait_seconds, refresh=refresh, cost=cost)


def _speech_to_text_request(shape: shapes.Shape, options: AssemblyAIOptions | ElevenLabsOptions) -> Transcription:
    """`speech-to-text` with one provider's options (already validated, with the page options: nothing is sent
    for bad input). URLs are sent in full and kept only in their shown form."""
    body = options.to_body()
    urls = tuple(value for name in _URL_OPTIONS if isinstance(value := body.get(name), str))
    shown = {name: shown_url(value) for name in _URL_OPTIONS if isinstance(value := body.get(name), str)}
    audio_url = options.url or options.source_url
    provider: Literal["assemblyai", "elevenlabs"] = "assemblyai" if shape is shapes.ASSEMBLYAI else "elevenlabs"
    return Transcription(
        shape,
        body,
        f"transcribe_{provider}",
        asset_id=options.asset_id,
        audio_url=shown_url(audio_url) if audio_url else None,
        params={"provider": provider, **body, **shown},
        secret_urls=urls,
        model=options.model_id if isinstance(options, ElevenLabsOptions) else None,
    )


@agent_errors
@expand_bundles
async def multi_speaker_async(
    ctx: Context[Runtime, Any],
    asset_id: AssetId,
    cost: Annotated[Approved, MULTI_SPEAKER_COST],
    wait_seconds: WaitSeconds = None,
    refresh: Refresh = False,
    max_cost_usd: MaxCostUsd = None,
    page: PageOptions = DEFAULT_PAGE,
) -> TranscriptAnswer:
    """Transcript with NAMED speakers and the faces seen in a video (MAVI's multimodal model),
    delivered by webhook: needs a receiver (webhook_info), else refused unbilled. $0.10 per minute of audio.
    Usually answers pending: then get_task(task_id).
    """
    request = await _multi_speaker_request(runtime_of(ctx), {"asset_id": asset_id})
    return await _run(ctx, request, page, wait_seconds, refresh=refresh, cost=cost)
