"""Transcription tools: each starts a server-owned job, waits a bounded time, and answers with a page or a handle.

Flow of every tool here: validate (nothing is sent for bad input) -> start a job (`jobs.Jobs`) that calls the
client, normalizes the answer and stores the transcript with its raw body -> wait up to `wait_seconds`
sending progress notifications -> the transcript's first page, or a task handle for `get_task`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from mavi_mcp.client import ASYNC_AUDIO, ASYNC_MULTI_SPEAKER, ASYNC_SPEAKER, Reply
from mavi_mcp.errors import APIError, InputError, MaviError, ResultError
from mavi_mcp.jobs import Outcome
from mavi_mcp.media import scrub_url_secrets, scrub_url_secrets_in_raw, shown_url
from mavi_mcp.normalize import (
    Context as NormalizeContext,
)
from mavi_mcp.normalize import (
    normalize_assemblyai,
    normalize_elevenlabs,
    normalize_speaker_turns,
    normalize_whisper,
)
from mavi_mcp.options import (
    AssemblyAIOptions,
    AudioQuality,
    BoostParam,
    CustomSpelling,
    ElevenLabsOptions,
    FileFormat,
    Granularity,
    RedactSub,
    SummaryModel,
    SummaryType,
)
from mavi_mcp.render.view import Format, Timestamps
from mavi_mcp.runtime import Runtime
from mavi_mcp.store import TaskRecord
from mavi_mcp.tools._common import (
    AssetId,
    FormatParam,
    MaxTokens,
    SpeakersParam,
    TimeParam,
    TimestampsParam,
    TranscriptResult,
    WaitSeconds,
    agent_errors,
    build_view,
    failed_result,
    page_for,
    parse_window,
    pending_result,
    request_key,
    runtime_of,
    transcript_result,
)
from mavi_mcp.tools.asynctasks import ModeParam, choose_mode, start_async
from mavi_mcp.transcript import Transcript

M = TypeVar("M", bound=pydantic.BaseModel)

TranscriptAnswer = Annotated[CallToolResult, TranscriptResult]


@dataclass(frozen=True)
class PageArgs:
    """How the first page of the result should be rendered (the same options as get_transcript)."""

    format: Format = "text"
    start: float | str | None = None
    end: float | str | None = None
    speakers: list[str] | None = None
    timestamps: Timestamps = "auto"
    max_tokens: int | None = None

    def check(self) -> None:
        """Refuse bad page arguments before anything is sent: a transcription is paid, a typo must cost nothing.

        `format`, `timestamps` and `max_tokens` are checked by the tool's schema; this checks the window and that
        no speaker entry is blank. Whether a speaker exists can only be told once the transcript does: an unknown
        one is refused after the result is stored (`answer_for_task`), with the transcript's id.

        Raises:
            InputError: a time that cannot be parsed, `end` not after `start`, a blank speaker; the message says
                nothing was sent or billed.
        """
        try:
            parse_window(self.start, self.end)
            if any(not entry.strip() for entry in self.speakers or ()):
                raise InputError("speakers: an entry is blank; give labels (SPEAKER_00, S0) or names.")
        except InputError as exc:
            raise InputError(f"{exc} Nothing was sent or billed.") from None


async def answer_for_task(
    rt: Runtime, record: TaskRecord, args: PageArgs, *, waited: float, failure_is_error: bool
) -> CallToolResult:
    """The tool answer for a task in any state: first page, handle, or failure."""
    if record.status == "pending":
        return pending_result(record, waited=waited)
    if record.status == "failed":
        if failure_is_error:
            raise ToolError(f"{record.tool or record.endpoint} failed (task {record.task_id}): {record.error}")
        return failed_result(record)
    if record.transcript_id is None:
        raise ToolError(f"Task {record.task_id} completed without a transcript: {record.result or {}}")
    transcript = await rt.store.get_transcript(record.transcript_id)
    if transcript is None:
        raise ToolError(f"Transcript {record.transcript_id} of task {record.task_id} is not in this server's store.")
    names = await rt.store.speaker_names(transcript.id)
    try:
        view = build_view(
            transcript,
            names,
            format=args.format,
            start=args.start,
            end=args.end,
            speakers=args.speakers,
            timestamps=args.timestamps,
        )
    except InputError as exc:
        raise InputError(
            f'{exc} The transcript is stored: read it with get_transcript(transcript_id="{transcript.id}") and '
            "other speakers (nothing more is billed)."
        ) from None
    page = page_for(transcript, names, view, max_tokens=args.max_tokens or rt.settings.page_tokens)
    return transcript_result(transcript, names, page, record)


async def run_job(
    ctx: Context[Runtime, Any],
    work: Callable[[], Awaitable[Outcome]],
    *,
    tool: str,
    endpoint: str,
    asset_id: str | None,
    params: dict[str, Any],
    wait_seconds: float | None,
    args: PageArgs,
) -> CallToolResult:
    """Start `work` as a job, wait for it (bounded, with progress), and answer."""
    rt = runtime_of(ctx)
    task_id = await rt.jobs.start(work, tool=tool, endpoint=endpoint, asset_id=asset_id, params=params)
    return await wait_and_answer(ctx, task_id, tool=tool, wait_seconds=wait_seconds, args=args)


async def wait_and_answer(
    ctx: Context[Runtime, Any], task_id: str, *, tool: str, wait_seconds: float | None, args: PageArgs
) -> CallToolResult:
    """Wait (bounded, with progress notifications) for a job or async task, then answer for it."""
    rt = runtime_of(ctx)
    bound = rt.settings.wait_seconds if wait_seconds is None else wait_seconds

    async def progress(elapsed: float) -> None:
        await ctx.report_progress(elapsed, None, f"{tool}: waiting for MAVI ({elapsed:.0f} s, task {task_id})")

    record = await rt.jobs.wait(task_id, bound, on_tick=progress)
    return await answer_for_task(rt, record, args, waited=bound, failure_is_error=True)


def normalized(reply: Reply[M], normalize: Callable[[M], Transcript]) -> Outcome:
    """Normalize a paid reply; a body the normalizer rejects is kept raw in the error (never lost)."""
    try:
        transcript = normalize(reply.data)
    except ResultError as exc:
        raise ResultError(f"{exc} The raw answer was kept.", raw=reply.raw) from None
    return Outcome(transcript=transcript, raw=reply.raw)


def _context(rt: Runtime, *, asset_id: str | None = None, audio_url: str | None = None) -> NormalizeContext:
    return NormalizeContext(asset_id=asset_id, audio_url=audio_url, sandbox=rt.sandbox)


@agent_errors
async def identify_speakers(
    asset_id: AssetId,
    ctx: Context[Runtime, Any],
    mode: ModeParam = "auto",
    wait_seconds: WaitSeconds = None,
    format: FormatParam = "text",
    max_tokens: MaxTokens = None,
    start: TimeParam = None,
    end: TimeParam = None,
    speakers: SpeakersParam = None,
) -> TranscriptAnswer:
    """Who speaks when: speaker turns (diarization, pyannote) of an uploaded recording. No words.

    Use it to count speakers, find who talks most, or cut a long recording into turns before transcribing.
    Cost: $0.001 per second of audio ($3.60 per hour), billed by MAVI.
    Returns: transcript_id, a per-speaker summary (talk time, share, turns, first/last heard) and the turns
    as lines `m:ss.s+duration speaker` (or format rttm/json). Overlapping speech is kept as detected.
    Next: get_transcript(transcript_id, cursor) for more turns; rename_speakers to name SPEAKER_00 etc.;
    transcribe_whisper(speaker=True) or transcribe_assemblyai(speaker_labels=True) for the words.
    """
    rt = runtime_of(ctx)
    key = request_key(ctx)
    args = PageArgs(format=format, start=start, end=end, speakers=speakers, max_tokens=max_tokens)
    args.check()
    if await choose_mode(rt, mode) == "async":
        task_id = await start_async(
            ctx, ASYNC_SPEAKER, {"asset_id": asset_id}, tool="identify_speakers", asset_id=asset_id, params={}
        )
        return await wait_and_answer(ctx, task_id, tool="identify_speakers", wait_seconds=wait_seconds, args=args)

    async def work() -> Outcome:
        reply = await rt.client.generate_speaker(asset_id, api_key=key)
        return normalized(reply, lambda data: normalize_speaker_turns(data, _context(rt, asset_id=asset_id)))

    return await run_job(
        ctx,
        work,
        tool="identify_speakers",
        endpoint="sync-generate-speaker",
        asset_id=asset_id,
        params={},
        wait_seconds=wait_seconds,
        args=args,
    )


@agent_errors
async def transcribe_whisper(
    asset_id: AssetId,
    ctx: Context[Runtime, Any],
    speaker: Annotated[
        bool, Field(description="Label each segment with its speaker (SPEAKER_00..). Doubles the price.")
    ] = False,
    mode: ModeParam = "auto",
    wait_seconds: WaitSeconds = None,
    format: FormatParam = "text",
    max_tokens: MaxTokens = None,
    start: TimeParam = None,
    end: TimeParam = None,
    speakers: SpeakersParam = None,
    timestamps: TimestampsParam = "auto",
) -> TranscriptAnswer:
    """Transcribe an uploaded recording with OpenAI Whisper (whisper-1) via MAVI: timestamped segments.

    The cheapest way to get the words. Use speaker=True to also get speaker labels.
    Cost: $0.001 per second of audio ($3.60/hour), $0.002 per second with speaker=True.
    Returns: transcript_id and the first page of `[m:ss] Speaker: text` turn lines (about 6000 tokens; a
    2-hour meeting takes several pages), with next_cursor while more remains.
    Next: get_transcript(transcript_id, cursor=next_cursor) to read on; start/end/speakers to jump to a part;
    rename_speakers to put names on labels.
    """
    rt = runtime_of(ctx)
    key = request_key(ctx)
    args = PageArgs(format, start, end, speakers, timestamps, max_tokens)
    args.check()
    params = {"speaker": speaker, "model": "whisper-1"}
    if await choose_mode(rt, mode) == "async":
        task_id = await start_async(
            ctx,
            ASYNC_AUDIO,
            {"asset_id": asset_id, **params},
            tool="transcribe_whisper",
            asset_id=asset_id,
            params=params,
        )
        return await wait_and_answer(ctx, task_id, tool="transcribe_whisper", wait_seconds=wait_seconds, args=args)

    async def work() -> Outcome:
        reply = await rt.client.generate_audio(asset_id, speaker=speaker, api_key=key)
        return normalized(reply, lambda data: normalize_whisper(data, _context(rt, asset_id=asset_id)))

    return await run_job(
        ctx,
        work,
        tool="transcribe_whisper",
        endpoint="sync-generate-audio",
        asset_id=asset_id,
        params=params,
        wait_seconds=wait_seconds,
        args=args,
    )


OptBool = bool | None
# The three audio sources of speech-to-text (exactly one is given; options.py checks that).
SourceAsset = Annotated[str | None, Field(max_length=200, description="Uploaded asset (upload_media).")]
SourceUrl = Annotated[str | None, Field(max_length=4000, description="A public http(s) audio URL.")]
SourceGsOrUrl = Annotated[str | None, Field(max_length=4000, description="A gs:// path or public http(s) URL.")]


@agent_errors
async def transcribe_assemblyai(
    ctx: Context[Runtime, Any],
    asset_id: SourceAsset = None,
    url: SourceUrl = None,
    source_url: SourceGsOrUrl = None,
    speaker_labels: Annotated[OptBool, Field(description="Speaker diarization: utterances per speaker.")] = None,
    speakers_expected: Annotated[
        int | None, Field(ge=1, le=50, description="Expected number of speakers (needs speaker_labels).")
    ] = None,
    language_code: Annotated[
        str | None, Field(max_length=20, description="e.g. en, es, zh. Omit to let the provider detect it.")
    ] = None,
    language_detection: Annotated[OptBool, Field(description="Detect the language automatically.")] = None,
    language_confidence_threshold: Annotated[
        float | None, Field(ge=0, le=1, description="Minimum language-detection confidence, 0..1.")
    ] = None,
    punctuate: Annotated[OptBool, Field(description="Add punctuation (provider default true).")] = None,
    format_text: Annotated[OptBool, Field(description="Format numbers, dates (provider default true).")] = None,
    disfluencies: Annotated[OptBool, Field(description="Keep um, uh, etc.")] = None,
    filter_profanity: Annotated[OptBool, Field(description="Mask profanity.")] = None,
    speech_model: Annotated[str | None, Field(max_length=100, description="Provider speech model.")] = None,
    speech_threshold: Annotated[
        float | None, Field(ge=0, le=1, description="Reject audio with less speech than this share, 0..1.")
    ] = None,
    multichannel: Annotated[OptBool, Field(description="Transcribe each audio channel separately.")] = None,
    audio_start_from: Annotated[
        int | None, Field(ge=0, description="Start transcribing at this time, in MILLISECONDS.")
    ] = None,
    audio_end_at: Annotated[int | None, Field(ge=0, description="Stop at this time, in MILLISECONDS.")] = None,
    word_boost: Annotated[
        list[Annotated[str, Field(max_length=100)]] | None,
        Field(max_length=1000, description="Words or phrases to recognise more readily."),
    ] = None,
    boost_param: Annotated[BoostParam | None, Field(description="Boost strength (needs word_boost).")] = None,
    custom_spelling: Annotated[
        list[CustomSpelling] | None,
        Field(max_length=500, description='Spelling fixes: [{"from": ["sequel"], "to": "SQL"}].'),
    ] = None,
    summarization: Annotated[OptBool, Field(description="Add a summary (not with auto_chapters).")] = None,
    summary_model: Annotated[SummaryModel | None, Field(description="Needs summarization.")] = None,
    summary_type: Annotated[SummaryType | None, Field(description="Needs summarization.")] = None,
    auto_chapters: Annotated[OptBool, Field(description="Chapters with summaries (not with summarization).")] = None,
    auto_highlights: Annotated[OptBool, Field(description="Key phrases.")] = None,
    entity_detection: Annotated[OptBool, Field(description="Names, places, organisations...")] = None,
    sentiment_analysis: Annotated[OptBool, Field(description="Sentiment per sentence.")] = None,
    iab_categories: Annotated[OptBool, Field(description="IAB topic categories.")] = None,
    content_safety: Annotated[OptBool, Field(description="Sensitive-content labels.")] = None,
    custom_topics: Annotated[OptBool, Field(description="Custom topic detection (with topics).")] = None,
    topics: Annotated[
        list[Annotated[str, Field(max_length=200)]] | None,
        Field(max_length=100, description="Custom topic labels (needs custom_topics)."),
    ] = None,
    redact_pii: Annotated[OptBool, Field(description="Redact personal data (needs redact_pii_policies).")] = None,
    redact_pii_policies: Annotated[
        list[Annotated[str, Field(max_length=100)]] | None,
        Field(max_length=100, description="e.g. person_name, phone_number, email_address."),
    ] = None,
    redact_pii_sub: Annotated[RedactSub | None, Field(description="Replace PII by hash or entity_name.")] = None,
    redact_pii_audio: Annotated[OptBool, Field(description="Also produce redacted audio.")] = None,
    redact_pii_audio_quality: Annotated[AudioQuality | None, Field(description="mp3 or wav.")] = None,
    webhook_url: Annotated[
        str | None,
        Field(max_length=4000, description="AssemblyAI's own webhook (rarely needed; the result comes back here)."),
    ] = None,
    wait_seconds: WaitSeconds = None,
    format: FormatParam = "text",
    max_tokens: MaxTokens = None,
    start: TimeParam = None,
    end: TimeParam = None,
    speakers: SpeakersParam = None,
    timestamps: TimestampsParam = "auto",
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
    args = PageArgs(format, start, end, speakers, timestamps, max_tokens)
    return await _speech_to_text(ctx, "assemblyai", locals(), wait_seconds=wait_seconds, args=args)


@agent_errors
async def transcribe_elevenlabs(
    ctx: Context[Runtime, Any],
    asset_id: SourceAsset = None,
    url: SourceUrl = None,
    source_url: SourceGsOrUrl = None,
    language_code: Annotated[str | None, Field(max_length=20, description="ISO 639-1/3 code; omit to detect.")] = None,
    model_id: Annotated[str | None, Field(max_length=100, description="Default scribe_v2.")] = None,
    diarize: Annotated[OptBool, Field(description="Label speakers (speaker_0, speaker_1, ...).")] = None,
    num_speakers: Annotated[
        int | None, Field(ge=1, le=32, description="Maximum number of speakers (with diarize).")
    ] = None,
    timestamps_granularity: Annotated[
        Granularity | None, Field(description="none, segment or word (default word).")
    ] = None,
    tag_audio_events: Annotated[OptBool, Field(description="Tag sounds like (laughter), (applause).")] = None,
    file_format: Annotated[FileFormat | None, Field(description="pcm_s16le_16 for raw 16 kHz PCM, else other.")] = None,
    source_lang: Annotated[str | None, Field(max_length=20, description="Source language.")] = None,
    target_lang: Annotated[str | None, Field(max_length=20, description="Target language.")] = None,
    wait_seconds: WaitSeconds = None,
    format: FormatParam = "text",
    max_tokens: MaxTokens = None,
    start: TimeParam = None,
    end: TimeParam = None,
    speakers: SpeakersParam = None,
    timestamps: TimestampsParam = "auto",
) -> TranscriptAnswer:
    """Transcribe with ElevenLabs Scribe via MAVI: word-level times, speaker labels, audio events.

    Give exactly one audio source: asset_id (from upload_media), url or source_url.
    Use it for many languages (90+), audio events such as (laughter), or up to 32 speakers.
    Cost: $0.39 per hour of audio.
    Returns: transcript_id and the first page of turn lines, with next_cursor while more remains.
    Next: get_transcript(transcript_id, cursor) to read on, rename_speakers for names.
    """
    args = PageArgs(format, start, end, speakers, timestamps, max_tokens)
    return await _speech_to_text(ctx, "elevenlabs", locals(), wait_seconds=wait_seconds, args=args)


async def _speech_to_text(
    ctx: Context[Runtime, Any],
    provider: Literal["assemblyai", "elevenlabs"],
    arguments: dict[str, Any],
    *,
    wait_seconds: float | None,
    args: PageArgs,
) -> CallToolResult:
    """Validate a provider's options and the page arguments (nothing is sent for bad input), then run
    `speech-to-text` as a job."""
    args.check()
    rt = runtime_of(ctx)
    key = request_key(ctx)
    model = AssemblyAIOptions if provider == "assemblyai" else ElevenLabsOptions
    values = {k: v for k, v in arguments.items() if k in model.model_fields and v is not None}
    try:
        options = model.model_validate(values)
    except pydantic.ValidationError as exc:
        raise InputError(_pydantic_problems(exc, "AssemblyAI" if provider == "assemblyai" else "ElevenLabs")) from None
    body = options.to_body()  # sent to MAVI as given: the URLs in full, secrets included
    urls = [body.get(name) for name in _URL_OPTIONS]
    audio_url = options.url or options.source_url
    context = _context(rt, asset_id=options.asset_id, audio_url=shown_url(audio_url) if audio_url else None)
    model_id = options.model_id if isinstance(options, ElevenLabsOptions) else None

    async def call() -> Outcome:
        if isinstance(options, AssemblyAIOptions):
            reply = await rt.client.speech_to_text_assemblyai(body, api_key=key)
            return normalized(reply, lambda data: normalize_assemblyai(data, context))
        eleven = await rt.client.speech_to_text_elevenlabs(body, api_key=key)
        return normalized(eleven, lambda data: normalize_elevenlabs(data, context, model=model_id))

    async def work() -> Outcome:
        try:
            outcome = await call()
        except MaviError as exc:
            _hide_url_secrets(exc, urls)
            raise
        if outcome.raw is None:
            return outcome
        return dataclasses.replace(outcome, raw=scrub_url_secrets_in_raw(outcome.raw, *urls))

    shown = {name: shown_url(value) for name in _URL_OPTIONS if isinstance(value := body.get(name), str)}
    return await run_job(
        ctx,
        work,
        tool=f"transcribe_{provider}",
        endpoint="speech-to-text",
        asset_id=options.asset_id,
        params={"provider": provider, **body, **shown},
        wait_seconds=wait_seconds,
        args=args,
    )


_URL_OPTIONS = ("url", "source_url", "webhook_url")
"""Options of `speech-to-text` that hold URLs: sent in full, stored and shown by `media.shown_url` only."""


def _hide_url_secrets(exc: MaviError, urls: list[Any]) -> None:
    """Take the secrets of `urls` out of an error before it is stored and shown (MAVI and the providers echo the
    audio URL in messages such as "Download error, unable to download <url>", and in raw answers)."""
    given = [u for u in urls if isinstance(u, str)]
    if not given:
        return
    exc.args = tuple(scrub_url_secrets(a, *given) if isinstance(a, str) else a for a in exc.args)
    if isinstance(exc, APIError) and exc.api_message is not None:
        exc.api_message = scrub_url_secrets(exc.api_message, *given)
    if isinstance(exc, ResultError) and exc.raw is not None:
        exc.raw = scrub_url_secrets_in_raw(exc.raw, *given)


@agent_errors
async def multi_speaker_async(
    asset_id: AssetId,
    ctx: Context[Runtime, Any],
    wait_seconds: WaitSeconds = None,
    format: FormatParam = "text",
    max_tokens: MaxTokens = None,
    start: TimeParam = None,
    end: TimeParam = None,
    speakers: SpeakersParam = None,
    timestamps: TimestampsParam = "auto",
) -> TranscriptAnswer:
    """Transcript with NAMED speakers ("Maureen Mulholland", not SPEAKER_00) and the faces seen in a video,
    by MAVI's multimodal model. Results arrive later by webhook.

    Use it for interviews, calls and videos where you want who said what by name without renaming.
    Needs a webhook receiver (see webhook_info); without one it refuses before anything is billed.
    Cost: $0.10 per minute of audio ($6 per hour), the most expensive tool here.
    Returns: usually status "pending" with task_id (results take minutes); then get_task(task_id) returns the
    transcript's first page with names; detected faces are kept with the transcript (structured `extras`).
    """
    args = PageArgs(format, start, end, speakers, timestamps, max_tokens)
    args.check()
    task_id = await start_async(
        ctx, ASYNC_MULTI_SPEAKER, {"asset_id": asset_id}, tool="multi_speaker_async", asset_id=asset_id, params={}
    )
    return await wait_and_answer(ctx, task_id, tool="multi_speaker_async", wait_seconds=wait_seconds, args=args)


def _pydantic_problems(exc: pydantic.ValidationError, provider: str) -> str:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()[:8])
    return f"Invalid {provider} request: {problems}. Nothing was sent or billed."
