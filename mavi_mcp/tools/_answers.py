"""What tools answer: structured-content models, a transcript page as a tool result, a task in any state, and the
one wait-with-progress helper every waiting tool uses.

Structured content carries metadata, never the whole transcript a second time (segments only with
`format="json"`). The key names `transcript_id`, `task_id`, `status`, `next_cursor`, `duration`, `speakers`
and `counts` are part of the tools' contract.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mavi_mcp.cost import price_list
from mavi_mcp.errors import InputError
from mavi_mcp.media import human_size
from mavi_mcp.pipeline import STARTED_AS
from mavi_mcp.render import insights
from mavi_mcp.render.cursor import Position, decode_cursor
from mavi_mcp.render.page import Page, display_names, render_page
from mavi_mcp.render.tokens import estimate_tokens
from mavi_mcp.render.view import View, resolve_speakers
from mavi_mcp.runtime import Runtime
from mavi_mcp.shapes import callback_for
from mavi_mcp.store import TaskRecord
from mavi_mcp.tools._params import MAX_PAGE_TOKENS, MIN_PAGE_TOKENS, PageOptions
from mavi_mcp.transcript import Transcript, utcnow

# --- structured content ---------------------------------------------------------------------------


class SpeakerOut(BaseModel):
    label: str
    name: str | None = Field(default=None, description="Name from rename_speakers or the provider, if any.")
    talk_time: float = Field(description="Seconds of speech (overlaps counted for each speaker).")
    share: float = Field(description="Part of all talk time, 0..1.")
    turns: int
    first_heard: float = Field(description="Seconds from the start.")
    last_heard: float = Field(description="Seconds from the start.")


class Counts(BaseModel):
    segments: int = Field(description="Segments in the whole transcript.")
    segments_in_view: int = Field(description="Segments matching the window and speaker filters.")
    segments_on_page: int
    words: int = Field(description="Words in the whole transcript (0 for speaker turns only).")
    speakers: int


class Window(BaseModel):
    start: float | None = Field(default=None, description="Seconds.")
    end: float | None = Field(default=None, description="Seconds.")


class TranscriptResult(BaseModel):
    """Structured content of every tool that returns (or will return) a transcript page."""

    status: Literal["completed", "pending", "failed"]
    task_id: str | None = Field(default=None, description="Job or MAVI task id; pass to get_task.")
    transcript_id: str | None = Field(default=None, description="Pass to get_transcript / rename_speakers.")
    next_cursor: str | None = Field(default=None, description="Pass to get_transcript for the next page; null at end.")
    text: str | None = Field(
        default=None,
        description="The page text, as in the content (for clients that give their model only structured content); "
        "absent with format json (segments carry the words) or MAVI_MCP_STRUCTURED_TEXT=false.",
    )
    page: int | None = None
    format: str | None = None
    provider: str | None = None
    model: str | None = None
    endpoint: str | None = None
    asset_id: str | None = None
    kind: str | None = Field(default=None, description="transcript (words) or diarization (speaker turns only).")
    duration: float | None = Field(default=None, description="Seconds.")
    language: str | None = None
    speakers: list[SpeakerOut] | None = None
    counts: Counts | None = None
    window: Window | None = None
    estimated_tokens: int | None = None
    resource_uri: str | None = None
    extras: list[str] | None = Field(default=None, description="Provider extras kept with the transcript.")
    segments: list[dict[str, Any]] | None = Field(default=None, description="Only with format='json'.")
    insights: dict[str, Any] | None = Field(default=None, description="Only with format='insights'; seconds.")
    created_at: datetime | None = None
    completed_at: datetime | None = None
    elapsed_seconds: float | None = None
    error: str | None = None
    sandbox: bool | None = None
    billed_seconds: float | None = None
    cost_usd: float | None = Field(default=None, description="0 when reused.")
    reused: bool | None = None


def build_view(transcript: Transcript, names: dict[str, str], page: PageOptions) -> View:
    """A `View` from the page options: times in seconds, speakers resolved to labels.

    Raises:
        InputError: an unknown or ambiguous speaker (`resolve_speakers`).
    """
    fmt = page.format
    if fmt == "insights":  # not a view of the words: callers dispatch to `insights_result` first
        raise InputError('format="insights" has no pages of words; use another format with start/end/speakers.')
    a, b = page.window
    labels = resolve_speakers(transcript, names, page.speakers) if page.speakers else ()
    return View(format=fmt, start=a, end=b, speakers=labels, timestamps=page.timestamps)


def wants_insights(transcript: Transcript, page: PageOptions, cursor: str | None) -> bool:
    """Whether to answer with insights: `format="insights"`, or a cursor of an insights page (its view wins).

    Raises:
        InputError: a cursor that is not one of this transcript's (`decode_cursor`).
    """
    if cursor:
        return decode_cursor(cursor, transcript.id).view == insights.VIEW
    return page.format == "insights"


def insights_result(
    transcript: Transcript,
    names: dict[str, str],
    *,
    max_tokens: int,
    cursor: str | None = None,
    record: TaskRecord | None = None,
) -> CallToolResult:
    """The insights page `cursor` points at (None: the first) as a tool result: the text for the model, and as
    structured content the transcript's ids, `next_cursor` and every insight (`insights.insights_data`, SECONDS).
    """
    shown = insights.insights_page(
        transcript, names=names, display=display_names(transcript, names), max_tokens=max_tokens, cursor=cursor
    )
    src = transcript.source
    result = TranscriptResult(
        status="completed",
        task_id=record.task_id if record else src.task_id,
        transcript_id=transcript.id,
        next_cursor=shown.next_cursor,
        page=shown.page,
        format="insights",
        provider=src.provider,
        model=src.model,
        duration=transcript.duration,
        language=transcript.language,
        estimated_tokens=shown.estimated_tokens,
        insights=shown.data,
    )
    return CallToolResult(
        content=[TextContent(type="text", text=shown.text)],
        structured_content=result.model_dump(mode="json", exclude_none=True),
    )


def page_for(
    transcript: Transcript,
    names: dict[str, str],
    view: View,
    *,
    max_tokens: int | None,
    default_tokens: int,
    cursor: str | None = None,
    budget: Callable[[int, View], int] | None = None,
) -> Page:
    """Render the first page of `view`, or the page `cursor` points at (the cursor's view wins).

    The budget is `max_tokens` when given, else the one the cursor carries, else `default_tokens`; a budget the
    reader chose rides on in the next cursor. `budget(total, view)`, when given, is the part of it the page text may
    use (the rest goes to structured content).
    """
    position: Position | None = None
    page_no = 1
    if cursor:
        decoded = decode_cursor(cursor, transcript.id)
        view = View.from_json(decoded.view)
        position = decoded.position
        page_no = decoded.page
        carried = decoded.view.get("mt")
        if max_tokens is None and isinstance(carried, int) and MIN_PAGE_TOKENS <= carried <= MAX_PAGE_TOKENS:
            max_tokens = carried
    total = max_tokens or default_tokens
    return render_page(
        transcript,
        names=names,
        view=view,
        position=position,
        page=page_no,
        max_tokens=budget(total, view) if budget is not None else total,
        budget_in_cursor=max_tokens,
    )


def speakers_out(transcript: Transcript, names: dict[str, str]) -> list[SpeakerOut]:
    return [
        SpeakerOut(
            label=s.label,
            name=names.get(s.label) or s.name,
            talk_time=s.talk_time,
            share=s.share,
            turns=s.turns,
            first_heard=s.first_heard,
            last_heard=s.last_heard,
        )
        for s in transcript.speakers
    ]


RESULT_OVERHEAD_TOKENS = 200
"""Estimated tokens of a page result's fixed structured fields (ids, counts, window, times), besides the speakers."""
MIN_TEXT_TOKENS = 300
"""The least page text a result carries, even when the speaker summary leaves less of a small budget: a page must
still show some of the recording (such a result may pass a small budget; never the 25,000 cap)."""
MIRROR_COST = 1.2
"""A page text mirrored into structured content costs a little more there: JSON escapes its newlines and quotes."""


def page_answer(
    rt: Runtime,
    transcript: Transcript,
    names: dict[str, str],
    view: View,
    *,
    max_tokens: int | None,
    cursor: str | None = None,
    record: TaskRecord | None = None,
) -> CallToolResult:
    """A transcript page as a tool result whose two parts TOGETHER stay within the budget (`max_tokens`, else the
    one the cursor carries, else the server's default): the structured metadata (speakers list included) is counted,
    and the page text twice when structured content carries it too (`settings.structured_text`) or when format json
    puts the segments there. So no result exceeds 25,000 tokens whatever the arguments (budget <= 20,000)."""
    speakers: list[SpeakerOut] | None = None
    meta_tokens = RESULT_OVERHEAD_TOKENS
    if cursor is None:  # the speaker summary rides on first pages (like the header), every speaker of it
        speakers = speakers_out(transcript, names)
        meta_tokens += estimate_tokens(json.dumps([s.model_dump() for s in speakers]))

    def text_budget(total: int, shown: View) -> int:
        copies = 1 + MIRROR_COST if shown.format == "json" or rt.settings.structured_text else 1
        return max(int((total - meta_tokens) / copies), MIN_TEXT_TOKENS)

    page = page_for(
        transcript,
        names,
        view,
        max_tokens=max_tokens,
        default_tokens=rt.settings.page_tokens,
        cursor=cursor,
        budget=text_budget,
    )
    mirror = rt.settings.structured_text and page.view.format != "json"
    return transcript_result(transcript, names, page, record, speakers=speakers, mirror_text=mirror)


def transcript_result(
    transcript: Transcript,
    names: dict[str, str],
    page: Page,
    record: TaskRecord | None = None,
    *,
    speakers: list[SpeakerOut] | None,
    mirror_text: bool = False,
) -> CallToolResult:
    """A page as a tool result: the page text for the model, metadata (and the text, with `mirror_text`) as
    structured content, with `speakers` (None: left out). `next_cursor` is always there: null on the last page."""
    src = transcript.source
    view = page.view
    result = TranscriptResult(
        status="completed",
        task_id=record.task_id if record else src.task_id,
        transcript_id=transcript.id,
        next_cursor=page.next_cursor,
        text=page.text if mirror_text else None,
        page=page.page,
        format=view.format,
        provider=src.provider,
        model=src.model,
        endpoint=src.endpoint,
        asset_id=src.asset_id,
        kind=transcript.kind,
        duration=transcript.duration,
        language=transcript.language,
        speakers=speakers,
        counts=Counts(
            segments=page.segments_total,
            segments_in_view=page.segments_in_view,
            segments_on_page=page.segments_on_page,
            words=transcript.word_count,
            speakers=len(transcript.speakers),
        ),
        window=Window(start=view.start, end=view.end) if view.start is not None or view.end is not None else None,
        estimated_tokens=page.estimated_tokens,
        resource_uri=f"mavi://transcripts/{transcript.id}",
        extras=transcript.extras.present() or None,
        segments=page.segments,
        created_at=record.created_at if record else transcript.created_at,
        completed_at=record.completed_at if record else None,
        elapsed_seconds=_elapsed(record),
        sandbox=src.sandbox or None,
    )
    structured = result.model_dump(mode="json", exclude_none=True)
    structured["next_cursor"] = page.next_cursor  # a documented key: null on the last page, never missing
    return CallToolResult(content=[TextContent(type="text", text=page.text)], structured_content=structured)


def _elapsed(record: TaskRecord | None) -> float | None:
    """SECONDS from the task's creation to its end, or to now while it is pending (real time, not the last update)."""
    if record is None:
        return None
    end = record.completed_at or (utcnow() if record.status == "pending" else record.updated_at)
    return round((end - record.created_at).total_seconds(), 3)


def pending_result(record: TaskRecord, *, waited: float, horizon: float | None = None) -> CallToolResult:
    """A task handle: the job is still running; the agent should come back with get_task.

    An async MAVI task pending for longer than `horizon` SECONDS (`Settings.pending_horizon`) is said to have no
    result yet, with what to check (`NO_RESULT_YET`), instead of the promise that it will be stored."""
    what = record.tool or record.endpoint
    elapsed = _elapsed(record) or 0.0
    if record.mode == "async" and horizon is not None and elapsed > horizon:
        text = NO_RESULT_YET.format(what=what, task_id=record.task_id, hours=elapsed / 3600)
    else:
        text = (
            f"Still running after {waited:.0f} s: {what} (task {record.task_id}). The job continues on the server "
            f'and its result will be stored even if you do nothing now. Call get_task(task_id="{record.task_id}") '
            "in about a minute (long recordings take longer); it returns the transcript's first page once done."
        )
    result = TranscriptResult(
        status="pending",
        task_id=record.task_id,
        endpoint=record.endpoint,
        asset_id=record.asset_id,
        created_at=record.created_at,
        elapsed_seconds=_elapsed(record),
        resource_uri=f"mavi://tasks/{record.task_id}",
    )
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=result.model_dump(mode="json", exclude_none=True),
    )


def failed_result(record: TaskRecord) -> CallToolResult:
    """A failed task reported as data (for get_task), with the reason and what to do."""
    text = f"Task {record.task_id} ({record.tool or record.endpoint}) failed: {record.error or 'no reason recorded'}"
    result = TranscriptResult(
        status="failed",
        task_id=record.task_id,
        endpoint=record.endpoint,
        asset_id=record.asset_id,
        created_at=record.created_at,
        completed_at=record.completed_at,
        elapsed_seconds=_elapsed(record),
        error=record.error,
        resource_uri=f"mavi://tasks/{record.task_id}",
    )
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=result.model_dump(mode="json", exclude_none=True),
    )


NO_RESULT_YET = (
    "No result has arrived for {what} (MAVI task {task_id}) in {hours:.1f} h. MAVI delivers async results only by "
    "webhook, so this usually means its callback cannot reach this server. Check: webhook_info (is a receiver "
    "running, has any callback ever arrived?), and that the MAVI console's Webhooks Settings hold the URL "
    "webhook_info shows (the user must paste it there). A result that arrives later is still stored; if none "
    "comes, the task may have failed on MAVI's side (ask the user to look at the console)."
)
"""What get_task says about an async task pending longer than `Settings.pending_horizon`."""


# --- waiting -------------------------------------------------------------------------------------


async def wait_for(
    ctx: Context[Runtime, Any], task_id: str, wait_seconds: float | None, *, what: str, default: float | None = None
) -> tuple[TaskRecord, float]:
    """Wait for a task up to `wait_seconds` (else `default`, else the server's `wait_seconds` setting), sending an
    MCP progress notification about every 5 s (`what` says what is awaited). Returns the task as it then is, and the
    bound waited (seconds). The one wait every waiting tool uses: transcriptions, upload_media, get_task."""
    rt: Runtime = ctx.request_context.lifespan_context
    bound = wait_seconds if wait_seconds is not None else default if default is not None else rt.settings.wait_seconds

    started = time.monotonic()
    waiting_for = task_id

    async def progress(elapsed: float) -> None:
        elapsed = time.monotonic() - started
        await ctx.report_progress(elapsed, None, f"{what}: waiting ({elapsed:.0f} s, task {waiting_for})")

    first = bound
    if bound < START_GRACE and (known := await rt.store.get_task(task_id)) is not None and is_start(known):
        first = START_GRACE  # a start MAVI answers at once is answered with MAVI's task id, even with wait 0
    record = await rt.jobs.wait(task_id, first, on_tick=progress)
    if (mavi_task := started_as(record)) is not None:  # an async start MAVI has answered: wait for its task
        waiting_for = mavi_task
        remaining = max(bound - (time.monotonic() - started), 0.0)
        record = await rt.jobs.wait(mavi_task, remaining, on_tick=progress)
    return record, bound


START_GRACE = 0.9
"""SECONDS a wait shorter than this still waits for an async start job, to answer with MAVI's task id when MAVI
answers at once (within the +1 s every waiting tool is allowed past its wait_seconds)."""


def is_start(record: TaskRecord) -> bool:
    """`record` is the job of an async start (`pipeline.transcribe`): a local job on an async endpoint."""
    return record.mode == "sync" and callback_for(record.endpoint) is not None


def started_as(record: TaskRecord) -> str | None:
    """MAVI's task id when `record` is an async start job that MAVI has answered (`pipeline.transcribe`), else None."""
    value = (record.result or {}).get(STARTED_AS) if record.status == "completed" else None
    return value if isinstance(value, str) else None


async def follow(rt: Runtime, record: TaskRecord) -> TaskRecord:
    """The task an async start job points at once MAVI has named it (else `record` itself): what get_task,
    list_tasks and the tools show for the id they handed out while the start request was still running."""
    mavi_task = started_as(record)
    if mavi_task is None:
        return record
    return await rt.store.get_task(mavi_task) or record


async def wait_and_answer(
    ctx: Context[Runtime, Any], task_id: str, page: PageOptions, wait_seconds: float | None, *, what: str
) -> CallToolResult:
    """Wait for a transcription task (bounded, with progress), then answer for it: first page, handle or error."""
    record, waited = await wait_for(ctx, task_id, wait_seconds, what=what)
    return await answer_for_task(
        ctx.request_context.lifespan_context, record, page, waited=waited, failure_is_error=True
    )


# --- a task in any state -------------------------------------------------------------------------


async def answer_for_task(
    rt: Runtime, record: TaskRecord, page: PageOptions, *, waited: float, failure_is_error: bool
) -> CallToolResult:
    """The tool answer for a task in any state: first page, handle, or failure (an upload: its asset). An async
    start job is answered for the MAVI task it started (`follow`)."""
    record = await follow(rt, record)
    if record.endpoint == "upload" and record.status != "failed":
        return _upload_task_answer(record)
    if record.status == "pending":
        return pending_result(record, waited=waited, horizon=rt.settings.pending_horizon)
    if record.status == "failed":
        if failure_is_error:
            raise ToolError(f"{record.tool or record.endpoint} failed (task {record.task_id}): {record.error}")
        return failed_result(record)
    if record.transcript_id is None:
        raise ToolError(f"Task {record.task_id} completed without a transcript: {record.result or {}}")
    transcript = rt.jobs.take_transcript(record.transcript_id) or await rt.store.get_transcript(record.transcript_id)
    if transcript is None:
        raise ToolError(f"Transcript {record.transcript_id} of task {record.task_id} is not in this server's store.")
    names = await rt.store.speaker_names(transcript.id)
    if page.format == "insights":
        return insights_result(transcript, names, max_tokens=page.max_tokens or rt.settings.page_tokens, record=record)
    try:
        view = build_view(transcript, names, page)
    except InputError as exc:
        raise InputError(
            f'{exc} The transcript is stored: read it with get_transcript(transcript_id="{transcript.id}") and '
            "other speakers (nothing more is billed)."
        ) from None
    return page_answer(rt, transcript, names, view, max_tokens=page.max_tokens, record=record)


# --- uploads -------------------------------------------------------------------------------------


class UploadResult(BaseModel):
    """Structured content of upload_media (and of get_task for an upload task)."""

    status: Literal["completed", "pending", "failed"]
    task_id: str
    asset_id: str | None = None
    filename: str | None = None
    size_bytes: int | None = None
    upload_status: str | None = Field(default=None, description="MAVI's status: SUCCESS means ready.")
    source: str | None = Field(
        default=None, description="The path or URL that was uploaded (a URL without user:password and query)."
    )
    elapsed_seconds: float | None = None
    error: str | None = None
    duration_seconds: float | None = None
    reused: bool | None = None


def pending_upload_text(record: TaskRecord) -> str:
    """What to do about a pending upload task: with its asset id once MAVI has stored the file, else without."""
    if record.asset_id is None:
        return (
            "The upload continues on the server; "
            f'call get_task(task_id="{record.task_id}") in a minute to get the asset_id.'
        )
    return (
        f"MAVI has stored the file as asset_id {record.asset_id} and is still processing it; do not upload it "
        f'again. Call get_task(task_id="{record.task_id}") in a minute to learn when it is ready (a transcription '
        "tool may refuse the asset until then)."
    )


def upload_answer(record: TaskRecord, *, waited: float) -> CallToolResult:
    """upload_media's answer: the asset when done, a handle while running; a failure is a `ToolError` with the
    reason (and the asset id when the upload itself succeeded)."""
    result = record.result or {}
    elapsed = _elapsed(record)
    if record.status == "failed":
        if result.get("asset_id"):  # the upload succeeded, its confirmation failed
            raise ToolError(f"upload_media (task {record.task_id}): {record.error}")
        raise ToolError(f"upload_media failed (task {record.task_id}): {record.error}")
    if record.status == "pending":
        text = f"Still uploading after {waited:.0f} s (task {record.task_id}). {pending_upload_text(record)}"
        data = UploadResult(status="pending", task_id=record.task_id, asset_id=record.asset_id, elapsed_seconds=elapsed)
    else:
        asset_id = result.get("asset_id")
        done = "Reused" if result.get("reused") else "Uploaded"
        text = (
            f"{done} {result.get('filename')} ({human_size(int(result.get('size_bytes', 0)))}): asset_id "
            f"{asset_id}, ready (upload_status SUCCESS). Next: identify_speakers, transcribe_whisper, "
            f'transcribe_assemblyai or transcribe_elevenlabs with asset_id="{asset_id}".'
        )
        if result.get("reused"):
            text += " MAVI still has this exact file (same SHA-256), so nothing was uploaded; refresh=true uploads it."
        text += "\n" + upload_cost_text(result)
        data = UploadResult(
            status="completed",
            task_id=record.task_id,
            asset_id=asset_id,
            filename=result.get("filename"),
            size_bytes=result.get("size_bytes"),
            upload_status=result.get("upload_status"),
            source=result.get("source"),
            elapsed_seconds=elapsed,
            duration_seconds=result.get("duration_seconds"),
            reused=result.get("reused"),
        )
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data.model_dump(mode="json", exclude_none=True),
    )


def upload_cost_text(result: dict[str, Any]) -> str:
    """Each transcription tool's estimated price for the uploaded file's duration, or why it is unknown."""
    seconds = result.get("duration_seconds")
    if isinstance(seconds, int | float) and seconds > 0:
        return price_list(float(seconds)) + "."
    problem = result.get("duration_problem") or "not read"
    return (
        f"Duration unknown ({problem}), so no price can be estimated before a transcription; it is billed by "
        "the audio's duration (prices in each tool's description)."
    )


def _upload_task_answer(record: TaskRecord) -> CallToolResult:
    """get_task for an upload: its asset id once MAVI has stored the file (ready when completed)."""
    result = record.result or {}
    if record.status == "completed":
        asset_id = result.get("asset_id")
        text = (
            f"Task {record.task_id} completed: uploaded {result.get('filename')} as asset_id {asset_id} (ready). "
            f'Next: a transcription tool with asset_id="{asset_id}".'
        )
    else:
        asset_id = record.asset_id
        text = f"Task {record.task_id} (upload_media) is still running. {pending_upload_text(record)}"
    data = TranscriptResult(
        status=record.status,
        task_id=record.task_id,
        asset_id=asset_id,
        endpoint="upload",
        created_at=record.created_at,
        completed_at=record.completed_at,
        resource_uri=f"mavi://tasks/{record.task_id}",
    )
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data.model_dump(mode="json", exclude_none=True),
    )
