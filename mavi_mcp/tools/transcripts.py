"""Reading stored transcripts: `get_transcript` (pages, filters, formats), `rename_speakers`, `list_transcripts`.

These tools cost nothing and never call MAVI: they read the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field

from mavi_mcp.defuse import clean_name, name_problem
from mavi_mcp.errors import InputError
from mavi_mcp.render.timefmt import clock
from mavi_mcp.render.view import naming_conflicts, resolve_speakers
from mavi_mcp.runtime import Runtime
from mavi_mcp.tools._answers import (
    SpeakerOut,
    TranscriptResult,
    build_view,
    insights_result,
    page_answer,
    speakers_out,
    wants_insights,
)
from mavi_mcp.tools._boundary import agent_errors, runtime_of
from mavi_mcp.tools._params import (
    DEFAULT_PAGE,
    Limit,
    ListCursor,
    PageOptions,
    TranscriptId,
    expand_bundles,
    list_page,
)
from mavi_mcp.transcript import Transcript


async def load_transcript(rt: Runtime, transcript_id: str) -> Transcript:
    """The stored transcript, or an `InputError` that says how to find ids."""
    transcript = await rt.store.get_transcript(transcript_id.strip())
    if transcript is None:
        raise InputError(
            f"No transcript {transcript_id!r} in this server's store. Use the transcript_id a transcription tool "
            "returned, or call list_transcripts to see the stored ones."
        )
    return transcript


@agent_errors
@expand_bundles
async def get_transcript(
    ctx: Context[Runtime, Any],
    transcript_id: TranscriptId,
    cursor: Annotated[
        str | None,
        Field(max_length=2000, description="next_cursor of the previous page."),
    ] = None,
    page: PageOptions = DEFAULT_PAGE,
) -> Annotated[CallToolResult, TranscriptResult]:
    """Read a stored transcript: the next page (cursor=next_cursor), a time window, some speakers, or
    another format (srt, vtt, rttm, json, insights). A cursor keeps its window, speakers, format and size. Free.
    """
    rt = runtime_of(ctx)
    transcript = await load_transcript(rt, transcript_id)
    names = await rt.store.speaker_names(transcript.id)
    if wants_insights(transcript, page, cursor):
        return insights_result(transcript, names, max_tokens=page.max_tokens or rt.settings.page_tokens, cursor=cursor)
    view = build_view(transcript, names, page)
    return page_answer(rt, transcript, names, view, max_tokens=page.max_tokens, cursor=cursor)


class RenameResult(BaseModel):
    transcript_id: str
    speakers: list[SpeakerOut]
    renamed: dict[str, str] = Field(description="Label -> name now in effect.")


# One rename of rename_speakers: `speaker` (label, alias or current name) gets `name` (empty: the rename is removed).
# No class docstring: pydantic would publish it in the tool's schema, where the field descriptions say it already.
class SpeakerName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(min_length=1, max_length=200, description="Label (SPEAKER_00), alias (S0) or name.")
    name: str = Field(max_length=200, description="New name; empty removes the rename.")


@agent_errors
async def rename_speakers(
    transcript_id: TranscriptId,
    names: Annotated[list[SpeakerName], Field(min_length=1, max_length=100)],
    ctx: Context[Runtime, Any],
) -> Annotated[CallToolResult, RenameResult]:
    """Name speakers of a stored transcript (SPEAKER_00 -> "Ana Ruiz"), for every later page. Free.

    Each name must identify one speaker (case-insensitive): a name already used by another speaker, or another
    speaker's label or alias, is refused with the conflicts and nothing changes. Swap two names in one call.
    """
    rt = runtime_of(ctx)
    transcript = await load_transcript(rt, transcript_id)
    current = await rt.store.speaker_names(transcript.id)

    resolved: dict[str, str] = {}
    keys: dict[str, str] = {}
    for entry in names:
        key, name = entry.speaker, entry.name
        (label,) = resolve_speakers(transcript, current, [key])
        if problem := name_problem(name):
            raise InputError(f"The name for {clean_name(key)!r} cannot be used: {problem}. Nothing was renamed.")
        if label in keys:
            raise InputError(
                f"{keys[label]!r} and {key!r} both mean speaker {label}; give it one name. Nothing was renamed."
            )
        keys[label] = key
        resolved[label] = name.strip()

    def refuse_conflicts(after: dict[str, str]) -> None:  # run by the store in the transaction that writes
        conflicts = naming_conflicts(transcript, after, {label for label, name in resolved.items() if name})
        if conflicts:
            raise InputError(
                f"Nothing was renamed: each name must identify one speaker of {transcript.id}, or a later speakers= "
                f"filter could not tell them apart. {'; '.join(conflicts)}. Choose distinct names (to swap two "
                "names, give both in one call)."
            )

    stored = await rt.store.rename_speakers(transcript.id, resolved, refuse_conflicts)
    out = speakers_out(transcript, stored)
    lines = [f"{s.label} -> {s.name}" if s.name else f"{s.label} (no name)" for s in out]
    text = f"Speakers of {transcript.id} now read as: " + "; ".join(lines)
    result = RenameResult(transcript_id=transcript.id, speakers=out, renamed=stored)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=result.model_dump())


class TranscriptListItem(BaseModel):
    transcript_id: str
    created_at: str
    provider: str
    endpoint: str
    asset_id: str | None = None
    kind: str
    duration: float = Field(description="Seconds.")


class TranscriptList(BaseModel):
    transcripts: list[TranscriptListItem]
    next_cursor: str | None = Field(description="Pass as cursor for older transcripts; null at the end.")


@agent_errors
async def list_transcripts(
    ctx: Context[Runtime, Any],
    limit: Limit = 20,
    cursor: ListCursor = None,
) -> Annotated[CallToolResult, TranscriptList]:
    """Stored transcripts, newest first, to find a transcript_id again. Free."""
    rt = runtime_of(ctx)
    listed = await list_page(rt.store.list_transcripts, lambda r: r.id, limit=limit, cursor=cursor, scope="transcripts")
    rows = listed.items
    items = [
        TranscriptListItem(
            transcript_id=r.id,
            created_at=r.created_at.isoformat(),
            provider=r.provider,
            endpoint=r.endpoint,
            asset_id=r.asset_id,
            kind=r.kind,
            duration=r.duration,
        )
        for r in rows
    ]
    if items:
        text = "\n".join(
            f"{i.transcript_id} · {i.provider} ({i.endpoint}) · {clock(i.duration)}"
            f" · asset {i.asset_id or '-'} · {i.created_at[:19]}"
            for i in items
        )
        if listed.next_cursor:
            text += f"\nOlder: list_transcripts(cursor={listed.next_cursor!r})"
    elif cursor:
        text = "No older transcripts."
    else:
        text = "No transcripts stored yet. Upload a recording with upload_media, then transcribe it."
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=TranscriptList(transcripts=items, next_cursor=listed.next_cursor).model_dump(),
    )
