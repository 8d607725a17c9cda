"""Tasks: `get_task` (one task, with its transcript's first page when done) and `list_tasks`.

Every transcription or upload is a task: a local job (`job_...`, sync endpoints and uploads) or a MAVI async
task (32 hex digits, completed by a webhook delivery). Both live in the store and survive restarts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mavi_mcp.billing import entries_of, entry_of, spend_now
from mavi_mcp.cost import format_usd
from mavi_mcp.errors import InputError
from mavi_mcp.ledger import MAYBE_BILLED, LedgerEntry
from mavi_mcp.runtime import Runtime
from mavi_mcp.store import TaskRecord
from mavi_mcp.tools._answers import TranscriptResult, answer_for_task, follow, started_as, wait_for
from mavi_mcp.tools._boundary import agent_errors, runtime_of
from mavi_mcp.tools._paid import with_cost
from mavi_mcp.tools._params import (
    DEFAULT_PAGE,
    Limit,
    ListCursor,
    PageOptions,
    TaskId,
    build_bundle,
    expand_bundles,
    list_page,
)


@agent_errors
@expand_bundles
async def get_task(
    ctx: Context[Runtime, Any],
    task_id: TaskId,
    wait_seconds: Annotated[
        float | None, Field(ge=0, le=55, description="Wait for a pending task (default 0).")
    ] = None,
    page: PageOptions = DEFAULT_PAGE,
) -> Annotated[CallToolResult, TranscriptResult]:
    """A task's status; when completed, what the original tool would have returned (first page, with the
    page arguments that call gave, unless given here). For an upload, the asset_id. Free.
    """
    rt = runtime_of(ctx)
    record = await rt.store.get_task(task_id.strip())
    if record is None:
        raise InputError(
            f"No task {task_id!r} in this server's store. Use a task_id returned by a tool, or list_tasks."
        )
    record = await follow(rt, record)  # an async start job: MAVI's task, once MAVI has named it
    waited = 0.0
    if record.status == "pending" and wait_seconds:
        record, waited = await wait_for(ctx, record.task_id, wait_seconds, what=f"task {record.task_id}")
    asked = record.params.get("page")
    if page == DEFAULT_PAGE and isinstance(asked, dict):
        page = build_bundle(PageOptions, cast(dict[str, Any], asked))
    answer = await answer_for_task(rt, record, page, waited=waited, failure_is_error=False)
    return with_cost(answer, await rt.store.in_transaction(lambda db: entry_of(db, record.task_id), exclusive=False))


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
    cost_usd: float | None = Field(default=None, description="Billed, or estimated while pending.")


class TaskList(BaseModel):
    tasks: list[TaskItem]
    next_cursor: str | None = Field(description="Pass as cursor for older tasks; null at the end.")
    spent_today_usd: float = Field(description="UTC day.")
    spent_month_usd: float


def task_item(record: TaskRecord, charge: LedgerEntry | None = None) -> TaskItem:
    cost = None
    if charge is not None and (charge.status != "failed" or charge.billed_from == MAYBE_BILLED):
        cost = charge.cost_usd if charge.cost_usd is not None else charge.estimated_usd
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
        cost_usd=cost,
    )


@agent_errors
async def list_tasks(
    ctx: Context[Runtime, Any],
    status: Annotated[
        Literal["pending", "completed", "failed"] | None, Field(description="Only tasks in this state.")
    ] = None,
    limit: Limit = 20,
    cursor: ListCursor = None,
) -> Annotated[CallToolResult, TaskList]:
    """Recent tasks, newest first, with their cost and today's and this month's spend. Free."""
    rt = runtime_of(ctx)

    async def shown(n: int) -> list[TaskRecord]:  # a start job MAVI has answered is listed as MAVI's task
        return [r for r in await rt.store.list_tasks(status, n) if started_as(r) is None]

    listed = await list_page(
        shown,
        lambda r: r.task_id,
        limit=limit,
        cursor=cursor,
        scope=f"tasks:{status or 'all'}",
    )
    records = listed.items
    charges = await rt.store.in_transaction(lambda db: entries_of(db, [r.task_id for r in records]), exclusive=False)
    spent = await rt.store.in_transaction(spend_now, exclusive=False)
    items = [task_item(r, charges.get(r.task_id)) for r in records]
    if items:
        text = "\n".join(
            f"{i.task_id} · {i.status} · {i.tool or i.endpoint} · asset {i.asset_id or '-'} · {i.created_at[:19]}"
            + (f" · {format_usd(i.cost_usd)}" if i.cost_usd is not None else "")
            + (f" · transcript {i.transcript_id}" if i.transcript_id else "")
            + (f" · error: {i.error}" if i.error else "")
            for i in items
        )
        if listed.next_cursor:
            text += f"\nOlder: list_tasks(cursor={listed.next_cursor!r})"
    else:
        text = f"No {'older ' if cursor else ''}{status + ' ' if status else ''}tasks."
    result = TaskList(
        tasks=items, next_cursor=listed.next_cursor, spent_today_usd=spent.today_usd, spent_month_usd=spent.month_usd
    )
    return CallToolResult(
        content=[TextContent(type="text", text=f"{spent.text}\n{text}")], structured_content=result.model_dump()
    )
