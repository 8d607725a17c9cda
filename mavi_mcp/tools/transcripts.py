"""Reading stored transcripts: `get_transcript` (pages, filters, formats), `rename_speakers`, `list_transcripts`.

These tools cost nothing and never call MAVI: they read the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

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
from mavi_mcp.tools._params import DEFAULT_PAGE, Limit, PageOptions, TranscriptId, expand_bundles
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
        Field(max_length=2000, description="next_cursor from the previous page; omit for the first page."),
    ] = None,
    page: PageOptions = DEFAULT_PAGE,
) -> Annotated[CallToolResult, TranscriptResult]:
    """Read a stored transcript page by page, or only a time window or some speakers, in any format.

    Use it to continue after a transcription tool's first page (pass its next_cursor), to jump to a part
    (start/end in seconds or mm:ss), to follow one speaker, or to export subtitles (srt, vtt) or speaker
    turns (rttm), or to read what the provider added (format="insights"). A cursor keeps the window, speakers
    and format it was made with; renamed speakers show their new names on every page.
    Cost: free (reads the local store; no MAVI call).
    Returns: the page text and next_cursor (null on the last page).
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


@agent_errors
async def rename_speakers(
    transcript_id: TranscriptId,
    mapping: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[str, Field(max_length=200)]],
        Field(
            min_length=1,
            max_length=100,
            description='Label, short alias or current name -> new name, e.g. {"SPEAKER_00": "Ana Ruiz"}. An empty '
            "name removes the rename. Each new name must identify one speaker (see the tool description).",
        ),
    ],
    ctx: Context[Runtime, Any],
) -> Annotated[CallToolResult, RenameResult]:
    """Give speakers real names (SPEAKER_00 -> "Ana Ruiz") in a stored transcript.

    Use it once you know who is who (from what they say, or from the user). The names are stored and used in
    every later page and format of this transcript, including pages of cursors handed out before.
    Every name must identify one speaker, so that speakers= filters stay unambiguous: a mapping that gives two
    speakers the same name, or gives a speaker another speaker's label (SPEAKER_01), short alias (S1), name or
    provider name, or names one speaker twice, is refused with the conflicts listed, and nothing is changed.
    Names compare case-insensitively. To swap two names, give both in one mapping.
    Cost: free. Returns: the speakers with their names. Next: get_transcript to read with names.
    """
    rt = runtime_of(ctx)
    transcript = await load_transcript(rt, transcript_id)
    current = await rt.store.speaker_names(transcript.id)

    resolved: dict[str, str] = {}
    keys: dict[str, str] = {}
    for key, name in mapping.items():
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
                "names, give both in one mapping)."
            )

    names = await rt.store.rename_speakers(transcript.id, resolved, refuse_conflicts)
    out = speakers_out(transcript, names)
    lines = [f"{s.label} -> {s.name}" if s.name else f"{s.label} (no name)" for s in out]
    text = f"Speakers of {transcript.id} now read as: " + "; ".join(lines)
    result = RenameResult(transcript_id=transcript.id, speakers=out, renamed=names)
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


@agent_errors
async def list_transcripts(
    ctx: Context[Runtime, Any],
    limit: Limit = 20,
) -> Annotated[CallToolResult, TranscriptList]:
    """List stored transcripts, newest first, to find a transcript_id again. Free; no MAVI call."""
    rt = runtime_of(ctx)
    rows = await rt.store.list_transcripts(limit)
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
    else:
        text = "No transcripts stored yet. Upload a recording with upload_media, then transcribe it."
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=TranscriptList(transcripts=items).model_dump(),
    )
