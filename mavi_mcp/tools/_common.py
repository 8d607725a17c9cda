"""Shared by every tool: structured-content models, the error boundary, page options and page results.

Structured content carries metadata, never the whole transcript a second time (segments only with
`format="json"`). The key names `transcript_id`, `task_id`, `status`, `next_cursor`, `duration`, `speakers`
and `counts` are part of the tools' contract.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import pydantic
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mavi_mcp.errors import InputError, MaviError, redact
from mavi_mcp.render.cursor import Position, decode_cursor
from mavi_mcp.render.page import Page, render_page
from mavi_mcp.render.timefmt import parse_time
from mavi_mcp.render.view import Format, Timestamps, View, resolve_speakers
from mavi_mcp.runtime import Runtime
from mavi_mcp.store import TaskRecord
from mavi_mcp.transcript import Transcript

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

MIN_PAGE_TOKENS = 500
MAX_PAGE_TOKENS = 20000

# --- parameter types shared by the tools ----------------------------------------------------------

AssetId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="MAVI asset id (like 're_660727003963174912') returned by upload_media.",
    ),
]
MaxTokens = Annotated[
    int | None,
    Field(
        ge=MIN_PAGE_TOKENS,
        le=MAX_PAGE_TOKENS,
        description="Page budget in estimated tokens (UTF-8 bytes / 3.5). Default about 6000; the rest is "
        "reachable with next_cursor.",
    ),
]
FormatParam = Annotated[
    Format,
    Field(
        description="text: compact turn lines (best for reading); json: one segment object per line, also in "
        "structured content; srt / vtt: subtitles; rttm: speaker turns (diarization standard)."
    ),
]
TimestampsParam = Annotated[
    Timestamps,
    Field(
        description="text format only. auto: at each turn and at least every 30 s; segments: at every segment; "
        "none: no timestamps."
    ),
]
TimeParam = Annotated[
    float | str | None,
    Field(
        description="Seconds (754.5) or clock time ('12:34', '1:02:03'). Only speech in the window is shown. "
        "Checked before anything is sent: a bad value costs nothing."
    ),
]
SpeakersParam = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]] | None,
    Field(
        max_length=100,
        description="Only these speakers, by label (SPEAKER_00), short alias (S0) or name, case-insensitive. A "
        "label always means its own speaker.",
    ),
]
WaitSeconds = Annotated[
    float | None,
    Field(
        ge=0,
        le=55,
        description="How long to wait for the result before answering with a task handle (default 40 s, under "
        "the 60 s limit of common MCP clients). The job continues either way; see get_task.",
    ),
]


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
    created_at: datetime | None = None
    completed_at: datetime | None = None
    elapsed_seconds: float | None = None
    error: str | None = None
    sandbox: bool | None = None


# --- the error boundary ---------------------------------------------------------------------------


def agent_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn every failure of a tool into a `ToolError` an agent can act on; never a stack trace or a key.

    `MaviError`s carry their own actionable text; pydantic validation errors of our own models become a list
    of what to fix; anything else is logged (stderr) and reported as an internal error.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except MaviError as exc:
            raise ToolError(redact(str(exc))) from None
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise ToolError(f"Invalid arguments: {problems}. Nothing was sent or billed.") from None
        except Exception:
            logger.exception("Tool %s failed unexpectedly", fn.__name__)
            raise ToolError(
                f"mavi-mcp hit an internal error in {fn.__name__} (details are in the server's log on stderr). "
                "Try again; if it repeats, report it with that log."
            ) from None

    return wrapper


def runtime_of(ctx: Context[Runtime, Any]) -> Runtime:
    return ctx.request_context.lifespan_context


KEY_HEADER = "x-mavi-api-key"
"""HTTP header by which a client of a shared deployment sends its own MAVI key, for that request only."""


def request_key(ctx: Context[Runtime, Any]) -> str | None:
    """The caller's own MAVI key from the `X-MAVI-API-Key` header (HTTP transports), else None.

    Used for this request's MAVI calls only: never stored, logged or echoed (task params never hold it).
    """
    headers = ctx.headers
    if headers is None:
        return None
    value = headers.get(KEY_HEADER) or headers.get("X-MAVI-API-Key")
    return value.strip() if value and value.strip() else None


# --- pages ---------------------------------------------------------------------------------------


def parse_window(start: float | str | None, end: float | str | None) -> tuple[float | None, float | None]:
    """The `start` / `end` tool arguments as SECONDS (None when not given): numbers, or `m:ss` / `h:mm:ss` clocks.

    Raises:
        InputError: a time that cannot be parsed, negative or non-finite, or `end` not after `start`.
    """
    try:
        a = parse_time(start) if start is not None else None
        b = parse_time(end) if end is not None else None
    except ValueError as exc:
        raise InputError(f"{exc}.") from None
    if a is not None and b is not None and b <= a:
        raise InputError(f"end ({b} s) must be after start ({a} s).")
    return a, b


def build_view(
    transcript: Transcript,
    names: dict[str, str],
    *,
    format: Format = "text",
    start: float | str | None = None,
    end: float | str | None = None,
    speakers: list[str] | None = None,
    timestamps: Timestamps = "auto",
) -> View:
    """A `View` from tool arguments: times parsed (seconds or clock), speakers resolved to labels.

    Raises:
        InputError: a time that cannot be parsed, an empty window (`parse_window`), or an unknown or ambiguous
            speaker (`resolve_speakers`).
    """
    a, b = parse_window(start, end)
    labels = resolve_speakers(transcript, names, speakers) if speakers else ()
    return View(format=format, start=a, end=b, speakers=labels, timestamps=timestamps)


def page_for(
    transcript: Transcript,
    names: dict[str, str],
    view: View,
    *,
    max_tokens: int,
    cursor: str | None = None,
) -> Page:
    """Render the first page of `view`, or the page `cursor` points at (the cursor's view wins)."""
    position: Position | None = None
    page_no = 1
    if cursor:
        decoded = decode_cursor(cursor, transcript.id)
        view = View.from_json(decoded.view)
        position = decoded.position
        page_no = decoded.page
    return render_page(transcript, names=names, view=view, position=position, page=page_no, max_tokens=max_tokens)


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


def transcript_result(
    transcript: Transcript, names: dict[str, str], page: Page, record: TaskRecord | None = None
) -> CallToolResult:
    """A page as a tool result: the page text for the model, metadata as structured content."""
    src = transcript.source
    view = page.view
    result = TranscriptResult(
        status="completed",
        task_id=record.task_id if record else src.task_id,
        transcript_id=transcript.id,
        next_cursor=page.next_cursor,
        page=page.page,
        format=view.format,
        provider=src.provider,
        model=src.model,
        endpoint=src.endpoint,
        asset_id=src.asset_id,
        kind=transcript.kind,
        duration=transcript.duration,
        language=transcript.language,
        speakers=speakers_out(transcript, names),
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
    return CallToolResult(
        content=[TextContent(type="text", text=page.text)],
        structured_content=result.model_dump(mode="json", exclude_none=True),
    )


def _elapsed(record: TaskRecord | None) -> float | None:
    if record is None:
        return None
    end = record.completed_at or record.updated_at
    return round((end - record.created_at).total_seconds(), 3)


def pending_result(record: TaskRecord, *, waited: float) -> CallToolResult:
    """A task handle: the job is still running; the agent should come back with get_task."""
    what = record.tool or record.endpoint
    text = (
        f"Still running after {waited:.0f} s: {what} (task {record.task_id}). The job continues on the server and "
        f'its result will be stored even if you do nothing now. Call get_task(task_id="{record.task_id}") in '
        "about a minute (long recordings take longer); it returns the transcript's first page once done."
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
