"""Finding passages in stored transcripts: `search_transcripts` (full-text, ranked; free, reads the store).

The work is in `mavi_mcp.search` (query syntax, the index in the store) and `mavi_mcp.render.search` (the page);
this tool checks the arguments, resolves speakers when the transcript is known, and answers.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mavi_mcp.errors import InputError
from mavi_mcp.render.search import DEFAULT_TOKENS, SearchRequest
from mavi_mcp.render.view import resolve_speakers
from mavi_mcp.runtime import Runtime
from mavi_mcp.search.query import MAX_QUERY_CHARS
from mavi_mcp.tools._boundary import agent_errors, runtime_of
from mavi_mcp.tools._params import MAX_PAGE_TOKENS, MIN_PAGE_TOKENS, parse_window


class SearchHitOut(BaseModel):
    transcript_id: str
    start: float = Field(description="Seconds.")
    end: float = Field(description="Seconds.")
    speaker: str | None = None
    name: str | None = None
    text: str = Field(description="The excerpt (cut around the matches in a long passage).")
    read: dict[str, int] = Field(description="start/end (seconds) for get_transcript around the hit.")


class SearchTranscriptOut(BaseModel):
    transcript_id: str
    provider: str
    model: str | None = None
    recording: str | None = Field(default=None, description="Asset id or recording name.")
    created_at: str
    duration: float = Field(description="Seconds.")


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHitOut]
    transcripts: list[SearchTranscriptOut] = Field(description="The transcripts of the hits, for their titles.")
    next_cursor: str | None = Field(default=None, description="Pass with the same query for more hits.")
    estimated_tokens: int


@agent_errors
async def search_transcripts(
    ctx: Context[Runtime, Any],
    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS, description="See the syntax above.")],
    transcript_id: Annotated[
        str | None, Field(max_length=100, description="Search only this transcript; omit for all.")
    ] = None,
    speakers: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=200)]] | None,
        Field(max_length=100, description="Only these speakers (labels or names)."),
    ] = None,
    start: Annotated[float | str | None, Field(description="Window start: seconds or '12:34'.")] = None,
    end: Annotated[float | str | None, Field(description="Window end, like start.")] = None,
    max_tokens: Annotated[
        int | None,
        Field(ge=MIN_PAGE_TOKENS, le=MAX_PAGE_TOKENS, description=f"Page budget (default {DEFAULT_TOKENS})."),
    ] = None,
    cursor: Annotated[str | None, Field(max_length=200, description="next_cursor of the same search.")] = None,
) -> Annotated[CallToolResult, SearchResult]:
    """Find passages in stored transcripts, best first: read the hits, not whole transcripts. Each hit: speaker,
    times, the excerpt with matches «marked», the get_transcript window around it. Free.
    Query: words (all must match), "exact phrase", prefix*, a OR b, -exclude.
    """
    rt = runtime_of(ctx)
    a, b = parse_window(start, end)
    labels = tuple(s.strip() for s in speakers or ())
    if any(not s for s in labels):
        raise InputError("speakers: an entry is blank; give labels (SPEAKER_00, S0) or names.")
    tid = transcript_id.strip() if transcript_id else None
    if tid is not None:
        transcript = await rt.store.get_transcript(tid)
        if transcript is None:
            raise InputError(
                f"No transcript {tid!r} in this server's store. Call list_transcripts for the stored ids, or "
                "search without transcript_id."
            )
        if labels:
            labels = resolve_speakers(transcript, await rt.store.speaker_names(tid), list(labels))
    request = SearchRequest(query=query, transcript_id=tid, speakers=labels, start=a, end=b)
    page = await rt.store.search(request, max_tokens=max_tokens or DEFAULT_TOKENS, cursor=cursor)
    return CallToolResult(
        content=[TextContent(type="text", text=page.text)], structured_content=page.structured(request)
    )
