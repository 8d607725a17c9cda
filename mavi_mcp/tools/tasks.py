"""Tasks: `get_task` (one task, with its transcript's first page when done) and `list_tasks`.

Every transcription or upload is a task: a local job (`job_...`, sync endpoints and uploads) or a MAVI async
task (32 hex digits, completed by a webhook delivery). Both live in the store and survive restarts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mavi_mcp.errors import InputError
from mavi_mcp.runtime import Runtime
from mavi_mcp.store import TaskRecord
from mavi_mcp.tools._common import (
    FormatParam,
    MaxTokens,
    TranscriptResult,
    WaitSeconds,
    agent_errors,
    runtime_of,
)
from mavi_mcp.tools.assets import pending_upload_text
from mavi_mcp.tools.transcribe import PageArgs, answer_for_task

TaskId = Annotated[str, Field(min_length=1, max_length=100, description="task_id returned by a tool.")]


@agent_errors
async def get_task(
    task_id: TaskId,
    ctx: Context[Runtime, Any],
    wait_seconds: Annotated[
        float | None, Field(ge=0, le=55, description="Wait up to this long for a pending task (default 0).")
    ] = None,
    format: FormatParam = "text",
    max_tokens: MaxTokens = None,
) -> Annotated[CallToolResult, TranscriptResult]:
    """Status of a transcription or upload task; when completed, the transcript's first page.

    Use it after a tool answered status "pending" with a task_id (long recordings, async transcriptions).
    Cost: free (reads the local store). Returns: status pending / completed / failed with timing; when
    completed, exactly what the transcription tool would have returned (transcript_id, next_cursor, first page).
    For an upload task, the asset_id, as soon as MAVI has stored the file (before it is ready).
    Next: get_transcript(transcript_id, cursor) to read on.
    """
    rt = runtime_of(ctx)
    record = await rt.store.run(rt.store.sync.get_task, task_id.strip())
    if record is None:
        raise InputError(
            f"No task {task_id!r} in this server's store. Use a task_id returned by a tool, or list_tasks."
        )
    bound = wait_seconds or 0.0
    if record.status == "pending" and bound > 0:
        waiting_for = record.task_id

        async def progress(elapsed: float) -> None:
            await ctx.report_progress(elapsed, None, f"waiting for task {waiting_for} ({elapsed:.0f} s)")

        record = await rt.jobs.wait(waiting_for, bound, on_tick=progress)
    if record.endpoint == "upload" and record.status == "completed":
        return _asset_answer(record)
    if record.endpoint == "upload" and record.status == "pending":
        return _pending_upload_answer(record)
    return await answer_for_task(
        rt, record, PageArgs(format=format, max_tokens=max_tokens), waited=bound, failure_is_error=False
    )


def _asset_answer(record: TaskRecord) -> CallToolResult:
    result = record.result or {}
    asset_id = result.get("asset_id")
    text = (
        f"Task {record.task_id} completed: uploaded {result.get('filename')} as asset_id {asset_id} (ready). "
        f'Next: a transcription tool with asset_id="{asset_id}".'
    )
    data = TranscriptResult(
        status="completed",
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


def _pending_upload_answer(record: TaskRecord) -> CallToolResult:
    """A pending upload task: its asset id once MAVI has stored the file (it may still be processing it)."""
    text = f"Task {record.task_id} (upload_media) is still running. {pending_upload_text(record)}"
    data = TranscriptResult(
        status="pending",
        task_id=record.task_id,
        asset_id=record.asset_id,
        endpoint="upload",
        created_at=record.created_at,
        resource_uri=f"mavi://tasks/{record.task_id}",
    )
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data.model_dump(mode="json", exclude_none=True),
    )


class TaskItem(BaseModel):
    task_id: str
    status: str
    tool: str | None = None
    endpoint: str
    asset_id: str | None = None
    created_at: str
    completed_at: str | None = None
    transcript_id: str | None
    error: str | None = None


class TaskList(BaseModel):
    tasks: list[TaskItem]


def task_item(record: TaskRecord) -> TaskItem:
    return TaskItem(
        task_id=record.task_id,
        status=record.status,
        tool=record.tool,
        endpoint=record.endpoint,
        asset_id=record.asset_id,
        created_at=record.created_at.isoformat(),
        completed_at=record.completed_at.isoformat() if record.completed_at else None,
        transcript_id=record.transcript_id,
        error=record.error,
    )


@agent_errors
async def list_tasks(
    ctx: Context[Runtime, Any],
    status: Annotated[
        Literal["pending", "completed", "failed"] | None, Field(description="Only tasks in this state.")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="How many, newest first.")] = 20,
) -> Annotated[CallToolResult, TaskList]:
    """Recent transcription and upload tasks, newest first, optionally only pending / completed / failed.

    Use it to find a task_id again or to see what is still running. Free; no MAVI call.
    """
    rt = runtime_of(ctx)
    records = await rt.store.run(rt.store.sync.list_tasks, status, limit)
    items = [task_item(r) for r in records]
    if items:
        text = "\n".join(
            f"{i.task_id} · {i.status} · {i.tool or i.endpoint} · asset {i.asset_id or '-'} · {i.created_at[:19]}"
            + (f" · transcript {i.transcript_id}" if i.transcript_id else "")
            + (f" · error: {i.error}" if i.error else "")
            for i in items
        )
    else:
        text = f"No {status + ' ' if status else ''}tasks."
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=TaskList(tasks=items).model_dump()
    )


__all__ = ["WaitSeconds", "get_task", "list_tasks"]
