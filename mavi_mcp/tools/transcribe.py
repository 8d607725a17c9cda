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
    Field(
        description="sync: MAVI answers the request itself. async: MAVI delivers the result to this server's webhook "
        "later (needs a receiver; see webhook_info). auto: async when a receiver has already received MAVI "
        "callbacks, else sync. Either way the job outlives the wait and get_task returns it."
    ),
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
    """Who speaks when: speaker turns (diarization, pyannote) of an uploaded recording. No words.

    Use it to count speakers, find who talks most, or cut a long recording into turns before transcribing.
    Cost: $0.001 per second of audio ($3.60 per hour), billed by MAVI.
    Returns: transcript_id, a per-speaker summary (talk time, share, turns, first/last heard) and the turns
    as lines `m:ss.s+duration speaker` (or format rttm/json). Overlapping speech is kept as detected.
    Next: get_transcript(transcript_id, cursor) for more turns; rename_speakers to name SPEAKER_00 etc.;
    transcribe_whisper(speaker=True) or transcribe_assemblyai(speaker_labels=True) for the words.
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
    """Transcribe an uploaded recording with OpenAI Whisper via MAVI: timestamped segments.

    The cheapest way to get the words. Use speaker=True to also get speaker labels.
    Cost: $0.001 per second of audio ($3.60/hour), $0.002 per second with speaker=True.
    Returns: transcript_id and the first page of `[m:ss] Speaker: text` turn lines (about 6000 tokens; a
    2-hour meeting takes several pages), with next_cursor while more remains.
    Next: get_transcript(transcript_id, cursor=next_cursor) to read on; start/end/speakers to jump to a part;
    rename_speakers to put names on labels.
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
    """Transcribe with AssemblyAI (Universal) via MAVI: word-level times and confidences, speaker labels,
    and optional summary, chapters, entities, sentiment, highlights, topics, PII redaction.

    Give exactly one audio source: asset_id (from upload_media), url (public audio URL) or source_url.
    Use it when you need word timings, speaker labels in one pass, or the analysis extras.
    Cost: $0.15 per hour of audio (billed by duration). Slow for long files; the job continues past the wait.
    Returns: transcript_id and the first page of turn lines; extras are kept with the transcript (listed in
    structured content `extras`). Times in the page are seconds; audio_start_from/audio_end_at are milliseconds.
    Next: get_transcript(transcript_id, cursor) to read on, rename_speakers for names.
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
    """Transcribe with ElevenLabs Scribe via MAVI: word-level times, speaker labels, audio events.

    Give exactly one audio source: asset_id (from upload_media), url or source_url.
    Use it for many languages (90+), audio events such as (laughter), or up to 32 speakers.
    Cost: $0.39 per hour of audio.
    Returns: transcript_id and the first page of turn lines, with next_cursor while more remains.
    Next: get_transcript(transcript_id, cursor) to read on, rename_speakers for names.
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
    """Transcript with NAMED speakers ("Maureen Mulholland", not SPEAKER_00) and the faces seen in a video,
    by MAVI's multimodal model. Results arrive later by webhook.

    Use it for interviews, calls and videos where you want who said what by name without renaming.
    Needs a webhook receiver (see webhook_info); without one it refuses before anything is billed.
    Cost: $0.10 per minute of audio ($6 per hour), the most expensive tool here.
    Returns: usually status "pending" with task_id (results take minutes); then get_task(task_id) returns the
    transcript's first page with names; detected faces are kept with the transcript (structured `extras`).
    """
    request = await _multi_speaker_request(runtime_of(ctx), {"asset_id": asset_id})
    return await _run(ctx, request, page, wait_seconds, refresh=refresh, cost=cost)
